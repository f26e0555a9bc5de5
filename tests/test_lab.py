"""The notebooks as a student meets them in JupyterLab (issue 19): saving never puts outputs
into the repository, `make lab` starts as root, executed notebooks show each table and
figure once with no stray reprs or staging paths, the explorers are laid out for a laptop."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aulib.config import REPO_ROOT

TUTORIAL = "notebooks/tutorials/01_au_metrics.ipynb"
VENV = Path(sys.prefix)           # the venv running the tests (make's VENV=)


def _git(repo, *args, check=True):
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args],
                          cwd=repo, check=check, capture_output=True, text=True)


def _make(repo, *args, **kw):
    return subprocess.run(["make", "--no-print-directory", "-C", str(repo), f"VENV={VENV}", *args],
                          capture_output=True, text=True, **kw)


@pytest.fixture
def student_clone(tmp_path):
    """A git repository with the Makefile, .gitignore and tutorial 01 committed without
    outputs, as a student's clone before `make setup`."""
    repo = tmp_path / "clone"
    (repo / "notebooks" / "tutorials").mkdir(parents=True)
    for rel in ("Makefile", ".gitignore", TUTORIAL):
        shutil.copyfile(REPO_ROOT / rel, repo / rel)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "clean notebooks")
    return repo


def _with_outputs(nb: dict, source_edit: str = "") -> dict:
    """What Run All + save leaves in a notebook: outputs, counts, widget state."""
    import nbformat

    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            cell["execution_count"] = i
            cell["outputs"] = [nbformat.v4.new_output("stream", text=f"STUDENT-OUTPUT {i}\n"),
                               nbformat.v4.new_output("display_data", data={"text/plain": "PosixPath('x')"})]
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    if source_edit:
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        src = code[-1]["source"]
        code[-1]["source"] = ("".join(src) if isinstance(src, list) else src) + "\n" + source_edit
    return nb


def _no_outputs(text: str) -> None:
    nb = json.loads(text)
    dirty = [i for i, c in enumerate(nb["cells"]) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"cells {dirty} carry outputs in what git stores"
    assert "widgets" not in nb["metadata"]
    assert "STUDENT-OUTPUT" not in text


def test_saving_outputs_in_the_lab_never_reaches_the_repository(student_clone):
    """The lab's save path (jupyter_server's contents manager, what JupyterLab's save calls)
    writes outputs to disk; with `make setup`'s nbstripout filter git sees none of them."""
    from jupyter_server.services.contents.filemanager import FileContentsManager

    repo = student_clone
    committed = json.loads((repo / TUTORIAL).read_text())
    cm = FileContentsManager(root_dir=str(repo))

    def save(source_edit=""):
        model = cm.get(TUTORIAL)
        cm.save({"type": "notebook", "format": "json",
                 "content": _with_outputs(model["content"], source_edit)}, TUTORIAL)

    # without the filter a saved notebook is a change that `git add` would commit with outputs
    save()
    assert _git(repo, "status", "--porcelain").stdout.strip() == f"M {TUTORIAL}"
    _git(repo, "checkout", "--", TUTORIAL)

    res = _make(repo, "git-filter")
    assert res.returncode == 0, res.stderr
    assert "nbstripout" in res.stdout
    assert "--keep-id" in _git(repo, "config", "--get", "filter.nbstripout.clean").stdout
    assert _make(repo, "git-filter").stdout == ""          # idempotent, silent when set up

    save()
    on_disk = json.loads((repo / TUTORIAL).read_text())
    assert any(c.get("outputs") for c in on_disk["cells"]), "the student's outputs stay on disk"
    # outputs only: no change to stage (`git status` may list the file until the next `git
    # add`, since git takes a size change for a change without running the filter)
    assert _git(repo, "diff").stdout == ""
    _git(repo, "add", TUTORIAL)
    assert _git(repo, "diff", "--cached", "--quiet", check=False).returncode == 0
    assert _git(repo, "status", "--porcelain").stdout == ""
    staged = _git(repo, "show", f":{TUTORIAL}").stdout
    _no_outputs(staged)
    assert [c["id"] for c in json.loads(staged)["cells"]] == [c["id"] for c in committed["cells"]]

    # an edited cell is a change, still without outputs
    save(source_edit="print('my own experiment')")
    diff = _git(repo, "diff").stdout
    assert "my own experiment" in diff and "STUDENT-OUTPUT" not in diff
    _git(repo, "add", TUTORIAL)
    _git(repo, "commit", "-q", "-m", "student edit")
    blob = _git(repo, "show", f"HEAD:{TUTORIAL}").stdout
    _no_outputs(blob)
    assert "my own experiment" in blob


def _wait_for(pattern: str, log: Path, proc, seconds: float) -> re.Match:
    deadline = time.time() + seconds
    while time.time() < deadline:
        m = re.search(pattern, log.read_text(errors="replace"))
        if m:
            return m
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"no {pattern!r} in the lab's log:\n{log.read_text(errors='replace')[-3000:]}")


def test_make_lab_starts_as_root_and_a_save_through_it_leaves_git_clean(student_clone, tmp_path):
    """`make lab` (as root here: it passes --allow-root) serves notebooks/; a notebook PUT
    with outputs through its REST API (what the lab's save button does) is on disk and git
    still shows no change."""
    repo = student_clone
    assert _make(repo, "git-filter").returncode == 0
    dry = _make(repo, "-n", "-o", "setup", "lab").stdout
    assert ("--allow-root" in dry) == (os.geteuid() == 0), dry
    token = "t0ken-for-this-test"
    log = tmp_path / "lab.log"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    args = (f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=0 "
            f"--IdentityProvider.token={token}")
    with open(log, "w") as fh:
        proc = subprocess.Popen(["make", "--no-print-directory", "-C", str(repo), f"VENV={VENV}",
                                 "-o", "setup", "lab", args], stdout=fh, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    try:
        url = _wait_for(r"http://127\.0\.0\.1:(\d+)/lab", log, proc, 90).group(0)
        assert "Running as root is not recommended" not in log.read_text()
        base = url.rsplit("/lab", 1)[0]
        head = {"Authorization": f"token {token}", "Content-Type": "application/json"}

        def api(method, path, body=None):
            req = urllib.request.Request(f"{base}{path}", method=method, headers=head,
                                         data=json.dumps(body).encode() if body is not None else None)
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()

        assert api("GET", "/lab")[0] == 200                       # JupyterLab itself, not a bare server
        rel = "tutorials/01_au_metrics.ipynb"                      # the lab's root is notebooks/
        model = json.loads(api("GET", f"/api/contents/{rel}?content=1")[1])
        status, _ = api("PUT", f"/api/contents/{rel}",
                        {"type": "notebook", "format": "json", "content": _with_outputs(model["content"])})
        assert status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert "STUDENT-OUTPUT" in (repo / TUTORIAL).read_text()      # saved on disk
    assert _git(repo, "diff").stdout == ""                          # nothing to stage
    _git(repo, "add", "-A")
    assert _git(repo, "status", "--porcelain").stdout == ""        # the repository holds none
    _no_outputs(_git(repo, "show", f":{TUTORIAL}").stdout)


# ----------------------------------------------------------------------------------------
# what a reader sees in an executed notebook
def test_run_writers_return_none_and_staging_maps_to_the_final_folder(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from aulib.workbook.notebook import STAGING, Run

    stage = tmp_path / "smoke" / STAGING / "tutorials" / "01_au_metrics"
    run = Run("tutorials/01_au_metrics", "smoke", 0, "cpu", str(stage))
    assert run.out == stage and run.final_dir == tmp_path / "smoke" / "tutorials"
    assert run.table(pd.DataFrame({"a": [1]}), "t", display=False) is None
    assert run.figure(plt.figure(), "f", display=False) is None
    (stage / "extra.csv").write_text("x\n")
    assert run.file(stage / "extra.csv") is None
    assert run.claim("c", holds=True, evidence="e") is None and len(run.claims) == 1
    by_hand = Run("tutorials/01_au_metrics", "smoke", 0, "cpu", str(tmp_path / "mine"))
    assert by_hand.final_dir == tmp_path / "mine"


@pytest.mark.notebooks
def test_executed_tutorial_shows_each_table_once_without_reprs_or_staging_paths(tmp_path):
    from aulib.workbook import runner
    from aulib.workbook.notebook import STAGING

    outcomes = runner.run("smoke", only="tutorials/01_au_metrics", results=tmp_path, quiet=True)
    assert [(o.id, o.status) for o in outcomes] == [("tutorials/01_au_metrics", "ok")], outcomes
    final = tmp_path / "smoke" / "tutorials"
    nb = json.loads((final / "01_au_metrics.ipynb").read_text())
    record = json.loads((final / "01_au_metrics.run.json").read_text())

    def text(v):
        return "".join(v) if isinstance(v, list) else v

    html, markdown, streams, everything = [], [], [], []
    for cell in nb["cells"]:
        last_line = text(cell["source"]).rstrip().splitlines()[-1] if cell["source"] else ""
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html += [text(data["text/html"])] if "text/html" in data else []
            markdown += [text(data["text/markdown"])] if "text/markdown" in data else []
            streams += [text(out["text"])] if out["output_type"] == "stream" else []
            everything.append(json.dumps(out))
            if out["output_type"] == "execute_result":   # Out[n]: only a bare expression may make one
                assert not last_line.lstrip().startswith(("run.", ")")), f"a run.* call echoes: {out}"
    tables = [a for a in record["artifacts"] if a["kind"] == "table"]
    figures = [a for a in record["artifacts"] if a["kind"] == "figure"]
    assert (len(tables), len(figures)) == (2, 2)
    # the two run.table calls + summary.round(1) + the claims table, each shown once
    assert sum("<table" in h for h in html) == len(tables) + 2
    assert len(html) == len(set(html)), "a table is shown twice"
    for t in tables:
        assert markdown.count(f"**{t['caption']}**") == 1, t["caption"]
    blob = "\n".join(everything)
    assert "PosixPath(" not in blob
    assert STAGING not in blob
    assert "aulib_modules" not in blob                            # finish() prints no record dict
    saved = [m for s in streams for m in re.finditer(r"Saved (.+) in (.+)/$", s, re.M)]
    assert len(saved) == 1, streams
    assert "2 tables" in saved[0].group(1) and "2 figures" in saved[0].group(1)
    assert Path(saved[0].group(2)) == final and (final / "metrics_trivial_predictors.csv").is_file()


def test_domain_shift_probe_shows_a_progress_bar_over_the_faces_it_renders(capsys):
    from aulib.synth.probe import domain_shift_probe

    table = domain_shift_probe(n_train=12, n_test=4, size=64, progress=True)
    err = capsys.readouterr().err
    assert "probe: done" in err and "24/24" in err and "face" in err, err
    assert set(table.test) <= {"lab-a", "lab-b", "wild"}
    domain_shift_probe(n_train=12, n_test=4, size=64, progress=False)
    assert capsys.readouterr().err == ""
