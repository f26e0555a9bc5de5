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
   their output goes to ``<run_dir>/torchrun.log``;
3. returns; :func:`cached_fit` then calls :func:`~aulib.train.fit` in the kernel, which finds the
   completed ``last.pt`` and only loads the selected weights - so the notebook holds the model and
   the :class:`~aulib.train.FitResult` exactly as after a one-process run.

An interrupted multi-process run resumes from its ``last.pt`` like any other (the next call
launches again). A failed launch raises :class:`RuntimeError` with the end of the log. Runs
already trained (:func:`completed`) are read back without launching anything. The number of processes is not part
of the run key: N processes with batch size B each take global batches of N x B (DDP's rule),
which the run's history records per rank (``iters``).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aulib.config import NPROC_ENV  # "AULIB_NPROC"

SPEC = "launch.pt"
LOG = "torchrun.log"


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


def completed(run_dir, epochs: int) -> bool:
    """Whether the run in ``run_dir`` has trained all ``epochs``: its ``history.csv`` (written
    after ``last.pt`` at the end of each epoch) has that many rows. Cheaper than opening
    ``last.pt`` (gigabytes at FG-Net's paper size)."""
    hist = Path(run_dir) / "history.csv"
    if not hist.is_file():
        return False
    with open(hist) as f:
        return sum(1 for line in f if line.strip()) - 1 >= int(epochs)


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
    torch.save({"model": model_name, "model_kwargs": dict(model_kwargs), "train": train_ds, "val": val_ds,
                "config": config.to_dict()}, spec)
    log = run_dir / LOG
    print(f"training {model_name} in {n} processes under torchrun (one per GPU); progress in {log}", flush=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           "-m", "aulib.train.launch", str(spec)]
    env = dict(os.environ)
    env.pop(NPROC_ENV, None)
    with open(log, "w") as out:
        out.write("$ " + " ".join(cmd) + "\n")
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
    from .loop import TrainConfig, fit

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: torchrun --nproc_per_node=N -m aulib.train.launch <run_dir>/launch.pt", file=sys.stderr)
        return 2
    spec_path = Path(argv[0])
    spec = torch.load(spec_path, weights_only=False)
    cfg = dict(spec["config"])
    cfg["betas"] = tuple(cfg["betas"])
    config = TrainConfig(**cfg)
    aconfig.seed_everything(config.seed)
    model = ck.create_model(spec["model"], **spec["model_kwargs"])
    fit(model, spec["train"], spec["val"], config, spec_path.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
