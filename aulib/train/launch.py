"""Several processes for one run of the run cache: :func:`aulib.train.recipes.cached_fit` under
``torchrun`` from inside a notebook.

A notebook's kernel is one process, so DistributedDataParallel (:mod:`aulib.train.distributed`)
cannot start from it directly. When ``$AULIB_NPROC`` is above 1 (the cluster path sets it to the
job's GPU count, :mod:`aulib.workbook.slurm`; on a multi-GPU workstation set it by hand:
``AULIB_NPROC=4 make workbook PROFILE=paper``), :func:`cached_fit` hands each run it has to train
to :func:`fit_torchrun`, which

1. writes the run's spec - the registered model name and arguments, the training and validation
   datasets (pickled: they must be picklable, as for DataLoader workers that spawn) and the
   :class:`~aulib.train.TrainConfig` - to ``<run_dir>/launch.pt``;
2. runs ``python -m torch.distributed.run --standalone --nproc_per_node=N -m aulib.train.launch
   <run_dir>/launch.pt``: each rank seeds as the run cache does, builds the model and calls
   :func:`aulib.train.fit` into the same run folder (one GPU per rank, NCCL on CUDA, gloo on
   CPU; each rank reads its shard; rank 0 writes ``best.pt``, ``last.pt``, ``history.csv``);
   their output is appended to ``<run_dir>/torchrun.log``; rank 0 records the result
   (:data:`RESULT`);
3. returns; :func:`cached_fit` then loads ``best.pt`` into the kernel's model and builds the
   :class:`~aulib.train.FitResult` from ``history.csv`` and that record (never loading
   ``last.pt``: weights, optimiser moments and RNG, ~4.8 GB for a paper-size FG-Net run) - the
   notebook holds the model and result as after a one-process run.

A run records how many processes it was started with (:data:`PROCESSES`); an interrupted run
resumes from its ``last.pt`` with that count only (:func:`check_processes`: another count is an
error naming the one to use). A failed launch raises :class:`RuntimeError` with the end of the log;
datasets that cannot be pickled, a :class:`TypeError` saying so. Finished runs
(:func:`completed`) are read back without launching anything.

**Results differ from one process.** The number of processes is not part of the run key (a run
read back later is the run that was trained), but N processes with batch size B take global
batches of N x B and N times fewer steps per epoch (``max_iters_per_epoch`` caps each rank's
steps, so a capped epoch sees N times more faces); the learning rate is not scaled. The run record
and the manifest note ``processes`` for such runs (:func:`processes_note`). Every rank starts from
the run's seed (same initial weights; DDP also broadcasts rank 0's), so dropout masks repeat across
ranks. Runs trained outside the run cache (``run_protocol``, the pre-training helpers) stay in one
process.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

from aulib.config import NPROC_ENV  # "AULIB_NPROC"

SPEC = "launch.pt"
LOG = "torchrun.log"
#: the number of processes a run was started with ({"processes": n}); an unfinished run resumes with it
PROCESSES = "processes.json"
#: written by rank 0 when torchrun's fit returns: epochs, best epoch and its validation F1
RESULT = "torchrun_result.json"


def nproc() -> int:
    """Processes per run: ``$AULIB_NPROC`` (unset, empty: 1). Inside a process that torchrun
    started (``WORLD_SIZE`` set) it is always 1 - that process is one rank already.

    Raises:
        ValueError: ``$AULIB_NPROC`` is not a whole number >= 1.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return 1
    raw = os.environ.get(NPROC_ENV, "").strip()
    if not raw:
        return 1
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"${NPROC_ENV}={raw!r}: give the number of training processes per run (one per GPU), "
                         "a whole number >= 1; unset it for one process")
    return n


def epochs_done(run_dir) -> int:
    """Epochs the run in ``run_dir`` has finished: the rows of its ``history.csv`` (written after
    ``last.pt`` at the end of each epoch); 0 without one. Cheaper than opening ``last.pt``
    (gigabytes at FG-Net's paper size)."""
    hist = Path(run_dir) / "history.csv"
    if not hist.is_file():
        return 0
    with open(hist) as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)


def completed(run_dir, epochs: int) -> bool:
    """Whether the run in ``run_dir`` has trained all ``epochs``: its ``last.pt`` exists and
    :func:`epochs_done` reaches ``epochs``."""
    return (Path(run_dir) / "last.pt").is_file() and epochs_done(run_dir) >= int(epochs)


def recorded_processes(run_dir) -> int:
    """The processes a run was started with (:data:`PROCESSES`; 1 for runs that never recorded one)."""
    f = Path(run_dir) / PROCESSES
    return int(json.loads(f.read_text())["processes"]) if f.is_file() else 1


def check_processes(run_dir, n: int, epochs: int) -> None:
    """Before training ``run_dir`` with ``n`` processes: a fresh run records ``n``; an unfinished one
    must resume with the count it started with (another count changes the steps per epoch, which
    the learning-rate schedule and the resumed RNG state were made for). A finished run is read
    back whatever ``n``.

    Raises:
        ValueError: an unfinished run started with another number of processes.
    """
    run_dir = Path(run_dir)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:                 # a script already run by torchrun: each rank calls the run cache
        n = world
    if not (run_dir / "last.pt").is_file():
        if int(os.environ.get("RANK", "0")) == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / PROCESSES).write_text(json.dumps({"processes": int(n)}))
        return
    if completed(run_dir, epochs):
        return
    then = recorded_processes(run_dir)
    if then != n:
        raise ValueError(f"run {run_dir} was started with {then} training process(es) and is unfinished; resume "
                         f"it with ${NPROC_ENV}={then} ({'unset' if then == 1 else 'one per GPU'}), or delete the "
                         "folder to start over: another count changes the steps per epoch and the schedule")


def result(run_dir, epochs: int) -> dict | None:
    """What torchrun's rank 0 recorded when the run finished (:data:`RESULT`), as
    ``recipes._read_completed`` reads it (``history`` from ``history.csv``); None when the run
    was not finished by torchrun (then the kernel's own ``fit`` reads it back)."""
    import pandas as pd

    run_dir = Path(run_dir)
    f = run_dir / RESULT
    if not f.is_file() or not completed(run_dir, epochs):
        return None
    done = json.loads(f.read_text())
    return dict(done, history=pd.read_csv(run_dir / "history.csv").to_dict("records"), resumed_from=0)


def processes_note(run_dir) -> dict:
    """``{"processes": n}`` for the run record when a run was trained by several processes
    (global batches of n x batch size, fewer steps per epoch); empty for one process."""
    n = recorded_processes(run_dir)
    return {"processes": n} if n > 1 else {}


def fit_torchrun(model_name: str, model_kwargs: dict, train_ds, val_ds, config, run_dir, n: int) -> Path:
    """Train one run in ``n`` processes under ``torchrun`` (module docstring); returns the log.

    Raises:
        ValueError: ``n`` < 2, or CUDA asked for with fewer than ``n`` GPUs visible.
        RuntimeError: torchrun exited with an error (the message ends with the log's tail).
    """
    import torch

    from aulib import config as aconfig

    if n < 2:
        raise ValueError(f"fit_torchrun needs 2 or more processes, got {n}")
    device = aconfig.resolve_device(config.device)
    if device.startswith("cuda") and torch.cuda.device_count() < n:
        raise ValueError(f"${NPROC_ENV}={n} processes on CUDA, but {torch.cuda.device_count()} GPU(s) are "
                         f"visible; one process per GPU (lower ${NPROC_ENV} or ask the job for {n} GPUs)")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = run_dir / SPEC
    try:
        torch.save({"model": model_name, "model_kwargs": dict(model_kwargs), "train": train_ds, "val": val_ds,
                    "config": config}, spec)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        spec.unlink(missing_ok=True)
        raise TypeError(f"${NPROC_ENV}={n}: the training processes receive the datasets pickled, and "
                        f"{type(train_ds).__name__} / {type(val_ds).__name__} could not be ({e}); make them "
                        f"picklable (as for DataLoader workers) or unset ${NPROC_ENV} to train in this process") from e
    log = run_dir / LOG
    print(f"training {model_name} in {n} processes under torchrun (one per GPU); progress in {log}", flush=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           "-m", "aulib.train.launch", str(spec)]
    env = dict(os.environ)
    env.pop(NPROC_ENV, None)
    with open(log, "a") as out:      # appended: an interrupted attempt's log stays above the next one's
        out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')}\n$ " + " ".join(cmd) + "\n")
        out.flush()
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"torchrun ({n} processes) failed with exit code {rc} training {run_dir}; its log "
                           f"{log} ends:\n{tail}")
    spec.unlink()
    return log


def main(argv=None) -> int:
    """One rank: read the spec, seed as the run cache does, build the model, :func:`fit`."""
    import torch

    from aulib import config as aconfig

    from . import checkpoint as ck
    from .loop import fit

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: torchrun --nproc_per_node=N -m aulib.train.launch <run_dir>/launch.pt", file=sys.stderr)
        return 2
    spec_path = Path(argv[0])
    spec = torch.load(spec_path, weights_only=False)
    config = spec["config"]
    aconfig.seed_everything(config.seed)
    model = ck.create_model(spec["model"], **spec["model_kwargs"])
    res = fit(model, spec["train"], spec["val"], config, spec_path.parent)
    if int(os.environ.get("RANK", "0")) == 0:
        (spec_path.parent / RESULT).write_text(json.dumps({
            "epochs": config.epochs, "best_epoch": res.best_epoch, "best_val_f1": res.best_val_f1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
