"""The notebook side of the workbook: one ``Run`` per executed notebook.

A notebook calls :func:`start` right after its ``parameters`` cell. The returned ``Run``
fixes seeds, resolves the device, owns the output folder and is the only way a notebook
writes artifacts: tables (CSV + Markdown), figures (PNG) and claim verdicts. ``finish()``
writes ``_run.json`` (artifacts, claims, the ``aulib`` modules the kernel imported and the
inputs it read, the cached training runs it read back), which the runner uses for the
manifest, the index and the cache key.

When the runner executes a notebook it passes ``output_dir`` (a staging folder that is
moved into ``results/<profile>/<paper>/`` only when the whole notebook succeeded). Run by
hand, a notebook writes to ``results/<profile>/_interactive/<paper>/`` so it never mixes
with the runner's results.

What a notebook shows: each writer shows what it wrote once and returns ``None``, so a cell
ending in ``run.table(...)`` / ``run.figure(...)`` / ``run.claim(...)`` / ``run.finish()``
has no ``Out[n]`` echo (no second copy of a table, no ``PosixPath`` repr, no record dict).
Paths a notebook shows are the final ones (``Run.final_dir``), never the staging folder,
which the runner deletes.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .. import config
from ..eval.claims import Claim, verdict as _verdict

RUN_RECORD = "_run.json"
STAGING = ".staging"   # the runner stages a run in results/<profile>/.staging/<notebook id>/


class Run:
    """Context of one notebook execution (see module docstring)."""

    def __init__(self, notebook: str, profile: str, seed: int, device: str, output_dir: str,
                 params: dict | None = None):
        self.notebook = notebook
        self.profile = config.check_profile(profile)
        self.seed = int(seed)
        self.device = config.resolve_device(device)
        self.paper = notebook.split("/")[0]
        if output_dir:
            self.out = Path(output_dir)
        else:
            self.out = config.results_root() / self.profile / "_interactive" / self.paper
        self.out.mkdir(parents=True, exist_ok=True)
        self.final_dir = _final_dir(self.out, notebook, self.paper)
        self.params = dict(params or {})
        self.artifacts: list[dict] = []
        self.claims: list[Claim] = []
        self.started = time.time()
        config.seed_everything(self.seed)

    # -- artifacts ---------------------------------------------------------------------
    def _record(self, kind: str, name: str, files: list[Path], caption: str) -> None:
        # a re-run cell replaces its artifact; a table and a figure may share a name (own files)
        self.artifacts = [a for a in self.artifacts if (a["kind"], a["name"]) != (kind, name)]
        self.artifacts.append({"kind": kind, "name": name, "caption": caption,
                               "files": [f.name for f in files]})

    def table(self, df, name: str, caption: str = "", index: bool = False, display: bool = True,
              floatfmt: str = ".1f") -> None:
        """Write ``df`` as ``<name>.csv`` and ``<name>.md``; show it once (caption, then the
        table) unless ``display=False``. Returns None, so a cell ending here has no echo."""
        _check_name(name)
        csv_path, md_path = self.out / f"{name}.csv", self.out / f"{name}.md"
        df.to_csv(csv_path, index=index)
        md = df.to_markdown(index=index, floatfmt=floatfmt)
        md_path.write_text((f"**{caption}**\n\n" if caption else "") + md + "\n")
        self._record("table", name, [csv_path, md_path], caption)
        if display:
            _display(df, caption)

    def figure(self, fig, name: str, caption: str = "", dpi: int = 110, display: bool = True) -> None:
        """Save a matplotlib figure as ``<name>.png``, show it once unless ``display=False``,
        close it. Returns None (the file is ``final_dir / f"{name}.png"`` once the run ends)."""
        _check_name(name)
        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        self._record("figure", name, [path], caption)
        if display:
            _display_png(path, caption or name)
        import matplotlib.pyplot as plt

        plt.close(fig)

    def file(self, path: str | os.PathLike, caption: str = "") -> None:
        """Register an extra file already written into ``self.out`` (e.g. predictions).
        Returns None; the file ends up in ``final_dir``. Raises ValueError outside ``out``."""
        p = Path(path)
        if p.parent.resolve() != self.out.resolve():
            raise ValueError(f"artifact {p} must be written inside the run folder {self.out}")
        self._record("file", p.stem, [p], caption)

    # -- claims ------------------------------------------------------------------------
    def claim(self, claim: str, holds: bool | None, evidence: str, source: str = "",
              **numbers) -> None:
        """Record a paper's claim with the verdict computed from this run's numbers (shown
        by ``finish()`` in the claims table; ``self.claims`` holds them). Returns None."""
        c = Claim(claim=claim, verdict=_verdict(holds), evidence=evidence, source=source,
                  numbers={k: _jsonable(v) for k, v in numbers.items()})
        self.claims.append(c)

    def claims_table(self):
        import pandas as pd

        return pd.DataFrame([{"claim": c.claim, "verdict": c.verdict, "evidence": c.evidence,
                              "source": c.source} for c in self.claims])

    # -- end ---------------------------------------------------------------------------
    def finish(self) -> None:
        """Write the run record (``_run.json``), show the claims table and one line saying
        how many tables / figures / files were saved and in which folder (the final one,
        ``final_dir``); call it in the notebook's last cell. Returns None."""
        modules = sorted(m for m, mod in sys.modules.items()
                         if (m == "aulib" or m.startswith("aulib.")) and mod is not None
                         and getattr(mod, "__file__", None))
        record = {
            "notebook": self.notebook, "profile": self.profile, "seed": self.seed,
            "device": self.device, "params": {k: _jsonable(v) for k, v in self.params.items()},
            "artifacts": self.artifacts, "claims": [c.to_dict() for c in self.claims],
            "aulib_modules": modules, "inputs": config.noted_inputs(),
            "runs": config.noted_runs(),  # cached training runs read back (aulib.train.recipes)
            "seconds": round(time.time() - self.started, 2),
        }
        tmp = self.out / (RUN_RECORD + ".tmp")
        tmp.write_text(json.dumps(record, indent=2, default=str))
        os.replace(tmp, self.out / RUN_RECORD)
        if self.claims:
            _display(self.claims_table(), "Claims tested by this notebook")
        print(_saved_line(self.artifacts, self.final_dir))


def start(notebook: str, profile: str = config.DEFAULT_PROFILE, seed: int = 0,
          device: str = "auto", output_dir: str = "", **params) -> Run:
    """Begin a notebook run: validate the profile and device, seed, prepare the output folder.

    ``notebook`` is the notebook's id (``<paper>/<stem>``, as ``python -m aulib.workbook
    list`` shows). Extra keyword arguments are recorded as the run's parameters.
    """
    all_params = dict(profile=profile, seed=seed, device=device, **params)
    return Run(notebook, profile, seed, device, output_dir, all_params)


def choices(parameter: str, value: str, valid) -> list[str]:
    """The items of a comma-list notebook parameter (``"drml, megraph"`` -> ``["drml",
    "megraph"]``; empty -> ``[]``), each checked against ``valid``: an unknown item raises a
    ValueError naming the parameter and the valid items."""
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    unknown = [v for v in items if v not in valid]
    if unknown:
        raise ValueError(f"parameter {parameter}: unknown {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(valid)}")
    return items


def select_folds(folds: list, n_folds: int, only_fold: int = 0) -> list:
    """The folds a notebook runs: the first ``n_folds`` of ``folds`` when ``only_fold`` is 0, else
    fold number ``only_fold`` (1-based) alone - what one cluster job per fold trains into the shared
    run cache before the whole notebook runs (``[slurm] split = "fold"``, :mod:`.slurm`).

    Raises:
        ValueError: ``only_fold`` is not 0 or one of 1 .. ``n_folds`` (names the valid values).
    """
    n = min(int(n_folds), len(folds))
    if only_fold == 0:
        return list(folds[:n])
    if not 1 <= int(only_fold) <= n:
        raise ValueError(f"parameter only_fold: {only_fold!r} is not a fold run here; valid: 0 (every fold) "
                         f"or 1 .. {n}")
    return [folds[int(only_fold) - 1]]


def _final_dir(out: Path, notebook: str, paper: str) -> Path:
    """The folder a run's files end up in: ``<results>/<profile>/<paper>`` when ``out`` is
    the runner's staging folder ``<results>/<profile>/.staging/<notebook id>``, else ``out``."""
    parts = Path(notebook).parts
    n = len(parts)
    if len(out.parts) > n + 1 and out.parts[-n:] == parts and out.parts[-n - 1] == STAGING:
        return Path(*out.parts[:-n - 1]) / paper
    return out


def _saved_line(artifacts: list[dict], folder: Path) -> str:
    counts = {}
    for a in artifacts:
        counts[a["kind"]] = counts.get(a["kind"], 0) + 1
    what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in counts.items()) or "nothing"
    try:
        shown = folder.resolve().relative_to(config.REPO_ROOT)
    except ValueError:
        shown = folder
    return f"Saved {what} in {shown}/"


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "/\\ ") or name.startswith("_"):
        raise ValueError(f"artifact name {name!r} must be a plain file stem "
                         "(no spaces, slashes, or leading underscore)")


def _jsonable(v):
    try:
        json.dumps(v)
        return v
    except TypeError:
        if hasattr(v, "item"):
            return v.item()
        return str(v)


def _display(df, caption: str = "") -> None:
    """The caption in bold (its plain text as the text/plain fallback), then the table."""
    try:
        from IPython.display import display

        if caption:
            display({"text/markdown": f"**{caption}**", "text/plain": caption}, raw=True)
        display(df)
    except ImportError:  # plain python
        print(caption)
        print(df)


def _display_png(path: Path, text: str) -> None:
    """Show the PNG just saved (so the notebook shows exactly the artifact), ``text`` as the
    text/plain fallback (not ``<Figure size ...>``); nothing outside IPython."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is not None:
        import base64

        display({"image/png": base64.b64encode(path.read_bytes()).decode("ascii"),
                 "text/plain": f"[figure: {text}]"}, raw=True)
