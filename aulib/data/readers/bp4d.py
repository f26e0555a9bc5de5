"""BP4D and BP4D+ reader: per subject/task AU occurrence CSVs + per subject/task frame folders.

Facts (datasets.md §2-3): labels ``AUCoding/AU_OCC/<Subj>_<Task>.csv``, header row whose first
column (named ``0``) holds the frame number and whose other columns are AU numbers, values
0/1 and **9 = unknown**; frames ``<Subj>/<Task>/<n>.jpg`` with varying zero padding, directly
in the root or under ``Sequences(2D+3D)/`` (BP4D download) or ``2D+3D/`` (BP4D+).

Unknown labels (9): the AU is masked (NaN here, ``au_mask = 0`` in the torch Dataset), never
coerced to 0 — JAA-Net/ADLD's evaluation ignores frames whose label is 9 per AU
(methods.md A.6), py-feat replaces 9 by NaN, OpenGraphAU maps it to -1 "unknown"
(datasets.md §2, §4). Frames with every AU unknown are excluded; both cases are recorded in
the ledger (action ``masked`` / ``excluded``). Frames outside the AU-coded segments are kept
with ``labeled = False`` (PIAP-DF uses them as unlabelled data, paper 004 §4.1).

BP4D+ frame numbering: one secondary source reports that CSV frame f is image f-1
(datasets.md §3, unverified); ``label_offset`` (default 0) shifts the pairing if needed.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import BP4D_AUS, layout_error
from .common import au_name, drop_corrupt, finish_index, ledger_frame, list_images, number_of

LABEL_DIR = "AUCoding/AU_OCC"
FRAME_BASES = ("", "Sequences(2D+3D)", "2D+3D")
UNKNOWN = 9
SEQ_RE = re.compile(r"([FM]\d{3})_(T\d+)")


def read_label_csv(path: Path) -> pd.DataFrame:
    """One AU_OCC CSV as a frame-indexed DataFrame with ``AU<k>`` columns (raw values)."""
    df = pd.read_csv(path, header=0, index_col=0)
    cols = {c: au_name(c) for c in df.columns}
    df = df[[c for c, n in cols.items() if n]].rename(columns=cols)
    df.index = pd.to_numeric(df.index, errors="coerce")
    df = df[df.index.notna()]
    df.index = df.index.astype(int)
    return df.apply(pd.to_numeric, errors="coerce")


def frame_base(root: Path, subject: str, task: str) -> str | None:
    for b in FRAME_BASES:
        if (root / b / subject / task).is_dir():
            return b
    return None


def read(root: Path, name: str = "bp4d", label_offset: int = 0, check_files: bool = True):
    """Frame index and ledger of a BP4D / BP4D+ folder (see module docstring)."""
    occ = root / LABEL_DIR
    if not occ.is_dir():
        raise layout_error(name, root, f"label folder {occ} not found")
    seqs = sorted((m.group(1), m.group(2), f) for f in occ.glob("*.csv")
                  if (m := SEQ_RE.fullmatch(f.stem)))
    if not seqs:
        raise layout_error(name, root, f"no <Subj>_<Task>.csv files (e.g. F001_T1.csv) in {occ}")
    parts, ledger, missing = [], [], []
    for subj, task, csv in seqs:
        base = frame_base(root, subj, task)
        if base is None:
            missing.append(f"{subj}/{task}")
            continue
        prefix = f"{base}/{subj}/{task}" if base else f"{subj}/{task}"
        imgs = {number_of(Path(n).stem): f"{prefix}/{n}" for n in list_images(root / prefix)}
        imgs.pop(None, None)
        lab = read_label_csv(csv)
        lab = lab[~lab.index.duplicated()]
        aus = [c for c in lab.columns]
        vals = lab.to_numpy(np.float32, copy=True)
        unknown = ~np.isin(vals, (0, 1))
        vals[unknown] = np.nan
        df = pd.DataFrame(vals, columns=aus)
        df["frame"] = lab.index.to_numpy() - label_offset
        df["path"] = df["frame"].map(imgs)
        df["labeled"] = True
        std = [a for a in BP4D_AUS if a in aus]
        n_unknown = np.isnan(df[std].to_numpy()).sum(1) if std else np.zeros(len(df), int)
        for i in np.flatnonzero(df["path"].isna().to_numpy()):
            ledger.append(dict(dataset=name, subject=subj, video=task, frame=int(df.frame.iat[i]),
                               path="", reason="missing image", action="excluded",
                               detail=f"{csv.name} codes frame {int(lab.index[i])}, no image"))
        for i in np.flatnonzero((n_unknown > 0) & df["path"].notna().to_numpy()):
            all_unknown = n_unknown[i] == len(std)
            bad = [a for a in std if np.isnan(df[a].iat[i])]
            ledger.append(dict(dataset=name, subject=subj, video=task, frame=int(df.frame.iat[i]),
                               path=df.path.iat[i], reason="unknown label",
                               action="excluded" if all_unknown else "masked",
                               detail="9 (unknown) for " + ",".join(bad)))
        keep = df["path"].notna().to_numpy() & (n_unknown < max(len(std), 1))
        df = df[keep]
        coded = set(df["frame"])
        labelled = set(lab.index)
        rest = sorted(k for k in imgs if k not in coded and k + label_offset not in labelled)
        if rest:
            df = pd.concat([df, pd.DataFrame({"frame": rest, "path": [imgs[k] for k in rest],
                                              "labeled": False})], ignore_index=True)
        df["subject"], df["video"], df["dataset"] = subj, task, name
        if check_files:
            df = drop_corrupt(root, df, ledger, name, subject=subj, video=task)
        parts.append(df)
    if missing:
        raise layout_error(
            name, root,
            f"AU labels exist but no frame folder for {len(missing)} of {len(seqs)} sequences "
            f"({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); looked for "
            f"<Subj>/<Task>/ under {', '.join(repr(b or '<root>') for b in FRAME_BASES)}")
    index = finish_index(pd.concat(parts, ignore_index=True), list(BP4D_AUS))
    index = index.sort_values(["subject", "video", "frame"], kind="stable").reset_index(drop=True)
    return index, ledger_frame(ledger)
