"""AFEW-VA reader: clip folders with a per-clip JSON of valence, arousal and 68 landmarks.

Facts (datasets.md §9, as read by EMOCA's ``AfewVaDataModule``): one folder per clip with a
3-digit name (``001``), inside it ``001.json`` whose ``frames`` maps a frame name (string,
zero-padded number) to ``valence``, ``arousal`` (integers -10..10) and ``landmarks`` (68 x/y
points); the image of a frame is ``<clip>/<frame name>.png`` (EMOCA's default; ``.jpg``
accepted too). Clip folders may also sit one level deeper (group folders); the clip count
(~600) is unconfirmed. ``subject`` is the clip id (AFEW-VA has no actor ids).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import layout_error
from .common import finish_index, intact_mask, ledger_frame

CLIP_RE = re.compile(r"\d{3}")
EXTS = (".png", ".jpg", ".jpeg")


def clip_folders(root: Path) -> list[Path]:
    def clips_in(d: Path):
        return [c for c in sorted(d.iterdir()) if c.is_dir() and CLIP_RE.fullmatch(c.name)
                and (c / f"{c.name}.json").is_file()]
    found = clips_in(root)
    if not found:
        for g in sorted(p for p in root.iterdir() if p.is_dir()):
            found += clips_in(g)
    return found


def read(root: Path, check_files: bool = True):
    clips = clip_folders(root)
    if not clips:
        raise layout_error("afewva", root, "no clip folders NNN/ holding NNN.json")
    rows, ledger = [], []
    for c in clips:
        rel = c.relative_to(root).as_posix()
        meta = json.loads((c / f"{c.name}.json").read_text())
        for fname, fr in sorted(meta.get("frames", {}).items()):
            img = next((f"{rel}/{fname}{e}" for e in EXTS if (c / f"{fname}{e}").is_file()), None)
            if img is None:
                ledger.append(dict(dataset="afewva", subject=c.name, video=c.name,
                                   frame=int(fname) if fname.isdigit() else -1, path="",
                                   reason="missing image", action="excluded",
                                   detail=f"{rel}/{c.name}.json lists frame {fname}"))
                continue
            rows.append(dict(dataset="afewva", subject=c.name, video=c.name,
                             frame=int(fname) if fname.isdigit() else len(rows), path=img,
                             labeled=True, valence=fr.get("valence", np.nan),
                             arousal=fr.get("arousal", np.nan)))
    df = pd.DataFrame(rows)
    if check_files and len(df):
        ok = intact_mask(root, df["path"])
        for _, r in df[~ok].iterrows():
            ledger.append(dict(dataset="afewva", subject=r.subject, video=r.video, frame=r.frame,
                               path=r.path, reason="corrupt file", action="excluded",
                               detail="empty file or bad image header"))
        df = df[ok]
    return finish_index(df, []), ledger_frame(ledger)


def landmark_table(root: Path, index: pd.DataFrame):
    """The annotated 68 landmarks of AFEW-VA's frames as a LandmarkTable."""
    from ...face.landmark_table import LandmarkTable

    lms = {}
    for c in clip_folders(root):
        meta = json.loads((c / f"{c.name}.json").read_text())
        rel = c.relative_to(root).as_posix()
        for fname, fr in meta.get("frames", {}).items():
            lm = np.asarray(fr.get("landmarks", []), np.float32).reshape(-1, 2)
            for e in EXTS:
                lms[f"{rel}/{fname}{e}"] = lm
    paths = index["path"].tolist()
    arr = np.full((len(paths), 68, 2), np.nan, np.float32)
    for i, p in enumerate(paths):
        lm = lms.get(p)
        if lm is not None and lm.shape == (68, 2):
            arr[i] = lm
    found = np.isfinite(arr).all(axis=(1, 2))
    return LandmarkTable(np.asarray(paths), arr, found, "afewva-annotation")
