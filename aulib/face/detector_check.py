"""How well dlib's face pipeline sees a dataset: detection rate and normalised landmark error.

On SynthAU every frame's true 68 landmarks are known (``<root>/landmarks_68.npz``, written by
the renderer), so the detector can be scored against ground truth, per capture domain:

- **detection rate**: share of frames that show a face (injected failures left out) on which
  :func:`aulib.face.landmarks.detect` returns landmarks;
- **NME**: per frame, the mean point-to-point distance between detected and true landmarks
  over the 68 points, divided by the **inter-ocular distance** - the distance between the two
  eye centres (mean of points 36-41 and of points 42-47, 0-based iBUG order) - as in the
  JAA-Net/ADLD evaluation code (``../shared/reference/methods.md`` A.2 "biocular" and A.5
  "landmark error ... normalised by inter-ocular distance; failure if > 0.1", from
  PyTorch-JAANet ``write_biocular.py`` / ``util.py``); mean and median over the found faces,
  and the share of found faces with NME > 0.1 (``failure``).
- **near-frontal**: our definition, |yaw|, |pitch| and |roll| all <= 15 degrees (the pose in
  ``synthau_ground_truth.csv.gz``).

:func:`synthau_detector_check` runs the check on a fixed, seeded sample of frames of each
SynthAU dataset given (``make bench``'s ``face.synthau_dlib`` and tutorial 03 call it); dlib's
landmarks are cached like every other dlib run (:func:`aulib.face.landmarks.detect_dataset`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

#: |yaw|, |pitch| and |roll| at most this many degrees make a face "near-frontal" (our definition)
NEAR_FRONTAL_DEG = 15.0
#: NME above this counts as a landmark failure (JAA-Net/ADLD's ``util.py``, methods.md A.5)
NME_FAILURE = 0.1


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the eye centres (mean of points 36-41 and 42-47) of (..., 68, 2)
    landmarks, in their pixels -> (...)."""
    lm = np.asarray(landmarks, np.float64)
    return np.linalg.norm(lm[..., 36:42, :].mean(-2) - lm[..., 42:48, :].mean(-2), axis=-1)


def landmark_nme(truth: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Per-frame NME of ``detected`` against ``truth``, both (N, 68, 2) pixels (or one (68, 2)
    face): mean point-to-point distance / :func:`inter_ocular` of ``truth``. NaN where a frame's
    detection is missing (any NaN). Raises ValueError on shapes that are not (..., 68, 2) or differ.
    """
    t, d = np.asarray(truth, np.float64), np.asarray(detected, np.float64)
    if t.shape != d.shape or t.shape[-2:] != (68, 2):
        raise ValueError(f"truth and detected must both be (N, 68, 2) landmarks; got {t.shape} and "
                         f"{d.shape}")
    iod = inter_ocular(t)
    if np.any(iod <= 0):
        raise ValueError("a ground-truth face has zero inter-ocular distance (eye centres coincide); "
                         "its NME is undefined - drop that frame from the truth")
    return np.linalg.norm(d - t, axis=-1).mean(-1) / iod


def detection_scores(truth: np.ndarray, detected: np.ndarray) -> dict:
    """Detection rate and NME of detected landmarks against the truth.

    ``truth``: (N, 68, 2) true landmarks of N frames that show a face; ``detected``: (N, 68, 2)
    with NaN rows where the detector found no face. Returns ``frames`` (N), ``found``,
    ``detection_rate`` (percent of N), ``nme_mean`` / ``nme_median`` (over found faces, as
    fractions of the inter-ocular distance; NaN when none was found) and ``nme_failure``
    (percent of found faces with NME > 0.1).
    """
    t = np.asarray(truth, np.float64)
    if t.ndim != 3 or not np.isfinite(t).all():
        raise ValueError("truth must be (N, 68, 2) finite landmarks of frames that show a face; "
                         "leave frames without a face (injected failures) out of the check")
    nme = landmark_nme(t, detected)
    ok = np.isfinite(nme)
    n, k = len(t), int(ok.sum())
    return {"frames": n, "found": k, "detection_rate": 100.0 * k / n if n else float("nan"),
            "nme_mean": float(nme[ok].mean()) if k else float("nan"),
            "nme_median": float(np.median(nme[ok])) if k else float("nan"),
            "nme_failure": 100.0 * float((nme[ok] > NME_FAILURE).mean()) if k else float("nan")}


def _sample(root: Path, n: int, seed: int) -> pd.DataFrame:
    from .landmark_table import load_landmark_table

    gt_file = root / "synthau_ground_truth.csv.gz"
    if not gt_file.is_file():
        raise FileNotFoundError(f"{root} has no {gt_file.name}: the detector check needs a SynthAU "
                                "dataset (aulib.synth.ensure), whose renderer wrote the true pose "
                                "and landmarks; a real dataset has no such ground truth")
    gt = pd.read_csv(gt_file, keep_default_na=False, usecols=["path", "domain", "yaw", "pitch", "roll",
                                                              "failure"])
    table = load_landmark_table(root / "landmarks_68.npz")
    gt = gt[(gt.failure == "") & (gt.path != "")]
    gt = gt[gt.path.map(lambda p: table.get(p) is not None)]
    if gt.empty:
        raise ValueError(f"no frame of {root} shows a face with ground-truth landmarks")
    parts = [g.sample(min(n, len(g)), random_state=seed) if n else g for _, g in gt.groupby("domain")]
    out = pd.concat(parts).sort_values("path").reset_index(drop=True)
    out["truth"] = [table.get(p) for p in out.path]
    return out


def synthau_detector_check(roots, n: int = 200, seed: int = 0, near_frontal: float = NEAR_FRONTAL_DEG,
                           progress: bool = False, **detect_kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """dlib's detection rate and NME per SynthAU capture domain, on a fixed sample of frames.

    ``roots``: SynthAU dataset roots (a list, or {name: root}); each frame's domain comes from
    its ground-truth file (synth-disfa is ``lab-a``, synth-bp4d ``lab-b``, synth-emotionet
    ``wild``). ``n`` frames per (dataset, domain) are drawn with ``seed`` among frames that show
    a face (0 = all); dlib runs on them once (cached; ``detect_kwargs`` go to
    :func:`~aulib.face.landmarks.detect_dataset`, default one process).

    Returns ``(summary, frames)``: ``summary`` one row per (domain, ``faces`` = "all" |
    "near-frontal") with the dataset(s), the columns of :func:`detection_scores` and the
    definition used; ``frames`` one row per frame (dataset, path, domain, pose, near_frontal,
    found, nme).
    """
    from .landmarks import detect_dataset

    items = roots.items() if isinstance(roots, dict) else [(Path(r).name, r) for r in roots]
    frames = []
    for name, root in items:
        root = Path(root)
        s = _sample(root, int(n), int(seed))
        detect_kwargs.setdefault("workers", 1)
        table = detect_dataset(s.path.tolist(), root, progress=progress, **detect_kwargs)
        det = np.stack([table.landmarks[i] if table.found[i] else np.full((68, 2), np.nan, np.float32)
                        for i in range(len(table))])
        truth = np.stack(s.pop("truth").to_list())
        s["nme"] = landmark_nme(truth, det)
        s["found"] = np.isfinite(s["nme"])
        s["near_frontal"] = (s[["yaw", "pitch", "roll"]].abs() <= near_frontal).all(axis=1)
        s.insert(0, "dataset", name)
        frames.append(s.assign(_truth=list(truth), _det=list(det)))
    df = pd.concat(frames, ignore_index=True)
    rows = []
    for dom, g in df.groupby("domain", sort=False):
        for faces, sub in (("all", g), ("near-frontal", g[g.near_frontal])):
            if sub.empty:
                continue
            sc = detection_scores(np.stack(sub._truth.to_list()), np.stack(sub._det.to_list()))
            rows.append({"domain": dom, "dataset": ", ".join(sorted(sub.dataset.unique())), "faces": faces,
                         **sc})
    summary = pd.DataFrame(rows)
    order = {"lab-a": 0, "lab-b": 1, "wild": 2}
    summary = summary.sort_values(["domain", "faces"], key=lambda c: c.map(order).fillna(9)
                                  if c.name == "domain" else c).reset_index(drop=True)
    summary.attrs["definition"] = (f"near-frontal: |yaw|, |pitch|, |roll| <= {near_frontal:g} deg; NME: mean "
                                   "point error / distance between the eye centres; failure: NME > 0.1")
    return summary, df.drop(columns=["_truth", "_det"])

