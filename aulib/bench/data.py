"""Benchmark of the data loader: images/s delivered into a training loop from the cached,
aligned crops (AUDataset + make_loader), on a temporary BP4D-layout folder of real-photo
frames (scikit-image's astronaut)."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from . import register


def _write_bp4d(root: Path, n_subjects: int, n_frames: int):
    import cv2
    from skimage import data as skdata

    from ..face.landmark_table import save_landmark_table
    from ..face.landmarks import detect

    face = skdata.astronaut()[40:296, 120:376]
    lm = detect(face)
    bgr = cv2.cvtColor(face, cv2.COLOR_RGB2BGR)
    occ = root / "AUCoding" / "AU_OCC"
    occ.mkdir(parents=True)
    aus = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
    rng = np.random.default_rng(0)
    paths = []
    for s in range(n_subjects):
        subj = f"F{s + 1:03d}"
        d = root / subj / "T1"
        d.mkdir(parents=True)
        rows = ["0," + ",".join(map(str, aus))]
        for k in range(n_frames):
            cv2.imwrite(str(d / f"{k:04d}.jpg"), bgr)
            paths.append(f"{subj}/T1/{k:04d}.jpg")
            rows.append(f"{k}," + ",".join(str(int(v)) for v in rng.random(12) < 0.3))
        (occ / f"{subj}_T1.csv").write_text("\n".join(rows) + "\n")
    save_landmark_table(root / "landmarks_68.npz", paths, np.repeat(lm[None], len(paths), 0),
                        source="bench")


@register("data.loader")
def loader_throughput(quick: bool) -> list[dict]:
    from .. import data as D

    n_subj, n_frames = (2, 16) if quick else (4, 256)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("AULIB_CACHE", str(Path(tmp) / "cache"))
        root = Path(tmp) / "BP4D"
        _write_bp4d(root, n_subj, n_frames)
        idx = D.frame_index("bp4d", root)
        t0 = time.perf_counter()
        ds = D.AUDataset(idx, alignment="similarity", landmarks="auto", train=True,
                         progress=False, workers=2)
        t_prep = time.perf_counter() - t0
        workers = 0 if quick else 2
        dl = D.make_loader(ds, batch_size=32, num_workers=workers, seed=0)
        n, t0 = 0, time.perf_counter()
        for _ in range(1 if quick else 3):
            for batch in dl:
                n += len(batch["image"])
        dt = time.perf_counter() - t0
    return [{"name": "AUDataset similarity 176 crops -> training loop", "value": n / dt,
             "unit": "images/s", "workers": workers, "batch_size": 32},
            {"name": "one-time alignment into the crop cache", "value": len(idx) / t_prep,
             "unit": "frames/s", "frames": len(idx)}]
