"""AFEW-VA reader: clip folders with a per-clip JSON of valence, arousal and 68 landmarks.

Facts (datasets.md §9, as read by EMOCA's ``AfewVaDataModule``): one folder per clip with a
3-digit name (``001``), inside it ``001.json`` whose ``frames`` maps a frame name (string,
zero-padded number) to ``valence``, ``arousal`` (integers -10..10) and ``landmarks`` (68 x/y
points); the image of a frame is ``<clip>/<frame name>.png`` (EMOCA's default; ``.jpg``
accepted too). Clip folders may also sit one level deeper (group folders); the clip count
(~600) is unconfirmed. ``subject`` is the clip id (AFEW-VA has no actor ids).

Pairing: a numeric frame name pairs with the image of the same number (``00012`` with
``00012.png`` or ``12.jpg``: padding does not matter), decided once per dataset by
:func:`~aulib.data.readers.common.decide_pairing` (``frame_base=1`` when the images were
re-extracted from 1: image n+1 is frame n; default 0, EMOCA's name-for-name pairing).
Non-numeric frame names pair by exact name.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import layout_error
from .common import (Numbered, decide_pairing, drop_corrupt, finish_index, ledger_frame,
                     list_images, number_of, require_pairs)

CLIP_RE = re.compile(r"\d{3}")
EXTS = (".png", ".jpg", ".jpeg")
#: frame_base value -> (image number minus JSON frame number, what it means)
FRAME_BASES = {0: (0, "image n is JSON frame n (EMOCA pairs frame names with file names)"),
               1: (1, "image n+1 is JSON frame n (frames re-extracted numbered from 1)")}


def clip_folders(root: Path) -> list[Path]:
    def clips_in(d: Path):
        return [c for c in sorted(d.iterdir()) if c.is_dir() and CLIP_RE.fullmatch(c.name)
                and (c / f"{c.name}.json").is_file()]
    found = clips_in(root)
    if not found:
        for g in sorted(p for p in root.iterdir() if p.is_dir()):
            found += clips_in(g)
    return found


def _clips(root: Path) -> list[tuple[Path, str, dict, Numbered]]:
    """(folder, relative path, JSON frames, numbers) of every clip."""
    out = []
    for c in clip_folders(root):
        rel = c.relative_to(root).as_posix()
        frames = json.loads((c / f"{c.name}.json").read_text()).get("frames", {})
        imgs = {number_of(Path(n).stem): f"{rel}/{n}" for n in sorted(list_images(c))
                if n.lower().endswith(EXTS)}
        imgs.pop(None, None)
        nums = np.array([int(f) for f in frames if f.isdigit()], int)
        out.append((c, rel, frames, Numbered(rel, nums, imgs)))
    return out


def _pair(root: Path, clips, frame_base: int | None):
    pairing = decide_pairing("afewva", root, [n for *_, n in clips], FRAME_BASES, "frame_base",
                             given=frame_base, default=0)
    return pairing


def _image_of(c: Path, rel: str, fname: str, numbered: Numbered, pairing) -> str | None:
    if fname.isdigit():
        return pairing.image(numbered, int(fname))
    return next((f"{rel}/{fname}{e}" for e in EXTS if (c / f"{fname}{e}").is_file()), None)


def read(root: Path, check_files: bool = True, frame_base: int | None = None):
    """Frame index and ledger of an AFEW-VA folder (see the module docstring)."""
    clips = _clips(root)
    if not clips:
        raise layout_error("afewva", root, "no clip folders NNN/ holding NNN.json")
    pairing = _pair(root, clips, frame_base)
    rows, ledger = [], []
    for c, rel, frames, numbered in clips:
        for fname, fr in sorted(frames.items()):
            img = _image_of(c, rel, fname, numbered, pairing)
            if img is None:
                ledger.append(dict(dataset="afewva", subject=c.name, video=c.name,
                                   frame=int(fname) if fname.isdigit() else -1, path="",
                                   reason="missing image", action="excluded",
                                   detail=f"{rel}/{c.name}.json lists frame {fname}, no image "
                                          f"(frame_base={pairing.value})"))
                continue
            rows.append(dict(dataset="afewva", subject=c.name, video=c.name,
                             frame=int(fname) if fname.isdigit() else len(rows), path=img,
                             labeled=True, valence=fr.get("valence", np.nan),
                             arousal=fr.get("arousal", np.nan)))
    require_pairs("afewva", root, len(rows),
                  f"{sum(len(f) for _, _, f, _ in clips)} annotated frames in {len(clips)} clip JSONs",
                  f"{sum(len(n.images) for *_, n in clips)} numbered images")
    df = pd.DataFrame(rows)
    if check_files:
        df = drop_corrupt(root, df, ledger, "afewva")
    return finish_index(df, []), ledger_frame(ledger)


def landmark_table(root: Path, index: pd.DataFrame, frame_base: int | None = None):
    """The annotated 68 landmarks of AFEW-VA's frames as a LandmarkTable (paired with images
    by the same rule as :func:`read`)."""
    from ...face.landmark_table import LandmarkTable

    clips = _clips(root)
    pairing = _pair(root, clips, frame_base)
    lms = {}
    for c, rel, frames, numbered in clips:
        for fname, fr in frames.items():
            img = _image_of(c, rel, fname, numbered, pairing)
            if img is not None:
                lms[img] = np.asarray(fr.get("landmarks", []), np.float32).reshape(-1, 2)
    paths = index["path"].tolist()
    arr = np.full((len(paths), 68, 2), np.nan, np.float32)
    for i, p in enumerate(paths):
        lm = lms.get(p)
        if lm is not None and lm.shape == (68, 2):
            arr[i] = lm
    found = np.isfinite(arr).all(axis=(1, 2))
    return LandmarkTable(np.asarray(paths), arr, found, "afewva-annotation")
