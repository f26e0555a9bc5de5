"""Run the workbook's notebooks as cluster jobs through submitit: ``run --executor slurm``.

    python -m aulib.workbook run --profile paper --executor slurm [--only 'fgnet/*']
    python -m aulib.workbook run --profile smoke --executor local     # submitit's local executor

Each notebook the runner would execute is submitted as one job (``submitit``; facts in
``../shared/reference/book-course-cluster.md`` §4): the job runs the runner's own execution
function in the same interpreter on the shared file system, writes into the run's staging
folder, and the submitting process moves the results into ``results/<profile>/`` and updates
the manifest exactly as for a local run (so caching, stale runs, failures and the index are
unchanged). Dependencies (``after``) are honoured by submitting a notebook only when the ones
it runs after have finished. The manifest records each notebook's job (executor, job id,
resources, the submitit log folder).

Resources come from the notebook's sidecar, per profile, with defaults from :data:`DEFAULTS`::

    [slurm]                 # every profile
    cpus = 8
    [slurm.paper]           # this profile only
    gpus = 1
    partition = "gpu"
    time_min = 720
    mem_gb = 64

Keys: :data:`KEYS` (an unknown key is an error that lists them). ``split = "fold"`` (for a
notebook that declares ``only_fold`` and ``n_folds``) submits one job per fold at once - each runs
the notebook with ``only_fold=k`` into a scratch folder, training that fold's runs into the shared
run cache - and then the notebook itself, which reads them back (:func:`fold_jobs`).
A job with ``gpus`` above 1 trains each run in that many processes under ``torchrun`` (one per
GPU; :func:`job_env`, :mod:`aulib.train.launch`). ``$AULIB_SLURM_PARTITION`` and
``$AULIB_SLURM_ACCOUNT`` set partition / account for every job when the sidecar does not.
Executor kinds: ``slurm`` (``sbatch`` must be on ``PATH``), ``local`` (submitit's
``LocalExecutor``: each job a subprocess on this machine; what the tests use) and ``debug``
(in-process, for stepping through a job).
"""
from __future__ import annotations

import json
import os
import threading
import time
import tomllib
from concurrent.futures import Future
from pathlib import Path

from .registry import Notebook, ParameterError

KINDS = ("slurm", "local", "debug")
DEFAULTS = {"gpus": 0, "cpus": 2, "mem_gb": 16, "time_min": 120}
KEYS = {"gpus": int, "cpus": int, "mem_gb": (int, float), "time_min": int, "partition": str,
        "account": str, "qos": str, "constraint": str, "setup": list, "split": str}
#: what ``split`` may name: "fold" - one job per fold (the notebook declares ``only_fold`` and ``n_folds``)
SPLITS = ("fold",)
POLL_S = 1.0


def resources(nb: Notebook, profile: str) -> dict:
    """The job resources of ``nb`` at ``profile``: :data:`DEFAULTS`, the sidecar's ``[slurm]``
    keys, then its ``[slurm.<profile>]`` table; partition / account from the environment when
    unset.

    Raises:
        ParameterError: an unknown key or a value of the wrong type (names the valid keys).
    """
    table = tomllib.loads(nb.sidecar.read_text()).get("slurm", {})
    out = dict(DEFAULTS)
    per_profile = table.get(profile, {})
    for source, given in (("[slurm]", {k: v for k, v in table.items() if not isinstance(v, dict)}),
                          (f"[slurm.{profile}]", per_profile)):
        for k, v in given.items():
            if k not in KEYS:
                raise ParameterError(f"{nb.sidecar}: unknown key {k!r} in {source}; valid keys: "
                                     f"{', '.join(sorted(KEYS))} (see aulib.workbook.slurm)")
            if not isinstance(v, KEYS[k]) or isinstance(v, bool):
                raise ParameterError(f"{nb.sidecar}: {source} {k} must be {getattr(KEYS[k], '__name__', 'a number')}, "
                                     f"got {v!r}")
            out[k] = v
    for key, env in (("partition", "AULIB_SLURM_PARTITION"), ("account", "AULIB_SLURM_ACCOUNT")):
        if key not in out and os.environ.get(env):
            out[key] = os.environ[env]
    if "split" in out:
        declared = nb.parameters()
        if out["split"] not in SPLITS:
            raise ParameterError(f"{nb.sidecar}: [slurm] split = {out['split']!r}; valid: {', '.join(SPLITS)}")
        if not {"only_fold", "n_folds"} <= set(declared):
            raise ParameterError(f"{nb.sidecar}: [slurm] split = \"fold\" needs the notebook to declare the "
                                 f"parameters only_fold (0 = every fold) and n_folds; {nb.id} declares "
                                 f"{', '.join(declared)}")
    return out


def fold_jobs(nb: Notebook, params: dict, res: dict | None = None) -> list[int]:
    """The folds ``nb`` is split into, one job each, at the resolved ``params``: 1 ..
    ``n_folds`` when its sidecar sets ``[slurm] split = "fold"``, it runs every fold
    (``only_fold`` = 0) and there is more than one; else none. Each fold job runs the notebook
    with ``only_fold=k`` into a scratch folder - it trains that fold's runs into the shared run
    cache - and the notebook itself runs once they all have finished, reading those runs back."""
    res = resources(nb, params.get("profile", "paper")) if res is None else res
    if res.get("split") != "fold" or int(params.get("only_fold", 0)) != 0 or int(params.get("n_folds", 1)) < 2:
        return []
    return list(range(1, int(params["n_folds"]) + 1))


def submitit_parameters(res: dict, name: str) -> dict:
    """submitit's ``update_parameters`` keywords for ``res`` (generic names; Slurm-only ones
    prefixed ``slurm_``, which the local and debug executors ignore)."""
    kw = {"name": name, "timeout_min": res["time_min"], "mem_gb": res["mem_gb"], "cpus_per_task": res["cpus"],
          "gpus_per_node": res["gpus"], "nodes": 1, "tasks_per_node": 1}
    for key in ("partition", "account", "qos", "constraint", "setup"):
        if key in res:
            kw[f"slurm_{key}"] = res[key]
    return kw


def job_env(res: dict) -> dict[str, str]:
    """Environment variables a job sets before it runs its notebook: ``AULIB_NPROC`` = its GPU
    count (at least 1), so with several GPUs each run the notebook trains through the run cache
    is trained by that many processes under ``torchrun``, one per GPU (:mod:`aulib.train.launch`),
    and a job with one GPU or none trains in one process whatever the submitting shell exported.
    The job itself is one task (``tasks_per_node=1``): torchrun starts the ranks."""
    from aulib.config import NPROC_ENV

    return {NPROC_ENV: str(max(1, int(res.get("gpus", 0))))}


def with_env(env: dict, fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` inside the job with ``env`` added to its environment (the
    notebook's kernel inherits it); restored afterwards (the ``debug`` executor runs jobs in
    the submitting process - one at a time there: parallel debug jobs would share it)."""
    from aulib.config import environ

    with environ(env):
        return fn(*args, **kwargs)


class SubmititPool:
    """A ``concurrent.futures``-style pool over submitit jobs, for the runner: ``submit(fn, nb_path,
    ...)`` submits one job with the resources of the notebook at ``nb_path`` and returns a
    :class:`~concurrent.futures.Future` that a watcher thread completes when the job ends (its
    result, or its exception with the job's traceback)."""

    def __init__(self, kind: str, profile: str, notebooks: dict[str, Notebook], folder: Path):
        import submitit

        if kind not in KINDS:
            raise ParameterError(f"unknown executor {kind!r}; valid: {', '.join(KINDS)}")
        if kind == "slurm" and not _which("sbatch"):
            raise ParameterError("--executor slurm needs Slurm's sbatch on PATH (run it on the cluster's login "
                                 "node); --executor local runs the same jobs as subprocesses here")
        self.kind, self.profile, self.notebooks = kind, profile, notebooks
        self.folder = Path(folder)
        self.executor = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=kind)
        self.jobs: dict[str, dict] = {}
        self._live: list = []
        self._stop = threading.Event()
        self._lock = threading.Lock()    # update_parameters + submit, from the runner and the watchers

    def _submit_job(self, res: dict, name: str, fn, *args, **kwargs):
        with self._lock:
            self.executor.update_parameters(**submitit_parameters(res, name))
            job = self.executor.submit(with_env, job_env(res), fn, *args, **kwargs)
            self._live.append(job)
        return job

    def _job_record(self, job, res: dict) -> dict:
        return {"executor": self.kind, "job_id": str(job.job_id), "resources": res,
                "logs": str(self.folder / str(job.job_id)), "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def submit(self, fn, nb_path: str, *args, **kwargs) -> Future:
        """Submit the runner's ``fn(nb_path, out_nb, params, cwd, timeout, ...)`` for one
        notebook: one job, or (``[slurm] split = "fold"``, :func:`fold_jobs`) one job per fold
        at once and then the notebook's own job when they have all succeeded."""
        nb = self.notebooks[str(nb_path)]
        res = resources(nb, self.profile)
        name = f"aulib-{nb.id.replace('/', '-')}"
        params = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        folds = fold_jobs(nb, params, res)
        fut: Future = Future()
        fut.set_running_or_notify_cancel()
        if not folds:
            job = self._submit_job(res, name, fn, nb_path, *args, **kwargs)
            self.jobs[nb.id] = self._job_record(job, res)
            threading.Thread(target=self._watch, args=([], job, fut), daemon=True).start()
            return fut
        scratch = self.folder / "folds" / nb.id
        per_fold = []
        for k in folds:
            out = scratch / f"fold{k}"
            out.mkdir(parents=True, exist_ok=True)
            fargs = (str(out / Path(args[0]).name), dict(params, only_fold=k, output_dir=str(out)), *args[2:])
            per_fold.append((k, self._submit_job(res, f"{name}-fold{k}", fn, nb_path, *fargs, **kwargs)))
        self.jobs[nb.id] = {"executor": self.kind, "resources": res, "scratch": str(scratch),
                            "fold_jobs": [dict(self._job_record(j, res), fold=k) for k, j in per_fold]}
        main = lambda: self._submit_job(res, name, fn, nb_path, *args, **kwargs)   # noqa: E731
        threading.Thread(target=self._watch, args=(per_fold, main, fut, nb.id, res), daemon=True).start()
        return fut

    def _wait(self, job):
        if self.kind != "debug":
            while not job.done() and not self._stop.is_set():
                time.sleep(POLL_S)
        return job.result()

    def _watch(self, per_fold, job, fut: Future, nb_id: str = "", res: dict | None = None) -> None:
        """Complete ``fut``: wait for the fold jobs (the first error ends it, naming the fold),
        then submit (``job`` is a callable) or wait for the notebook's own job."""
        try:
            for k, fj in per_fold:
                err = self._wait(fj)
                if err:   # the runner's execution function returns an error dict, None on success
                    fut.set_result(dict(err, evalue=f"fold {k} job {fj.job_id}: {err.get('evalue', '')}"))
                    return
            if callable(job):
                job = job()
                self.jobs[nb_id].update(self._job_record(job, res))
            fut.set_result(self._wait(job))
        except Exception as e:   # the job failed or was cancelled: the runner reports it
            fut.set_exception(e)

    def shutdown(self) -> None:
        """Cancel the jobs still running (an interrupted run leaves none behind)."""
        self._stop.set()
        for job in self._live:
            try:
                if not job.done():
                    job.cancel(check=False)
            except Exception:
                pass

    def record(self, results: Path) -> None:
        """Add each submitted notebook's job to ``results/manifest.json`` (``job``)."""
        from .runner import _write_atomic, load_manifest

        manifest = load_manifest(results)
        for nb_id, job in self.jobs.items():
            if nb_id in manifest.get("notebooks", {}):
                manifest["notebooks"][nb_id]["job"] = job
        _write_atomic(results / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))


def _which(cmd: str) -> bool:
    import shutil

    return shutil.which(cmd) is not None
