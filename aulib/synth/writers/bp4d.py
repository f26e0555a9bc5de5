"""``synth-bp4d`` and ``synth-bp4dplus``: the BP4D / BP4D+ layouts, domain ``lab-b``.

The layout facts (file names, AU column sets and order, unknown code, sources) are
``aulib/data/layouts.toml`` [bp4d] and [bp4dplus]; datasets.md sections 2-3 and 10.

BP4D (41 subjects F001-F023, M001-M018; tasks T1-T8):

- ``Sequences(2D+3D)/<Subj>/<Task>/<frame:04d>.jpg`` - 2D frames, 4-digit zero padding;
- ``AUCoding/AU_OCC/<Subj>_<Task>.csv`` - header ``0`` (the frame number) then the AU columns
  of ``layouts.toml`` [bp4d] ``occ_aus`` (1, 2, 4, ..., 27, 32, 38, 39), values 0/1 and 9 =
  unknown. One row per frame of the coded segment, consecutive frame numbers; the frames
  before and after it are written as images without a row (uncoded, as in the real data).

BP4D+ (140 subjects F001-F082, M001-M058; tasks T1-T10, AU-coded T1, T6, T7, T8):

- ``2D+3D/<Subj>.zip`` - one archive per subject as shipped, members
  ``<Subj>/<Task>/<frame:04d>.jpg`` in task and frame order, numbered from 0001 so that CSV
  frame f is also the f-th image of the task (the positional reading of public BP4D+
  loaders); frames are referenced as ``2D+3D/F001.zip#F001/T1/0001.jpg``
  (``aulib.face.frames.zip_ref``) in the ground truth and landmark side files;
- ``AUCoding/AU_OCC/<Subj>_<Task>.csv`` with exactly the [bp4dplus] ``occ_aus`` columns in
  that order (public code reads them by position);
- ``AUCoding/AU_INT/AU06/<Subj>_<Task>_AU06.csv`` (also AU10, 12, 14, 17): no header, rows
  ``frame,intensity`` (0-5; 9 where AU_OCC is 9), one per AU_OCC row.

Labels (decided here, written to ``synthau_info.json``): every AU the renderer animates
(``catalogue.AUS``) is coded from the rendered intensity (present at intensity >= 1, FACS A);
AU columns the renderer never animates (11, 13, 16, ...) are **0**, because the face truly
does not show them - 9 would claim "not coded" and make loaders that drop 9s throw frames
away. A few 9s are injected in the 12 evaluated AUs. AU_INT: 0 where AU_OCC is 0, else the
FACS level of the intensity but at least 1, so INT >= 1 exactly when OCC = 1.

Time: SynthAU renders a few frames per task, not 25 per second. Frames are numbered
consecutively (label rows cover every frame of the segment, as in the real files), but
consecutive SynthAU frames are ``step`` real frames apart in simulated time
(``synthau_info.json`` ``seconds_between_frames``): a time-subsampled video.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np

from ...face.frames import zip_ref
from ..catalogue import AUS, BP4D_AUS
from ..dynamics import calibrated_rates, intensity_labels, occurrence, simulate
from ..engine import Sequence, render_all
from ..identity import identity_seed, make_identity
from .common import LAYOUTS, finish, inject_failures

BP4D_SUBJECTS = tuple([f"F{i:03d}" for i in range(1, 24)] + [f"M{i:03d}" for i in range(1, 19)])
BP4DPLUS_SUBJECTS = tuple([f"F{i:03d}" for i in range(1, 83)] + [f"M{i:03d}" for i in range(1, 59)])
UNKNOWN = LAYOUTS["bp4d"]["unknown"]
FPS = 25.0


def _csv(rows) -> str:
    return "".join(",".join(map(str, r)) + "\n" for r in rows)


def _write(root: Path, name: str, subjects, tasks, coded_tasks, frame_dir: str, size: int,
           n_coded: int, n_uncoded: int, n_uncoded_task: int, seed: int, failure_rates: dict,
           unknown_rate: float, layout: dict, first_frame: int | None) -> dict:
    """``first_frame``: number of each task's first image (None: a random start, BP4D)."""
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
            times = (start + step * np.arange(nc + nu)) / FPS        # simulated time, s
            nums = (start if first_frame is None else first_frame) + np.arange(nc + nu)
            before = nu // 2 if coded else 0
            is_coded = np.zeros(nc + nu, bool)
            is_coded[before:before + nc] = True
            aus = simulate(calibrated_rates("bp4d"), times, rng, au_rate=ident.au_rate)
            seqs.append(Sequence(
                key=f"{subj}/{task}", paths=[f"{frame_dir}/{subj}/{task}/{f:04d}.jpg" for f in nums],
                aus=aus, identity=sid, sex=subj[0], domain="lab-b", size=size,
                seed=int(rng.integers(2**31)), mode="video", times=times,
                failures=inject_failures(rng, len(nums), failure_rates, force=not seqs), jpeg=92))
            coded_masks.append(is_coded)
            frame_nums.append(nums)
    results = render_all(seqs, root, desc=name)
    occ_dir = root / layout["occ_dir"]
    occ_dir.mkdir(parents=True, exist_ok=True)
    csv_aus = [f"AU{a}" for a in layout["occ_aus"]]
    animated = [a for a in csv_aus if a in AUS]
    coded_idx = [csv_aus.index(a) for a in BP4D_AUS]
    int_aus = [f"AU{a}" for a in layout.get("int_aus", [])]
    n_unknown = 0
    for s, mask, nums in zip(seqs, coded_masks, frame_nums):
        if not mask.any():
            continue
        rng = np.random.default_rng(identity_seed(name, s.key, "labels", seed) % (2**32))
        occ = occurrence(s.aus[mask], "bp4d")
        table = np.zeros((int(mask.sum()), len(csv_aus)), np.int64)     # never animated: 0
        for a in animated:
            table[:, csv_aus.index(a)] = occ[:, AUS.index(a)]
        unk = rng.random((len(table), len(coded_idx))) < unknown_rate
        for c, j in enumerate(coded_idx):
            table[unk[:, c], j] = UNKNOWN
        n_unknown += int(unk.sum())
        subj, task = s.key.split("/")
        header = layout["frame_column"] + "," + ",".join(a[2:] for a in csv_aus)
        fname = layout["occ_file"].format(subject=subj, task=task)
        (occ_dir / fname).write_text(header + "\n" + _csv(np.column_stack([nums[mask], table])))
        levels = intensity_labels(s.aus[mask])
        for a in int_aus:
            j = csv_aus.index(a)
            lv = np.where(table[:, j] == 1, np.maximum(levels[:, AUS.index(a)], 1), 0)
            lv = np.where(table[:, j] == UNKNOWN, UNKNOWN, lv)
            num = int(a[2:])
            d = root / layout["int_dir"].format(au=num)
            d.mkdir(parents=True, exist_ok=True)
            (d / layout["int_file"].format(subject=subj, task=task, au=num)).write_text(
                _csv(np.column_stack([nums[mask], lv])))
    if layout.get("frames_archive"):
        _pack_archives(root, frame_dir, seqs, layout)
    extra = [{"subject": s.key.split("/")[0], "task": s.key.split("/")[1], "frame_number": n,
              "coded": m} for s, n, m in zip(seqs, frame_nums, coded_masks)]
    finish(root, name, seqs, results,
           {"layout": __doc__, "subjects": list(subjects), "tasks": list(tasks),
            "coded_tasks": list(coded_tasks), "size": size, "domain": "lab-b",
            "labels": list(BP4D_AUS), "occurrence_rule": "intensity >= 1 (FACS A or more)",
            "csv_columns": ["0"] + [a[2:] for a in csv_aus],
            "never_animated_aus_written_as": 0, "never_animated_aus": sorted(
                set(csv_aus) - set(animated), key=lambda a: int(a[2:])),
            "unknown_labels_injected": n_unknown, "unknown_injected_in": list(BP4D_AUS),
            "intensity_files": int_aus,
            "frame_numbering": "CSV column '0' = image file number (no off-by-one)"
                               + ("; images numbered from 1, so CSV frame f is also the f-th "
                                  "image of the task" if first_frame == 1 else ""),
            "label_rows": "every frame of the coded segment (consecutive numbers)",
            "seconds_between_frames": "simulated time between consecutive frames: "
                                      "round(500 / n_coded) / 25 s (a time-subsampled video)"},
           extra_cols=extra)
    return {"frames": int(sum(len(s.aus) for s in seqs))}


def _pack_archives(root: Path, frame_dir: str, seqs, layout: dict) -> None:
    """Move each subject's frame folder ``<frame_dir>/<Subj>/`` into the archive
    ``layout["frames_archive"]`` (members ``<Subj>/<Task>/<n>.jpg``, stored, in task and frame
    order) and point the sequences' paths at the members."""
    by_subject: dict[str, list] = {}
    for s in seqs:
        by_subject.setdefault(s.key.split("/")[0], []).append(s)
    for subj, group in by_subject.items():
        rel = layout["frames_archive"].format(subject=subj)
        with zipfile.ZipFile(root / rel, "w", zipfile.ZIP_STORED) as z:
            for s in group:
                members = [p[len(frame_dir) + 1:] for p in s.paths]
                for p, m in zip(s.paths, members):
                    z.write(root / p, m)
                s.paths = [zip_ref(rel, m) for m in members]
        shutil.rmtree(root / frame_dir / subj)


def write_bp4d(root: Path, size: int, n_coded: int, n_uncoded: int, seed: int,
               failure_rates: dict, unknown_rate: float = 0.004, **_) -> dict:
    tasks = tuple(LAYOUTS["bp4d"]["tasks"])
    return _write(root, "synth-bp4d", BP4D_SUBJECTS, tasks, tasks, "Sequences(2D+3D)", size,
                  n_coded, n_uncoded, 0, seed, failure_rates, unknown_rate, LAYOUTS["bp4d"], None)


def write_bp4dplus(root: Path, size: int, n_coded: int, n_uncoded: int, n_uncoded_task: int,
                   seed: int, failure_rates: dict, unknown_rate: float = 0.004, **_) -> dict:
    lay = LAYOUTS["bp4dplus"]
    return _write(root, "synth-bp4dplus", BP4DPLUS_SUBJECTS, tuple(lay["tasks"]),
                  tuple(lay["coded_tasks"]), "2D+3D", size, n_coded, n_uncoded, n_uncoded_task,
                  seed, failure_rates, unknown_rate, lay, 1)
