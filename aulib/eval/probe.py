"""Linear probes: how much AU information a fixed representation of faces carries.

Owns :func:`linear_probe` (one class-balanced logistic regression per AU, scikit-learn, fitted on
the training subjects' feature vectors and scored by F1 on other subjects, beside the
always-active floor) and :func:`dataset_arrays` (an AU dataset stacked into arrays). Used by
``fgnet/00_prior`` to ask whether the generative prior's W+ codes encode AUs - FG-Net's premise
- compared with the raw pixels of the same aligned faces.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import f1_per_au


def dataset_arrays(dataset, batch_size: int = 128) -> dict:
    """Items of an :class:`aulib.data.AUDataset` as arrays: ``image`` (N, C, H, W float32
    torch tensor), ``au`` (N, n_aus), ``mask`` (N, n_aus; 1 where the label is known) and
    ``subject`` (N,). Evaluation datasets only (no augmentation is undone)."""
    import torch
    from torch.utils.data import DataLoader

    images, labels, masks = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        images.append(batch["image"])
        labels.append(batch["au"].numpy())
        masks.append(batch.get("au_mask", torch.ones_like(batch["au"])).numpy())
    subjects = getattr(dataset, "subjects", None)
    return {"image": torch.cat(images), "au": np.concatenate(labels), "mask": np.concatenate(masks),
            "subject": None if subjects is None else np.asarray(subjects)}


def linear_probe(features, labels, mask, train, test, aus, C: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Per-AU F1 (%) of a linear read-out of ``features`` (N, D), fitted on rows ``train`` and
    scored on rows ``test`` (boolean masks or index arrays; keep them subject-exclusive).

    Each AU gets its own standardised, class-balanced L2 logistic regression (``C`` its inverse
    regularisation) on the rows where its label is known (``mask``). Returns a table indexed by
    AU plus ``Avg`` with columns ``f1`` (the probe) and ``floor`` (the always-active predictor on
    the same test rows). An AU without both classes among the training rows gets NaN.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    Y = np.asarray(labels) > 0.5
    M = np.asarray(mask) > 0
    train, test = _rows(train, len(X)), _rows(test, len(X))
    if not train.any() or not test.any():
        raise ValueError("linear_probe needs training and test rows; got "
                         f"{int(train.sum())} training and {int(test.sum())} test rows")
    pred = np.zeros((int(test.sum()), len(aus)), dtype=np.float64)
    fitted = np.zeros(len(aus), dtype=bool)
    for j in range(len(aus)):
        rows = train & M[:, j]
        if len(np.unique(Y[rows, j])) < 2:
            continue
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000,
                                                                 random_state=seed))
        clf.fit(X[rows], Y[rows, j])
        pred[:, j] = clf.predict(X[test])
        fitted[j] = True
    y, m = Y[test].astype(float), M[test].astype(float)
    f1 = f1_per_au(y, pred, list(aus), mask=m)
    floor = f1_per_au(y, np.ones_like(y), list(aus), mask=m)
    out = pd.DataFrame({"f1": f1, "floor": floor})
    out.loc[[a for a, ok in zip(aus, fitted) if not ok], "f1"] = np.nan
    out.loc["Avg", "f1"] = out.loc[list(aus), "f1"].mean()
    return out


def _rows(sel, n: int) -> np.ndarray:
    sel = np.asarray(sel)
    if sel.dtype == bool:
        if len(sel) != n:
            raise ValueError(f"a boolean row selection must have {n} entries, got {len(sel)}")
        return sel
    out = np.zeros(n, dtype=bool)
    out[sel.astype(int)] = True
    return out
