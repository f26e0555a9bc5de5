"""The paper check: every registered notebook at the ``paper`` profile's settings and shapes,
on stand-ins for the real data and the published weights, with the long loops cut to a handful.

    python -m aulib.workbook run --profile paper --check [--only GLOB] [--force] [-p NAME=VALUE]
    make paper-check

The ``paper`` profile is what a user with the licensed datasets and a GPU runs, and no other run
executes its code paths (the tests run ``smoke``, the default run is ``tiny``). The check runs
each notebook with the profile set to ``paper`` - so every ``if profile == "paper"`` branch, the
paper's backbones, input sizes, heatmap sizes, AU sets, folds and protocols, the data readers
and the weight loaders run - and changes only:

1. the generic cut :data:`CUT`, the one place that shortens loops (epochs, iterations, test
   frames, folds, seeds, batch size, and each paper's pre-training stages and unlabelled pools),
   applied to whichever of these a notebook declares;
2. ``data_root``, for a notebook whose ``[check]`` table names datasets: a folder of stand-ins (:mod:`aulib.papers.stand_ins`) - SynthAU
   at the paper's image size with a few frames (SynthAU's ``paper-check`` size set), linked under
   each real dataset's folder name so the real readers read it, and random-init weight files in
   the published formats (:mod:`aulib.models.weights`);
3. ``synth_profile``: ``paper`` becomes ``paper-check`` (same image size, a few frames);
4. what the notebook's sidecar asks for in its ``[check]`` table::

       [check]
       datasets = ["disfa", "bp4d"]          # real datasets it reads at paper: stand-ins are linked
       [check.files]                         # parameter -> stand-in file written for it
       stylegan_checkpoint = "stylegan2-ffhq-config-f"
       [check.params]                        # anything else it cuts (validated as -p values are)
       probe_frames = 24

A new notebook is picked up from the registry like every other; it needs a ``[check]`` table
only when it reads real datasets or published files at the paper profile.

Before any notebook runs, the check writes the stand-ins (cached) and prints which datasets and
files each notebook needs and whether they are found; then the runner executes the notebooks
(``results/check/paper/``, its own manifest, cache keys and ``index.md``; trained runs, aligned
faces and the rest of the cache under the stand-ins folder, never mixed with real paper runs).
Every executed notebook and the index open with :data:`BANNER`: the numbers are meaningless;
what passes is the path. ``manifest.json`` records the check (``paper_check``: when, commit,
passed, seconds per notebook), its last successful run (``last_success``) and each registered
notebook's latest result across partial checks (``by_notebook``, ``all_passed``).

The stand-ins folder is ``$AULIB_PAPER_CHECK_ROOT`` or ``<cache>/paper-check``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path

from .. import config
from .registry import Notebook, ParameterError, discover

#: The generic cut: notebook parameter -> value at the paper check. Only parameters a notebook
#: declares are set; everything else keeps the paper profile's value.
CUT = {
    "epochs": 1,               # training epochs
    "max_iters": 1,            # iterations per epoch (FG-Net notebooks)
    "max_iters_per_epoch": 1,  # iterations per epoch (tutorials)
    "batch_size": 2,           # 2, not 1: BatchNorm in training mode needs two samples
    "max_test_frames": 4,      # frames per test set
    "n_folds": 1,              # folds run of the protocol's three
    "seeds": "0",              # one training seed
    "keep_last": False,        # delete a completed run's last.pt (optimizer state; most of a paper FG-Net run's ~4.8 GB)
    "n_seeds": 1,              # training seeds per row (GLEE-Net)
    # pre-training and extra stages, each cut to one short epoch
    "identity_epochs": 1,      # GLEE-Net: identity pre-training
    "pretrain_epochs": 1,      # GLEE-Net: triplet pre-training
    "max_triplets": 8,         # GLEE-Net: training triplets (0 = all)
    "pre_epochs": 1,           # Shang & Yu: landmark-branch pre-training epochs
    "pre_iters": 1,            # Shang & Yu: its iterations per epoch (0 = all)
    "n_unlabeled": 8,          # Shang & Yu: unlabelled EmotioNet images (0 = all)
    "max_frames": 8,           # Shang & Yu: source training frames and each evaluation set (0 = all)
    "stage1_epochs": 1,        # PIAP-DF: DW-UNet (PI Generator 0)
    "p_epochs": 1,             # PIAP-DF: Encoder P
    "df_epochs": 1,            # PIAP-DF: discrete feedback
    "toy_epochs": 1,           # PIAP-DF: the landmark toy case
    "max_unlabelled": 8,       # PIAP-DF: unlabelled pool (0 = all)
}
#: SynthAU's size set for the check (aulib.synth.store.CHECK_PROFILE; a test keeps them equal)
SYNTH_CHECK = "paper-check"
PROFILE = "paper"
RESULTS_SUBDIR = "check"
CHECK_KEYS = {"datasets", "files", "params"}
BANNER = ("**Paper check — the numbers here are meaningless.** This ran at the `paper` profile's "
          "settings and shapes on stand-ins: SynthAU at the paper's image size with a few frames in place of the "
          "real datasets, randomly initialised files in the published formats in place of the published weights, "
          "and one short epoch per run (`aulib.workbook.papercheck`). What passing proves is that every paper-only "
          "code path runs to its end.")
BANNER_TAG = "paper-check-banner"


def check_root() -> Path:
    """The stand-ins folder: ``$AULIB_PAPER_CHECK_ROOT`` or ``<cache>/paper-check``."""
    env = os.environ.get("AULIB_PAPER_CHECK_ROOT")
    if env:
        path = Path(env).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return config.cache_dir("paper-check")


def check_table(nb: Notebook) -> dict:
    """The ``[check]`` table of a notebook's sidecar, validated: ``{"datasets": [...],
    "files": {param: stand-in}, "params": {...}}`` (empty parts when absent).

    Raises:
        ParameterError: an unknown key, a ``files`` entry for a parameter the notebook does not
            declare, or values of the wrong kind.
    """
    meta = tomllib.loads(nb.sidecar.read_text()).get("check", {})
    unknown = set(meta) - CHECK_KEYS
    if unknown:
        raise ParameterError(f"{nb.sidecar}: unknown key(s) {sorted(unknown)} in [check]; valid: "
                             f"{', '.join(sorted(CHECK_KEYS))} (see aulib.workbook.papercheck)")
    datasets, files, params = meta.get("datasets", []), meta.get("files", {}), meta.get("params", {})
    if not (isinstance(datasets, list) and all(isinstance(d, str) for d in datasets)):
        raise ParameterError(f"{nb.sidecar}: [check] datasets must be a list of dataset names, got {datasets!r}")
    if not isinstance(files, dict) or not isinstance(params, dict):
        raise ParameterError(f"{nb.sidecar}: [check.files] and [check.params] must be tables")
    declared = nb.parameters()
    for param, stand_in in files.items():
        if param not in declared:
            raise ParameterError(f"{nb.sidecar}: [check.files] names parameter {param!r}, which {nb.id} does "
                                 f"not declare; its parameters: {', '.join(declared)}")
        if not isinstance(stand_in, str):
            raise ParameterError(f"{nb.sidecar}: [check.files] {param} must name a stand-in file, got {stand_in!r}")
    return {"datasets": list(datasets), "files": dict(files), "params": dict(params)}


def needs(notebooks: list[Notebook]) -> dict:
    """Every stand-in the notebooks ask for: ``{"datasets": [...], "files": [...]}`` (sorted)."""
    ds, fs = set(), set()
    for nb in notebooks:
        t = check_table(nb)
        ds.update(t["datasets"])
        fs.update(t["files"].values())
    return {"datasets": sorted(ds), "files": sorted(fs)}


def cut_for(nb: Notebook) -> dict:
    """The loops the check cuts in ``nb``: :data:`CUT`'s values for the parameters it declares,
    then its ``[check.params]``. The comparison (``compare/00``, run by the check with
    ``check_cut=true``) gives each paper notebook's set-up this cut, so its runs are the check's."""
    declared = nb.parameters()
    return {**{k: v for k, v in CUT.items() if k in declared}, **check_table(nb)["params"]}


def check_overrides(nb: Notebook, root: Path, stand_ins: dict, extra: dict | None = None) -> dict:
    """The parameter values the check gives ``nb`` on top of its paper profile (see the module
    docstring): :data:`CUT`, ``data_root``, ``synth_profile``, ``[check.files]`` (paths from
    ``stand_ins["files"]``), ``[check.params]``, then ``extra`` (the command line's ``-p``)."""
    declared = nb.parameters()
    table = check_table(nb)
    paper = nb.resolve(PROFILE)
    out = {k: v for k, v in CUT.items() if k in declared}
    if table["datasets"] and "data_root" in declared:
        out["data_root"] = str(root)
    if paper.get("synth_profile") == PROFILE:
        out["synth_profile"] = SYNTH_CHECK
    for param, stand_in in table["files"].items():
        out[param] = stand_ins["files"][stand_in]
    out.update(table["params"])
    out.update(extra or {})
    nb.resolve(PROFILE, out)          # every value validated now, before anything runs
    return out


def _stand_ins(root: Path, need: dict, write: bool) -> dict:
    """Write (``write``) or only locate the stand-ins in a subprocess (it imports torch; this
    process never does). Returns ``{"datasets": {name: path}, "files": {name: path}}``."""
    code = ("import json, sys; from aulib.papers import stand_ins as s; "
            f"print(json.dumps(s.{'prepare' if write else 'locate'}(sys.argv[1], "
            "[x for x in sys.argv[2].split(',') if x], [x for x in sys.argv[3].split(',') if x])))")
    out = subprocess.run([sys.executable, "-c", code, str(root), ",".join(need["datasets"]),
                          ",".join(need["files"])], capture_output=True, text=True, cwd=config.REPO_ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"the paper check could not {'write' if write else 'locate'} its stand-ins in {root}:\n"
                           + out.stderr.strip()[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(notebooks: list[Notebook], stand_ins: dict) -> tuple[list[str], list[str]]:
    """Lines saying, per notebook, which datasets and files it needs and whether each is found;
    and the list of missing ones (``"<notebook>: dataset bp4d (<path>)"``)."""
    lines, missing = [], []
    for nb in notebooks:
        t = check_table(nb)
        items = [("dataset", d, stand_ins["datasets"][d]) for d in t["datasets"]]
        items += [(f"file {p}=", f, stand_ins["files"][f]) for p, f in t["files"].items()]
        if not items:
            lines.append(f"  {nb.id}: no datasets or files")
            continue
        lines.append(f"  {nb.id}:")
        for kind, name, path in items:
            found = Path(path).exists()
            lines.append(f"    {'found  ' if found else 'MISSING'} {kind}{name}  {path}" if kind.endswith("=")
                         else f"    {'found  ' if found else 'MISSING'} {kind} {name}  {path}")
            if not found:
                missing.append(f"{nb.id}: {kind.rstrip('=')} {name} ({path})")
    return lines, missing


def add_banner(path: Path) -> None:
    """Put :data:`BANNER` as the first cell of an executed notebook (once)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    if nb.cells and BANNER_TAG in nb.cells[0].get("metadata", {}).get("tags", []):
        return
    cell = nbformat.v4.new_markdown_cell("> ⚠ " + BANNER, metadata={"tags": [BANNER_TAG]})
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        cell.pop("id", None)        # cell ids exist from nbformat 4.5 on
    nb.cells.insert(0, cell)
    nbformat.write(nb, str(path))


def _label_results(results: Path, notebooks: list[Notebook], outcomes, seconds: float, passed: bool,
                   only: str | None, registered=()) -> None:
    """Banner in every executed notebook and in ``index.md``; ``paper_check`` in the manifest
    (this run, and ``last_success``: the latest run that passed, ``complete`` when it ran every
    registered notebook; ``by_notebook``: each registered notebook's latest result across
    checks, :func:`merge_by_notebook`; ``all_passed``: every one of them has passed)."""
    from .runner import _write_atomic, git_commit, load_manifest

    for nb in notebooks:
        for name in (f"{nb.stem}.ipynb", f"{nb.stem}.failed.ipynb"):
            p = results / nb.paper / name
            if p.is_file():
                add_banner(p)
    index = results / "index.md"
    if index.is_file():
        text = index.read_text()
        if BANNER not in text:
            lines = text.splitlines()
            _write_atomic(index, "\n".join(lines[:1] + ["", "> ⚠ " + BANNER] + lines[1:]) + "\n")
    manifest = load_manifest(results)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = {"finished": now, "git_commit": git_commit(), "passed": passed, "seconds": round(seconds, 1),
              "notebooks": {o.id: {"status": o.status, "seconds": o.seconds, **({"error": o.error} if o.error else {})}
                            for o in outcomes},
              "selected": only or "all registered notebooks", "complete": not only, "cut": CUT, "note": BANNER}
    earlier = manifest.get("paper_check", {})
    by_notebook = merge_by_notebook(earlier.get("by_notebook", {}), outcomes, now, record["git_commit"],
                                    registered, manifest.get("notebooks", {}))
    all_passed = (bool(by_notebook) and set(registered) <= set(by_notebook)
                  and all(e["status"] != "failed" for e in by_notebook.values()))
    manifest["paper_check"] = dict(record, last_success=record if passed else earlier.get("last_success"),
                                   by_notebook=by_notebook, all_passed=all_passed)
    _write_atomic(results / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))


def merge_by_notebook(earlier: dict, outcomes, finished: str, commit: str, registered,
                      executed: dict | None = None) -> dict:
    """Each registered notebook's latest paper-check result, kept across checks of parts of the
    workbook (``--only``; e.g. FG-Net on a GPU machine, the rest on CPU): ``{id: {"status",
    "seconds", "finished", "git_commit"[, "error"]}}``. A notebook the check found cached keeps
    its earlier entry, or else the one of its execution in the check's manifest (``executed``:
    the manifest's ``notebooks``); notebooks no longer registered are dropped."""
    out = {k: v for k, v in earlier.items() if k in set(registered)}
    for o in outcomes:
        if o.status == "cached" and o.id in out:
            continue
        done = (executed or {}).get(o.id, {})
        if o.status == "cached" and done.get("status") == "ok":
            out[o.id] = {k: done.get(k) for k in ("status", "seconds", "finished", "git_commit")}
            continue
        out[o.id] = {"status": o.status, "seconds": round(o.seconds, 1), "finished": finished, "git_commit": commit,
                     **({"error": o.error[:300]} if o.error else {})}
    return dict(sorted(out.items()))


def run_check(only: str | None = None, jobs: int = 1, force: bool = False, overrides: dict | None = None,
              notebooks_dir: Path | None = None, results: Path | None = None, root: Path | None = None,
              prepare: bool = True, timeout: int | None = None, quiet: bool = False):
    """Run the paper check (module docstring) over the selected notebooks; returns the runner's
    outcomes (a notebook that fails, or whose input is missing, has status ``failed``).

    ``root``: the stand-ins folder (default :func:`check_root`); ``prepare=False`` uses it as it
    is (nothing written: missing inputs are reported, and the notebooks' own input checks then
    fail); ``results``: the results root (default ``<results>/check``, so the executed
    notebooks are in ``<results>/check/paper/``).

    Raises:
        ParameterError: a ``[check]`` table or a cut value does not fit a notebook (before anything runs).
    """
    from .runner import run, select

    t0 = time.time()
    root = (Path(root) if root is not None else check_root()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    results_root = Path(results) if results is not None else config.results_root() / RESULTS_SUBDIR
    registered = discover(notebooks_dir)
    chosen = select(registered, only)
    need = needs(chosen)
    stand_ins = _stand_ins(root, need, write=prepare)
    per_nb = {nb.id: check_overrides(nb, root, stand_ins, overrides) for nb in chosen}
    lines, missing = report(chosen, stand_ins)
    if not quiet:
        print(f"paper check: {len(chosen)} notebook(s) at the paper profile's shapes on stand-ins in {root}",
              file=sys.stderr)
        print("\n".join(lines), file=sys.stderr)
        if missing:
            print(f"  {len(missing)} input(s) missing: the notebooks' own input checks will say so", file=sys.stderr)
    with config.environ({"AULIB_CACHE": str(root / "cache")}):
        outcomes = run(PROFILE, only, jobs, force, lambda nb: per_nb[nb.id], notebooks_dir, results_root,
                       timeout=timeout, quiet=quiet)
    passed = all(o.status != "failed" for o in outcomes)
    _label_results(results_root / PROFILE, chosen, outcomes, time.time() - t0, passed, only,
                   [nb.id for nb in registered])
    if not quiet:
        print(f"\npaper check {'passed' if passed else 'FAILED'} in {time.time() - t0:.0f} s; the numbers are "
              f"meaningless (stand-ins) - results in {results_root / PROFILE}", file=sys.stderr)
    return outcomes
