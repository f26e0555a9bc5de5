"""BP4D and BP4D+ reader: per subject/task AU occurrence CSVs + per subject/task frame folders.

Facts (datasets.md §2-3): labels ``AUCoding/AU_OCC/<Subj>_<Task>.csv``, header row whose first
column (named ``0``) holds the frame number and whose other columns are AU numbers, values
0/1 and **9 = unknown**; frames ``<Subj>/<Task>/<n>.jpg`` with varying zero padding, directly
in the root or under ``Sequences(2D+3D)/`` (BP4D download) or ``2D+3D/`` (BP4D+). BP4D+ as
shipped keeps each subject's frames in one archive ``2D+3D/<Subj>.zip`` with members
``<Subj>/<Task>/<n>.jpg`` (ubicomplab/rPPG-Toolbox ``BP4DPlusLoader.read_video`` reads them
so; datasets.md §10): the archive is read directly, frames referenced as
``2D+3D/F001.zip#F001/T1/0001.jpg`` (decoded from the member's bytes); an extracted folder
of the same subject wins over the archive.

Unknown labels (9): the AU is masked (NaN here, ``au_mask = 0`` in the torch Dataset), never
coerced to 0 — JAA-Net/ADLD's evaluation ignores frames whose label is 9 per AU
(methods.md A.6), py-feat replaces 9 by NaN, OpenGraphAU maps it to -1 "unknown"
(datasets.md §2, §4). Frames with every AU unknown are excluded; both cases are recorded in
the ledger (action ``masked`` / ``excluded``). Frames outside the AU-coded segments are kept
with ``labeled = False`` (PIAP-DF uses them as unlabelled data, paper 004 §4.1).

Pairing CSV rows with images (image number = CSV frame - ``label_offset``): ME-GraphAU's
lists pair CSV frame f with image ``f.jpg`` (offset 0, datasets.md §2); for BP4D+ one
secondary source reports image f-1 (offset 1, datasets.md §3, unverified). The offset is
decided once per dataset by :func:`~aulib.data.readers.common.decide_pairing` from every
sequence's numbers together (a CSV coding frames past the last image, or from the first
image, decides it), 0 when nothing decides it, or told with ``label_offset=0|1``; sequences
pointing both ways are an error that names them.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import BP4D_AUS, layout_error
from ...face.frames import IMAGE_EXTS, zip_ref
from .common import (Numbered, au_name, decide_pairing, drop_corrupt, finish_index,
                     ledger_frame, list_images, number_of, require_pairs)

LABEL_DIR = "AUCoding/AU_OCC"
FRAME_BASES = ("", "Sequences(2D+3D)", "2D+3D")
UNKNOWN = 9
SEQ_RE = re.compile(r"([FM]\d{3})_(T\d+)")
#: label_offset value -> (image number minus CSV frame number, what it means)
LABEL_OFFSETS = {0: (0, "image n is CSV frame n (ME-GraphAU's lists)"),
                 1: (-1, "image n-1 is CSV frame n (reported for BP4D+, datasets.md §3)")}
ARCHIVE_EXTS = (".zip", ".7z", ".rar", ".tar", ".tar.gz", ".tgz")


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
    """The folder (one of :data:`FRAME_BASES`) holding ``<subject>/<task>/`` extracted."""
    for b in FRAME_BASES:
        if (root / b / subject / task).is_dir():
            return b
    return None


def zip_members(root: Path, subject: str) -> tuple[str, dict] | None:
    """``(archive, {task: {image number: reference}})`` of ``<base>/<subject>.zip`` (base one
    of :data:`FRAME_BASES`), members ``[<subject>/]<task>/<n>.jpg``; None when there is no
    such archive. An unreadable archive raises :class:`zipfile.BadZipFile`."""
    for b in FRAME_BASES:
        rel = f"{b}/{subject}.zip" if b else f"{subject}.zip"
        if not (root / rel).is_file():
            continue
        tasks: dict = {}
        with zipfile.ZipFile(root / rel) as z:
            for m in z.namelist():
                parts = m.split("/")
                if len(parts) < 2 or not parts[-1].lower().endswith(IMAGE_EXTS):
                    continue
                k = number_of(Path(parts[-1]).stem)
                if k is not None and re.fullmatch(r"T\d+", parts[-2]):
                    tasks.setdefault(parts[-2], {})[k] = zip_ref(rel, m)
        return rel, tasks
    return None


def sequence_images(root: Path, subject: str, task: str, archives: dict) -> dict | None:
    """Image number -> frame reference of one sequence: the extracted folder, else the
    subject's zip archive (``archives`` caches :func:`zip_members` per subject); None when
    neither holds it."""
    base = frame_base(root, subject, task)
    if base is not None:
        prefix = f"{base}/{subject}/{task}" if base else f"{subject}/{task}"
        imgs = {number_of(Path(n).stem): f"{prefix}/{n}" for n in sorted(list_images(root / prefix))}
        imgs.pop(None, None)
        return imgs
    if subject not in archives:
        archives[subject] = zip_members(root, subject)
    z = archives[subject]
    return None if z is None or task not in z[1] else z[1][task]


def explain_missing(root: Path, missing: list, archives: dict) -> str:
    """What is wrong inside the dataset folder for sequences without frames (archives that
    lack the task or are not zip files, or nothing at all)."""
    notes = []
    for subj in sorted({m.split("/")[0] for m in missing}):
        z = archives.get(subj)
        if z is not None:
            have = sorted(z[1])
            notes.append(f"{z[0]} has no {subj}/<Task>/<n>.jpg members for "
                         f"{', '.join(m.split('/')[1] for m in missing if m.startswith(subj + '/'))}"
                         f" (tasks in it: {', '.join(have) or 'none'})")
            continue
        other = [f"{b + '/' if b else ''}{subj}{e}" for b in FRAME_BASES for e in ARCHIVE_EXTS[1:]
                 if (root / b / f"{subj}{e}").is_file()]
        if other:
            notes.append(f"{other[0]} is an archive this reader cannot open: extract it so "
                         f"that {(FRAME_BASES[2])}/{subj}/<Task>/<n>.jpg exist, or repack it "
                         f"as {FRAME_BASES[2]}/{subj}.zip")
    return ("; ".join(notes[:6]) + "; ") if notes else ""


def read(root: Path, name: str = "bp4d", label_offset: int | None = None,
         check_files: bool = True):
    """Frame index and ledger of a BP4D / BP4D+ folder (see module docstring).

    ``label_offset``: 0 or 1, image number = CSV frame - offset (default: decided from the
    data, 0 when nothing decides it)."""
    occ = root / LABEL_DIR
    if not occ.is_dir():
        raise layout_error(name, root, f"label folder {occ} not found")
    seqs = sorted((m.group(1), m.group(2), f) for f in occ.glob("*.csv")
                  if (m := SEQ_RE.fullmatch(f.stem)))
    if not seqs:
        raise layout_error(name, root, f"no <Subj>_<Task>.csv files (e.g. F001_T1.csv) in {occ}")
    archives: dict = {}
    found, missing = [], []
    for subj, task, csv in seqs:
        try:
            imgs = sequence_images(root, subj, task, archives)
        except zipfile.BadZipFile as e:
            raise layout_error(name, root, f"{FRAME_BASES[2]}/{subj}.zip is not a readable zip "
                               f"archive ({e}): a partial download or copy? Copy it again, "
                               f"or extract it to {FRAME_BASES[2]}/{subj}/<Task>/") from None
        if imgs is None:
            missing.append(f"{subj}/{task}")
            continue
        lab = read_label_csv(csv)
        found.append((subj, task, csv, lab[~lab.index.duplicated()], imgs))
    if missing:
        raise layout_error(
            name, root,
            f"AU labels exist but no frames for {len(missing)} of {len(seqs)} sequences "
            f"({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); "
            f"{explain_missing(root, missing, archives)}looked for <Subj>/<Task>/ under "
            f"{', '.join(repr(b or '<root>') for b in FRAME_BASES)} and for archives "
            f"<base>/<Subj>.zip holding <Subj>/<Task>/<n>.jpg")
    numbered = [Numbered(f"{s}/{t}", lab.index.to_numpy(), imgs) for s, t, _, lab, imgs in found]
    pairing = decide_pairing(name, root, numbered, LABEL_OFFSETS, "label_offset",
                             given=label_offset, default=0, all_labelled=False)
    parts, ledger, n_paired = [], [], 0
    for (subj, task, csv, lab, imgs), folder in zip(found, numbered):
        aus = [c for c in lab.columns]
        vals = lab.to_numpy(np.float32, copy=True)
        unknown = ~np.isin(vals, (0, 1))
        vals[unknown] = np.nan
        df = pd.DataFrame(vals, columns=aus)
        df["frame"] = lab.index.to_numpy() + pairing.shift
        df["path"] = df["frame"].map(imgs)
        df["labeled"] = True
        n_paired += int(df["path"].notna().sum())
        std = [a for a in BP4D_AUS if a in aus]
        n_unknown = np.isnan(df[std].to_numpy()).sum(1) if std else np.zeros(len(df), int)
        for i in np.flatnonzero(df["path"].isna().to_numpy()):
            ledger.append(dict(dataset=name, subject=subj, video=task, frame=int(df.frame.iat[i]),
                               path="", reason="missing image", action="excluded",
                               detail=f"{csv.name} codes frame {int(lab.index[i])}, no image "
                                      f"numbered {int(df.frame.iat[i])} "
                                      f"(label_offset={pairing.value})"))
        for i in np.flatnonzero((n_unknown > 0) & df["path"].notna().to_numpy()):
            all_unknown = n_unknown[i] == len(std)
            bad = [a for a in std if np.isnan(df[a].iat[i])]
            ledger.append(dict(dataset=name, subject=subj, video=task, frame=int(df.frame.iat[i]),
                               path=df.path.iat[i], reason="unknown label",
                               action="excluded" if all_unknown else "masked",
                               detail="9 (unknown) for " + ",".join(bad)))
        keep = df["path"].notna().to_numpy() & (n_unknown < max(len(std), 1))
        df = df[keep]
        rest = pairing.unlabelled(folder)
        if rest:
            df = pd.concat([df, pd.DataFrame({"frame": rest, "path": [imgs[k] for k in rest],
                                              "labeled": False})], ignore_index=True)
        df["subject"], df["video"], df["dataset"] = subj, task, name
        if check_files:
            df = drop_corrupt(root, df, ledger, name, subject=subj, video=task)
        parts.append(df)
    require_pairs(name, root, n_paired,
                  f"{len(found)} AU_OCC CSVs coding {sum(len(f[3]) for f in found)} frames",
                  f"{sum(len(f[4]) for f in found)} numbered images",
                  f" (CSV frames e.g. {numbered[0].folder}: "
                  f"{numbered[0].labels[:3].tolist()}, images {sorted(numbered[0].images)[:3]})")
    index = finish_index(pd.concat(parts, ignore_index=True), list(BP4D_AUS))
    index = index.sort_values(["subject", "video", "frame"], kind="stable").reset_index(drop=True)
    return index, ledger_frame(ledger)
