"""Face verification accuracy under LFW's protocol (View 2): 10 folds of matched and
mismatched pairs; for each fold the decision threshold is the one that is most accurate on the
other 9 folds, and the accuracy is measured on the held-out fold; reported as mean and standard
deviation over the folds (Huang et al., LFW technical report 07-49, "unrestricted" protocol as
used by FaceNet, Schroff et al. 2015 §5.7). Backbone-agnostic: it reads pair scores.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def cosine_scores(a, b) -> np.ndarray:
    """Cosine similarity of the rows of two (N, D) embedding arrays (higher = more alike)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return (a * b).sum(1)


def best_threshold(scores, same) -> float:
    """The threshold t (``score > t`` means "same person") with the highest accuracy on these
    pairs; candidates are the midpoints between consecutive distinct scores and the two ends."""
    s, y = np.asarray(scores, np.float64), np.asarray(same, bool)
    u = np.unique(s)
    cand = np.concatenate([[u[0] - 1e-9], (u[1:] + u[:-1]) / 2, [u[-1] + 1e-9]]) if len(u) else np.array([0.0])
    acc = ((s[None, :] > cand[:, None]) == y[None, :]).mean(1)
    return float(cand[int(np.argmax(acc))])


def verification_accuracy(scores, same, folds) -> pd.DataFrame:
    """Per-fold accuracy (percent) with the threshold chosen on the other folds.

    ``scores``: (N,) similarity per pair (higher = same); ``same``: (N,) bool; ``folds``: (N,)
    fold number. Returns one row per fold (fold, threshold, accuracy, n_pairs) plus rows
    ``mean`` and ``std`` (population std over folds, as LFW reports the standard error's base).
    Raises ValueError with fewer than 2 folds (no held-out fold to test on).
    """
    s, y, f = np.asarray(scores, np.float64), np.asarray(same, bool), np.asarray(folds)
    ks = np.unique(f)
    if len(ks) < 2:
        raise ValueError(f"the verification protocol needs at least 2 folds (threshold on the others); found {len(ks)}")
    rows = []
    for k in ks:
        t = best_threshold(s[f != k], y[f != k])
        rows.append({"fold": str(k), "threshold": t, "accuracy": 100.0 * float(((s[f == k] > t) == y[f == k]).mean()),
                     "n_pairs": int((f == k).sum())})
    df = pd.DataFrame(rows)
    acc = df["accuracy"]
    return pd.concat([df, pd.DataFrame([{"fold": "mean", "accuracy": acc.mean(), "n_pairs": int(df.n_pairs.sum())},
                                        {"fold": "std", "accuracy": acc.std(ddof=0)}])], ignore_index=True)
