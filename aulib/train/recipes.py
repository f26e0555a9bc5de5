"""Shared set-up for paper notebooks: trained runs reused across notebooks.

Owns :class:`Experiment` (datasets aligned once, fold subsets, cached training, tests within
and across domains, the always-active floor), :func:`cached_fit` (the run cache)
and :func:`pretrained_backbone` (expression pre-training, cached). What one paper's notebooks
share beyond that (FG-Net's baseline set-ups, deviation tables) lives in :mod:`aulib.papers`.

One training run is often needed by several notebooks (FG-Net: Table 1's fold-1 model is
also Table 2's cross-domain model, Table 3's full model, Figure 6's "all frames" point and
Figures 5/8's model). :func:`cached_fit` puts each run in a cache folder keyed by
everything that changes its result - the model name and constructor arguments, the
training configuration (seed included), the exact training and validation frames and the
fingerprint of the data folder - so the second notebook reads the first one's checkpoint
instead of retraining. It relies on :func:`aulib.train.fit`'s resume: a finished run is
loaded from ``best.pt``, an interrupted one continues from ``last.pt``. The key leaves out the
code, so that an edit does not retrain an hour of runs; instead each run records digests of the
code that decides what it learns (:func:`code_files`: its model's module, the ``aulib.models``
modules that imports, the training loop and the losses; comments and docstrings do not count).
A run read back after that code changed is *stale*: it is reused with a :class:`StaleRunWarning`
(or retrained under ``AULIB_RETRAIN_STALE``), and noted for the notebook's run record, so the
workbook marks the notebook stale (``python -m aulib.workbook run --retrain-stale`` retrains).
"""
from __future__ import annotations

import ast
import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from torch.utils.data import Subset

from aulib import config as aconfig

from . import checkpoint as ck
from . import launch
from .loop import BEST, LAST, FitResult, TrainConfig, fit

# A completed run whose last.pt was dropped (cached_fit(keep_last=False)) is recorded here
DONE = "done.json"
# TrainConfig fields that do not change a run's result (where it runs, how it reports)
_NOT_RESULT = ("progress", "device", "num_workers")


def frames_digest(index) -> str:
    """A short digest of the frames of a frame index (its ``path`` column, or its rows)."""
    if index is None:
        return "none"
    col = index["path"] if "path" in getattr(index, "columns", ()) else index.index
    return hashlib.sha256("\n".join(map(str, col)).encode()).hexdigest()[:16]


def run_key(model_name: str, model_kwargs: dict, config: TrainConfig, **parts) -> str:
    """The cache key of one training run (16 hex digits).

    ``parts``: the run's inputs as plain values, e.g. ``data=<data folder fingerprint>``,
    ``train=frames_digest(train_index)``, ``val=frames_digest(val_index)``.
    """
    blob = json.dumps({"model": model_name, "kwargs": ck._plain(dict(model_kwargs)),
                       "config": {k: v for k, v in config.to_dict().items() if k not in _NOT_RESULT},
                       "parts": ck._plain(parts)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ResumeWarning(UserWarning):
    """An interrupted run resumed without state its ``last.pt`` does not hold: the running AU
    base-rate estimate of a model built with ``balanced=True`` (FG-Net's ``active_weight=0``;
    :class:`aulib.models.common.RunningBaseRate`, a non-persistent buffer) restarts from the batches
    after the resume, so the result differs from that of an uninterrupted run. The run record notes
    ``resumed_from`` and ``rebuilt`` for such runs; delete the run folder to train it uninterrupted."""


def rebuilt_on_resume(model) -> list[str]:
    """The submodules of ``model`` whose state a resume rebuilds instead of restoring (enabled
    :class:`~aulib.models.common.RunningBaseRate` estimates that the loss reads), by name. FG-Net
    always holds one but reads it only with ``active_weight=0`` (:mod:`aulib.models.fgnet`)."""
    from aulib.models.common import RunningBaseRate

    net = ck.unwrap(model)
    unread = {id(child) for m in net.modules() if getattr(m, "active_weight", 0) > 0
              for child in m.children() if isinstance(child, RunningBaseRate)}
    return [name or type(net).__name__ for name, m in net.named_modules()
            if isinstance(m, RunningBaseRate) and m.enabled and id(m) not in unread]


class StaleRunWarning(UserWarning):
    """A cached run was trained by another version of the code its digest covers
    (:func:`code_files`); its weights are reused as they are unless ``AULIB_RETRAIN_STALE``
    is set (``python -m aulib.workbook run --retrain-stale``)."""


# Set (to anything but "" / "0") by ``python -m aulib.workbook run --retrain-stale``: cached_fit then
# retrains a stale run instead of reusing it.
RETRAIN_STALE_ENV = aconfig.RETRAIN_STALE_ENV
# Code that changes every run's result besides the model's own: the training loop and the losses.
TRAINING_CODE = ("aulib/train/loop.py", "aulib/train/losses.py", "aulib/models/common.py")


def model_source(model_name: str) -> Path:
    """The source file of the module that registers ``model_name`` (``fgnet``: aulib/models/fgnet.py)."""
    from aulib.models import registry

    return Path(sys.modules[registry.get(model_name).build.__module__].__file__)


def _models_imports(path: Path) -> list[Path]:
    """Source files of the ``aulib.models`` modules that the file ``path`` imports (relative
    imports resolved when ``path`` lies in ``aulib/models/``)."""
    models_dir = Path(__file__).resolve().parent.parent / "models"
    inside = path.resolve().parent == models_dir
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and inside:
                names = [node.module] if node.module else [a.name for a in node.names]
            elif node.level == 0 and (node.module or "").startswith("aulib.models."):
                names = [node.module.split(".")[2]]
            elif node.level == 0 and node.module == "aulib.models":
                names = [a.name for a in node.names]
            else:
                continue
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[2] for a in node.names if a.name.startswith("aulib.models.")]
        else:
            continue
        for name in names:
            f = models_dir / f"{name.split('.')[0]}.py"
            if f.is_file():
                found.append(f)
    return found


def code_files(model_name: str) -> list[str]:
    """The source files a run's code digest covers, named as :func:`aulib.config.code_name`
    does: the module that registers ``model_name``, the ``aulib.models`` modules it imports
    (transitively: FG-Net's ``stylegan2``, ``psp``, ``common``, ...), and the training loop and
    losses (:data:`TRAINING_CODE`) — an edit to any of them changes what a run learns. Data
    readers and preprocessing are left out (their output is keyed by the data fingerprint and
    the exact frames)."""
    todo, seen = [model_source(model_name).resolve()], []
    while todo:
        f = todo.pop(0)
        if f not in seen:
            seen.append(f)
            todo += _models_imports(f)
    names = [aconfig.code_name(f) for f in seen]
    return names + [n for n in TRAINING_CODE if n not in names]


def code_digest(source: str) -> str:
    """:func:`aulib.config.code_digest`: a digest of Python source that ignores comments,
    docstrings and layout."""
    return aconfig.code_digest(source)


def model_code_digest(model_name: str) -> dict[str, str]:
    """{file: :func:`code_digest`} over the :func:`code_files` of ``model_name``: what a run
    records as the code it was trained by."""
    return aconfig.code_digests(code_files(model_name))


def _code_then(stored, model_name: str) -> dict[str, str]:
    """A run's recorded code digests as {file: digest}. Runs recorded before the digest
    covered more than the model's module hold one string: that module's digest."""
    if isinstance(stored, dict):
        return dict(stored)
    return {aconfig.code_name(model_source(model_name)): stored} if stored else {}


def _run_lock(key: str):
    """An inter-process lock per run (two notebooks never train or retrain one run at once);
    none under DDP, where every rank must enter :func:`fit` together."""
    import contextlib
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return contextlib.nullcontext()
    return aconfig.file_lock(aconfig.cache_dir("locks", "runs") / f"{key}.lock")


def cached_fit(model_name: str, model_kwargs: dict, train_ds, val_ds, config: TrainConfig, profile: str,
               group: str, train_index, val_index=None, data_root=None, landmarks: str = "truth",
               keep_last: bool = True) -> tuple:
    """Train ``model_name(**model_kwargs)`` (or read the finished run) in the shared run cache.

    The run folder is ``config.cache_dir("runs", profile, group, key)`` with ``key`` from
    :func:`run_key` over the model, the configuration, the training / validation frames
    (``train_index`` / ``val_index``, the frame indexes the datasets were built from) and the
    fingerprint of ``data_root`` (and the landmark source when it is not ``"truth"``: faces aligned
    on dlib's landmarks are other inputs). Returns ``(model, FitResult, run_dir)``; the model holds the
    validation-selected weights. Seeds as :func:`aulib.train.run_protocol` does, so the same
    key always means the same initial weights. With ``$AULIB_NPROC`` above 1 a run still to
    train is trained by that many processes under ``torchrun`` (one per GPU;
    :mod:`aulib.train.launch`) and read back here.

    The run records the digests of its :func:`code_files`. Read back after any of them
    changed (comments and docstrings do not count), the run is *stale*: it is reused with a
    :class:`StaleRunWarning`, or retrained from scratch when the environment variable
    ``AULIB_RETRAIN_STALE`` is set. Every run handed out is noted with
    :func:`aulib.config.note_run` (key, model, when trained, code then and now, stale), so the
    notebook's run record and the workbook manifest show it. The model remembers its run folder
    (``model._aulib_run_dir``), from which :func:`load_run` reads it back later.

    ``keep_last=False`` deletes the run's ``last.pt`` (the full training state: weights, optimizer
    moments, RNG: most of the ~4.8 GB a paper-size FG-Net run writes) once the run has
    completed - after :func:`aulib.train.fit` returned, so ``best.pt`` and ``history.csv`` are
    written - and records the completed run in ``done.json`` (best epoch, validation F1,
    history). A run read back without ``last.pt`` but with ``done.json`` is loaded from
    ``best.pt`` without calling :func:`~aulib.train.fit` (which would otherwise start over). An
    interrupted run never gets there: its ``last.pt`` stays and the next call resumes from it.
    The file is dropped whatever ``keep_last`` the run was trained with, never restored; code
    that reads ``last.pt`` afterwards (loss traces) needs runs kept with ``keep_last=True``.
    """
    import os
    import shutil
    from datetime import datetime, timezone

    data_fp = aconfig.fingerprint_path(data_root) if data_root else "none"
    extra = {} if landmarks == "truth" else {"landmarks": landmarks}     # "truth" keeps the earlier keys
    key = run_key(model_name, model_kwargs, config, data=data_fp, train=frames_digest(train_index),
                  val=frames_digest(val_index), **extra)
    run_dir = aconfig.cache_dir("runs", profile, *group.split("/"), key)
    opts = run_dir / "options.json"
    code = model_code_digest(model_name)
    with _run_lock(key):
        then, changed, retrained = code, [], False
        if opts.is_file():
            then = _code_then(json.loads(opts.read_text()).get("code"), model_name)
            changed = aconfig.changed_code(then)  # runs from before digests were recorded carry none
            if changed and os.environ.get(RETRAIN_STALE_ENV, "") not in ("", "0"):
                shutil.rmtree(run_dir)
                then, changed, retrained = code, [], True
            elif changed:
                warnings.warn(f"run {run_dir} was trained by older code of {', '.join(changed)}; its weights "
                              "are reused as they are. Retrain the stale runs with `python -m aulib.workbook run "
                              "--retrain-stale` (or delete that folder).", StaleRunWarning, stacklevel=2)
        if not opts.is_file():
            run_dir.mkdir(parents=True, exist_ok=True)
            opts.write_text(json.dumps({"model": model_name, "model_kwargs": ck._plain(dict(model_kwargs)),
                                        "config": config.to_dict(), "data": data_fp,
                                        "train": frames_digest(train_index), "val": frames_digest(val_index),
                                        "n_train": len(train_ds), "n_val": 0 if val_ds is None else len(val_ds),
                                        "code": code}, indent=1, sort_keys=True))
        aconfig.seed_everything(config.seed)
        model = ck.create_model(model_name, **model_kwargs)
        resume_note: dict = {}
        if (run_dir / DONE).is_file() and not (run_dir / LAST).is_file() and (run_dir / BEST).is_file():
            res = _read_completed(model, config, run_dir)       # last.pt dropped: fit would start over
        else:
            n = launch.nproc()
            launch.check_processes(run_dir, n, config.epochs)   # an unfinished run resumes as it started
            if (run_dir / LAST).is_file() and not launch.completed(run_dir, config.epochs):
                resume_note = {"resumed_from": launch.epochs_done(run_dir), "rebuilt": rebuilt_on_resume(model)}
                if resume_note["rebuilt"]:
                    warnings.warn(f"run {run_dir} resumes from its last.pt, but the running base-rate estimate of "
                                  f"{', '.join(resume_note['rebuilt'])} is not in it and restarts from the next "
                                  "batches: the result will differ from an uninterrupted run's. Delete the folder "
                                  "to train it uninterrupted.", ResumeWarning, stacklevel=2)
            res = None
            if n > 1:      # several processes (one per GPU): torchrun trains, the result is read back here
                if not launch.completed(run_dir, config.epochs):
                    launch.fit_torchrun(model_name, model_kwargs, train_ds, val_ds, config, run_dir, n)
                done = launch.result(run_dir, config.epochs)
                if done is not None:
                    if not (run_dir / BEST).is_file():
                        _no_selectable_epoch(model, config, run_dir)
                    res = _read_completed(model, config, run_dir, done)
            if res is None:
                res = fit(model, train_ds, val_ds, config, run_dir)
            if not Path(res.checkpoint).is_file():
                _no_selectable_epoch(model, config, run_dir)
        if not keep_last and (run_dir / LAST).is_file() and int(os.environ.get("RANK", "0")) == 0:
            _drop_last(res, config, run_dir)
    model._aulib_run_dir = Path(run_dir)
    trained = datetime.fromtimestamp(Path(res.checkpoint).stat().st_mtime, timezone.utc)
    aconfig.note_run(run_dir, {"key": key, "model": model_name, "group": group, "profile": profile,
                               "trained": trained.isoformat(timespec="seconds"), "code": then,
                               "code_now": aconfig.code_digests(then), "stale": bool(changed),
                               "changed": changed, "retrained": retrained,
                               **launch.processes_note(run_dir), **_resume_record(run_dir, resume_note)})
    return model, res, Path(run_dir)


def _resume_record(run_dir: Path, note: dict) -> dict:
    """What the run record says of a resume that rebuilt state (kept in ``resumed.json`` so that
    every later read of the run says it too); empty for runs trained uninterrupted."""
    f = Path(run_dir) / "resumed.json"
    if note.get("rebuilt"):
        f.write_text(json.dumps({"resumed_from": note.get("resumed_from"), "rebuilt": note["rebuilt"]}))
    return json.loads(f.read_text()) if f.is_file() else {}


def _no_selectable_epoch(model, config: TrainConfig, run_dir: Path):
    """Raise the error of a run that never wrote ``best.pt``: :func:`aulib.train.fit` writes it only
    for a selectable epoch; the check lives here, not in fit, so that every cached run's
    training-code digest (aulib/train/loop.py) stays unchanged."""
    raise ValueError(f"no epoch of run {run_dir} could be selected: {type(model).__name__}."
                     f"selectable() was False after each of its {config.epochs} epoch(s) (e.g. ADDA "
                     "before its adaptation stage, which starts after source_fraction of the "
                     "steps); train for more epochs or steps. last.pt is kept.")


def _drop_last(res: FitResult, config: TrainConfig, run_dir: Path) -> None:
    """Record a completed run in ``done.json`` (written atomically), then delete its ``last.pt``."""
    import os
    import tempfile

    done = {"epochs": config.epochs, "best_epoch": res.best_epoch, "best_val_f1": res.best_val_f1,
            "history": res.history.to_dict("records")}
    fd, tmp = tempfile.mkstemp(prefix=f".{DONE}.", suffix=".tmp", dir=run_dir)
    with os.fdopen(fd, "w") as f:
        json.dump(done, f, indent=1)
    os.replace(tmp, run_dir / DONE)
    (run_dir / LAST).unlink()


def _read_completed(model, config: TrainConfig, run_dir: Path, done: dict | None = None) -> FitResult:
    """A completed run read back without :func:`aulib.train.fit`: ``best.pt`` loaded into ``model``
    (on the device fit would leave it on) and the :class:`FitResult` from ``done`` - by default
    ``done.json`` (a run whose ``last.pt`` was dropped); :func:`aulib.train.launch.result` for a run
    torchrun trained (so the kernel never loads its ``last.pt``)."""
    import pandas as pd
    import torch

    from . import distributed as dist
    from .loop import _resolve_flags

    done = json.loads((run_dir / DONE).read_text()) if done is None else done
    if int(done["epochs"]) != int(config.epochs):
        raise ValueError(f"{run_dir / DONE} records {done['epochs']} epochs but the configuration asks for "
                         f"{config.epochs}; the run folder does not belong to this configuration - delete it")
    device = aconfig.resolve_device(config.device)
    device = dist.local_device(device, dist.setup(device))
    ck.load_model(run_dir / BEST, model=model, map_location="cpu")
    net = ck.unwrap(model).to(device)
    if _resolve_flags(config, device)[2]:
        net.to(memory_format=torch.channels_last)
    return FitResult(best_epoch=int(done["best_epoch"]), history=pd.DataFrame(done["history"]),
                     checkpoint=run_dir / BEST, last=run_dir / LAST, best_val_f1=float(done["best_val_f1"]),
                     resumed_from=int(done.get("resumed_from", done["epochs"])), init=ck.init_note(net))


def load_run(run_dir, device: str = "cpu"):
    """The trained model of a run folder of the run cache (``<run_dir>/best.pt``, rebuilt by
    :func:`aulib.train.checkpoint.load_model`), on ``device``, in eval mode - so a notebook holds
    a model only while it draws from it (``run_dir``: ``model._aulib_run_dir`` of a model
    :func:`cached_fit` handed out). Raises FileNotFoundError naming the file when it is absent."""
    model = ck.load_model(Path(run_dir) / BEST, map_location="cpu")
    return model.to(aconfig.resolve_device(device)).eval()


def pretrained_backbone(images_root, labels, config: TrainConfig, profile: str, backbone: str = "resnet50",
                        input_size: int = 224, weights=None, target: str = "expression",
                        n_outputs: int | None = None) -> Path:
    """A backbone pre-trained on a face set's expression labels, in the shared run cache
    (FG-Net's "ME-GraphAU + FFHQ pre-train": the backbone is trained on FFHQ's expression
    classes first, then ``megraph(backbone_weights=<this file>)``).

    ``labels``: a table with ``path`` (relative to ``images_root``), ``target`` (class index)
    and optionally ``subject``; a path to the user's CSV of FFHQ labels
    (:func:`aulib.data.expressions.read_expression_csv`); or None: derived from the SynthAU
    ground truth of ``images_root`` (:func:`~aulib.data.expressions.synth_expression_labels`).
    The run is keyed by the backbone, the configuration, the labels and the fingerprint of
    ``images_root``; a finished run's file is returned without training.
    """
    from aulib.data.expressions import FaceImages, read_expression_csv, synth_expression_labels

    from .pretrain import BACKBONE_FILE, pretrain_backbone

    if labels is None:
        labels = synth_expression_labels(images_root)
    elif isinstance(labels, (str, Path)):
        labels = read_expression_csv(labels)
    n_outputs = int(n_outputs or (int(labels[target].max()) + 1))
    kw = {"backbone": backbone, "n_outputs": n_outputs, "input_size": int(input_size),
          "weights": None if weights is None else str(weights)}
    digest = hashlib.sha256(labels[["path", target]].to_csv(index=False).encode()).hexdigest()[:16]
    key = run_key("expression_pretrain", kw, config, data=aconfig.fingerprint_path(images_root), labels=digest)
    run_dir = aconfig.cache_dir("runs", profile, "pretrain", key)
    if (run_dir / BACKBONE_FILE).is_file():
        return run_dir / BACKBONE_FILE
    aconfig.seed_everything(config.seed)
    return pretrain_backbone(FaceImages(images_root, labels, int(input_size), target=target), config, run_dir,
                             backbone=backbone, n_outputs=n_outputs, kind="multiclass", target=target,
                             weights=weights, input_size=int(input_size),
                             source=f"{Path(images_root).name} {target} labels ({len(labels)} faces)")


class FrameSubset(Subset):
    """The items of one aligned :class:`aulib.data.AUDataset` whose frames are in ``index``
    (matched by ``path``; repeats allowed), so one alignment cache serves every fold, subset
    and test set of a dataset instead of aligning each frame set anew. Frames the base
    dataset dropped (no landmarks) are skipped; the base's ledger lists them.

    Exposes ``aus``, ``labels``, ``mask`` and ``subjects`` of the picked items, like the base.
    """

    def __init__(self, base, index):
        pos = getattr(base, "_aulib_path_pos", None)
        if pos is None:
            pos = {base.refs[j]: i for i, j in enumerate(base._slots)}
            base._aulib_path_pos = pos
        picked = [pos[p] for p in index["path"].astype(str) if p in pos]
        if not picked:
            raise ValueError(f"none of the {len(index)} frames is in the base dataset "
                             f"({len(base)} aligned frames of {base.root})")
        super().__init__(base, picked)
        slots = base._slots[np.asarray(picked)]
        self.aus = list(base.aus)
        self.labels, self.mask, self.subjects = base.labels[slots], base.mask[slots], base.subjects[slots]


class Experiment:
    """The shared set-up of a paper's notebooks that train and test on several AU datasets.

    Holds each dataset's root and frame index, aligns each dataset once (per AU list) and
    hands out subject subsets of it, trains models in the shared run cache
    (:func:`cached_fit`, validation on the fold's held-out subjects - never on test data) and
    tests them, optionally on a subset of their AUs (cross-domain). FG-Net's Tables 1-3 and
    Figures 5-8 are written with it; another paper's notebooks reuse it with their own
    ``model`` and ``base_kwargs``.

    Args:
        roots: {dataset key: its root folder} (SynthAU stand-ins or the user's datasets).
        profile: the notebook profile (names the run cache folder).
        config: the :class:`TrainConfig` of every run (overridable per run).
        model: registered model name trained by default.
        base_kwargs: that model's constructor arguments (``aus`` is set per dataset).
        image_size, alignment: how faces are aligned (:class:`aulib.data.AUDataset`).
        landmarks: what they are aligned on: ``"truth"`` (the dataset's landmark table - on
            SynthAU the renderer's ground truth; dlib where a dataset has none) or ``"dlib"``
            (detected, cached; frames where dlib finds no face are left out and listed in
            :meth:`ledger`), see :data:`aulib.face.landmarks.LANDMARK_SOURCES`. Runs trained on
            dlib's landmarks are cached apart from the others.
        max_test_frames: cap on frames per validation / test set (a seeded subset); 0 = all.
        seed: seed of the subsets.
        device: where predictions run.
        group: run-cache folder prefix (``<group>/<dataset>``).
        verbose: print one line per trained run.
        keep_last: keep each run's ``last.pt`` once it completed (:func:`cached_fit`);
            ``False`` deletes it, keeping ``best.pt`` (the paper check's cut does).

    A notebook that trains many runs keeps their scores, not their models:
    :meth:`train_and_test` returns the predictions and the run folder, and :meth:`load_run`
    reads a model back from that folder when a figure needs it.
    """

    def __init__(self, roots: dict, profile: str, config: TrainConfig, model: str = "fgnet",
                 base_kwargs: dict | None = None, image_size: int = 256, alignment: str = "ffhq",
                 max_test_frames: int = 0, seed: int = 0, device: str = "cpu", group: str = "notebooks",
                 verbose: bool = True, landmarks: str = "truth", keep_last: bool = True):
        from aulib import data as D
        from aulib.face.landmarks import landmark_source

        self.landmarks = landmark_source(landmarks)     # an unknown value stops here, naming the valid ones

        self.roots = {k: Path(v) for k, v in roots.items()}
        self.index = {k: D.frame_index(k, r) for k, r in self.roots.items()}
        self.profile, self.config, self.model = profile, config, model
        self.base_kwargs = dict(base_kwargs or {})
        self.image_size, self.alignment = int(image_size), alignment
        self.max_test_frames, self.seed, self.device = int(max_test_frames), int(seed), device
        self.group, self.verbose, self.keep_last = group, verbose, bool(keep_last)
        self._aligned: dict = {}

    # -- data ----------------------------------------------------------------------------
    def aus(self, k: str) -> list[str]:
        """The AUs labelled in dataset k."""
        return list(self.index[k].attrs["aus"])

    def folds(self, k: str) -> list:
        """Dataset k's subject-exclusive folds (:func:`aulib.data.folds`)."""
        from aulib import data as D

        return D.folds(k, subjects=self.index[k].subject.unique())

    def subjects(self, k: str) -> list:
        """Every subject of dataset k (a cross-domain test uses the whole target)."""
        return list(self.index[k].subject.unique())

    def frames(self, k: str, subjects, max_frames: int = 0):
        """The frame index of dataset k's subjects (a seeded subset if ``max_frames``)."""
        from aulib.data import protocols

        idx = self.index[k][self.index[k].subject.isin(list(subjects))]
        if max_frames and len(idx) > max_frames:
            idx = protocols.subset(idx, max_frames, self.seed)
        return idx

    def faces_of(self, idx, aus=None) -> FrameSubset:
        """Aligned faces of a frame index: items of one aligned dataset per (dataset, AU list),
        so each frame is aligned once for every fold, subset and test set."""
        from aulib.data import AUDataset

        k = idx.attrs["dataset"]
        key = (k, tuple(aus or self.aus(k)))
        if key not in self._aligned:
            self._aligned[key] = AUDataset(self.index[k], aus=aus, image_size=self.image_size,
                                           alignment=self.alignment, landmarks=self.landmarks, progress=False)
        return FrameSubset(self._aligned[key], idx)

    def ledger(self):
        """Frames left out of the datasets aligned so far (no face, corrupt file), one row per
        (dataset, frame, reason): with ``landmarks="dlib"`` the faces dlib did not find."""
        import pandas as pd

        parts = [ds.ledger.assign(dataset=k) for (k, _), ds in self._aligned.items()]
        return (pd.concat(parts, ignore_index=True).drop_duplicates(["dataset", "path", "reason"])
                if parts else pd.DataFrame())

    def faces(self, k: str, subjects, aus=None, max_frames: int = 0) -> FrameSubset:
        """Aligned faces of dataset k's subjects (a seeded subset if ``max_frames``)."""
        return self.faces_of(self.frames(k, subjects, max_frames), aus=aus)

    def test_faces(self, k: str, subjects, aus=None) -> FrameSubset:
        """A test set: dataset k's subjects, capped at ``max_test_frames``."""
        return self.faces(k, subjects, aus=aus, max_frames=self.max_test_frames)

    def floor(self, k: str, subjects, aus=None) -> float:
        """Average F1 of the always-active predictor on the test set of ``subjects`` (the
        frames :meth:`test_on` scores, unknown labels masked)."""
        from aulib.eval import metrics

        ds = self.test_faces(k, subjects, aus=aus)
        y, m = np.asarray(ds.labels, float), np.asarray(ds.mask, float)
        return float(metrics.f1_per_au(y, np.ones_like(y), list(ds.aus), mask=m)["Avg"])

    # -- training and testing -------------------------------------------------------------
    def train_on(self, k: str, fold, tag: str = "", name: str | None = None, train_index=None,
                 config: TrainConfig | None = None, **variant):
        """A model trained on dataset k's ``fold`` (or on ``train_index``, a subset of its
        training part), selected on the fold's validation subjects.

        ``name`` defaults to the experiment's model, built from ``base_kwargs`` updated by
        ``variant``; another registered model is built from ``variant`` alone. A run another
        notebook made with the same model, settings and frames is read back, not retrained.
        """
        name = name or self.model
        kw = dict(self.base_kwargs, **variant) if name == self.model else dict(variant)
        kw["aus"] = self.aus(k)
        tr = self.frames(k, fold.train) if train_index is None else train_index
        va = self.frames(k, fold.val, max_frames=self.max_test_frames) if fold.val else None
        model, res, run_dir = cached_fit(name, kw, self.faces_of(tr), None if va is None else self.faces_of(va),
                                         config or self.config, self.profile, f"{self.group}/{k}", tr, va,
                                         data_root=self.roots[k], landmarks=self.landmarks,
                                         keep_last=self.keep_last)
        if self.verbose:
            print(f"{tag or name}: {name} on {len(tr)} frames, best epoch {res.best_epoch} "
                  f"(validation F1 {res.best_val_f1:.1f}), run {run_dir.name}")
        return model

    def train_and_test(self, k: str, fold, tests: dict, tag: str = "", name: str | None = None,
                       train_index=None, config: TrainConfig | None = None, **variant) -> tuple[dict, Path]:
        """:meth:`train_on` then :meth:`test_on` for each of ``tests``, letting the model go.

        ``tests``: {name: (dataset, subjects)} or {name: (dataset, subjects, aus)}. Returns
        ({name: :class:`Predictions`}, run folder); the model itself is not kept (at FG-Net's paper
        shapes each one holds ~1.3 GB), :meth:`load_run` reads it back from the run folder.
        """
        model = self.train_on(k, fold, tag, name=name, train_index=train_index, config=config, **variant)
        run_dir = model._aulib_run_dir
        preds = {t: self.test_on(model, *spec) for t, spec in tests.items()}
        return preds, run_dir

    def load_run(self, run_dir):
        """The trained model of ``run_dir`` (from :meth:`train_and_test`) on the experiment's
        device (:func:`load_run`)."""
        return load_run(run_dir, self.device)

    def test_on(self, model, k: str, subjects, aus=None):
        """:class:`Predictions` of a trained model on dataset k's subjects, optionally read on
        a subset ``aus`` of its outputs (cross-domain: the AUs both datasets label)."""
        from aulib.models.common import AUSubset

        from .loop import predict

        return predict(model if aus is None else AUSubset(model, aus), self.test_faces(k, subjects, aus=aus),
                       device=self.device)
