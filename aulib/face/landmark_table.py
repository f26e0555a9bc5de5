"""The landmark cache format: one ``.npz`` table of 68-point landmarks per dataset.

The face pipeline writes it after running dlib over a dataset's frames; the SynthAU writers
write the same file from ground truth, so notebooks use "detected" landmarks on synthetic
data without running dlib on cartoons. Fields:

- ``paths``: image paths relative to the dataset root (str, N);
- ``landmarks``: float32 (N, 68, 2) pixel coordinates (x, y) in the original image, iBUG/dlib
  68-point order, NaN where no face was found;
- ``found``: bool (N,), False for frames with no detected face (they are excluded
  downstream and counted in the ledger of excluded frames);
- ``source``: a string, e.g. ``"dlib-68"`` or ``"synthau-ground-truth"``;
- ``reason`` (optional): str (N,), why a frame has no landmarks (``"no face"``,
  ``"corrupt file"``), empty where found. Tables written without it read back with
  ``"no face"`` for every frame that was not found.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_LANDMARKS = 68


@dataclass
class LandmarkTable:
    paths: np.ndarray
    landmarks: np.ndarray
    found: np.ndarray
    source: str
    reason: np.ndarray | None = None

    def __post_init__(self):
        self._pos = {p: i for i, p in enumerate(self.paths.tolist())}
        if self.reason is None:
            self.reason = np.where(self.found, "", "no face").astype(str)

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, rel_path: str) -> np.ndarray | None:
        """Landmarks of one frame, or None when the frame is unknown or had no face."""
        i = self._pos.get(str(rel_path))
        if i is None or not self.found[i]:
            return None
        return self.landmarks[i]


def save_landmark_table(path: str | os.PathLike, paths, landmarks, found=None,
                        source: str = "dlib-68", reason=None) -> Path:
    """Write a landmark table atomically (see module docstring for the fields)."""
    paths = np.asarray([str(p) for p in paths])
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.shape != (len(paths), N_LANDMARKS, 2):
        raise ValueError(f"landmarks must have shape ({len(paths)}, 68, 2), got {lm.shape}")
    found = np.isfinite(lm).all(axis=(1, 2)) if found is None else np.asarray(found, bool)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    extra = {} if reason is None else {"reason": np.asarray([str(r) for r in reason])}
    np.savez_compressed(tmp, paths=paths, landmarks=lm, found=found, source=np.array(source),
                        **extra)
    os.replace(tmp, path)
    return path


def load_landmark_table(path: str | os.PathLike) -> LandmarkTable:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no landmark table at {path}; it is written by "
                                "aulib.face.landmarks (dlib) or by the SynthAU writers")
    with np.load(path, allow_pickle=False) as z:
        reason = z["reason"] if "reason" in z.files else None
        return LandmarkTable(z["paths"], z["landmarks"], z["found"], str(z["source"]), reason)
