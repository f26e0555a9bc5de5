"""What every SynthAU writer shares: failure injection, the ground-truth side file, the
landmark table, the info file, and stills' AU sampling.

Side files written at the dataset root, next to the official layout:

- ``landmarks_68.npz``: the landmark table of :mod:`aulib.face.landmark_table` (source
  ``"synthau-ground-truth"``), keyed by paths relative to the root (and, for videos, by
  ``<video>#<0-based frame>``); ``found`` is False for injected failures;
- ``synthau_ground_truth.csv.gz``: one row per written frame - ``path``, ``subject``,
  ``sequence``, ``frame``, ``domain``, ``identity``, head pose ``yaw``/``pitch``/``roll``
  (degrees), ``failure`` ("", "corrupt", "no_face"), and for every rendered AU its
  continuous intensity ``AUk_val`` and its FACS intensity ``AUk_int`` (0-5);
- ``synthau_info.json``: dataset name, profile, seed, sizes, conventions and counts.
"""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from ...face.landmark_table import save_landmark_table
from ..catalogue import AUS
from ..dynamics import calibrated_rates, simulate
from ..engine import FAIL_CORRUPT, FAIL_NOFACE, FAIL_NONE, Sequence
from ..identity import identity_seed

#: the official layout facts with their sources (``aulib/data/layouts.toml``, the one file the
#: readers and the tests read too; loaded as a file because ``synth`` may not import ``data``)
LAYOUTS = tomllib.loads((Path(__file__).resolve().parents[2] / "data" / "layouts.toml").read_text())
#: where SynthAU keeps files that are not part of the imitated dataset's own layout
SIDE_DIR = "synthau"

GT_FILE = "synthau_ground_truth.csv.gz"
INFO_FILE = "synthau_info.json"
LANDMARK_FILE = "landmarks_68.npz"


def inject_failures(rng: np.random.Generator, n: int, rates: dict, can_corrupt: bool = True,
                    force: bool = False) -> list:
    """Per-frame failure kinds at ``rates`` ({"corrupt": p, "no_face": p}). ``force``
    (used for a dataset's first sequence) guarantees one of each kind whose rate is > 0,
    so even a smoke-sized dataset exercises the ledger of excluded frames."""
    out = [FAIL_NONE] * n
    u = rng.random(n)
    pc = rates.get(FAIL_CORRUPT, 0.0) if can_corrupt else 0.0
    pn = rates.get(FAIL_NOFACE, 0.0)
    for i in range(n):
        if u[i] < pc:
            out[i] = FAIL_CORRUPT
        elif u[i] < pc + pn:
            out[i] = FAIL_NOFACE
    if force and n >= 3:
        if pc > 0:
            out[n - 2] = FAIL_CORRUPT
        if pn > 0:
            out[n - 1] = FAIL_NOFACE
    return out


def sample_stills(preset: str, n: int, rng: np.random.Generator, spacing: float = 9.0,
                  with_events: bool = False):
    """AU intensities (n, n_AU) for n independent photos: points far apart on one long
    simulated timeline (so co-occurrence and base rates follow the preset). With
    ``with_events`` also returns each photo's dominant event type (or "neutral")."""
    times = np.arange(n) * spacing + rng.uniform(0, spacing * 0.5, n)
    events = [] if with_events else None
    aus = simulate(calibrated_rates(preset), times, rng, events_out=events)
    if not with_events:
        return aus
    kinds = np.array(["neutral"] * n, dtype=object)
    for name, t0, t1 in events:
        i0, i1 = np.searchsorted(times, [t0, t1])
        kinds[i0:i1] = name
    return aus, kinds


STILLS_CHUNK = 250


def stills_sequences(name: str, paths, aus, fails, seed: int, size: int, domain: str = "wild",
                     chunk: int = STILLS_CHUNK, **seq_kwargs) -> list:
    """Still images (one identity each) grouped into render chunks of ``chunk`` images.

    Identity ``i`` of dataset ``name`` is ``identity_seed(name, i, seed)``, so images are the
    same whatever the chunking; extra keyword arguments go to every :class:`Sequence`."""
    n = len(paths)
    seqs = []
    for c0 in range(0, n, chunk):
        sl = slice(c0, min(n, c0 + chunk))
        ids = np.array([identity_seed(name, i, seed) for i in range(sl.start, sl.stop)])
        seqs.append(Sequence(key=f"chunk{c0 // chunk:04d}", paths=paths[sl], aus=aus[sl],
                             identity=ids, domain=domain, size=size, seed=int(ids[0] % 2**31),
                             mode="stills", failures=fails[sl], **seq_kwargs))
    return seqs


def gt_columns(seq, results, extra=None) -> dict:
    """Ground-truth columns (name -> 1-D array) of one rendered sequence."""
    n = len(seq.aus)
    cols = {
        "path": np.array([p if p is not None else "" for p in (seq.paths or [None] * n)], dtype=object),
        "sequence": np.full(n, seq.key, dtype=object), "frame": np.arange(n),
        "domain": np.full(n, seq.domain, dtype=object),
        "identity": np.broadcast_to(np.asarray(seq.identity, dtype=np.int64), (n,)),
        "yaw": results["pose"][:, 0].round(2), "pitch": results["pose"][:, 1].round(2),
        "roll": results["pose"][:, 2].round(2),
        "failure": np.asarray(results["failures"], dtype=object),
    }
    for k, v in (extra or {}).items():
        cols[k] = np.broadcast_to(np.asarray(v, dtype=object if isinstance(v, str) else None), (n,))
    vals = np.round(seq.aus, 2)
    ints = np.clip(np.rint(seq.aus), 0, 5).astype(np.int8)
    for j, a in enumerate(AUS):
        cols[f"{a}_val"] = vals[:, j]
        cols[f"{a}_int"] = ints[:, j]
    return cols


def _reason_kw(fn, reasons) -> dict:
    """Pass per-frame reasons when the landmark-table writer supports them."""
    import inspect

    return {"reason": reasons} if "reason" in inspect.signature(fn).parameters else {}


def finish(root: Path, name: str, seqs, results, info: dict, extra_cols=None,
           video_refs: bool = False) -> pd.DataFrame:
    """Write the ground-truth side file, the landmark table and the info file."""
    parts = []
    paths, lms, found, reasons = [], [], [], []
    why = {FAIL_NONE: "", FAIL_CORRUPT: "corrupt file", FAIL_NOFACE: "no face"}
    for k, (s, r) in enumerate(zip(seqs, results)):
        parts.append(gt_columns(s, r, None if extra_cols is None else extra_cols[k]))
        fl = np.array(r["failures"], dtype=object)
        ok = fl == FAIL_NONE
        lm = r["landmarks"].copy()
        for i, p in enumerate(s.paths or [None] * len(s.aus)):
            if p is None:
                continue
            paths.append(p)
            lms.append(lm[i] if ok[i] else np.full((68, 2), np.nan, np.float32))
            found.append(bool(ok[i]))
            reasons.append(why[fl[i]])
        if video_refs and s.video:
            okv = fl != FAIL_NOFACE
            for i in range(len(s.aus)):
                paths.append(f"{s.video}#{i}")
                lms.append(lm[i] if okv[i] else np.full((68, 2), np.nan, np.float32))
                found.append(bool(okv[i]))
                reasons.append("" if okv[i] else "no face")
    names = list(parts[0])
    gt = pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in names})
    gt.to_csv(root / GT_FILE, index=False, compression="gzip")
    save_landmark_table(root / LANDMARK_FILE, paths, np.asarray(lms, np.float32).reshape(-1, 68, 2),
                        found=np.asarray(found, bool), source="synthau-ground-truth",
                        **_reason_kw(save_landmark_table, reasons))
    counts = gt["failure"].replace("", "ok").value_counts().to_dict()
    info = {"dataset": name, **info, "frames": int(len(gt)), "failures": counts,
            "colour_order": "files: standard JPEG/PNG (OpenCV writes BGR buffers); "
                            "aulib.synth.render_face returns RGB",
            "side_files": {"ground_truth": GT_FILE, "landmarks": LANDMARK_FILE}}
    (root / INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    return gt
