"""Face-identity and face-image collections: CASIA-WebFace, LFW (with its pairs) and FFHQ.

Facts (datasets.md §7-8):
- CASIA-WebFace: one folder per identity named by a 7-digit id (``0000045/``), images
  ``001.jpg``, ``002.jpg``, ...; ``subject`` = the identity folder.
- LFW: ``lfw/<Name>/<Name>_<NNNN>.jpg`` (4-digit, 1-based; also ``lfw-deepfunneled/``,
  ``lfw_funneled/``) and ``pairs.txt``: a header ``10<TAB>300`` then per fold 300 matched
  lines ``name i j`` and 300 mismatched lines ``name1 i name2 j``.
- FFHQ: ``images1024x1024/<NNN00>/<NNNNN>.png`` in sub-folders of 1000 (or
  ``thumbnails128x128/``, or a flat folder of PNGs); optional ``ffhq-dataset-v2.json`` with the
  category (training / validation) and 68 landmarks per image. ``subject`` = image id.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import layout_error
from .common import (drop_corrupt, finish_index, intact_mask, ledger_frame,
                     list_images, walk_images)

LFW_IMAGE_DIRS = ("lfw", "lfw-deepfunneled", "lfw_funneled", "lfw-funneled", "")
FFHQ_DIRS = ("images1024x1024", "thumbnails128x128", "")


def _identity_index(root: Path, name: str, folders: list[Path], rel_prefix: str,
                    check_files: bool):
    rows, ledger = [], []
    for d in folders:
        for fname in sorted(list_images(d)):
            stem = Path(fname).stem
            num = re.findall(r"\d+", stem)
            rows.append(dict(dataset=name, subject=d.name, video="",
                             frame=int(num[-1]) if num else 0,
                             path=f"{rel_prefix}{d.name}/{fname}", labeled=True))
    df = pd.DataFrame(rows)
    if check_files and len(df):
        df = drop_corrupt(root, df, ledger, name, video="")
    return finish_index(df, []), ledger_frame(ledger)


CASIA_IMAGE_DIRS = ("", "CASIA-WebFace", "casia-webface", "CASIA-maxpy-clean")


def read_casia(root: Path, check_files: bool = True):
    """Identity folders with numeric names, in ``root`` or in a ``CASIA-WebFace/`` below it
    (as the LFW reader accepts a parent of ``lfw/``); paths stay relative to ``root``."""
    for sub in CASIA_IMAGE_DIRS:
        base = root / sub if sub else root
        if not base.is_dir():
            continue
        folders = [d for d in sorted(base.iterdir()) if d.is_dir() and re.fullmatch(r"\d+", d.name)]
        if folders:
            return _identity_index(root, "casia", folders, f"{sub}/" if sub else "", check_files)
    raise layout_error("casia", root, "no identity folders with numeric names (0000045/), "
                       "neither in the root nor in CASIA-WebFace/ below it")


def lfw_image_dir(root: Path) -> str | None:
    for d in LFW_IMAGE_DIRS:
        base = root / d if d else root
        if base.is_dir() and any(p.is_dir() and re.fullmatch(r"\w+", p.name) and
                                 list_images(p) for p in list(base.iterdir())[:50]):
            return d
    return None


def read_lfw(root: Path, check_files: bool = True):
    d = lfw_image_dir(root)
    if d is None:
        raise layout_error("lfw", root, "no image folder lfw/<Name>/<Name>_NNNN.jpg")
    base = root / d if d else root
    folders = [p for p in sorted(base.iterdir()) if p.is_dir() and list_images(p)]
    return _identity_index(root, "lfw", folders, f"{d}/" if d else "", check_files)


def lfw_pairs(root: Path, strict: bool = True) -> pd.DataFrame:
    """LFW's ``pairs.txt`` (View 2) as [fold, name1, idx1, name2, idx2, same, path1, path2].

    With ``strict`` (default) a file that breaks the protocol (``layouts.toml`` [lfw] rules:
    equal matched / mismatched counts per fold, no person in two folds, no repeated pair,
    matched pairs smaller number first; checked by ``layouts.lfw_protocol_problems``) raises
    ``ValueError`` naming each fault, since a verification accuracy over its folds would train
    and test on the same identities; ``strict=False`` reads it anyway."""
    f = next((p for p in (root / "pairs.txt", root / "lfw" / "pairs.txt") if p.is_file()), None)
    if f is None:
        raise layout_error("lfw", root, "pairs.txt not found (root or lfw/)")
    lines = [ln.split() for ln in f.read_text().splitlines() if ln.strip()]
    n_folds, n_per = int(lines[0][0]), int(lines[0][1])
    d = lfw_image_dir(root) or "lfw"
    rows = []
    for i, tok in enumerate(lines[1:]):
        fold = i // (2 * n_per)
        if len(tok) == 3:
            n1, i1, n2, i2, same = tok[0], int(tok[1]), tok[0], int(tok[2]), True
        elif len(tok) == 4:
            n1, i1, n2, i2, same = tok[0], int(tok[1]), tok[2], int(tok[3]), False
        else:
            raise ValueError(f"{f}: line {i + 2} has {len(tok)} fields, expected 3 or 4")
        rows.append(dict(fold=fold, name1=n1, idx1=i1, name2=n2, idx2=i2, same=same,
                         path1=f"{d}/{n1}/{n1}_{i1:04d}.jpg", path2=f"{d}/{n2}/{n2}_{i2:04d}.jpg"))
    df = pd.DataFrame(rows)
    if df["fold"].max() + 1 != n_folds:
        raise ValueError(f"{f}: header says {n_folds} folds of {n_per}+{n_per} pairs, "
                         f"found {len(df)} pair lines")
    if strict:
        from ..layouts import lfw_protocol_problems

        problems = lfw_protocol_problems(df, n_per)
        if problems:
            raise ValueError(f"{f} breaks LFW's 10-fold protocol: " + "; ".join(problems)
                             + ". Use the official pairs.txt, or lfw_pairs(root, strict=False) "
                             "to read it anyway")
    return df


def read_ffhq(root: Path, check_files: bool = True):
    images = {}
    for d in FFHQ_DIRS:
        base = root / d if d else root
        if base.is_dir():
            images = walk_images(base) if d else {k: v for k, v in walk_images(base).items()}
            if images:
                prefix = f"{d}/" if d else ""
                images = {k: prefix + v for k, v in images.items()}
                break
    if not images:
        raise layout_error("ffhq", root, "no images under images1024x1024/, thumbnails128x128/ "
                                         "or the root")
    rows = []
    for fname, rel in sorted(images.items()):
        stem = Path(fname).stem
        rows.append(dict(dataset="ffhq", subject=stem, video="",
                         frame=int(stem) if stem.isdigit() else len(rows), path=rel, labeled=False))
    df = pd.DataFrame(rows)
    meta = root / "ffhq-dataset-v2.json"
    if meta.is_file():
        cat = {int(k): v.get("category", "") for k, v in json.loads(meta.read_text()).items()}
        df["category"] = df["frame"].map(cat).fillna("")
    ledger = []
    if check_files:
        ok = intact_mask(root, df["path"])
        for _, r in df[~ok].iterrows():
            ledger.append(dict(dataset="ffhq", subject=r.subject, video="", frame=r.frame,
                               path=r.path, reason="corrupt file", action="excluded",
                               detail="empty file or bad image header"))
        df = df[ok]
    return finish_index(df, []), ledger_frame(ledger)


def ffhq_landmarks(root: Path, index: pd.DataFrame):
    """FFHQ's 68 landmarks of the aligned image (``image.face_landmarks``) as a LandmarkTable,
    in the pixel frame of the file each index row points at.

    The official JSON (NVlabs/ffhq-dataset README, ``aulib/data/layouts.toml`` [ffhq]) gives
    the landmarks in the 1024-px ``image`` only; when the indexed file is the 128-px
    ``thumbnail`` (or another block whose ``file_path`` matches the row's path), they are scaled
    by that block's ``pixel_size`` / the image's ``pixel_size``. An entry without landmarks
    stays NaN (``found`` False)."""
    from ...face.landmark_table import LandmarkTable

    meta = json.loads((root / "ffhq-dataset-v2.json").read_text())
    arr = np.full((len(index), 68, 2), np.nan, np.float32)
    for i, (f, path) in enumerate(zip(index["frame"], index["path"])):
        entry = meta.get(str(f), {})
        image = entry.get("image", {})
        lm = image.get("face_landmarks")
        if lm is None or np.shape(lm) != (68, 2):
            continue
        scale = 1.0
        for block in (entry.get("thumbnail") or {}, image):
            if block.get("file_path") == path and block.get("pixel_size") and image.get("pixel_size"):
                scale = np.asarray(block["pixel_size"], float) / np.asarray(image["pixel_size"], float)
                break
        arr[i] = np.asarray(lm, np.float32) * scale
    return LandmarkTable(index["path"].to_numpy().astype(str), arr,
                         np.isfinite(arr).all(axis=(1, 2)), "ffhq-json")
