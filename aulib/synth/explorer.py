"""The AU explorer of tutorial 02: a SynthAU face re-rendered as the student moves one slider
per Action Unit, the person, the capture domain and the head pose.

Laid out with :class:`aulib.eval.explorer.Explorer`: the face (300 px) with the person,
domain, pose controls and a Reset button under it, and the AU sliders beside it in two
columns grouped as the FACS manual groups them (Ekman, Friesen & Hager, *Facial Action Coding
System*, 2002): **upper face** AUs 1, 2, 4, 5, 6, 7 (brows, lids, cheeks) and **lower face**
AUs 9 and up (nose, lips, chin, jaw; the manual's up/down, horizontal, oblique and orbital
lower-face actions).
"""
from __future__ import annotations

from .catalogue import AU_CATALOGUE, AUS
from .domains import DOMAINS

#: FACS's upper-face AUs (see the module docstring); every other catalogue AU is lower face.
UPPER_FACE = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7")


def face_regions(aus=AUS) -> dict[str, list[str]]:
    """``aus`` split into ``{"Upper face": [...], "Lower face": [...]}`` in catalogue order."""
    return {"Upper face": [a for a in aus if a in UPPER_FACE],
            "Lower face": [a for a in aus if a not in UPPER_FACE]}


def au_explorer(seed: int = 0, size: int = 300, identity: int = 3, domain: str = "lab-a"):
    """An :class:`~aulib.eval.explorer.Explorer` over :func:`aulib.synth.render_face`.

    Controls: ``identity`` (0-5000), ``domain`` (``DOMAINS``), ``yaw`` (+-40 deg), ``pitch``
    and ``roll`` (+-25 deg) under the face; one slider per AU of ``AUS`` (intensity 0-5, FACS
    A-E = 1-5, step 0.5) in the upper- and lower-face columns, labelled with the AU's FACS
    name. ``seed`` fixes the render's noise; ``size`` is the face's width in pixels.
    Needs ipywidgets. ``explorer.set(AU12=4, yaw=15)`` sets controls from code.
    """
    import ipywidgets as w

    from ..eval.explorer import COLUMN_WIDTH, DESCRIPTION_WIDTH, Explorer
    from .render import render_face

    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; valid: {', '.join(DOMAINS)}")
    column = ({"description_width": DESCRIPTION_WIDTH}, w.Layout(width=COLUMN_WIDTH))
    under = ({"description_width": "110px"}, w.Layout(width=f"{size}px"))   # under the face

    def slider(lo, hi, step, description, tooltip="", where=column):
        return w.FloatSlider(0.0, min=lo, max=hi, step=step, description=description,
                             description_allow_html=False, tooltip=tooltip, style=where[0],
                             layout=where[1], readout_format=".1f")

    side = {"identity": w.BoundedIntText(identity, min=0, max=5000, description="person (0-5000)",
                                         style=under[0], layout=under[1]),
            "domain": w.Dropdown(options=list(DOMAINS), value=domain, description="capture domain",
                                 style=under[0], layout=under[1]),
            "yaw": slider(-40, 40, 1, "yaw (deg)", where=under),
            "pitch": slider(-25, 25, 1, "pitch (deg)", where=under),
            "roll": slider(-25, 25, 1, "roll (deg)", where=under)}
    groups = {title: {au: slider(0, 5, 0.5, f"{au} {AU_CATALOGUE[au]['facs_name']}",
                                 AU_CATALOGUE[au]["description"]) for au in aus}
              for title, aus in face_regions().items()}

    def render(identity, domain, yaw, pitch, roll, **levels):
        active = {au: v for au, v in levels.items() if v > 0}
        img, _ = render_face(active, identity=int(identity), domain=domain, pose=(yaw, pitch, roll),
                             size=size, seed=seed)
        aus = ", ".join(f"{au} {v:g}" for au, v in active.items()) or "neutral"
        return img, f"{aus} | person {identity}, {domain}, yaw {yaw:g} pitch {pitch:g} roll {roll:g}"

    return Explorer(render, side, groups, title="AU explorer: move a slider, the face follows",
                    picture_width=f"{size}px", name="AU explorer")
