"""The data check that ``make workbook PROFILE=paper`` runs before any notebook trains.

``python -m aulib.workbook run --profile paper`` (without ``--check``) first asks, for the
selected notebooks, what they read at the paper profile — the datasets and published files
their sidecars' ``[check]`` tables name (:func:`.papercheck.check_table`, the same tables the
paper check reads) — and checks each real one:

- a dataset with ``python -m aulib.data check``'s checker (:func:`aulib.data.check.check`: the
  frame index, the ledger, file by file for DISFA / BP4D) under the notebook's ``data_root``
  (``$AULIB_DATA`` by default): **found** (every expected path ok), **incomplete** (some
  missing or mis-shaped: the first ones listed) or **missing** (the folder, with where to
  obtain the dataset);
- a published file given as a parameter (``-p stylegan_checkpoint=/w/...``): **found**, or
  **MISSING** (a path that does not exist), or **not set** (the notebook's own input check —
  FG-Net: :func:`aulib.papers.fgnet.check_inputs` — says whether it needs it, before its first
  training run), each with the published file's name and what it is
  (:data:`aulib.models.weights.PUBLISHED`).

When a dataset is missing or incomplete or a given file is missing, the run stops with the
report (exit status 2) before any notebook starts. The checks run in a subprocess (the readers
and the weights registry import torch; the workbook CLI does not).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .. import config
from .papercheck import PROFILE, check_table
from .registry import Notebook


def _real_checks(datasets: list[tuple[str, str]], files: list[str]) -> dict:
    """{"datasets": {"name|root": {status, path, bad: [...], obtain}}, "files": {name: {filename,
    description}}} from a subprocess."""
    code = r"""
import json, sys
from pathlib import Path
from aulib import config
from aulib.data.check import check
from aulib.data.catalog import info
from aulib.models.weights import PUBLISHED
datasets, files = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {"datasets": {}, "files": {}}
for name, root in datasets:
    d = info(name)
    path = config.data_root(root or None) / d.subfolder
    rep = check(name, path, verbose=False)
    bad = rep[rep.status != "ok"]
    status = "found" if bad.empty else ("missing" if not path.is_dir() else "incomplete")
    out["datasets"][name + "|" + root] = {"status": status, "path": str(path), "obtain": d.obtain,
        "bad": [f"{r.status}: {r.expected}" + (f" ({r.detail})" if r.detail else "") for r in bad.head(5).itertuples()],
        "n_bad": int(len(bad))}
for f in files:
    p = PUBLISHED.get(f)
    out["files"][f] = {"filename": p.filename if p else f, "description": p.description if p else ""}
print("@@PREFLIGHT@@" + json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(datasets), json.dumps(files)],
                          capture_output=True, text=True, cwd=config.REPO_ROOT)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@PREFLIGHT@@")]
    if proc.returncode != 0 or not line:
        raise RuntimeError("the paper profile's data check failed to run:\n" + proc.stderr.strip()[-3000:])
    return json.loads(line[0][len("@@PREFLIGHT@@"):])


def data_check(notebooks: list[Notebook], overrides: dict | None = None) -> tuple[list[str], list[str]]:
    """The report (lines) and the problems that stop the run (``"<notebook>: ..."``) for
    ``notebooks`` at the paper profile with the command line's ``overrides``."""
    plan, ds, fs = [], set(), set()
    for nb in notebooks:
        t = check_table(nb)
        params = nb.resolve(PROFILE, overrides)
        root = str(params.get("data_root") or "")
        plan.append((nb, t, params, root))
        ds.update((d, root) for d in t["datasets"])
        fs.update(t["files"].values())
    if not ds and not fs:
        return ["data check: the selected notebooks read no real datasets or published files"], []
    real = _real_checks(sorted(ds), sorted(fs))
    lines, problems = [f"data check (paper profile): what {len(notebooks)} notebook(s) read, before any training"], []
    for nb, t, params, root in plan:
        if not t["datasets"] and not t["files"]:
            continue
        lines.append(f"  {nb.id}:")
        for d in t["datasets"]:
            r = real["datasets"][f"{d}|{root}"]
            lines.append(f"    {r['status'].upper() if r['status'] != 'found' else 'found':10s} dataset {d}  {r['path']}")
            if r["status"] == "missing":
                lines.append(f"               obtain it: {r['obtain']}; then point AULIB_DATA (or -p data_root=) at "
                             "the folder holding it")
            for b in (r["bad"] if r["status"] == "incomplete" else []):
                lines.append(f"               {b}")
            if r["status"] == "incomplete" and r["n_bad"] > len(r["bad"]):
                lines.append(f"               … {r['n_bad'] - len(r['bad'])} more: python -m aulib.data check {d} {r['path']}")
            if r["status"] != "found":
                problems.append(f"{nb.id}: dataset {d} {r['status']} ({r['path']})")
        for param, name in t["files"].items():
            f, value = real["files"][name], str(params.get(param) or "")
            what = f"{f['filename']} — {f['description']}" if f["description"] else f["filename"]
            if not value:
                lines.append(f"    {'not set':10s} -p {param}=<path to {f['filename']}>  ({what}; the notebook's own "
                             "input check says whether it needs it)")
            elif Path(value).expanduser().is_file():
                lines.append(f"    {'found':10s} {param}={value}")
            else:
                lines.append(f"    {'MISSING':10s} {param}={value}: no such file (expected {what})")
                problems.append(f"{nb.id}: file {param}={value} not found")
    return lines, problems
