"""``synth-fec``: Google FEC-like expression-comparison triplets (datasets.md section 6).

- ``images/<6-digit id>.jpg`` - in-the-wild photos, one identity each;
- ``faceexp-comparison-data-train-public.csv`` and ``faceexp-comparison-data-test-public.csv``
  without header: per row three blocks (URL, left, right, top, bottom - the face box
  normalised to [0, 1]), the triplet type (``ONE_CLASS_TRIPLET`` / ``TWO_CLASS_TRIPLET`` /
  ``THREE_CLASS_TRIPLET``: how many expression classes the three faces span), then six
  (annotator id, answer) pairs; the answer (1, 2 or 3) names the odd one out. A URL's
  basename is the image file name under ``images/``.

The truth is distance in AU-intensity space: the pair of faces closest in AU space is the
similar pair. Annotators disagree: each picks a pair with probability proportional to
``exp(-distance / tau)`` with a per-annotator ``tau`` (ground truth in
``synthau_fec_truth.csv``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..dynamics import EVENT_CLASS
from ..engine import render_all
from ..identity import identity_seed
from .common import STILLS_CHUNK, finish, inject_failures, sample_stills, stills_sequences

URL_BASE = "http://synthau.invalid/fec/images/"
CHUNK = STILLS_CHUNK  # rows per render chunk (used to map results back)


def _classes(kinds) -> np.ndarray:
    return np.array([EVENT_CLASS.get(k, k.removeprefix("solo_") if k.startswith("solo_") else k)
                     for k in kinds], dtype=object)


def write(root: Path, size: int, n_images: int, n_train: int, n_test: int, seed: int,
          failure_rates: dict, **_) -> dict:
    rng = np.random.default_rng(identity_seed("synth-fec", seed) % (2**32))
    aus, kinds = sample_stills("wild", n_images, rng, with_events=True)
    cls = _classes(kinds)
    paths = [f"images/{i:06d}.jpg" for i in range(n_images)]
    fails = inject_failures(rng, n_images, failure_rates, force=True)
    seqs = stills_sequences("synth-fec", paths, aus, fails, seed, size)
    results = render_all(seqs, root, desc="synth-fec")
    lms = np.concatenate([r["landmarks"] for r in results])
    ok = np.array(fails) == ""
    good = np.flatnonzero(ok)
    annot_tau = np.exp(rng.normal(np.log(1.0), 0.5, 40))
    truth = []
    for split, n_trip in (("train", n_train), ("test", n_test)):
        rows = []
        for t in range(n_trip):
            tri = rng.choice(good, 3, replace=False)
            x = aus[tri]
            d = {(0, 1): np.linalg.norm(x[0] - x[1]), (0, 2): np.linalg.norm(x[0] - x[2]),
                 (1, 2): np.linalg.norm(x[1] - x[2])}
            pairs = list(d)
            odd = {(0, 1): 3, (0, 2): 2, (1, 2): 1}
            true_odd = odd[min(pairs, key=d.get)]
            row = []
            for k in tri:
                p = lms[k]
                lo, hi = p.min(0), p.max(0)
                m = (hi - lo) * 0.15
                box = np.clip(np.r_[lo[0] - m[0], hi[0] + m[0], lo[1] - 2.5 * m[1], hi[1] + m[1]] / size, 0, 1)
                row += [URL_BASE + paths[k].split("/")[-1], *np.round(box, 4)]
            n_cls = len(set(cls[tri]))
            row.append({1: "ONE_CLASS_TRIPLET", 2: "TWO_CLASS_TRIPLET", 3: "THREE_CLASS_TRIPLET"}[n_cls])
            annotators = rng.choice(len(annot_tau), 6, replace=False)
            for a in annotators:
                dv = np.array([d[pp] for pp in pairs])
                pr = np.exp(-(dv - dv.min()) / annot_tau[a])
                pick = pairs[rng.choice(3, p=pr / pr.sum())]
                row += [int(1000 + a), odd[pick]]
            rows.append(row)
            truth.append({"split": split, "row": t, "odd_one_out": true_odd,
                          "d12": d[(0, 1)], "d13": d[(0, 2)], "d23": d[(1, 2)]})
        pd.DataFrame(rows).to_csv(root / f"faceexp-comparison-data-{split}-public.csv",
                                  header=False, index=False)
    pd.DataFrame(truth).round(4).to_csv(root / "synthau_fec_truth.csv", index=False)
    finish(root, "synth-fec", seqs, results,
           {"layout": __doc__, "size": size, "domain": "wild", "images": n_images,
            "triplets": {"train": n_train, "test": n_test}},
           extra_cols=[{"subject": [p.split("/")[-1][:-4] for p in s.paths],
                        "expression": cls[i * CHUNK:i * CHUNK + len(s.paths)]}
                       for i, s in enumerate(seqs)])
    return {"frames": n_images}
