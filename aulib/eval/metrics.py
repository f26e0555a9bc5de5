"""AU detection metrics, computed the way the four papers do.

- **F1 per AU** of the positive class, over all test frames of a fold pooled together
  (frame level), in percent; the papers' code uses scikit-learn's ``f1_score`` per AU column.
- **Average F1**: the unweighted mean over AUs ("Avg" in every table).
- **Accuracy per AU** (Shang & Yu's Table 3 reports it): fraction of frames right, percent.
- **Unknown labels** (BP4D's 9, EmotioNet's 999) are excluded per AU through ``mask``
  (0 = unknown), never counted as negatives (user-asks.md #4).

Convention for an AU with no positives in the test frames and no positive predictions
(F1 = 0/0): ``zero_division=0.0`` by default, which is what scikit-learn's ``f1_score``
returns (with a warning) in the papers' evaluation code, so our averages are comparable to
theirs. Pass ``zero_division=float("nan")`` to drop such AUs from the average instead
(``Avg`` then averages the defined AUs only). An AU with positives but no positive
prediction has F1 = 0 under both conventions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def au_name(au) -> str:
    """``1`` / ``"1"`` / ``"AU1"`` / ``"au1"`` -> ``"AU1"``."""
    s = str(au).strip().upper().replace(" ", "")
    if s.startswith("AU"):
        s = s[2:]
    if not s.isdigit():
        raise ValueError(f"not an AU name: {au!r} (expected e.g. 'AU12' or 12)")
    return f"AU{int(s)}"


def _prepare(y_true, y_pred, aus, mask):
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.ndim == 1:
        yt, yp = yt[:, None], yp[:, None]
    if yt.shape != yp.shape:
        raise ValueError(f"y_true {yt.shape} and y_pred {yp.shape} must have the same shape")
    n_aus = yt.shape[1]
    names = [au_name(a) for a in aus] if aus is not None else [f"AU{i}" for i in range(n_aus)]
    if len(names) != n_aus:
        raise ValueError(f"{len(names)} AU names given for {n_aus} label columns")
    m = np.ones_like(yt, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    if m.shape != yt.shape:
        raise ValueError(f"mask {m.shape} must have the labels' shape {yt.shape}")
    for name, arr in (("y_true", yt), ("y_pred", yp)):
        vals = np.unique(arr[m])
        if not np.isin(vals, (0, 1)).all():
            raise ValueError(f"{name} must hold 0/1 values where the mask is set; found "
                             f"{vals[~np.isin(vals, (0, 1))][:5]} (threshold scores first)")
    return yt.astype(bool), yp.astype(bool), m, names


def f1_per_au(y_true, y_pred, aus=None, mask=None, zero_division: float = 0.0) -> pd.Series:
    """F1 (percent) of the positive class for each AU column, plus ``"Avg"``.

    ``y_true``/``y_pred``: (N, n_aus) 0/1 arrays; ``mask``: (N, n_aus), 0 where the label
    is unknown; ``aus``: AU names for the columns. See the module docstring for the 0/0
    convention.
    """
    yt, yp, m, names = _prepare(y_true, y_pred, aus, mask)
    tp = (yt & yp & m).sum(0)
    fp = (~yt & yp & m).sum(0)
    fn = (yt & ~yp & m).sum(0)
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), zero_division)
    s = pd.Series(100.0 * f1, index=names, dtype=float)
    s["Avg"] = float(np.nanmean(s.values)) if np.isfinite(s.values).any() else float("nan")
    s.name = "F1"
    return s


def accuracy_per_au(y_true, y_pred, aus=None, mask=None) -> pd.Series:
    """Accuracy (percent) for each AU column over its known labels, plus ``"Avg"``."""
    yt, yp, m, names = _prepare(y_true, y_pred, aus, mask)
    n = m.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, ((yt == yp) & m).sum(0) / np.maximum(n, 1), np.nan)
    s = pd.Series(100.0 * acc, index=names, dtype=float)
    s["Avg"] = float(np.nanmean(s.values)) if np.isfinite(s.values).any() else float("nan")
    s.name = "Acc"
    return s


def auc_per_au(y_true, scores, aus=None, mask=None) -> pd.Series:
    """ROC AUC (percent) of continuous ``scores`` for each AU column over its known labels, plus
    ``"Avg"``; NaN for an AU whose known labels are all one class. Unlike F1 it does not move
    with the base rate (0.5 = chance), so it compares test sets whose base rates differ, e.g.
    within- vs cross-domain (scikit-learn's ``roc_auc_score``)."""
    from sklearn.metrics import roc_auc_score

    yt = np.asarray(y_true, dtype=float)
    sc = np.asarray(scores, dtype=float)
    if yt.shape != sc.shape or yt.ndim != 2:
        raise ValueError(f"y_true and scores must be (N, n_aus) arrays of one shape; got {yt.shape} and {sc.shape}")
    m = np.ones_like(yt, bool) if mask is None else np.asarray(mask).astype(bool)
    names = [au_name(a) for a in aus] if aus is not None else [f"AU{i}" for i in range(yt.shape[1])]
    out = []
    for j in range(yt.shape[1]):
        y = yt[m[:, j], j] > 0.5
        out.append(100.0 * roc_auc_score(y, sc[m[:, j], j]) if 0 < y.sum() < len(y) else np.nan)
    s = pd.Series(out, index=names, dtype=float)
    s["Avg"] = float(np.nanmean(s.values)) if np.isfinite(s.values).any() else float("nan")
    s.name = "AUC"
    return s


def base_rates(y_true, aus=None, mask=None) -> pd.Series:
    """Fraction of known frames where each AU is present (percent)."""
    yt = np.asarray(y_true, dtype=float)
    m = np.ones_like(yt, bool) if mask is None else np.asarray(mask).astype(bool)
    names = [au_name(a) for a in aus] if aus is not None else [f"AU{i}" for i in range(yt.shape[1])]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (yt * m).sum(0) / m.sum(0)
    return pd.Series(100.0 * rate, index=names, name="base rate")


def scores_table(y_true, y_pred, aus=None, mask=None, zero_division: float = 0.0) -> pd.DataFrame:
    """F1 and accuracy per AU (percent) as one DataFrame (rows: AUs + Avg)."""
    return pd.concat([f1_per_au(y_true, y_pred, aus, mask, zero_division),
                      accuracy_per_au(y_true, y_pred, aus, mask)], axis=1)


def fold_summary(per_fold: pd.DataFrame, value: str = "f1") -> pd.DataFrame:
    """Tidy per-fold scores ``[fold, au, value]`` -> wide AU table with mean and std rows.

    The papers report, per AU, the mean of the per-fold F1 values; ``Avg`` is recomputed per
    fold as the mean over AUs, then averaged, so it equals the mean of the per-AU means.
    """
    wide = per_fold.pivot_table(index="fold", columns="au", values=value, aggfunc="first")
    order = [c for c in wide.columns if c != "Avg"]
    order = sorted(order, key=lambda a: int(a[2:])) if all(c.startswith("AU") for c in order) else order
    wide = wide[order]
    wide["Avg"] = wide.mean(axis=1)
    out = pd.concat([wide, wide.mean().to_frame("mean").T, wide.std(ddof=0).to_frame("std").T])
    return out
