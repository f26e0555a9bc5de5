"""Benchmarks of the runner itself: overhead of executing and of skipping a notebook."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from . import register

_PARAMS = ('profile: str = "tiny"  # profile\nseed: int = 0  # seed\n'
           'device: str = "cpu"  # device\noutput_dir: str = ""  # set by the runner\n')
_BODY = ('from aulib.workbook import start\nrun = start("bench/empty", profile=profile, seed=seed, '
         'device=device, output_dir=output_dir)\nimport pandas as pd\n'
         'run.table(pd.DataFrame({"a": [1]}), "empty_table")\nrun.finish()\n')


@register("workbook.runner_overhead")
def runner_overhead(quick: bool) -> list[dict]:
    """Seconds to execute an empty notebook (kernel start + aulib import) and to skip it."""
    import nbformat

    from ..workbook import runner

    with tempfile.TemporaryDirectory() as tmp:
        nbdir = Path(tmp) / "notebooks" / "bench"
        nbdir.mkdir(parents=True)
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        p = nbformat.v4.new_code_cell(_PARAMS)
        p.metadata["tags"] = ["parameters"]
        nb.cells = [p, nbformat.v4.new_code_cell(_BODY)]
        nbformat.write(nb, nbdir / "empty.ipynb")
        (nbdir / "empty.toml").write_text('title = "empty"\n')
        results = Path(tmp) / "results"
        t0 = time.perf_counter()
        runner.run("smoke", notebooks_dir=nbdir.parent, results=results, quiet=True)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        outcome = runner.run("smoke", notebooks_dir=nbdir.parent, results=results, quiet=True)
        cached = time.perf_counter() - t0
    assert outcome[0].status == "cached"
    return [{"name": "execute empty notebook", "value": cold, "unit": "s"},
            {"name": "skip cached notebook", "value": cached, "unit": "s"}]
