"""The dataset checker (user-asks.md #7): point it at a folder, get, by expected relative path,
what is there, what is missing and what is mis-shaped.

``check(name, root)`` returns a DataFrame [expected, status, found, detail] with status
``ok`` / ``missing`` / ``mis-shaped`` and prints a summary. Every dataset is first read by
its reader: the frame index's size and its ledger's counts by reason (``corrupt file``: a
cut-short or undecodable image; ``missing image``; ``no label``; ``unknown label``) come
first, or the reader's error. DISFA and BP4D are then checked file by file against the
published subject lists (datasets.md §1-2, §4).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .catalog import DatasetLayoutError, info
from .readers.common import au_name

DISFA_SUBJECTS = ("SN001 SN002 SN003 SN004 SN005 SN006 SN007 SN008 SN009 SN010 SN011 SN012 "
                  "SN013 SN016 SN017 SN018 SN021 SN023 SN024 SN025 SN026 SN027 SN028 SN029 "
                  "SN030 SN031 SN032").split()
BP4D_SUBJECTS = [f"F{i:03d}" for i in range(1, 24)] + [f"M{i:03d}" for i in range(1, 19)]
BP4D_TASKS = [f"T{i}" for i in range(1, 9)]


def _row(expected, status, found="", detail=""):
    return dict(expected=expected, status=status, found=found, detail=detail)


def _check_disfa(root: Path) -> list[dict]:
    from .readers import disfa

    rows = []
    lab = root / disfa.LABEL_DIR
    rows.append(_row(f"{disfa.LABEL_DIR}/", "ok" if lab.is_dir() else "missing"))
    for sn in DISFA_SUBJECTS:
        files = disfa.label_files(root, sn)
        lengths = {}
        for k in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26):
            exp = f"{disfa.LABEL_DIR}/{sn}/{sn}_au{k}.txt"
            f = files.get(f"AU{k}")
            if f is None:
                rows.append(_row(exp, "missing"))
                continue
            try:
                v = disfa.read_label_file(f)
                lengths[k] = len(v)
                bad = int(pd.isna(v).sum())
                rows.append(_row(exp, "mis-shaped" if bad else "ok", f"{len(v)} lines",
                                 f"{bad} intensities outside 0-5" if bad else ""))
            except Exception as e:  # unparsable file
                rows.append(_row(exp, "mis-shaped", f.name, str(e)))
        src = disfa.frame_source(root, sn, "left")
        exp = f"Videos_LeftCamera/LeftVideo{sn}_comp.avi or <frames dir>/{sn}/"
        if src is None:
            rows.append(_row(exp, "missing"))
        else:
            n = len(src[1])
            n_lab = max(lengths.values()) if lengths else 0
            ok = n == n_lab or not lengths
            rows.append(_row(exp, "ok" if ok else "mis-shaped", f"{src[0]}: {n} frames",
                             "" if ok else f"label files have {n_lab} lines"))
    return rows


def _check_bp4d(root: Path, name: str) -> list[dict]:
    from .readers import bp4d

    rows = []
    occ = root / bp4d.LABEL_DIR
    rows.append(_row(f"{bp4d.LABEL_DIR}/", "ok" if occ.is_dir() else "missing"))
    if name == "bp4d":
        seqs = [(s, t) for s in BP4D_SUBJECTS for t in BP4D_TASKS]
    else:  # BP4D+ ids are unconfirmed (datasets.md §3): check the sequences that have labels
        seqs = sorted((m.group(1), m.group(2)) for f in occ.glob("*.csv")
                      if (m := bp4d.SEQ_RE.fullmatch(f.stem))) if occ.is_dir() else []
    archives: dict = {}
    for s, t in seqs:
        exp = f"{bp4d.LABEL_DIR}/{s}_{t}.csv"
        f = occ / f"{s}_{t}.csv"
        if not f.is_file():
            rows.append(_row(exp, "missing"))
        else:
            try:
                head = pd.read_csv(f, nrows=2, header=0)
                first = str(head.columns[0]).strip()
                aus = {au_name(c) for c in head.columns[1:]}
                lack = [a for a in info(name).aus if a not in aus]
                if first != "0" or lack:
                    rows.append(_row(exp, "mis-shaped", f"columns {list(head.columns)[:5]}...",
                                     f"first column should be '0' (frame); missing AUs {lack}"))
                else:
                    rows.append(_row(exp, "ok"))
            except Exception as e:
                rows.append(_row(exp, "mis-shaped", f.name, str(e)))
        exp = f"{s}/{t}/ (root, Sequences(2D+3D)/ or 2D+3D/, or 2D+3D/{s}.zip)"
        try:
            imgs = bp4d.sequence_images(root, s, t, archives)
        except Exception as e:        # an unreadable archive
            rows.append(_row(exp, "mis-shaped", f"{s}.zip", str(e)))
            continue
        rows.append(_row(exp, "missing" if imgs is None else "ok",
                         "" if imgs is None else f"{len(imgs)} numbered images"))
    return rows


#: ledger reason -> (status of its check row, how its count reads)
_LEDGER_STATUS = {"corrupt file": ("mis-shaped", "corrupt files (cut short or undecodable)"),
                  "missing image": ("missing", "labelled frames without an image"),
                  "no label": ("mis-shaped", "images no label pairs with"),
                  "unknown label": ("ok", "frames with unknown labels (masked or excluded)")}


def _index_rows(name: str, root: Path) -> list[dict]:
    """The reader's view: the frame index's size and the ledger's counts by reason (with an
    example), or the reader's error."""
    from .index import frame_index, ledger

    try:
        idx = frame_index(name, root, labeled_only=False)
        led = ledger(name, root)
    except (DatasetLayoutError, ValueError) as e:
        return [_row("frame index", "mis-shaped", "", str(e))]
    rows = [_row("frame index", "ok", f"{len(idx)} frames")]
    for reason, part in led.groupby("reason", sort=True):
        status, what = _LEDGER_STATUS.get(reason, ("mis-shaped", reason))
        ex = part.iloc[0]
        rows.append(_row(f"ledger: {reason}", status, f"{len(part)} {what}",
                         f"e.g. {ex.path or ex.subject} frame {ex.frame}: {ex.detail}"))
    return rows


def check(name: str, root: str | os.PathLike | None = None, verbose: bool = True) -> pd.DataFrame:
    """Report, by expected relative path, what is present, missing or mis-shaped.

    ``root`` defaults to ``config.data_root()/<subfolder>``; a missing root gives a single
    ``missing`` row naming it (no exception), so the checker always answers.
    """
    from .. import config

    d = info(name)
    path = Path(root).expanduser().resolve() if root else config.data_root() / d.subfolder
    if not path.is_dir():
        rep = pd.DataFrame([_row(str(path), "missing", "", f"{d.title}: obtain it: {d.obtain}")])
    elif d.name == "disfa":
        rep = pd.DataFrame(_index_rows(d.name, path) + _check_disfa(path))
    elif d.name in ("bp4d", "bp4dplus"):
        rep = pd.DataFrame(_index_rows(d.name, path) + _check_bp4d(path, d.name))
    else:
        rep = pd.DataFrame(_index_rows(d.name, path))
    if verbose:
        counts = rep["status"].value_counts().to_dict()
        print(f"{d.title} at {path}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        bad = rep[rep.status != "ok"]
        if len(bad):
            print(bad.head(10).to_string(index=False))
        if not path.is_dir():
            print(f"If you have {d.title} elsewhere, name its folder: python -m aulib.data check {d.name} "
                  f"/path/to/{d.subfolder}, or set AULIB_DATA to the folder that holds {d.subfolder}/ "
                  f"(now {config.data_root()}).")
    return rep
