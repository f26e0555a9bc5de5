"""Helpers shared by the readers: AU-name normalisation, image listing, ledger rows.

Frame-index columns (every reader): ``dataset``, ``subject`` (str), ``video`` (str, task or
clip; "" when none), ``frame`` (int), ``path`` (frame reference relative to the dataset root,
see :mod:`aulib.face.frames`), ``labeled`` (bool), then ``AU<k>`` occurrence columns
(float32: 1, 0, NaN = unknown) and, where the dataset codes intensity, ``AU<k>_int``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ...face.frames import IMAGE_EXTS, looks_intact

LEDGER_COLUMNS = ["dataset", "subject", "video", "frame", "path", "reason", "action", "detail"]
INDEX_BASE = ["dataset", "subject", "video", "frame", "path", "labeled"]


def au_name(col) -> str | None:
    """``'1'`` / ``"'AU 1'"`` / ``'au1'`` / ``'AU01'`` -> ``'AU1'``; None if not an AU column."""
    s = re.sub(r"[\s'\"]", "", str(col)).upper()
    if s.startswith("AU"):
        s = s[2:]
    return f"AU{int(s)}" if s.isdigit() else None


def au_sort_key(name: str) -> int:
    return int(name[2:].split("_")[0])


def ledger_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    return df.astype({"frame": "Int64"}) if len(df) else df


def number_of(stem: str) -> int | None:
    """Frame number from a file stem (``'0643'`` -> 643; ``'N_0000000001_00012'`` -> None)."""
    return int(stem) if stem.isdigit() else None


def list_images(folder: Path) -> dict[str, Path]:
    """File name -> path for every image file directly in ``folder``."""
    if not folder.is_dir():
        return {}
    return {e.name: Path(e.path) for e in os.scandir(folder)
            if e.is_file() and e.name.lower().endswith(IMAGE_EXTS)}


def walk_images(root: Path) -> dict[str, str]:
    """Base name -> path relative to ``root`` for every image under ``root`` (first wins)."""
    out: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(dirpath, root)
        for f in sorted(files):
            if f.lower().endswith(IMAGE_EXTS) and f not in out:
                out[f] = f if rel == "." else f"{rel}/{f}".replace(os.sep, "/")
    return out


def intact_mask(root: Path, paths) -> np.ndarray:
    """True where the image file exists and starts with its format's magic bytes."""
    return np.array([looks_intact(root / p) for p in paths], dtype=bool)


def drop_corrupt(root: Path, df, ledger: list, dataset: str, subject=None, video=None):
    """Rows of ``df`` whose image looks intact; the others go to ``ledger`` as corrupt files.

    ``subject``/``video`` fill the ledger when ``df`` has no such columns (default: per row)."""
    ok = intact_mask(root, df["path"])
    for _, r in df[~ok].iterrows():
        ledger.append(dict(dataset=dataset,
                           subject=subject if subject is not None else r.get("subject", ""),
                           video=video if video is not None else r.get("video", ""),
                           frame=int(r.frame), path=r.path, reason="corrupt file",
                           action="excluded", detail="empty file or bad image header"))
    return df[ok]


def finish_index(df: pd.DataFrame, aus: list[str]) -> pd.DataFrame:
    """Order columns (base, occurrence AUs, intensity AUs), set dtypes, reset the index."""
    occ = sorted([c for c in df.columns if c.startswith("AU") and not c.endswith("_int")],
                 key=au_sort_key)
    inten = sorted([c for c in df.columns if c.startswith("AU") and c.endswith("_int")],
                   key=au_sort_key)
    other = [c for c in df.columns if c not in INDEX_BASE and c not in occ and c not in inten]
    df = df[INDEX_BASE + other + occ + inten].copy()
    for c in occ + inten:
        df[c] = df[c].astype("float32")
    df["frame"] = df["frame"].astype("int64")
    df["subject"] = df["subject"].astype(str)
    df["video"] = df["video"].astype(str)
    df["labeled"] = df["labeled"].astype(bool)
    return df.reset_index(drop=True)
