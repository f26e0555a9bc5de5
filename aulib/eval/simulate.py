"""Label matrices and toy predictors for teaching the metrics (no images needed).

``REFERENCE_BASE_RATES`` are the AU positive rates (percent) of the test list of FG-Net's
fold 0 for DISFA (intensity >= 2) and BP4D, as computed from ``data/<DS>/labels/0/test.csv``
of the official FG-Net repository (ihp-lab/FG-Net; see shared/reference/fgnet.md §2). They
are one fold's rates, good enough to shape teaching examples; compute the real ones with
``aulib.eval.metrics.base_rates`` on your own frame index.
"""
from __future__ import annotations

import numpy as np

REFERENCE_BASE_RATES = {
    "DISFA": {"AU1": 4.2, "AU2": 2.6, "AU4": 11.8, "AU6": 5.4, "AU9": 2.8, "AU12": 10.3,
              "AU25": 24.9, "AU26": 11.3},
    "BP4D": {"AU1": 16.4, "AU2": 16.1, "AU4": 19.9, "AU6": 41.5, "AU7": 59.0, "AU10": 57.7,
             "AU12": 55.9, "AU14": 40.0, "AU15": 15.1, "AU17": 31.8, "AU23": 15.9, "AU24": 14.0},
}


def simulate_labels(dataset: str, n_frames: int, seed: int = 0, segment: int = 30) -> np.ndarray:
    """(n_frames, n_aus) 0/1 labels with the dataset's base rates, in temporal segments.

    AUs switch on and off in runs of about ``segment`` frames (as in videos), so frames are
    not independent — which is why the papers pool all frames of a fold before scoring.
    """
    if dataset not in REFERENCE_BASE_RATES:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {list(REFERENCE_BASE_RATES)}")
    rates = np.array(list(REFERENCE_BASE_RATES[dataset].values())) / 100.0
    rng = np.random.default_rng(seed)
    n_seg = int(np.ceil(n_frames / segment))
    on = rng.random((n_seg, len(rates))) < rates
    return np.repeat(on, segment, axis=0)[:n_frames].astype(np.int8)


def constant_predictor(labels: np.ndarray, value: int) -> np.ndarray:
    """Predict ``value`` (0 or 1) for every frame and AU."""
    return np.full_like(labels, int(value))


def random_predictor(labels: np.ndarray, rates, seed: int = 0) -> np.ndarray:
    """Predict each AU positive at random with probability ``rates`` (fractions per AU)."""
    rng = np.random.default_rng(seed)
    return (rng.random(labels.shape) < np.asarray(rates)[None, :]).astype(np.int8)


def noisy_detector(labels: np.ndarray, sensitivity: float, specificity: float,
                   seed: int = 0) -> np.ndarray:
    """A detector of fixed quality: hits with ``sensitivity``, rejects with ``specificity``."""
    rng = np.random.default_rng(seed)
    u = rng.random(labels.shape)
    return np.where(labels == 1, u < sensitivity, u >= specificity).astype(np.int8)
