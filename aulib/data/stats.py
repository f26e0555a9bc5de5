"""Label statistics of a frame index: AU base rates and co-occurrence (unknown labels ignored)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def base_rates(index: pd.DataFrame, aus=None) -> pd.Series:
    """Positive rate per AU over frames whose label is known (NaN = unknown is skipped)."""
    aus = list(aus or index.attrs.get("aus") or [])
    return index[aus].mean(skipna=True).rename("base_rate")


def cooccurrence(index: pd.DataFrame, aus=None) -> pd.DataFrame:
    """P(column AU present | row AU present), over frames where both labels are known."""
    aus = list(aus or index.attrs.get("aus") or [])
    y = index[aus].to_numpy(np.float64)
    out = np.full((len(aus), len(aus)), np.nan)
    for i in range(len(aus)):
        for j in range(len(aus)):
            both = np.isfinite(y[:, i]) & np.isfinite(y[:, j]) & (y[:, i] == 1)
            if both.any():
                out[i, j] = y[both, j].mean()
    return pd.DataFrame(out, index=aus, columns=aus)


def fold_summary(index: pd.DataFrame, fold_list) -> pd.DataFrame:
    """Subjects and frames per fold and role (what each fold trains, validates and tests on)."""
    rows = []
    for f in fold_list:
        for role in ("train", "val", "test"):
            subs = set(getattr(f, role))
            n = int(index["subject"].isin(subs).sum())
            rows.append(dict(fold=f.name, role=role, subjects=len(subs), frames=n,
                             fgnet=f.aliases.get("fgnet", ""), megraph=f.aliases.get("megraph", "")))
    return pd.DataFrame(rows)
