"""The notebook side of the workbook: one ``Run`` per executed notebook.

A notebook calls :func:`start` right after its ``parameters`` cell. The returned ``Run``
fixes seeds, resolves the device, owns the output folder and is the only way a notebook
writes artifacts: tables (CSV + Markdown), figures (PNG) and claim verdicts. ``finish()``
writes ``_run.json`` (artifacts, claims, the ``aulib`` modules the kernel imported and the
inputs it read), which the runner uses for the manifest, the index and the cache key.

When the runner executes a notebook it passes ``output_dir`` (a staging folder that is
moved into ``results/<profile>/<paper>/`` only when the whole notebook succeeded). Run by
hand, a notebook writes to ``results/<profile>/_interactive/<paper>/`` so it never mixes
with the runner's results.
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
              floatfmt: str = ".1f"):
        """Write ``df`` as ``<name>.csv`` and ``<name>.md``; show it in the notebook."""
        _check_name(name)
        csv_path, md_path = self.out / f"{name}.csv", self.out / f"{name}.md"
        df.to_csv(csv_path, index=index)
        md = df.to_markdown(index=index, floatfmt=floatfmt)
        md_path.write_text((f"**{caption}**\n\n" if caption else "") + md + "\n")
        self._record("table", name, [csv_path, md_path], caption)
        if display:
            _display(df, caption)
        return df

    def figure(self, fig, name: str, caption: str = "", dpi: int = 110, display: bool = True):
        """Save a matplotlib figure as ``<name>.png`` and show it in the notebook."""
        _check_name(name)
        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        self._record("figure", name, [path], caption)
        if display:
            _display_figure(fig)
        import matplotlib.pyplot as plt

        plt.close(fig)
        return path

    def file(self, path: str | os.PathLike, caption: str = "") -> Path:
        """Register an extra file already written into ``self.out`` (e.g. predictions)."""
        p = Path(path)
        if p.parent.resolve() != self.out.resolve():
            raise ValueError(f"artifact {p} must be written inside the run folder {self.out}")
        self._record("file", p.stem, [p], caption)
        return p

    # -- claims ------------------------------------------------------------------------
    def claim(self, claim: str, holds: bool | None, evidence: str, source: str = "",
              **numbers) -> Claim:
        """Record a paper's claim with the verdict computed from this run's numbers."""
        c = Claim(claim=claim, verdict=_verdict(holds), evidence=evidence, source=source,
                  numbers={k: _jsonable(v) for k, v in numbers.items()})
        self.claims.append(c)
        return c

    def claims_table(self):
        import pandas as pd

        return pd.DataFrame([{"claim": c.claim, "verdict": c.verdict, "evidence": c.evidence,
                              "source": c.source} for c in self.claims])

    # -- end ---------------------------------------------------------------------------
    def finish(self) -> dict:
        """Write the run record and show the claims; call it in the notebook's last cell."""
        modules = sorted(m for m, mod in sys.modules.items()
                         if (m == "aulib" or m.startswith("aulib.")) and mod is not None
                         and getattr(mod, "__file__", None))
        record = {
            "notebook": self.notebook, "profile": self.profile, "seed": self.seed,
            "device": self.device, "params": {k: _jsonable(v) for k, v in self.params.items()},
            "artifacts": self.artifacts, "claims": [c.to_dict() for c in self.claims],
            "aulib_modules": modules, "inputs": config.noted_inputs(),
            "seconds": round(time.time() - self.started, 2),
        }
        tmp = self.out / (RUN_RECORD + ".tmp")
        tmp.write_text(json.dumps(record, indent=2, default=str))
        os.replace(tmp, self.out / RUN_RECORD)
        if self.claims:
            _display(self.claims_table(), "Claims tested by this notebook")
        return record


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
    try:
        from IPython.display import Markdown, display

        if caption:
            display(Markdown(f"**{caption}**"))
        display(df)
    except ImportError:  # plain python
        print(caption)
        print(df)


def _display_figure(fig) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(fig)
    except ImportError:
        pass
