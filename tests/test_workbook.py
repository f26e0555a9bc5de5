"""The runner: parameter validation, caching, failure handling, manifest, index, CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from aulib.workbook import registry, runner

PARAMS = '''profile: str = "tiny"  # smoke | tiny | paper
seed: int = 0  # random seed
device: str = "cpu"  # device
output_dir: str = ""  # set by the runner
n_rows: int = 3  # rows of the table
scale: float = 1.0  # a float knob
'''
BODY = '''import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from aulib.workbook import start
run = start("demo/{stem}", profile=profile, seed=seed, device=device, output_dir=output_dir)
df = pd.DataFrame({{"i": range(n_rows), "x": [scale * i for i in range(n_rows)]}})
run.table(df, "{stem}_table", caption="a table")
fig, ax = plt.subplots(); ax.plot(df.i, df.x)
run.figure(fig, "{stem}_figure", caption="a figure")
{extra}
run.claim("x grows with i", holds=bool(df.x.is_monotonic_increasing), evidence=str(df.x.tolist()))
run.finish()
'''


def write_notebook(folder, stem, extra="", profiles=None, after=(), params=""):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(PARAMS + params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {stem}"), p,
                nbformat.v4.new_code_cell(BODY.format(stem=stem, extra=extra))]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{stem}.ipynb")
    profiles = profiles or {"smoke": {"n_rows": 2}, "tiny": {"n_rows": 4}}
    lines = [f'title = "{stem} demo"', f"after = {list(after)!r}".replace("'", '"')]
    for prof, vals in profiles.items():
        lines.append(f"[profiles.{prof}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in vals.items()]
    (folder / f"{stem}.toml").write_text("\n".join(lines) + "\n")


@pytest.fixture
def tree(tmp_path):
    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    write_notebook(nbdir / "demo", "good")
    write_notebook(nbdir / "demo", "bad", extra='raise RuntimeError("deliberate failure")')
    return nbdir, results


# -- parameters ---------------------------------------------------------------------------
def test_parameters_are_read_with_types_and_help(tree):
    nbdir, _ = tree
    nb = {n.id: n for n in registry.discover(nbdir)}["demo/good"]
    params = nb.parameters()
    assert params["n_rows"] == {"type": "int", "default": 3, "help": "rows of the table"}
    assert nb.resolve("smoke")["n_rows"] == 2 and nb.resolve("tiny")["n_rows"] == 4
    assert nb.resolve("tiny", {"n_rows": 9})["n_rows"] == 9
    assert nb.resolve("smoke", {"scale": 2})["scale"] == 2  # int is a valid float


def test_unknown_parameter_names_the_valid_ones(tree):
    nbdir, _ = tree
    nb = {n.id: n for n in registry.discover(nbdir)}["demo/good"]
    with pytest.raises(registry.ParameterError) as e:
        nb.resolve("smoke", {"n_row": 5})
    msg = str(e.value)
    assert "unknown parameter 'n_row'" in msg and "did you mean 'n_rows'" in msg
    assert "n_rows: int" in msg and "scale: float" in msg
    with pytest.raises(registry.ParameterError) as e:   # declared by another selected notebook only
        nb.resolve("smoke", {"n_frames": 30})
    assert "unknown parameter 'n_frames'" in str(e.value) and "narrow --only" in str(e.value)


def test_wrong_type_is_refused(tree):
    nbdir, _ = tree
    nb = {n.id: n for n in registry.discover(nbdir)}["demo/good"]
    with pytest.raises(registry.ParameterError, match="must be int, got str"):
        nb.resolve("smoke", {"n_rows": "five"})
    with pytest.raises(registry.ParameterError, match="must be int, got bool"):
        nb.resolve("smoke", {"n_rows": True})


def test_bad_sidecar_profile_is_refused_before_running(tmp_path):
    write_notebook(tmp_path / "demo", "typo", profiles={"smoke": {"nrows": 1}})
    nb = registry.discover(tmp_path)[0]
    with pytest.raises(registry.ParameterError, match="profile 'smoke' in typo.toml"):
        nb.resolve("smoke")
    with pytest.raises(ValueError, match="valid profiles are smoke, tiny, paper"):
        nb.resolve("huge")


def test_dependencies_order_notebooks(tmp_path):
    write_notebook(tmp_path / "p", "b_second", after=["p/z_first"])
    write_notebook(tmp_path / "p", "z_first")
    assert [n.id for n in registry.discover(tmp_path)] == ["p/z_first", "p/b_second"]


# -- running --------------------------------------------------------------------------------
def test_failure_is_kept_others_complete_then_cache_and_rerun(tree):
    nbdir, results = tree
    outcomes = {o.id: o for o in runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True)}
    assert outcomes["demo/good"].status == "ok"
    assert outcomes["demo/bad"].status == "failed" and "deliberate failure" in outcomes["demo/bad"].error

    out = results / "smoke" / "demo"
    assert (out / "good_table.csv").read_text().splitlines()[0] == "i,x"
    assert (out / "good_figure.png").stat().st_size > 1000
    assert (out / "good.ipynb").is_file() and not (out / "bad.ipynb").exists()
    failed = nbformat.read(out / "bad.failed.ipynb", as_version=4)
    tracebacks = [o for c in failed.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
    assert tracebacks and tracebacks[0]["ename"] == "RuntimeError"
    assert not (results / "smoke" / ".staging").exists()

    manifest = json.loads((results / "smoke" / "manifest.json").read_text())
    good = manifest["notebooks"]["demo/good"]
    assert good["status"] == "ok" and good["params"]["n_rows"] == 2 and good["device"] == "cpu"
    assert {a["path"] for a in good["artifact_files"]} >= {"demo/good_table.csv", "demo/good_figure.png"}
    assert all(len(a["sha256"]) == 64 for a in good["artifact_files"])
    assert set(good["cache"]) == {"notebook", "sidecar", "params", "code", "data"}
    assert manifest["packages"]["torch"] != "not installed" and manifest["git_commit"]
    assert manifest["notebooks"]["demo/bad"]["status"] == "failed"

    index = (results / "smoke" / "index.md").read_text()
    assert "good_figure.png" in index and "| x grows with i | **holds** |" in index
    assert json.loads((out / "claims.json").read_text())[0]["verdict"] == "holds"

    # second run: the good one is cached, the bad one reruns (and fails again)
    again = {o.id: o.status for o in runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True)}
    assert again == {"demo/good": "cached", "demo/bad": "failed"}

    # a parameter change reruns; editing the notebook reruns
    assert runner.plan("smoke", "demo/good", {"n_rows": 5}, nbdir, results)[0][3] is False
    nb = nbformat.read(nbdir / "demo" / "good.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("an edit"))
    nbformat.write(nb, nbdir / "demo" / "good.ipynb")
    assert runner.plan("smoke", "demo/good", None, nbdir, results)[0][3] is False
    # --force reruns even when nothing changed
    assert runner.plan("smoke", "demo/bad", None, nbdir, results, force=True)[0][3] is False


def test_executed_notebook_names_its_final_folder_not_the_staging_one(tmp_path):
    """papermill's injected-parameters cell said output_dir = ".../.staging/<id>", a folder the runner
    deletes; the notebook moved into place names the folder its results are in."""
    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    write_notebook(nbdir / "demo", "good")
    (outcome,) = runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True)
    assert outcome.status == "ok"
    final = results / "smoke" / "demo"
    nb = nbformat.read(final / "good.ipynb", as_version=4)
    (injected,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert ".staging" not in injected.source and ".staging" not in json.dumps(nb.metadata["papermill"])
    values = {}
    exec(injected.source, values)      # the cell as a reader reruns it: the final folder, n_rows as run
    assert values["output_dir"] == str(final) and values["n_rows"] == 2 and values["profile"] == "smoke"
    assert nb.metadata["papermill"]["parameters"]["output_dir"] == str(final)
    assert nb.metadata["papermill"]["output_path"] == str(final / "good.ipynb")
    assert (final / "good_table.csv").is_file() and not (results / "smoke" / ".staging").exists()


def test_a_run_leaves_another_runs_staging_folder_alone(tmp_path):
    """Two `workbook run`s on one results folder: the one that ends first removed all of
    .staging, deleting the output folder of a notebook the other was still executing."""
    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    write_notebook(nbdir / "demo", "good")
    other = results / "smoke" / ".staging" / "other" / "03_running"
    other.mkdir(parents=True)
    (other / "partial.csv").write_text("a\n1\n")
    (outcome,) = runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True)
    assert outcome.status == "ok"
    assert (other / "partial.csv").read_text() == "a\n1\n"
    assert not (results / "smoke" / ".staging" / "demo").exists()


def test_code_digest_is_safe_from_several_threads():
    """CPython 3.11 raised 'AST constructor recursion depth mismatch' when the runner's
    status thread and its main loop parsed source at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    from aulib import config

    source = Path(runner.__file__).read_text()
    with ThreadPoolExecutor(8) as pool:
        digests = set(pool.map(lambda _: config.code_digest(source), range(64)))
    assert digests == {config.code_digest(source)}


def test_cli_exits_non_zero_with_a_summary(tree):
    nbdir, results = tree
    env = dict(os.environ, AULIB_NOTEBOOKS=str(nbdir), AULIB_RESULTS=str(results))
    proc = subprocess.run([sys.executable, "-m", "aulib.workbook", "run", "--profile", "smoke",
                           "--only", "demo/bad"], env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "0 ran, 0 cached, 1 failed" in proc.stdout
    assert "deliberate failure" in proc.stderr and "raise RuntimeError" in proc.stderr
    # the cell is counted as in the notebook (papermill's error marker cells left out)
    assert "✗ demo/bad failed in cell 4 of 4 (In [3]): RuntimeError: deliberate failure" in proc.stderr
    assert "✗ demo/bad: failed — RuntimeError: deliberate failure — in cell 4 of 4 (In [3])" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "aulib.workbook", "run", "--profile", "smoke",
                           "-p", "nrows=3"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown parameter 'nrows'" in proc.stderr
    listing = subprocess.run([sys.executable, "-m", "aulib.workbook", "list"], env=env,
                             capture_output=True, text=True)
    assert "demo/good" in listing.stdout and "demo/bad" in listing.stdout


def test_run_context_refuses_bad_names(tmp_path):
    from aulib.workbook import start

    run = start("demo/x", profile="smoke", device="cpu", output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="plain file stem"):
        run.table(None, "a/b")
    with pytest.raises(ValueError, match="verdict must be one of"):
        from aulib.eval.claims import Claim

        Claim("c", "maybe", "e")
    with pytest.raises(ValueError, match="unknown device"):
        start("demo/x", profile="smoke", device="tpu", output_dir=str(tmp_path))


def test_a_table_and_a_figure_may_share_a_name(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from aulib.workbook import start

    run = start("demo/x", profile="smoke", device="cpu", output_dir=str(tmp_path))
    run.table(pd.DataFrame({"a": [1.0]}), "gap", display=False)
    run.figure(plt.figure(), "gap", display=False)
    run.table(pd.DataFrame({"a": [2.0]}), "gap", display=False)      # a re-run cell replaces its own kind
    kinds = sorted((a["kind"], tuple(a["files"])) for a in run.artifacts)
    assert kinds == [("figure", ("gap.png",)), ("table", ("gap.csv", "gap.md"))]


def test_choices_reads_a_comma_list_parameter_and_names_the_valid_items():
    from aulib.workbook import choices

    assert choices("baselines", " drml, megraph ,", ["drml", "megraph", "ghfeat"]) == ["drml", "megraph"]
    assert choices("baselines", "", ["drml"]) == []
    with pytest.raises(ValueError, match=r"parameter baselines: unknown 'jaa'; valid: drml, megraph"):
        choices("baselines", "drml,jaa", ["drml", "megraph"])



# -- the command line's -p ------------------------------------------------------------------
def test_command_line_values_are_read_for_the_declared_type(tmp_path):
    """-p seeds=0,1 for a str parameter is the text "0,1" (it was the tuple (0, 1)), -p seeds=1
    is "1" (was int 1); int / float parameters read a Python literal; a wrong one says how -p reads."""
    write_notebook(tmp_path / "demo", "cli", params='seeds: str = "0"  # comma list of seeds\n')
    nb = registry.discover(tmp_path)[0]
    given = dict(registry.parse_override(t) for t in ["seeds=0,1", "n_rows=5", "scale=0.5", "device=cpu"])
    values = nb.resolve("smoke", given)
    assert (values["seeds"], values["n_rows"], values["scale"], values["device"]) == ("0,1", 5, 0.5, "cpu")
    assert type(values["seeds"]) is str and type(values["n_rows"]) is int
    assert nb.resolve("smoke", dict([registry.parse_override("seeds=1")]))["seeds"] == "1"
    with pytest.raises(registry.ParameterError, match=r"must be int, got str 'five' \(-p takes the text as "
                                                      r"written for a str parameter, else a Python literal"):
        nb.resolve("smoke", dict([registry.parse_override("n_rows=five")]))
    with pytest.raises(registry.ParameterError, match="-p expects NAME=VALUE"):
        registry.parse_override("seeds")


# -- a dead kernel ---------------------------------------------------------------------------
def test_a_dead_kernel_names_its_cell_and_says_memory(tmp_path):
    """A notebook that kills its own kernel (as the out-of-memory killer would), run through the
    CLI with -p seeds=0,1: the summary names the cell that was running and says what a dead
    kernel usually means, instead of 'cell ?'."""
    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    write_notebook(nbdir / "demo", "oom", params='seeds: str = "0"  # comma list of seeds\n',
                   extra='assert seeds == "0,1", seeds\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)')
    env = dict(os.environ, AULIB_NOTEBOOKS=str(nbdir), AULIB_RESULTS=str(results))
    proc = subprocess.run([sys.executable, "-m", "aulib.workbook", "run", "--profile", "smoke",
                           "-p", "seeds=0,1"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    # cells: title, parameters, papermill's injected parameters, the body (4 of 4)
    assert ("✗ demo/oom failed: the kernel died while cell 4 of 4 (In [3]) was running (DeadKernelError"
            in proc.stderr), proc.stderr
    assert "usually means it ran out of memory" in proc.stderr and "cell ?" not in proc.stderr
    assert "cell source:\n    import pandas as pd" in proc.stderr and "… (3 more lines)" in proc.stderr
    assert "AssertionError" not in proc.stderr          # seeds reached the kernel as the text "0,1"
    manifest = json.loads((results / "smoke" / "manifest.json").read_text())
    assert "kernel died while cell 4 of 4" in manifest["notebooks"]["demo/oom"]["error"]
    assert (results / "smoke" / "demo" / "oom.failed.ipynb").is_file()


# -- the status line of a running notebook --------------------------------------------------
def test_status_line_shows_the_cell_the_kernels_progress_bar_elapsed_and_last_run(tmp_path, monkeypatch, capsys):
    """While a notebook runs, the runner shows its cell, the tqdm bar inside it (a widget in the
    kernel), the elapsed time and the last run's duration from the manifest."""
    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    write_notebook(nbdir / "demo", "slow", extra=(
        "from tqdm.auto import tqdm\nimport time\nfor i in tqdm(range(8), desc='steps'):\n    time.sleep(0.5)"))
    (results / "smoke").mkdir(parents=True)
    (results / "smoke" / "manifest.json").write_text(json.dumps(
        {"notebooks": {"demo/slow": {"status": "ok", "seconds": 754.0}}}))
    monkeypatch.setattr(runner, "STATUS_EVERY_LOG", 0.2)     # stderr is not a terminal here
    out = runner.run("smoke", notebooks_dir=nbdir, results=results)
    assert [o.status for o in out] == ["ok"]
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("  … demo/slow")]
    bars = [ln for ln in lines if "steps:" in ln]
    assert bars, lines
    assert "· cell 4/4 `import pandas as pd` · steps:" in bars[-1]
    assert any(f"/8 [" in ln for ln in bars) and "elapsed, last run 12:34" in bars[-1]


def test_watch_snapshots_reach_the_main_process_through_a_file(tmp_path):
    """A notebook in a worker process (--jobs > 1): its watch writes snapshots the runner reads."""
    from aulib.workbook import progress

    path = tmp_path / ".w.watch.json"
    w = progress.Watch("demo/x", path)
    w.cells = 5
    w.cell_started(nbformat.v4.new_code_cell("# a comment\nexp.train_on('disfa', fold)"), 2)
    hbox = {"_model_name": "HBoxModel", "children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]}
    for cid, state in (("l", {"_model_name": "HTMLModel", "value": "epoch\u20071/8:\u2007\u200750%"}),
                       ("p", {"_model_name": "FloatProgressModel", "value": 5, "max": 10}),
                       ("r", {"_model_name": "HTMLModel", "value": "\u20075/10\u2007[00:05&lt;00:05]"}),
                       ("h", hbox)):
        w.comm({"msg_type": "comm_open", "content": {"comm_id": cid, "data": {"state": state}}})
    w._written = 0.0
    w.write("a print\rlast line\n")
    snap = progress.read_snapshot(path)
    assert snap == {"notebook": "demo/x", "cell": 3, "cells": 5, "source": "exp.train_on('disfa', fold)",
                    "bars": ["epoch 1/8: 50%| 5/10 [00:05<00:05]"], "text": "last line"}
    line = progress.status_line(snap, "demo/x", 75, None)
    assert line == ("demo/x · cell 3/5 `exp.train_on('disfa', fold)` · epoch 1/8: 50%| 5/10 [00:05<00:05]"
                    " · 1:15 elapsed, no earlier run")
    w.comm({"msg_type": "comm_close", "content": {"comm_id": "h", "data": {}}})   # leave=False: closed
    assert w.bars() == [] and "last line" in progress.status_line(w.snapshot(), "demo/x", 3700, 10)


# -- stale runs -------------------------------------------------------------------------------
TINY_MODEL = '''"""A linear AU detector registered for the stale-run test."""
import torch
from torch import nn

from aulib.models.registry import register


class Items(torch.utils.data.Dataset):
    aus = ["AU1"]

    def __init__(self, n=16):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(n, 3, 2, 2, generator=g), (torch.rand(n, 1, generator=g) > 0.5).float()
        self.subjects = [f"s{i % 2}" for i in range(n)]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"image": self.x[i], "au": self.y[i], "au_mask": torch.ones(1), "subject": self.subjects[i],
                "index": i}


class Tiny(nn.Module):
    def __init__(self, aus):
        super().__init__()
        self.aus = list(aus)
        self.fc = nn.Linear(12, len(self.aus))

    def forward(self, x):
        return self.fc(x.flatten(1)) * 1.0  # SCALE


@register("w1_tiny", output="logits (B, n_aus)")
def build(aus=("AU1",)):
    """Build it."""
    return Tiny(aus)
'''
TRAIN = '''import sys
sys.path.insert(0, {folder!r})
import w1_tiny_model
from aulib.train import TrainConfig
from aulib.train.recipes import cached_fit
cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, device="cpu", loss="bce", progress=False)
ds = w1_tiny_model.Items()
frames = pd.DataFrame({{"path": [f"f{{i}}" for i in range(len(ds))]}})
model, res, run_dir = cached_fit("w1_tiny", {{"aus": ["AU1"]}}, ds, None, cfg, profile, "w1", frames)'''


def test_a_run_trained_by_older_code_marks_its_notebook_stale_until_retrained(tmp_path, monkeypatch, capsys):
    """Issue 17: edit the code of a run's model (not a comment), rerun: the notebook is stale in
    the manifest, index.md (tables, figures, claims), claims.json, the summary and `status`;
    --retrain-stale retrains that run and clears the mark; a comment / docstring edit marks nothing."""
    nbdir, results, models = tmp_path / "notebooks", tmp_path / "results", tmp_path / "models"
    models.mkdir()
    source = models / "w1_tiny_model.py"
    source.write_text(TINY_MODEL)
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))
    write_notebook(nbdir / "demo", "trainer", extra=TRAIN.format(folder=str(models)))
    manifest_of = lambda: json.loads((results / "smoke" / "manifest.json").read_text())  # noqa: E731

    def index_lines(word):
        return [ln for ln in (results / "smoke" / "index.md").read_text().splitlines() if word in ln]

    assert [o.status for o in runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True)] == ["ok"]
    entry = manifest_of()["notebooks"]["demo/trainer"]
    (run,) = entry["runs"]
    run_dir = run["run"]
    assert run_dir.startswith(str(tmp_path / "cache" / "runs" / "smoke" / "w1")) and run["model"] == "w1_tiny"
    assert set(run["code"]) == {str(source), "aulib/models/registry.py", "aulib/train/loop.py",
                                "aulib/train/losses.py", "aulib/models/common.py"}
    assert run["code_now"] == run["code"] and run["trained"] and not entry["stale"] and entry["stale_runs"] == []

    # a comment and a docstring edit: still current, the notebook stays cached
    source.write_text(TINY_MODEL.replace("# SCALE", "# a comment").replace('"""Build it."""', '"""Make it."""'))
    assert [o.status for o in runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True)] == ["cached"]
    assert not manifest_of()["notebooks"]["demo/trainer"]["stale"] and not index_lines("stale")

    # a code edit: the notebook reruns, reads the old run back (reuse + warn) and is stale everywhere
    source.write_text(TINY_MODEL.replace("* 1.0  # SCALE", "* 2.0"))
    (out,) = runner.run("smoke", notebooks_dir=nbdir, results=results)
    assert out.status == "ok" and [r["run"] for r in out.stale] == [run_dir]
    entry = manifest_of()["notebooks"]["demo/trainer"]
    assert entry["stale"] and entry["stale_runs"] == [run_dir] and entry["runs"][0]["changed"] == [str(source)]
    assert entry["runs"][0]["code_now"][str(source)] != entry["runs"][0]["code"][str(source)]
    assert index_lines("**Table `trainer_table`**")[0].endswith("— ⚠ **stale**")
    assert index_lines("**Figure `trainer_figure`**")[0].endswith("— ⚠ **stale**")
    assert index_lines("| x grows with i |")[0].startswith("| x grows with i | **holds** (⚠ **stale**) |")
    assert run_dir in index_lines("> ⚠ **Stale**")[0] and "--retrain-stale" in index_lines("> ⚠ **Stale**")[0]
    assert json.loads((results / "smoke" / "demo" / "claims.json").read_text())[0]["stale"] is True
    summary = capsys.readouterr().out
    assert "workbook: 1 ran, 0 cached, 0 failed, 1 stale" in summary and "✓ demo/trainer: ok" in summary
    assert f"{run_dir} (w1_tiny, trained " in summary and f"code changed since: {source})" in summary
    assert "python -m aulib.workbook run --profile smoke --retrain-stale --only 'demo/trainer'" in summary
    env = dict(os.environ, AULIB_NOTEBOOKS=str(nbdir), AULIB_RESULTS=str(results))
    status = subprocess.run([sys.executable, "-m", "aulib.workbook", "status", "--profile", "smoke"], env=env,
                            capture_output=True, text=True).stdout
    assert "STALE: 1 run(s) trained by older code" in status and run_dir in status and "--retrain-stale" in status
    assert not list((results / "smoke").glob("**/.staging"))       # status ran nothing

    # --retrain-stale: the stale run is retrained with the current code, the mark is gone
    before = (Path(run_dir) / "best.pt").stat().st_mtime_ns
    (out,) = runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True, retrain_stale=True)
    assert out.status == "ok" and out.stale == []
    entry = manifest_of()["notebooks"]["demo/trainer"]
    assert not entry["stale"] and entry["runs"][0]["retrained"] and entry["runs"][0]["run"] == run_dir
    assert (Path(run_dir) / "best.pt").stat().st_mtime_ns > before
    assert json.loads((Path(run_dir) / "options.json").read_text())["code"] == entry["runs"][0]["code_now"]
    assert not index_lines("stale") and "AULIB_RETRAIN_STALE" not in os.environ
    assert [o.status for o in runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True,
                                         retrain_stale=True)] == ["cached"]      # nothing stale left


def test_each_finished_notebook_is_in_the_manifest_before_the_run_ends(tmp_path, monkeypatch):
    """A run killed in its third hour kept none of its finished notebooks in manifest.json (it was
    written once, at the end): now each one is recorded as soon as it finishes."""
    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    write_notebook(nbdir / "demo", "a_first")
    write_notebook(nbdir / "demo", "b_second", after=["demo/a_first"])
    real, seen = runner._execute, {}

    def spy(nb_path, *a, **kw):
        if "b_second" in str(nb_path):          # while the second runs, the first is on disk
            seen["manifest"] = json.loads((results / "smoke" / "manifest.json").read_text())
        return real(nb_path, *a, **kw)
    monkeypatch.setattr(runner, "_execute", spy)
    outcomes = runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True)
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert seen["manifest"]["notebooks"]["demo/a_first"]["status"] == "ok"
    assert "demo/b_second" not in seen["manifest"]["notebooks"]
    final = json.loads((results / "smoke" / "manifest.json").read_text())
    assert {k: v["status"] for k, v in final["notebooks"].items()} == {"demo/a_first": "ok", "demo/b_second": "ok"}


def test_the_end_of_a_run_does_not_undo_what_another_run_recorded_since(tmp_path, monkeypatch):
    """Two runs on one results folder: run A's notebook failed and was recorded; run B then
    re-ran it successfully. A's end used to rewrite every outcome it had, so the manifest said
    "failed" again (and re-dated A's finished notebooks with the commit at its end)."""
    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    write_notebook(nbdir / "demo", "a_fails", extra='raise RuntimeError("deliberate failure")')
    write_notebook(nbdir / "demo", "b_later")
    real = runner._execute

    def spy(nb_path, *a, **kw):
        if "b_later" in str(nb_path):   # meanwhile, "run B" records a_fails as ok
            path = results / "smoke" / "manifest.json"
            m = json.loads(path.read_text())
            assert m["notebooks"]["demo/a_fails"]["status"] == "failed"
            m["notebooks"]["demo/a_fails"] = {"status": "ok", "finished": "by run B", "runs": []}
            path.write_text(json.dumps(m))
        return real(nb_path, *a, **kw)
    monkeypatch.setattr(runner, "_execute", spy)
    outcomes = runner.run("smoke", notebooks_dir=nbdir, results=results, quiet=True)
    assert [o.status for o in outcomes] == ["failed", "ok"]
    final = json.loads((results / "smoke" / "manifest.json").read_text())["notebooks"]
    assert final["demo/a_fails"]["status"] == "ok" and final["demo/a_fails"]["finished"] == "by run B"
    assert final["demo/b_later"]["status"] == "ok" and final["demo/b_later"]["git_commit"]


def test_sigterm_ends_a_cli_run_with_its_manifest_written(tmp_path):
    """`kill <pid>` of `python -m aulib.workbook run`: the runner's clean-up runs (exit 143)."""
    import signal
    import time

    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    write_notebook(nbdir / "demo", "a_first")
    write_notebook(nbdir / "demo", "b_slow", after=["demo/a_first"], extra="import time; time.sleep(120)")
    env = dict(os.environ, AULIB_NOTEBOOKS=str(nbdir), AULIB_RESULTS=str(results))
    proc = subprocess.Popen([sys.executable, "-m", "aulib.workbook", "run", "--profile", "smoke"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = results / "smoke" / "manifest.json"
    deadline = time.time() + 240
    while time.time() < deadline and not (results / "smoke" / ".staging" / "demo" / "b_slow").is_dir():
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143
    notebooks = json.loads(manifest.read_text())["notebooks"]
    assert notebooks["demo/a_first"]["status"] == "ok"
    assert not (results / "smoke" / ".staging" / "demo" / "b_slow").exists()


def test_sigterm_with_parallel_jobs_stops_the_running_kernels(tmp_path):
    """`kill <pid>` of a `--jobs 2` run: it does not wait for the notebooks still executing - their
    kernels are shut down and the run ends with 143 and its manifest (it used to hang until every
    running notebook had finished)."""
    import signal
    import time

    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    pids = tmp_path / "pids"
    pids.mkdir()
    for stem in ("a_slow", "b_slow"):
        write_notebook(nbdir / "demo", stem, extra=f"import os, time; open({str(pids)!r} + '/' + str(os.getpid()), 'w')"
                                                  f".close(); time.sleep(300)")
    env = dict(os.environ, AULIB_NOTEBOOKS=str(nbdir), AULIB_RESULTS=str(results))
    proc = subprocess.Popen([sys.executable, "-m", "aulib.workbook", "run", "--profile", "smoke", "--jobs", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(pids.iterdir())) < 2:
        time.sleep(0.5)
    kernels = [int(p.name) for p in pids.iterdir()]

    def alive():
        out = []
        for pid in kernels:
            try:
                os.kill(pid, 0)
                out.append(pid)
            except ProcessLookupError:
                pass
        return out
    try:
        assert len(kernels) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 143
        time.sleep(1)
        assert not alive(), "kernels still running after the run was stopped"
    finally:                     # leave nothing behind when an assertion fails
        for pid in alive():
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    assert (results / "smoke" / "manifest.json").is_file()


def test_parallel_kernels_share_the_cores(tmp_path, monkeypatch):
    """With --jobs 2 each kernel gets its share of the cores as OMP_NUM_THREADS (torch's threads
    waiting on busy cores made steps crawl); a value the user set holds; the variable is
    restored afterwards."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    nbdir, results = tmp_path / "notebooks", tmp_path / "results"
    share = runner.kernel_threads(2)
    assert share == max(1, (os.cpu_count() or 1) // 2) and runner.kernel_threads(10_000) == 1
    for stem in ("a", "b"):
        write_notebook(nbdir / "demo", stem, extra=f'import os; assert os.environ["OMP_NUM_THREADS"] == "{share}"')
    outcomes = runner.run("smoke", jobs=2, notebooks_dir=nbdir, results=results, quiet=True)
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
    assert "OMP_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    write_notebook(nbdir / "demo", "a", extra='import os; assert os.environ["OMP_NUM_THREADS"] == "7"')
    write_notebook(nbdir / "demo", "b", extra='import os; assert os.environ["OMP_NUM_THREADS"] == "7"')
    outcomes = runner.run("smoke", jobs=2, notebooks_dir=nbdir, results=results, quiet=True, force=True)
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
