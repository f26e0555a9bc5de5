"""Execute registered notebooks with papermill: cache, staging, manifest, index, claims.

For each notebook of a run (in dependency order):

1. resolve and validate its parameters for the profile (``registry``);
2. compute its cache key (notebook source, parameters, the ``aulib`` code it imported last
   time, the inputs it read last time); skip it when the key matches its last successful
   run and its artifacts are still on disk (``--force`` reruns);
3. execute it in a staging folder ``results/<profile>/.staging/<id>/`` with papermill, in a
   kernel that runs this interpreter (the venv's);
4. on success move the executed notebook and its artifacts into
   ``results/<profile>/<paper>/`` (each file written to a temporary name, then renamed, so a
   reader never sees half a result); on failure keep the executed notebook with its
   traceback as ``<stem>.failed.ipynb``, print the failing cell, leave the previous results
   untouched and go on with the others;
5. update ``manifest.json``, ``index.md`` and each paper's ``claims.json``.

While a notebook runs, a status line under the workbook's bar shows which notebook, which
cell, the progress bars inside it, the elapsed time and its last run's duration
(:mod:`.progress`). A kernel that dies is reported with the cell it was running.

**Stale runs.** Every cached training run a notebook read back (``aulib.train.recipes.
cached_fit``) is in its run record with the digests of the code it was trained by. A notebook
that read a run whose code has changed since is *stale*: marked in the manifest, in
``index.md`` beside its tables, figures and claims, in ``claims.json`` and in the summary,
which names the run folders and the command that retrains them (``--retrain-stale``: the
stale notebooks rerun with ``AULIB_RETRAIN_STALE`` set, so the run cache retrains exactly the
stale runs they read). Staleness is recomputed from the code on disk at every manifest update
and by ``status``, without importing torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatch
from pathlib import Path

from .. import config
from .notebook import RUN_RECORD, STAGING
from .registry import Notebook, discover

KERNEL_NAME = "aulib-venv"
PACKAGES = ("aulib", "torch", "torchvision", "numpy", "pandas", "scikit-learn", "opencv-python-headless",
            "dlib-bin", "papermill", "matplotlib", "seaborn")


@dataclass
class Outcome:
    id: str
    status: str          # "ok", "cached", "failed"
    seconds: float = 0.0
    error: str = ""
    stale: list = field(default_factory=list)   # stale runs it read (manifest "runs" entries)


# ----------------------------------------------------------------------------------------
# cache keys
def notebook_hash(path: Path) -> str:
    """Hash of a notebook's cell types, sources and tags (outputs and other metadata ignored)."""
    nb = json.loads(Path(path).read_text())
    h = hashlib.sha256()
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        tags = ",".join(cell.get("metadata", {}).get("tags", []))
        h.update(f"{cell.get('cell_type')}|{tags}|{src}\0".encode())
    return h.hexdigest()[:16]


def params_hash(params: dict) -> str:
    keep = {k: v for k, v in params.items() if k != "output_dir"}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_hash(modules: list[str]) -> str:
    """Hash of the source files of the ``aulib`` modules a notebook imported."""
    import importlib.util

    h = hashlib.sha256()
    for name in sorted(modules):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None) if spec else None
        if not origin or not os.path.isfile(origin):
            h.update(f"{name}:missing\0".encode())
            continue
        h.update(name.encode() + b"\0" + Path(origin).read_bytes() + b"\0")
        if spec.submodule_search_locations:  # a package: include its data files (CSV/TOML)
            for d in spec.submodule_search_locations:
                for f in sorted(Path(d).rglob("*")):
                    if f.suffix in (".csv", ".toml", ".json") and f.is_file():
                        h.update(str(f.relative_to(d)).encode() + f.read_bytes())
    return h.hexdigest()[:16]


def data_hash(inputs: dict[str, str]) -> str:
    """Re-fingerprint the inputs a notebook read; equal to the recorded one when unchanged."""
    current = {p: config.fingerprint_path(p) for p in sorted(inputs)}
    return hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]


def cache_key(nb: Notebook, params: dict, last: dict | None) -> dict:
    key = {"notebook": notebook_hash(nb.path), "sidecar": hashlib.sha256(
        nb.sidecar.read_bytes()).hexdigest()[:16], "params": params_hash(params)}
    if last:
        key["code"] = code_hash(last.get("aulib_modules", []))
        key["data"] = data_hash(last.get("inputs", {}))
        if last.get("runs"):   # the code of the runs it read, also outside aulib (comments ignored)
            now = _digests_now(last["runs"])
            key["runs"] = hashlib.sha256(json.dumps(now, sort_keys=True).encode()).hexdigest()[:16]
    return key


# ----------------------------------------------------------------------------------------
# stale runs
def _digests_now(runs: list[dict]) -> dict[str, str]:
    """{file: digest now} over the code files of ``runs`` (each file parsed once)."""
    names = sorted({n for r in runs for n in (r.get("code") or {})})
    return config.code_digests(names)


def run_staleness(runs: list[dict]) -> list[dict]:
    """The runs a notebook read (its run record's ``runs``), each with ``code_now`` (the
    digests of its code files now), ``changed`` (files whose code differs from when the run
    was trained) and ``stale`` (any changed)."""
    now = _digests_now(runs)
    out = []
    for r in runs:
        then = r.get("code") or {}
        changed = [n for n in then if now[n] != then[n]]
        out.append(dict(r, code_now={n: now[n] for n in then}, changed=changed, stale=bool(changed)))
    return out


def stale_notebooks(results: Path) -> dict[str, list[dict]]:
    """{notebook id: its stale runs} over the manifest of ``results`` (a profile's folder),
    recomputed from the code on disk."""
    out = {}
    for nb_id, entry in load_manifest(results).get("notebooks", {}).items():
        stale = [r for r in run_staleness(entry.get("runs", [])) if r["stale"]]
        if stale and entry.get("status") == "ok":
            out[nb_id] = stale
    return out


def retrain_command(profile: str, notebooks) -> str:
    """The command that retrains the stale runs of ``notebooks`` and reruns them."""
    return (f"python -m aulib.workbook run --profile {profile} --retrain-stale --only "
            f"'{','.join(sorted(notebooks))}'")


def describe_run(r: dict) -> str:
    return (f"{r.get('run')} ({r.get('model')}, trained {r.get('trained', '?')}; code changed since: "
            f"{', '.join(r.get('changed', []))})")


# ----------------------------------------------------------------------------------------
# manifest / provenance
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=config.REPO_ROOT, capture_output=True, text=True, timeout=10)
        return commit + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_manifest(results: Path) -> dict:
    path = results / "manifest.json"
    if path.is_file():
        return json.loads(path.read_text())
    return {"notebooks": {}}


# ----------------------------------------------------------------------------------------
# kernel
def ensure_kernel() -> str:
    """A kernelspec that runs *this* interpreter, found first through JUPYTER_PATH.

    Written under the cache folder so executions never pick up a user-level ``python3``
    kernel from another environment.
    """
    kdir = config.cache_dir("jupyter", "kernels", KERNEL_NAME)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "--log-level=ERROR", "-f",
                     "{connection_file}"],
            "display_name": "Python (aulib venv)", "language": "python",
            "env": {"PYTHONHASHSEED": "0"}}
    target = kdir / "kernel.json"
    if not target.is_file() or json.loads(target.read_text()) != spec:
        _write_atomic(target, json.dumps(spec, indent=1))
    jpath = str(kdir.parent.parent)
    paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if jpath not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([jpath] + [p for p in paths if p])
    return KERNEL_NAME


def _execute(nb_path: str, out_nb: str, params: dict, cwd: str, timeout: int | None,
             watch_file: str | None = None, watch=None) -> dict:
    """Run one notebook with papermill (in this process, or a worker). Returns an error dict
    or {}. ``watch`` (a :class:`.progress.Watch`) follows the execution; in a worker one is
    made that writes its snapshots to ``watch_file`` for the main process."""
    import logging

    import papermill as pm

    from .progress import Watch, execute

    logging.getLogger("papermill").setLevel(logging.WARNING)
    kernel = ensure_kernel()
    try:
        execute(nb_path, out_nb, params, kernel, cwd, timeout, watch or Watch("", watch_file))
        return {}
    except pm.PapermillExecutionError as e:
        return {"ename": e.ename, "evalue": str(e.evalue), "cell": e.exec_count,
                "cell_index": e.cell_index, "source": e.source}
    except Exception as e:  # kernel died, notebook unreadable, ...
        return {"ename": type(e).__name__, "evalue": str(e), "cell": None, "cell_index": None,
                "source": traceback.format_exc(limit=3)}


def running_cell(executed: Path) -> dict | None:
    """The cell that was running when an execution stopped: the last cell papermill marked
    as started in the (partly) executed notebook. {index (1-based), cells, exec_count, source},
    or None when the notebook was not written or no cell started."""
    try:
        nb = json.loads(Path(executed).read_text())
    except (OSError, ValueError):
        return None
    # papermill adds marker cells (tagged) around a cell that raised: not the notebook's own
    cells = [c for c in nb.get("cells", []) if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    started = [i for i, c in enumerate(cells) if (c.get("metadata", {}).get("papermill") or {}).get("start_time")]
    if not started:
        return None
    cell = cells[started[-1]]
    src = cell.get("source", "")
    return {"index": started[-1] + 1, "cells": len(cells), "exec_count": cell.get("execution_count"),
            "source": "".join(src) if isinstance(src, list) else src}


DEAD_KERNEL = ("DeadKernelError", "BrokenProcessPool")


class _Status:
    """Status lines of the running notebooks (:func:`.progress.status_line`), refreshed by a
    thread every :data:`STATUS_EVERY` seconds on a terminal — one tqdm line per job under the
    workbook's bar — and printed as plain lines every :data:`STATUS_EVERY_LOG` seconds when
    stderr is not a terminal (a log)."""

    def __init__(self, slots: int, enabled: bool, last_seconds: dict):
        from tqdm.auto import tqdm

        self.enabled, self.last = enabled, last_seconds
        self.tty = enabled and sys.stderr.isatty()
        self.running: dict[str, tuple] = {}
        self.lock = threading.Lock()
        self.lines = [tqdm(total=0, position=i + 1, bar_format="{desc}", leave=False, file=sys.stderr)
                      for i in range(slots)] if self.tty else []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        if enabled:
            self.thread.start()

    def add(self, nb_id: str, t0: float, snapshot) -> None:
        with self.lock:
            self.running[nb_id] = (t0, snapshot)

    def remove(self, nb_id: str) -> None:
        with self.lock:
            self.running.pop(nb_id, None)
        self.render()

    def render(self) -> list[str]:
        from .progress import status_line

        with self.lock:
            items = list(self.running.items())
        shown = []
        for nb_id, (t0, snapshot) in items:
            try:
                snap = snapshot()
            except RuntimeError:  # the watch changed while read: show the rest this time
                snap = None
            shown.append(status_line(snap, nb_id, time.time() - t0, self.last.get(nb_id)))
        if self.tty:
            for i, line in enumerate(self.lines):
                line.set_description_str(("  " + shown[i]) if i < len(shown) else "", refresh=True)
        return shown

    def _loop(self) -> None:
        while not self.stop.wait(STATUS_EVERY if self.tty else STATUS_EVERY_LOG):
            shown = self.render()
            if not self.tty:
                for line in shown:
                    print(f"  … {line}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        for line in self.lines:
            line.close()


STATUS_EVERY = 1.0        # seconds between status refreshes on a terminal
STATUS_EVERY_LOG = 30.0   # ... and between status lines in a log


# ----------------------------------------------------------------------------------------
def select(notebooks: list[Notebook], only: str | None) -> list[Notebook]:
    if not only:
        return notebooks
    pats = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [nb for nb in notebooks if any(fnmatch(nb.id, p) or fnmatch(nb.stem, p) for p in pats)]
    if not chosen:
        raise SystemExit(f"--only {only!r} matches no notebook; registered: "
                         + ", ".join(nb.id for nb in notebooks))
    return chosen


def plan(profile: str, only: str | None = None, overrides: dict | None = None,
         notebooks_dir: Path | None = None, results: Path | None = None,
         force: bool = False, retrain_stale: bool = False) -> list[tuple[Notebook, dict, dict, bool]]:
    """For each selected notebook: (notebook, params, cache key, up_to_date). With
    ``retrain_stale`` a notebook that read stale runs is never up to date."""
    results = Path(results or config.results_root()) / profile
    manifest = load_manifest(results)
    stale = stale_notebooks(results) if retrain_stale else {}
    out = []
    for nb in select(discover(notebooks_dir), only):
        # overrides: one dict for every notebook, or a function of the notebook (the paper check)
        params = nb.resolve(profile, overrides(nb) if callable(overrides) else overrides)
        entry = manifest["notebooks"].get(nb.id)
        last = None
        if entry and entry.get("status") == "ok":
            rec = results / nb.paper / f"{nb.stem}.run.json"
            last = json.loads(rec.read_text()) if rec.is_file() else None
        key = cache_key(nb, params, last)
        fresh = (not force and nb.id not in stale and last is not None and entry.get("cache") == key
                 and all((results / a["path"]).is_file()
                         for a in entry.get("artifact_files", [])))
        out.append((nb, params, key, fresh))
    return out


def run(profile: str = config.DEFAULT_PROFILE, only: str | None = None, jobs: int = 1,
        force: bool = False, overrides: dict | None = None, notebooks_dir: Path | None = None,
        results: Path | None = None, timeout: int | None = None, quiet: bool = False,
        retrain_stale: bool = False, executor: str | None = None) -> list[Outcome]:
    """Execute the selected notebooks at ``profile``; see the module docstring.

    ``executor``: ``"slurm"``, ``"local"`` or ``"debug"`` submits each notebook as a submitit job
    (:mod:`.slurm`; resources from the sidecars) instead of running it here.

    ``retrain_stale``: rerun the notebooks that read stale runs, with the run cache told
    (``AULIB_RETRAIN_STALE``) to retrain every stale run it meets."""
    from tqdm.auto import tqdm

    config.check_profile(profile)
    results_root = Path(results or config.results_root())
    results = results_root / profile
    results.mkdir(parents=True, exist_ok=True)
    planned = plan(profile, only, overrides, notebooks_dir, results_root, force, retrain_stale)
    ensure_kernel()
    last_seconds = {k: e.get("seconds") for k, e in load_manifest(results)["notebooks"].items()
                    if e.get("status") == "ok"}
    outcomes: dict[str, Outcome] = {}
    recorded: set[str] = set()        # outcomes already in the manifest (written when each finished)
    launched_at: dict[str, str] = {}  # commit of the code when each notebook started
    failed_ids: set[str] = set()
    todo = []
    for nb, params, key, fresh in planned:
        if fresh:
            outcomes[nb.id] = Outcome(nb.id, "cached")
        else:
            todo.append((nb, params, key))

    bar = tqdm(total=len(planned), desc=f"workbook [{profile}]", unit="nb", disable=quiet,
               file=sys.stderr)
    bar.update(len(planned) - len(todo))
    status = _Status(min(jobs, len(todo)) if todo else 0, bool(todo) and not quiet, last_seconds)
    pending = list(todo)
    running: dict = {}
    executor_kind, executor = executor, None
    env_before = os.environ.get(config.RETRAIN_STALE_ENV)
    if retrain_stale:   # read by the kernels' run cache (aulib.train.recipes.cached_fit)
        os.environ[config.RETRAIN_STALE_ENV] = "1"
    if executor_kind and todo:    # cluster jobs through submitit (aulib.workbook.slurm)
        from .slurm import SubmititPool

        executor = SubmititPool(executor_kind, profile, {str(n.path): n for n, _, _ in todo}, results / ".submitit")
        jobs = max(1, len(todo)) if executor_kind == "slurm" and jobs == 1 else jobs
    elif jobs > 1:
        import multiprocessing as mp

        executor = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                       initializer=_worker_exits_on_sigterm)
    threads_before = os.environ.get("OMP_NUM_THREADS")
    if threads_before is None and jobs > 1 and executor_kind != "slurm":
        # kernels side by side on one machine share its cores: torch's OpenMP threads that wait
        # on busy cores made steps 10-60x slower (README, "Threads on a shared machine")
        os.environ["OMP_NUM_THREADS"] = str(kernel_threads(jobs))

    def deps_done(nb: Notebook) -> bool:
        return all(d in outcomes or d not in {n.id for n, _, _ in todo} for d in nb.after)

    def launch(item):
        from .progress import Watch, read_snapshot

        nb, params, key = item
        launched_at[nb.id] = git_commit()
        stage = results / STAGING / nb.id
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        params = dict(params, output_dir=str(stage))
        out_nb = stage / f"{nb.stem}.ipynb"
        args = (str(nb.path), str(out_nb), params, str(nb.path.parent), timeout)
        t0 = time.time()
        if executor is None:
            watch = Watch(nb.id)
            status.add(nb.id, t0, watch.snapshot)
            return (item, stage, t0, _execute(*args, watch=watch))
        watch_file = stage.parent / f".{nb.stem}.watch.json"
        status.add(nb.id, t0, lambda: read_snapshot(watch_file))
        return (item, stage, t0, executor.submit(_execute, *args, watch_file=str(watch_file)))

    def finish(item, stage, t0, err):
        nb, params, key = item
        status.remove(nb.id)
        secs = round(time.time() - t0, 1)
        if err:
            outcome = _on_failure(nb, stage, results, err, secs, quiet)
        else:
            outcome = _on_success(nb, params, stage, results, secs)
        if outcome.status == "failed":
            failed_ids.add(nb.id)
        outcomes[nb.id] = outcome
        # recorded at once: a run stopped later (killed, Ctrl-C) keeps what already finished
        _update_manifest(results, [p for p in planned if p[0].id == nb.id], {nb.id: outcome}, launched_at)
        recorded.add(nb.id)
        bar.set_postfix_str(f"{nb.id}: {outcome.status}")
        bar.update(1)

    try:
        while pending or running:
            ready = [it for it in pending if deps_done(it[0])]
            for it in ready:
                if any(d in failed_ids for d in it[0].after):
                    pending.remove(it)
                    outcomes[it[0].id] = Outcome(it[0].id, "failed", 0.0,
                                                 f"skipped: depends on failed {it[0].after}")
                    failed_ids.add(it[0].id)
                    bar.update(1)
                    continue
                if executor is None:
                    pending.remove(it)
                    finish(*launch(it))
                elif len(running) < jobs:
                    pending.remove(it)
                    item, stage, t0, fut = launch(it)
                    running[fut] = (item, stage, t0)
            if executor is not None and running:
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    item, stage, t0 = running.pop(fut)
                    try:
                        err = fut.result()
                    except Exception as e:  # worker process died (out of memory, killed, ...)
                        err = {"ename": type(e).__name__, "evalue": str(e), "cell": None, "source": ""}
                    finish(item, stage, t0, err)
            elif executor is None and pending and not ready:
                raise RuntimeError("notebook dependencies cannot be satisfied: "
                                   + ", ".join(it[0].id for it in pending))
    except BaseException:
        # stopped (Ctrl-C, SIGTERM, an error here): stop the notebooks still executing instead of
        # waiting for them - each worker ends on SIGTERM, and papermill shuts its kernel down
        if isinstance(executor, ProcessPoolExecutor):
            _stop_workers(executor)
        raise
    finally:
        status.close()
        bar.close()
        if executor is not None:
            executor.shutdown()
        if threads_before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        if env_before is None:
            os.environ.pop(config.RETRAIN_STALE_ENV, None)
        else:
            os.environ[config.RETRAIN_STALE_ENV] = env_before
        # only what is not recorded yet (skipped notebooks): rewriting the finished ones would undo
        # what another run on the same results folder recorded since (and re-date them)
        _update_manifest(results, planned, {k: o for k, o in outcomes.items() if k not in recorded}, launched_at)
        if hasattr(executor, "record"):
            executor.record(results)
        write_index(results)
        # only this run's staging folders: another `workbook run` on the same results folder
        # may be executing its own notebooks under .staging at the same time
        for nb, *_ in planned:
            shutil.rmtree(results / STAGING / nb.id, ignore_errors=True)
        _remove_empty_dirs(results / STAGING)
    stale = stale_notebooks(results)
    ordered = [outcomes[nb.id] for nb, *_ in planned if nb.id in outcomes]
    for o in ordered:
        o.stale = stale.get(o.id, []) if o.status != "failed" else []
    if not quiet:
        print_summary(ordered, profile)
    return ordered


def _remove_empty_dirs(root: Path) -> None:
    """Remove ``root`` and the folders under it that are empty (deepest first); folders that
    still hold something (another run's staging) are kept."""
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                    reverse=True) + [root]:
        try:
            d.rmdir()
        except OSError:
            pass


def _on_failure(nb, stage, results, err, secs, quiet) -> Outcome:
    paper_dir = results / nb.paper
    paper_dir.mkdir(parents=True, exist_ok=True)
    executed = stage / f"{nb.stem}.ipynb"
    kept = paper_dir / f"{nb.stem}.failed.ipynb"
    if executed.is_file():
        tmp = kept.with_name(f".{kept.name}.tmp")
        shutil.copyfile(executed, tmp)
        os.replace(tmp, kept)
    where = running_cell(executed)
    ename, evalue = err.get("ename"), err.get("evalue")
    dead = ename in DEAD_KERNEL or "kernel died" in str(evalue).lower()
    if where:
        cell = f"cell {where['index']} of {where['cells']}" + (
            f" (In [{where['exec_count']}])" if where["exec_count"] else "")
    else:
        cell = f"cell In [{err['cell']}]" if err.get("cell") is not None else "no cell (it never started)"
    source = where["source"] if (where and (dead or not err.get("source"))) else (err.get("source") or "")
    if dead:
        who = "the notebook's worker process" if ename == "BrokenProcessPool" else "the kernel"
        msg = (f"{who} died {f'while {cell} was running' if where else 'before any cell ran'} "
               f"({ename}: {evalue}); a dead kernel usually means it "
               "ran out of memory (or was killed): free memory, run fewer --jobs or a smaller profile, and rerun")
    else:
        msg = f"{ename}: {evalue}"
    src = source.strip().splitlines()
    if not quiet:
        print(f"\n✗ {nb.id} failed: {msg}" if dead else f"\n✗ {nb.id} failed in {cell}: {msg}", file=sys.stderr)
        if src:
            more = f"\n    … ({len(src) - 12} more lines)" if len(src) > 12 else ""
            print("  cell source:\n    " + "\n    ".join(src[:12]) + more, file=sys.stderr)
        print(f"  executed notebook with the traceback: {kept}", file=sys.stderr)
    return Outcome(nb.id, "failed", secs, msg if dead else f"{msg} — in {cell}" if where else msg)


def _unstage_notebook(src: Path, dst: Path, stage: Path, final: Path, final_nb: Path) -> None:
    """Write the executed notebook ``src`` to ``dst`` with the staging folder it ran in replaced by
    the folder its results were moved to: the ``output_dir`` value in papermill's cell tagged
    ``injected-parameters`` (``output_dir = "<results>/<profile>/.staging/<id>"`` becomes
    ``"<results>/<profile>/<paper>"``), papermill's record of the parameters and its output path.
    The value is matched as papermill's Python translator wrote it; other cells are left as run."""
    import nbformat
    from papermill.translators import PythonTranslator

    doc = nbformat.read(src, as_version=nbformat.NO_CONVERT)
    old, new = PythonTranslator.translate_str(str(stage)), PythonTranslator.translate_str(str(final))
    for cell in doc.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace(f"output_dir = {old}", f"output_dir = {new}")
    pm = doc.metadata.get("papermill", {})
    if pm.get("parameters", {}).get("output_dir") == str(stage):
        pm["parameters"]["output_dir"] = str(final)
    if "output_path" in pm:
        pm["output_path"] = str(final_nb)
    nbformat.write(doc, dst)


def _on_success(nb, params, stage, results, secs) -> Outcome:
    rec_path = stage / RUN_RECORD
    if not rec_path.is_file():
        return Outcome(nb.id, "failed", secs,
                       "the notebook did not call run.finish() (no run record written)")
    record = json.loads(rec_path.read_text())
    paper_dir = results / nb.paper
    paper_dir.mkdir(parents=True, exist_ok=True)
    moved = []
    for art in record.get("artifacts", []):
        for fname in art["files"]:
            src = stage / fname
            if not src.is_file():
                return Outcome(nb.id, "failed", secs, f"artifact {fname} was registered but not written")
            tmp = paper_dir / f".{fname}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, paper_dir / fname)
            moved.append(fname)
    for src, dst in ((stage / f"{nb.stem}.ipynb", paper_dir / f"{nb.stem}.ipynb"),
                     (rec_path, paper_dir / f"{nb.stem}.run.json")):
        tmp = dst.with_name(f".{dst.name}.tmp")
        if src.suffix == ".ipynb":
            _unstage_notebook(src, tmp, stage, paper_dir, dst)
        else:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    failed = paper_dir / f"{nb.stem}.failed.ipynb"
    if failed.exists():
        failed.unlink()
    return Outcome(nb.id, "ok", secs)


def _worker_exits_on_sigterm() -> None:
    """Initializer of the ``--jobs`` worker processes: SIGTERM raises SystemExit, so papermill's
    clean-up (kernel shutdown) runs before the worker ends."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _stop_workers(executor: ProcessPoolExecutor, grace: float = 20.0) -> None:
    """Cancel the notebooks not yet started and end the running ones: SIGTERM to each worker (its
    kernel is shut down), SIGKILL to any still alive after ``grace`` seconds."""
    procs = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()


def kernel_threads(jobs: int) -> int:
    """Threads per kernel when ``jobs`` notebooks run side by side on this machine: its cores
    divided among them (at least 1). The runner sets ``OMP_NUM_THREADS`` to it for ``--jobs`` > 1
    unless the variable is already set (then the user's value holds)."""
    return max(1, (os.cpu_count() or 1) // max(1, int(jobs)))


def _update_manifest(results: Path, planned, outcomes: dict[str, Outcome], commits: dict | None = None) -> None:
    """Record ``outcomes`` in ``manifest.json`` (read, update, write under an inter-process lock:
    two ``workbook run`` processes may share one results folder). ``commits``: the commit each
    notebook's execution started from (default: the commit now)."""
    lock = hashlib.sha1(str(Path(results).resolve()).encode()).hexdigest()[:16]
    with config.file_lock(config.cache_dir("locks", "manifest") / f"{lock}.lock"):
        _update_manifest_unlocked(results, planned, outcomes, commits or {})


def _update_manifest_unlocked(results: Path, planned, outcomes: dict[str, Outcome], commits: dict) -> None:
    manifest = load_manifest(results)
    manifest.update({"profile": results.name, "updated": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "git_commit": git_commit(), "packages": package_versions(),
        "platform": f"{platform.system()} {platform.machine()}"})
    for nb, params, key, fresh in planned:
        oc = outcomes.get(nb.id)
        if oc is None or oc.status == "cached":
            continue
        entry = manifest["notebooks"].get(nb.id, {})
        if oc.status == "failed":
            entry.update({"status": "failed", "error": oc.error, "failed_at": manifest["updated"],
                          "failed_notebook": f"{nb.paper}/{nb.stem}.failed.ipynb"})
            manifest["notebooks"][nb.id] = entry
            continue
        rec = json.loads((results / nb.paper / f"{nb.stem}.run.json").read_text())
        files = []
        for art in rec.get("artifacts", []):
            for fname in art["files"]:
                p = results / nb.paper / fname
                files.append({"path": f"{nb.paper}/{fname}", "sha256": sha256_file(p),
                              "kind": art["kind"], "name": art["name"]})
        key = cache_key(nb, params, rec)
        durations = dict(manifest["notebooks"].get(nb.id, {}).get("durations", {}))
        durations[run_kind(rec.get("runs", []), oc.seconds)] = {"seconds": oc.seconds, "finished": manifest["updated"]}
        manifest["notebooks"][nb.id] = {
            "status": "ok", "title": nb.title, "params": {k: v for k, v in params.items()
                                                          if k != "output_dir"},
            "device": rec.get("device"), "seconds": oc.seconds, "finished": manifest["updated"],
            "cache": key, "artifact_files": files,
            "executed_notebook": f"{nb.paper}/{nb.stem}.ipynb",
            "claims": len(rec.get("claims", [])), "git_commit": commits.get(nb.id, manifest["git_commit"]),
            "runs": rec.get("runs", []), "durations": durations,
        }
    for entry in manifest["notebooks"].values():   # staleness against the code on disk now
        entry["runs"] = run_staleness(entry.get("runs", []))
        entry["stale_runs"] = [r["run"] for r in entry["runs"] if r["stale"]]
        entry["stale"] = bool(entry["stale_runs"])
    _write_atomic(results / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))


def run_kind(runs: list[dict], seconds: float, now: datetime | None = None) -> str:
    """How a notebook execution that took ``seconds`` and ended ``now`` used the run cache:
    ``"cold"`` when it trained one of the ``runs`` it read (trained after it started), ``"warm"``
    when it read every run back, ``"no training"`` when it read none. The manifest keeps each
    notebook's latest duration of each kind (``durations``), which the book's benchmarks page shows."""
    if not runs:
        return "no training"
    start = (now or datetime.now(timezone.utc)).timestamp() - seconds
    for r in runs:
        try:
            if datetime.fromisoformat(r["trained"]).timestamp() >= start - 1:
                return "cold"
        except (KeyError, TypeError, ValueError):
            continue
    return "warm"


def write_index(results: Path) -> Path:
    """``index.md`` (every table and figure with its notebook) and per-paper ``claims.json``;
    the tables, figures and claims of a notebook that read stale runs are marked **stale**
    (claims.json: ``"stale": true``)."""
    manifest = load_manifest(results)
    lines = [f"# AU Workbench results — profile `{results.name}`", "",
             f"Generated by `python -m aulib.workbook run --profile {results.name}`; "
             f"commit `{manifest.get('git_commit', '?')}`, updated {manifest.get('updated', '?')}.", ""]
    by_paper: dict[str, list] = {}
    for nb_id, entry in sorted(manifest.get("notebooks", {}).items()):
        by_paper.setdefault(nb_id.split("/")[0], []).append((nb_id, entry))
    for paper, entries in by_paper.items():
        lines += [f"## {paper}", ""]
        claims = []
        for nb_id, entry in entries:
            stem = nb_id.split("/")[-1]
            status = entry.get("status")
            lines += [f"### {entry.get('title', nb_id)}", "",
                      f"Notebook `{nb_id}` — status **{status}**"
                      + (f", {entry.get('seconds')} s on {entry.get('device')}" if status == "ok" else "")
                      + f" — [executed notebook]({paper}/{stem}.ipynb)", ""]
            if status == "failed":
                lines += [f"> Failed: {entry.get('error', '')} — see "
                          f"[{paper}/{stem}.failed.ipynb]({paper}/{stem}.failed.ipynb)", ""]
            stale = status == "ok" and bool(entry.get("stale"))
            mark = " — ⚠ **stale**" if stale else ""
            if stale:
                runs = [r for r in entry.get("runs", []) if r.get("stale")]
                files = sorted({f for r in runs for f in r.get("changed", [])})
                lines += [f"> ⚠ **Stale**: {len(runs)} of the {len(entry['runs'])} trained runs this notebook "
                          f"read were trained by older code (changed since: {', '.join(f'`{f}`' for f in files)}); "
                          "its numbers are not those of the current code. Run folders: "
                          + ", ".join(f"`{r['run']}`" for r in runs)
                          + f". Retrain: `{retrain_command(results.name, [nb_id])}`", ""]
            rec_path = results / paper / f"{stem}.run.json"
            if not rec_path.is_file():
                continue
            rec = json.loads(rec_path.read_text())
            for art in rec.get("artifacts", []):
                cap = art.get("caption") or art["name"]
                if art["kind"] == "table":
                    md = results / paper / f"{art['name']}.md"
                    lines += [f"**Table `{art['name']}`** — {cap} ([csv]({paper}/{art['name']}.csv)){mark}", ""]
                    if md.is_file():
                        body = md.read_text().strip().splitlines()
                        if body and body[0].startswith("**"):
                            body = body[2:]
                        lines += body + [""]
                elif art["kind"] == "figure":
                    lines += [f"**Figure `{art['name']}`** — {cap}{mark}", "",
                              f"![{art['name']}]({paper}/{art['name']}.png)", ""]
            for c in rec.get("claims", []):
                claims.append(dict(c, notebook=nb_id, stale=stale))
        if claims:
            lines += [f"### Claims tested ({paper})", "", "| claim | verdict | evidence | notebook |",
                      "| --- | --- | --- | --- |"]
            for c in claims:
                cells = [str(c[k]).replace("|", "\\|") for k in ("claim", "verdict", "evidence")]
                verdict = f"**{cells[1]}**" + (" (⚠ **stale**)" if c["stale"] else "")
                lines.append(f"| {cells[0]} | {verdict} | {cells[2]} | `{c['notebook']}` |")
            lines.append("")
        _write_atomic(results / paper / "claims.json", json.dumps(claims, indent=2))
    path = results / "index.md"
    _write_atomic(path, "\n".join(lines) + "\n")
    return path


def print_summary(outcomes: list[Outcome], profile: str = config.DEFAULT_PROFILE) -> None:
    """Counts, one line per notebook, and for stale notebooks their run folders and the
    command that retrains them."""
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "cached", "failed")}
    stale = [o for o in outcomes if o.stale]
    print(f"\nworkbook: {counts['ok']} ran, {counts['cached']} cached, {counts['failed']} failed"
          + (f", {len(stale)} stale" if stale else ""))
    for o in outcomes:
        mark = {"ok": "✓", "cached": "·", "failed": "✗"}[o.status]
        extra = f" ({o.seconds:.1f} s)" if o.status == "ok" else (f" — {o.error}" if o.error else "")
        print(f"  {mark} {o.id}: {o.status}{extra}" + (" — STALE" if o.stale else ""))
    if stale:
        print(f"\n⚠ {len(stale)} notebook(s) used trained runs whose code has changed since (their results "
              "are not those of the current code):")
        for o in stale:
            print(f"  {o.id}:")
            for r in o.stale:
                print(f"    {describe_run(r)}")
        print("  retrain those runs and rerun the notebooks that read them:\n    "
              + retrain_command(profile, [o.id for o in stale]))
