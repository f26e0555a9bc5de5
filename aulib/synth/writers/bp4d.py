"""``synth-bp4d`` and ``synth-bp4dplus``: the BP4D / BP4D+ layouts (datasets.md sections 2-3),
domain ``lab-b``.

BP4D (41 subjects F001-F023, M001-M018; tasks T1-T8):

- ``Sequences(2D+3D)/<Subj>/<Task>/<frame:04d>.jpg`` - 2D frames, 4-digit zero padding;
- ``AUCoding/AU_OCC/<Subj>_<Task>.csv`` - header row ``0,1,2,...,27`` (first column the
  frame number, the others AU numbers), values 0/1 and 9 = not coded / unknown. The 12
  evaluated AUs (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24) are coded (present at
  intensity >= 1, FACS A or more) with a few 9s injected; every other AU column is 9.
  As in the real data only a segment of each task is coded: frames before and after it
  are written as images but have no CSV row (unlabelled).

BP4D+ (140 subjects F001-F082, M001-M058; tasks T1-T10, AU-coded T1, T6, T7, T8) uses
``2D+3D/<Subj>/<Task>/<frame:04d>.jpg`` and the same ``AUCoding/AU_OCC`` CSVs. The CSV
frame number equals the image number here (one secondary source reports an off-by-one in
the real BP4D+; not reproduced, see ``synthau_info.json``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..catalogue import AUS, BP4D_AUS, au_number
from ..dynamics import calibrated_rates, occurrence, simulate
from ..engine import Sequence, render_all
from ..identity import identity_seed, make_identity
from .common import finish, inject_failures

BP4D_SUBJECTS = tuple([f"F{i:03d}" for i in range(1, 24)] + [f"M{i:03d}" for i in range(1, 19)])
BP4DPLUS_SUBJECTS = tuple([f"F{i:03d}" for i in range(1, 83)] + [f"M{i:03d}" for i in range(1, 59)])
CSV_AUS = tuple(range(1, 28))          # AU columns of the OCC CSV
UNKNOWN = 9
FPS = 25.0


def _write(root: Path, name: str, subjects, tasks, coded_tasks, frame_dir: str, size: int,
           n_coded: int, n_uncoded: int, n_uncoded_task: int, seed: int, failure_rates: dict,
           unknown_rate: float) -> dict:
    seqs, coded_masks, frame_nums = [], [], []
    for subj in subjects:
        sid = identity_seed(name, subj, seed)
        ident = make_identity(sid, sex=subj[0])
        for task in tasks:
            coded = task in coded_tasks
            rng = np.random.default_rng(identity_seed(name, subj, task, seed) % (2**32))
            nc = n_coded if coded else 0
            nu = n_uncoded if coded else n_uncoded_task
            if nc + nu == 0:
                continue
            step = max(1, int(round(500 / max(nc, 1))))   # a ~20 s coded segment
            start = int(rng.integers(1, 900))
            nums = start + step * np.arange(nc + nu)
            before = nu // 2 if coded else 0
            is_coded = np.zeros(nc + nu, bool)
            is_coded[before:before + nc] = True
            times = nums / FPS
            aus = simulate(calibrated_rates("bp4d"), times, rng, au_rate=ident.au_rate)
            seqs.append(Sequence(
                key=f"{subj}/{task}", paths=[f"{frame_dir}/{subj}/{task}/{f:04d}.jpg" for f in nums],
                aus=aus, identity=sid, sex=subj[0], domain="lab-b", size=size,
                seed=int(rng.integers(2**31)), mode="video", times=times,
                failures=inject_failures(rng, len(nums), failure_rates, force=not seqs), jpeg=92))
            coded_masks.append(is_coded)
            frame_nums.append(nums)
    results = render_all(seqs, root, desc=name)
    occ_dir = root / "AUCoding" / "AU_OCC"
    occ_dir.mkdir(parents=True, exist_ok=True)
    coded_idx = [CSV_AUS.index(au_number(a)) for a in BP4D_AUS]
    n_unknown = 0
    for s, mask, nums in zip(seqs, coded_masks, frame_nums):
        if not mask.any():
            continue
        rng = np.random.default_rng(identity_seed(name, s.key, "labels", seed) % (2**32))
        occ = occurrence(s.aus[mask], "bp4d")
        table = np.full((int(mask.sum()), len(CSV_AUS)), UNKNOWN, np.int64)
        for j, a in zip(coded_idx, BP4D_AUS):
            table[:, j] = occ[:, AUS.index(a)]
        unk = rng.random((len(table), len(coded_idx))) < unknown_rate
        for c, j in enumerate(coded_idx):
            table[unk[:, c], j] = UNKNOWN
        n_unknown += int(unk.sum())
        header = "0," + ",".join(str(a) for a in CSV_AUS)
        body = "".join(f"{f}," + ",".join(map(str, row)) + "\n" for f, row in zip(nums[mask], table))
        subj, task = s.key.split("/")
        (occ_dir / f"{subj}_{task}.csv").write_text(header + "\n" + body)
    extra = [{"subject": s.key.split("/")[0], "task": s.key.split("/")[1], "frame_number": n,
              "coded": m} for s, n, m in zip(seqs, frame_nums, coded_masks)]
    finish(root, name, seqs, results,
           {"layout": __doc__, "subjects": list(subjects), "tasks": list(tasks),
            "coded_tasks": list(coded_tasks), "size": size, "domain": "lab-b",
            "labels": list(BP4D_AUS), "occurrence_rule": "intensity >= 1 (FACS A or more)",
            "unknown_labels_injected": n_unknown,
            "frame_numbering": "CSV column '0' = image file number (no off-by-one)"},
           extra_cols=extra)
    return {"frames": int(sum(len(s.aus) for s in seqs))}


def write_bp4d(root: Path, size: int, n_coded: int, n_uncoded: int, seed: int,
               failure_rates: dict, unknown_rate: float = 0.004, **_) -> dict:
    tasks = tuple(f"T{i}" for i in range(1, 9))
    return _write(root, "synth-bp4d", BP4D_SUBJECTS, tasks, tasks, "Sequences(2D+3D)", size,
                  n_coded, n_uncoded, 0, seed, failure_rates, unknown_rate)


def write_bp4dplus(root: Path, size: int, n_coded: int, n_uncoded: int, n_uncoded_task: int,
                   seed: int, failure_rates: dict, unknown_rate: float = 0.004, **_) -> dict:
    tasks = tuple(f"T{i}" for i in range(1, 11))
    return _write(root, "synth-bp4dplus", BP4DPLUS_SUBJECTS, tasks, ("T1", "T6", "T7", "T8"),
                  "2D+3D", size, n_coded, n_uncoded, n_uncoded_task, seed, failure_rates,
                  unknown_rate)
