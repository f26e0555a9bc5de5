"""Benchmarks of the face pipeline: dlib landmark detection and the two alignments (faces/s),
on scikit-image's astronaut photograph (a real face shipped in an installed package)."""
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
