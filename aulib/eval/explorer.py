"""Interactive explorers for the notebooks: one picture beside grouped controls (ipywidgets).

An :class:`Explorer` lays a rendered picture out as a student uses it in JupyterLab: the
picture on the left with its caption, the controls that choose *what* is shown (a person, a
test frame) and a **Reset** button below it, and the other controls in titled columns to its
right, so picture and controls are on screen together in a laptop window (1280x800: the
explorers of tutorial 02 and fgnet/05 are under 1000 px wide and 600 px tall, checked in
JupyterLab in headless Chromium by tests/test_lab.py; with the lab's file browser open the
notebook is ~850 px wide and either the slider columns or the picture give way: ``narrow``).
Any control
change re-renders the picture; a render that raises shows its error as the caption rather than
vanishing into the kernel log.

Used by :func:`aulib.synth.explorer.au_explorer` (the AU explorer) and
:func:`aulib.papers.fgnet.heatmap_explorer` (FG-Net's heatmap explorer).
"""
from __future__ import annotations

import io

import numpy as np

COLUMN_WIDTH = "330px"      # one column of sliders
DESCRIPTION_WIDTH = "150px"  # slider labels such as "AU12 Lip Corner Puller"


def png_bytes(picture, dpi: int = 80) -> bytes:
    """PNG bytes of ``picture``: an (H, W, 3) RGB uint8 array, a matplotlib figure (closed
    after drawing) or PNG bytes (returned as they are). Raises TypeError otherwise."""
    if isinstance(picture, (bytes, bytearray)):
        return bytes(picture)
    if hasattr(picture, "savefig"):
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        picture.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(picture)
        return buf.getvalue()
    arr = np.asarray(picture)
    if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        import cv2

        ok, enc = cv2.imencode(".png", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
        if ok:
            return enc.tobytes()
    raise TypeError(f"a picture must be an (H, W, 3) uint8 RGB array, a matplotlib figure or PNG "
                    f"bytes; got {type(picture).__name__} {getattr(arr, 'shape', '')} {getattr(arr, 'dtype', '')}")


class Explorer:
    """A picture re-rendered from controls (see the module docstring).

    Args:
        render: ``render(**values) -> (picture, caption)``, ``values`` being every control's
            value by name; ``picture`` as :func:`png_bytes` takes it.
        side: controls under the picture (name -> widget), e.g. identity, domain, frame.
        groups: columns of controls right of the picture: title -> {name: widget}.
        notes: text shown under a column's controls: title -> text (escaped, not HTML).
        title: a bold line above the explorer.
        picture_width: CSS width of the picture (e.g. ``"300px"``).
        name: what the explorer is called in a static copy of the notebook (text/plain).
        dpi: resolution a matplotlib figure is drawn at (pixels per inch).
        narrow: what gives way in a narrow notebook (JupyterLab with its file browser open):
            ``"columns"`` (the sliders' columns shrink, hiding their value readouts; the picture
            keeps its size) or ``"picture"`` (the picture scales down, the columns stay whole;
            for a wide picture with few controls).
    """

    def __init__(self, render, side: dict, groups: dict[str, dict], title: str = "",
                 picture_width: str = "300px", name: str = "explorer", notes: dict | None = None,
                 dpi: int = 80, narrow: str = "columns"):
        import html

        import ipywidgets as w

        if narrow not in ("columns", "picture"):
            raise ValueError(f"narrow must be 'columns' or 'picture', got {narrow!r}")
        clash = set(side) & {k for g in groups.values() for k in g}
        if clash:
            raise ValueError(f"control names must be unique; {sorted(clash)} are both under the "
                             "picture and in a column")
        self.render_fn, self.name, self.dpi = render, name, dpi
        self.controls = dict(side)
        for group in groups.values():
            self.controls.update(group)
        self.defaults = {k: c.value for k, c in self.controls.items()}
        scales = narrow == "picture"
        self.image = w.Image(format="png", layout=w.Layout(width="100%" if scales else picture_width,
                                                           max_width=picture_width, height="auto"))
        self.caption = w.HTML(layout=w.Layout(width="100%" if scales else picture_width))
        self.reset_button = w.Button(description="Reset", icon="undo", tooltip="every control back to its start value",
                                     layout=w.Layout(width="120px"))
        self.reset_button.on_click(lambda _: self.reset())
        left = w.VBox([self.image, self.caption, *side.values(), self.reset_button],
                      layout=w.Layout(width=f"calc({picture_width} + 10px)", align_items="flex-start",
                                      flex="0 1 auto" if scales else "0 0 auto", min_width="300px"))
        notes = notes or {}
        unknown = set(notes) - set(groups)
        if unknown:
            raise ValueError(f"notes for no column: {sorted(unknown)}; columns: {list(groups)}")
        note = {t: [w.HTML(f"<div style='font-size:12px;line-height:1.4'>{html.escape(n)}</div>",
                           layout=w.Layout(width=COLUMN_WIDTH))] for t, n in notes.items()}
        columns = [w.VBox([w.HTML(f"<b>{t}</b>"), *g.values(), *note.get(t, [])],
                          layout=w.Layout(width=COLUMN_WIDTH, margin="0 0 0 12px",
                                          flex="0 0 auto" if scales else "0 1 auto"))
                   for t, g in groups.items()]
        body = w.HBox([left, *columns], layout=w.Layout(align_items="flex-start"))
        self.widget = w.VBox(([w.HTML(f"<b>{title}</b>")] if title else []) + [body])
        self._hold = False
        for c in self.controls.values():
            c.observe(self._changed, names="value")
        self.update()

    # -- state -------------------------------------------------------------------------
    def values(self) -> dict:
        """Every control's current value by name."""
        return {k: c.value for k, c in self.controls.items()}

    def set(self, **values) -> None:
        """Set several controls at once (one re-render); an unknown name raises KeyError
        listing the controls."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise KeyError(f"no control {sorted(unknown)}; controls: {', '.join(self.controls)}")
        self._hold = True
        try:
            for k, v in values.items():
                self.controls[k].value = v
        finally:
            self._hold = False
        self.update()

    def reset(self) -> None:
        """Every control back to its value when the explorer was built."""
        self.set(**self.defaults)

    # -- drawing -----------------------------------------------------------------------
    def _changed(self, _change) -> None:
        if not self._hold:
            self.update()

    def update(self) -> None:
        """Render the picture and caption for the current values."""
        import html

        try:
            picture, caption = self.render_fn(**self.values())
            self.image.value = png_bytes(picture, self.dpi)
            self.caption.value = f"<span style='font-size:12px'>{html.escape(caption)}</span>"
        except Exception as e:  # shown to the student, not lost in the kernel log
            self.caption.value = (f"<span style='color:#b00'>could not render: {html.escape(type(e).__name__)}: "
                                  f"{html.escape(str(e))}</span>")

    def figure(self, title: str = ""):
        """The current picture as a matplotlib figure (caption as its title), e.g. to keep one
        setting with ``run.figure``."""
        import cv2
        import html
        import re

        import matplotlib.pyplot as plt

        img = cv2.imdecode(np.frombuffer(self.image.value, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        h, w = img.shape[:2]
        fig, ax = plt.subplots(figsize=(min(9.0, w / 80), min(9.0, w / 80) * h / w))
        ax.imshow(img)
        ax.axis("off")
        ax.set_title(title or html.unescape(re.sub(r"<[^>]+>", "", self.caption.value)), fontsize=8)
        return fig

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle = dict(bundle)
        bundle["text/plain"] = (f"{self.name} (an ipywidgets widget: open the notebook in JupyterLab, "
                                "`make lab`, to use it)")
        return bundle
