"""Helpers shared by the readers: AU-name normalisation, image listing, ledger rows.

Frame-index columns (every reader): ``dataset``, ``subject`` (str), ``video`` (str, task or
clip; "" when none), ``frame`` (int), ``path`` (frame reference relative to the dataset root,
see :mod:`aulib.face.frames`), ``labeled`` (bool), then ``AU<k>`` occurrence columns
(float32: 1, 0, NaN = unknown) and, where the dataset codes intensity, ``AU<k>_int``.
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...face.frames import IMAGE_EXTS, ZIP_SEP, image_fault

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
    """Frame number from a file stem: its trailing digits (``'0643'`` -> 643,
    ``'frame_0012'`` -> 12, ``'SN001_7'`` -> 7); None when it does not end in a digit."""
    m = re.search(r"(\d+)$", stem)
    return int(m.group(1)) if m else None


def require_pairs(dataset: str, root: Path, n_paired: int, labels_found: str,
                  images_found: str, hint: str = "") -> None:
    """An index that found labels and images but paired none of them is an error naming what
    it found on each side (never a quiet ``0 frames``)."""
    if n_paired == 0:
        from ..catalog import layout_error

        raise layout_error(dataset, root, f"found {labels_found} and {images_found}, but no "
                           f"image pairs with a label{hint}")


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


def frame_fault(root: Path, ref: str) -> str | None:
    """Why frame ``ref`` cannot be read, or None: the face room's content check
    (:func:`aulib.face.frames.image_fault`: format magic and end marker, so a cut-short JPEG
    or PNG is caught), which :func:`aulib.face.frames.read_frame` — the loader — applies too.
    Members of zip archives are checked when first decoded (reading every member here would
    read the whole archive)."""
    if ZIP_SEP in str(ref):
        return None
    return image_fault(root / ref)


def intact_mask(root: Path, paths) -> np.ndarray:
    """True where :func:`frame_fault` finds nothing wrong with the image."""
    return np.array([frame_fault(root, p) is None for p in paths], dtype=bool)


def drop_corrupt(root: Path, df, ledger: list, dataset: str, subject=None, video=None):
    """Rows of ``df`` whose image passes :func:`frame_fault`; the others go to ``ledger`` as
    ``corrupt file`` (action ``excluded``, the fault as detail).

    ``subject``/``video`` fill the ledger when ``df`` has no such columns (default: per row)."""
    faults = [frame_fault(root, p) for p in df["path"]]
    ok = np.array([f is None for f in faults], dtype=bool)
    for (_, r), why in zip(df[~ok].iterrows(), [f for f in faults if f is not None]):
        ledger.append(dict(dataset=dataset,
                           subject=subject if subject is not None else r.get("subject", ""),
                           video=video if video is not None else r.get("video", ""),
                           frame=int(r.frame), path=r.path, reason="corrupt file",
                           action="excluded", detail=why))
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


# ------------------------------------------------------------------ frame <-> label pairing
@dataclass
class Numbered:
    """One folder's numbered labels and images, the input of :func:`decide_pairing`.

    ``folder``: its name in messages (``"SN001"``, ``"F001/T1"``); ``labels``: the label
    numbers (a label line's 0-based position, or the frame number a label file gives);
    ``images``: image number -> frame reference."""
    folder: str
    labels: np.ndarray
    images: dict


@dataclass
class Pairing:
    """The decided pairing of a dataset: image number = label number + ``shift``.

    ``value``: the reader option's value that means this shift; ``misfits``: folders whose
    numbering points to another shift (only when the option was given), with the reason;
    ``how``: "option" / "data" / "default" / "none" (no folder had both labels and images)."""
    value: int
    shift: int
    misfits: dict
    how: str

    def image(self, folder: Numbered, label: int):
        return folder.images.get(int(label) + self.shift)

    def unlabelled(self, folder: Numbered) -> list[int]:
        """Image numbers of ``folder`` that no label pairs with."""
        have = set((np.asarray(folder.labels, int) + self.shift).tolist())
        return sorted(k for k in folder.images if k not in have)


def _span(nums) -> str:
    nums = sorted(nums)
    if not nums:
        return "none"
    return f"{nums[0]}..{nums[-1]}" if len(nums) > 1 else str(nums[0])


def _outside(folder: Numbered, shift: int, all_labelled: bool) -> int:
    """How many pairs ``shift`` puts outside the folder's number ranges: labels whose image
    number lies beyond the first/last image, plus (``all_labelled``: every image should have a
    label) images beyond the first/last label. Gaps inside the ranges are missing frames under
    any shift and so are no evidence."""
    if not folder.images or not len(folder.labels):
        return 0
    lab = np.asarray(folder.labels, int)
    img = np.fromiter(folder.images, int)
    n = int(((lab + shift < img.min()) | (lab + shift > img.max())).sum())
    if all_labelled:
        n += int(((img - shift < lab.min()) | (img - shift > lab.max())).sum())
    return n


def describe_folder(f: Numbered) -> str:
    lab = np.asarray(f.labels, int)
    return (f"{f.folder}: labels {_span(lab.tolist())} ({len(lab)}), "
            f"images numbered {_span(list(f.images))} ({len(f.images)})")


def decide_pairing(dataset: str, root: Path, folders: list[Numbered], candidates: dict,
                   option: str, given: int | None = None, default: int | None = None,
                   all_labelled: bool = True) -> Pairing:
    """Decide once for a whole dataset how image numbers pair with label numbers.

    The one pairing rule of every reader that pairs image files with label rows by number
    (DISFA's frame folders, BP4D/BP4D+, AFEW-VA). ``candidates``: option value -> (shift,
    meaning), image number = label number + shift. Each folder's evidence is, per shift, how
    many labels would point before its first or after its last image (and, with
    ``all_labelled``, how many images would fall outside its labels); a folder votes for the
    shift with strictly the least such pairs, a folder with a tie (e.g. one that only lacks
    its first frame) does not vote. Then:

    - ``given`` (the reader option): used; folders voting otherwise are named in a warning
      and returned as misfits (the caller lists their unpaired frames in the ledger);
    - else every voting folder agrees: that shift, decided by the data;
    - else no folder votes: ``default`` (a documented convention) or, if None, an error;
    - folders disagree: an error naming the folders on each side.

    Errors are :class:`~aulib.data.catalog.DatasetLayoutError` saying what was found and how
    to tell the reader (``<option>=<value>``). Never a silent per-folder guess: the issue
    this answers (issue 12) saw a DISFA subject lacking frame 0 taken as 1-based, every
    frame then getting its neighbour's labels.
    """
    from ..catalog import layout_error

    means = "; ".join(f"{option}={v}: {m}" for v, (_, m) in candidates.items())
    if given is not None and given not in candidates:
        raise ValueError(f"{dataset}: {option} must be one of {sorted(candidates)}, "
                         f"got {given!r} ({means})")
    votes: dict = {v: [] for v in candidates}
    folders = [f for f in folders if f.images and len(f.labels)]
    if not folders:     # nothing to pair at all: the caller's require_pairs says so
        v = next(x for x in (given, default, *candidates) if x is not None)
        return Pairing(v, candidates[v][0], {}, "none")
    for f in folders:
        counts = {v: _outside(f, s, all_labelled) for v, (s, _) in candidates.items()}
        best = min(counts.values())
        winners = [v for v, c in counts.items() if c == best]
        if len(winners) == 1:
            votes[winners[0]].append(f)
    if given is not None:
        mis = {f.folder: f"its numbering points to {option}={v} ({describe_folder(f)})"
               for v, fs in votes.items() if v != given for f in fs}
        if mis:
            warnings.warn(f"{dataset}: {option}={given}; these folders do not fit it (their "
                          f"frames may pair with the wrong labels; unpaired ones are in the "
                          f"ledger): " + "; ".join(f"{k}: {v}" for k, v in mis.items()),
                          stacklevel=4)
        return Pairing(given, candidates[given][0], mis, "option")
    voted = [v for v, fs in votes.items() if fs]
    if len(voted) == 1:
        v = voted[0]
        return Pairing(v, candidates[v][0], {}, "data")
    if not voted and default is not None:
        return Pairing(default, candidates[default][0], {}, "default")

    def some(fs, k=4):
        return "; ".join(describe_folder(f) for f in fs[:k]) + (f"; ... ({len(fs)} folders)"
                                                                 if len(fs) > k else "")
    if voted:
        sides = "\n    ".join(f"{len(votes[v])} folder(s) fit {option}={v} only: {some(votes[v])}"
                              for v in voted)
        problem = (f"the frame folders are numbered in different ways, so image files cannot "
                   f"be paired with label rows by one rule:\n    {sides}\n  Extract every "
                   f"folder's frames the same way, or tell the reader which numbering to use")
    else:
        problem = (f"cannot tell how image numbers pair with label numbers: no folder's "
                   f"numbers decide it (each lacks the frames at its ends that would): "
                   f"{some(folders)}.\n  Tell the reader which numbering the frames use")
    raise layout_error(dataset, root, f"{problem}: pass {option}=<value> to "
                       f"aulib.data.frame_index ({means}); folders that do not fit it are "
                       f"then reported and their unpaired frames listed in the ledger")
