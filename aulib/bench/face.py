"""Benchmarks of the face pipeline: dlib landmark detection and the two alignments (faces/s),
on scikit-image's astronaut photograph (a real face shipped in an installed package); and how
well dlib sees SynthAU (``face.synthau_dlib``: detection rate and NME per capture domain)."""
from __future__ import annotations

import time

from . import register


def _face():
    from skimage import data as skdata

    from ..face.landmarks import detect

    img = skdata.astronaut()
    return img, detect(img)


@register("face.landmarks")
def landmark_speed(quick: bool) -> list[dict]:
    from ..face.landmarks import detect

    img, _ = _face()
    n = 3 if quick else 30
    t0 = time.perf_counter()
    for _ in range(n):
        detect(img)
    dt = time.perf_counter() - t0
    return [{"name": "dlib detect + 68 landmarks, 512x512 photo", "value": n / dt,
             "unit": "faces/s", "image": "512x512"}]


@register("face.alignment")
def alignment_speed(quick: bool) -> list[dict]:
    from ..face.align import ffhq_align, similarity_align

    img, lm = _face()
    n = 20 if quick else 300
    out = []
    for name, fn in (("FFHQ alignment to 256", lambda: ffhq_align(img, lm, 256)),
                     ("similarity alignment to 200", lambda: similarity_align(img, lm, 200))):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out.append({"name": name, "value": n / (time.perf_counter() - t0), "unit": "faces/s"})
    return out


@register("face.synthau_dlib")
def synthau_dlib(quick: bool) -> list[dict]:
    """dlib's detection rate and NME against SynthAU's ground truth per capture domain (issue #12),
    on a fixed seeded sample of frames of synth-disfa (lab-a), synth-bp4d (lab-b) and
    synth-emotionet (wild): the ``tiny`` datasets, 300 frames each (quick: ``smoke``, 20)."""
    from ..face.detector_check import synthau_detector_check
    from ..synth import ensure

    profile, n = ("smoke", 20) if quick else ("tiny", 300)
    roots = {k: ensure(k, profile) for k in ("synth-disfa", "synth-bp4d", "synth-emotionet")}
    t0 = time.perf_counter()
    summary, frames = synthau_detector_check(roots, n=n, seed=0, refresh=True)
    rate = len(frames) / (time.perf_counter() - t0)
    out = []
    for r in summary.itertuples():
        tag = f"face.synthau_dlib.{r.domain}.{'near_frontal' if r.faces == 'near-frontal' else 'all'}"
        ctx = {"dataset": r.dataset, "profile": profile, "frames": int(r.frames), "found": int(r.found),
               "nme_median": round(r.nme_median, 4), "nme_failure_pct": round(r.nme_failure, 1),
               "definition": summary.attrs["definition"]}
        out.append({"name": f"{tag}.detection_rate", "value": round(r.detection_rate, 1), "unit": "%", **ctx})
        out.append({"name": f"{tag}.nme_mean", "value": round(r.nme_mean, 4), "unit": "inter-ocular distance",
                    **ctx})
    out.append({"name": "face.synthau_dlib.speed", "value": round(rate, 1), "unit": "frames/s",
                "note": "dlib detect + 68 landmarks on 128-px SynthAU frames, one process"})
    return out
