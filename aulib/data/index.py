"""The frame index of each dataset (built once, cached) and its ledger of excluded frames.

``frame_index(name, root)`` runs the dataset's reader (``aulib/data/readers/``) and caches
the result in ``<cache>/frame_index/`` keyed by the dataset root, its fingerprint
(``config.fingerprint_path``: a ``.fingerprint`` file when present, else names, sizes and
times) and the readers' source code, so a changed dataset or reader rebuilds it. The ledger
(user-asks.md #1) lists every frame a reader excluded or masked, with the reason:
``missing image``, ``corrupt file``, ``unknown label`` (plus, once landmarks are known,
``no face``), as a DataFrame and a CSV.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from .. import config
from .catalog import dataset_root, info
from .readers.common import LEDGER_COLUMNS

_READERS_DIR = Path(__file__).parent / "readers"


def _read(name: str, root: Path, **kw):
    from .readers import afewva, bp4d, disfa, emotionet, faces, fec

    table = {
        "disfa": lambda: disfa.read(root, **kw),
        "bp4d": lambda: bp4d.read(root, "bp4d", **kw),
        "bp4dplus": lambda: bp4d.read(root, "bp4dplus", **kw),
        "emotionet": lambda: emotionet.read(root, **kw),
        "fec": lambda: fec.read(root, **kw),
        "afewva": lambda: afewva.read(root, **kw),
        "casia": lambda: faces.read_casia(root, **kw),
        "lfw": lambda: faces.read_lfw(root, **kw),
        "ffhq": lambda: faces.read_ffhq(root, **kw),
    }
    return table[name]()


def _code_hash() -> str:
    h = hashlib.sha256()
    for f in sorted(_READERS_DIR.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _cache_paths(name: str, root: Path, fp: str, kw: dict) -> tuple[Path, Path]:
    h = hashlib.sha256(f"{name}|{root}|{fp}|{sorted(kw.items())}|{_code_hash()}".encode())
    base = config.cache_dir("frame_index") / f"{name}-{h.hexdigest()[:16]}"
    return base.with_suffix(".pkl"), base.with_suffix(".ledger.csv")


def _build(name: str, root, refresh: bool, kw: dict):
    d = info(name)
    path = dataset_root(d.name, root)
    fp = config.fingerprint_path(path)
    config.note_input(path, fp)
    idx_file, led_file = _cache_paths(d.name, path, fp, kw)
    if not refresh and idx_file.is_file() and led_file.is_file():
        index = pd.read_pickle(idx_file)
        ledger = pd.read_csv(led_file, dtype={"subject": str, "video": str, "path": str},
                             keep_default_na=False)
    else:
        index, ledger = _read(d.name, path, **kw)
        tmp = idx_file.with_suffix(".tmp")
        index.to_pickle(tmp)
        os.replace(tmp, idx_file)
        ledger.to_csv(led_file, index=False)
    index.attrs.update(dataset=d.name, root=str(path), aus=list(d.aus))
    return index, ledger


def frame_index(name: str, root: str | os.PathLike | None = None, refresh: bool = False,
                labeled_only: bool = True, **reader_kwargs) -> pd.DataFrame:
    """The frame index of dataset ``name`` read from ``root`` (see the module docstring).

    ``name``: "disfa", "bp4d", "bp4dplus", "emotionet", "fec", "afewva", "casia", "lfw",
    "ffhq" (a ``synth-`` prefix is accepted). ``root``: the folder holding the dataset in its
    official layout (a SynthAU folder from ``aulib.synth.ensure`` works the same); default
    ``config.data_root()/<DATASETS[name].subfolder>``. ``labeled_only`` drops frames without
    AU labels (BP4D's uncoded frames, EmotioNet's unlabelled images); identity and image
    collections are returned whole. ``reader_kwargs`` go to the reader (e.g. DISFA's
    ``camera="right"``; how image numbers pair with label rows when the data cannot decide
    it: DISFA's and AFEW-VA's ``frame_base=0|1``, BP4D/BP4D+'s ``label_offset=0|1``, see
    ``readers.common.decide_pairing``). ``df.attrs`` holds dataset, root and AUs.

    Raises :class:`~aulib.data.catalog.DatasetLayoutError` when the folder does not fit the
    layout, when the pairing cannot be decided, or when labels and images were found but no
    frame pairs (never a quiet empty index).
    """
    index, _ = _build(name, root, refresh, reader_kwargs)
    d = info(name)
    if labeled_only and d.labels in ("intensity", "occurrence") and "labeled" in index:
        attrs = dict(index.attrs)
        index = index[index["labeled"]].reset_index(drop=True)
        index.attrs.update(attrs)
    return index


def ledger(name: str, root: str | os.PathLike | None = None, landmarks=None,
           index: pd.DataFrame | None = None, **reader_kwargs) -> pd.DataFrame:
    """Every excluded or masked frame of a dataset, with its reason.

    Columns: dataset, subject, video, frame, path, reason, action (``excluded`` /
    ``masked``), detail. With ``landmarks`` (a LandmarkTable) the frames of ``index`` (default:
    the labelled frame index) that have no landmarks are added with reason ``no face`` or
    ``corrupt file``, action ``excluded``.
    """
    idx, led = _build(name, root, False, reader_kwargs)
    rows = [led]
    if landmarks is not None:
        sub = index if index is not None else frame_index(name, root, **reader_kwargs)
        pos = {p: i for i, p in enumerate(landmarks.paths.tolist())}
        extra = []
        for r in sub.itertuples(index=False):
            i = pos.get(r.path)
            if i is None:
                extra.append((r, "no landmarks", "frame not in the landmark table"))
            elif not landmarks.found[i]:
                extra.append((r, str(landmarks.reason[i]) or "no face",
                              f"landmark source {landmarks.source}"))
        rows.append(pd.DataFrame([dict(dataset=r.dataset, subject=r.subject, video=r.video,
                                       frame=r.frame, path=r.path, reason=why,
                                       action="excluded", detail=det)
                                  for r, why, det in extra], columns=LEDGER_COLUMNS))
    out = pd.concat([r for r in rows if len(r)], ignore_index=True) if any(len(r) for r in rows) \
        else pd.DataFrame(columns=LEDGER_COLUMNS)
    return out


def ledger_counts(ledger_df: pd.DataFrame) -> pd.DataFrame:
    """Counts of the ledger by dataset, reason and action (the notebook's summary table)."""
    if not len(ledger_df):
        return pd.DataFrame(columns=["dataset", "reason", "action", "frames"])
    return (ledger_df.groupby(["dataset", "reason", "action"]).size()
            .rename("frames").reset_index())
