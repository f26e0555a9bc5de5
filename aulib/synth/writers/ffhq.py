"""``synth-ffhq``: an FFHQ stand-in (datasets.md section 8) - many identities, varied
expressions, wild capture, FFHQ-aligned crops (eye and mouth centres placed as NVlabs'
``recreate_aligned_images`` does).

- ``thumbnails128x128/<5-digit group>/<5-digit index>.png`` when images are 128 px,
  else ``images1024x1024/<group>/<index>.png`` at the profile's size (the folder keeps the
  official name; the real pixel size is in the JSON); groups of 1000;
- ``ffhq-dataset-v2.json`` - keys "0", "1", ...; per entry ``category``
  (training / validation: the last 1/7), ``metadata`` (synthetic), and ``image`` or
  ``thumbnail`` with ``file_path``, ``pixel_size`` and (``image`` only) ``face_landmarks``
  (68 points in the aligned image).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..engine import render_all
from ..identity import identity_seed
from .common import finish, inject_failures, sample_stills, stills_sequences



def write(root: Path, size: int, n_images: int, seed: int, failure_rates: dict, **_) -> dict:
    rng = np.random.default_rng(identity_seed("synth-ffhq", seed) % (2**32))
    folder = "thumbnails128x128" if size == 128 else "images1024x1024"
    aus = sample_stills("wild", n_images, rng, spacing=5.0)
    paths = [f"{folder}/{i - i % 1000:05d}/{i:05d}.png" for i in range(n_images)]
    fails = inject_failures(rng, n_images, {k: v for k, v in failure_rates.items() if k == "corrupt"},
                            force=True)
    seqs = stills_sequences("synth-ffhq", paths, aus, fails, seed, size, align="ffhq")
    results = render_all(seqs, root, desc="synth-ffhq")
    lms = np.concatenate([r["landmarks"] for r in results])
    n_val = n_images // 7
    meta = {}
    for i, p in enumerate(paths):
        entry = {"file_path": p, "pixel_size": [size, size]}
        key = "thumbnail" if folder.startswith("thumb") else "image"
        if key == "image":
            entry["face_landmarks"] = np.round(lms[i], 2).tolist()
        meta[str(i)] = {"category": "validation" if i >= n_images - n_val else "training",
                        "metadata": {"photo_url": f"http://synthau.invalid/ffhq/{i}",
                                     "license": "synthetic (SynthAU)"},
                        key: entry}
        if key == "thumbnail":
            meta[str(i)]["thumbnail"]["face_landmarks"] = np.round(lms[i], 2).tolist()
    (root / "ffhq-dataset-v2.json").write_text(json.dumps(meta))
    finish(root, "synth-ffhq", seqs, results,
           {"layout": __doc__, "size": size, "domain": "wild", "images": n_images,
            "aligned": "ffhq"},
           extra_cols=[{"subject": [p.split("/")[-1][:-4] for p in s.paths]} for s in seqs])
    return {"frames": n_images}
