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

import numpy as np
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
    assert "PosixPath(" not in blob and "<Figure size" not in blob and "Markdown object>" not in blob
    pngs = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) == len(figures)                              # each figure shown once
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


# ----------------------------------------------------------------------------------------
# the explorers: picture beside grouped controls, reset, fit a 1280x800 window
def _px(width: str) -> int:
    m = re.fullmatch(r"(?:calc\()?(\d+)px(?: \+ (\d+)px\))?", width or "")
    assert m, f"width {width!r} is not in pixels"
    return int(m.group(1)) + int(m.group(2) or 0)


def _columns(explorer):
    import ipywidgets as w

    body = explorer.widget.children[-1]
    assert isinstance(body, w.HBox), "the picture and the controls share one row"
    left, *columns = body.children
    assert left.children[0] is explorer.image, "the picture comes first, left of the controls"
    return left, columns


def _title(column) -> str:
    return re.sub("<[^>]+>", "", column.children[0].value)


def test_au_explorer_puts_the_face_beside_upper_and_lower_face_sliders_and_resets():
    from aulib import synth
    from aulib.synth.explorer import au_explorer

    ex = au_explorer(seed=0)
    left, columns = _columns(ex)
    assert [_title(c) for c in columns] == ["Upper face", "Lower face"]
    sliders = {c: [k for k, v in ex.controls.items() if v in col.children] for c, col in zip("UL", columns)}
    assert sliders["U"] == ["AU1", "AU2", "AU4", "AU5", "AU6", "AU7"]
    assert sliders["U"] + sliders["L"] == list(synth.AUS)
    assert "Lip Corner Puller" in ex.controls["AU12"].description
    assert [k for k, v in ex.controls.items() if v in left.children] == ["identity", "domain", "yaw", "pitch", "roll"]
    assert ex.reset_button in left.children
    # 1280x800: at most 1000 px wide (JupyterLab's margins take the rest) and no column of more
    # than 12 controls (was one column of 27 above the face)
    width = _px(left.layout.width) + sum(_px(c.layout.width) + 12 for c in columns)
    assert width <= 1000, width
    assert max(len(c.children) for c in columns) - 1 <= 12

    neutral, neutral_caption = ex.image.value, ex.caption.value
    assert neutral[:8] == b"\x89PNG\r\n\x1a\n" and "neutral" in neutral_caption
    ex.controls["AU12"].value = 4.0
    assert ex.image.value != neutral and "AU12 4" in ex.caption.value
    ex.set(yaw=20.0, domain="wild", AU1=2.5)
    assert "AU1 2.5" in ex.caption.value and "wild" in ex.caption.value
    ex.reset_button.click()
    assert ex.values() == ex.defaults and ex.image.value == neutral and ex.caption.value == neutral_caption
    with pytest.raises(KeyError, match="AU99"):
        ex.set(AU99=1)
    plain = ex._repr_mimebundle_()["text/plain"]
    assert plain.startswith("AU explorer") and "HBox(" not in plain and "make lab" in plain


def test_explorer_shows_a_failed_render_in_its_caption():
    import ipywidgets as w

    from aulib.eval.explorer import Explorer

    def render(k):
        if k > 1:
            raise ValueError(f"k={k} is too large")
        return np.zeros((8, 8, 3), np.uint8), f"k={k}"

    ex = Explorer(render, {"k": w.IntSlider(0, 0, 5)}, {})
    assert ex.caption.value.endswith("k=0</span>")
    ex.controls["k"].value = 3
    assert "could not render: ValueError: k=3 is too large" in ex.caption.value
    with pytest.raises(ValueError, match="notes for no column"):
        Explorer(render, {"k": w.IntSlider()}, {}, notes={"Other": "x"})


class _FakeFGNet:
    """What heatmap_explorer needs of an FG-Net: ``aus`` and ``explain`` (its output keys)."""

    def __init__(self, aus, latent=False):
        self.aus, self.latent = list(aus), latent

    def explain(self, item):
        n = len(self.aus)
        rng = np.random.default_rng(item["k"])
        maps = None if self.latent else rng.uniform(-1, 1, (n, 16, 16))
        label = np.zeros(n)
        label[item["k"] % n] = 1
        return {"image": np.full((64, 64, 3), 90, np.uint8), "target": maps, "pred": maps,
                "label": label, "active": label > 0.5, "score": label}


def test_heatmap_explorer_beside_its_frame_controls_follows_dataset_and_frame():
    from aulib.papers.fgnet import heatmap_explorer

    models = {"bp4d": _FakeFGNet([f"AU{i}" for i in (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)]),
              "disfa": _FakeFGNet(["AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25", "AU26"])}
    sets = {"bp4d": [{"k": k, "subject": "F001"} for k in range(5)],
            "disfa": [{"k": k, "subject": "SN001"} for k in range(3)]}
    ex = heatmap_explorer(models, sets, names={"bp4d": "BP4D", "disfa": "DISFA"}, dataset="bp4d")
    left, columns = _columns(ex)
    assert [_title(c) for c in columns] == ["Test frame"]
    assert ex.controls["dataset"] in columns[0].children and ex.controls["frame"] in columns[0].children
    assert _px(left.layout.width) + sum(_px(c.layout.width) + 12 for c in columns) <= 1000
    import cv2

    picture = cv2.imdecode(np.frombuffer(ex.image.value, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[1] <= 660 and picture.shape[0] <= 480, picture.shape   # drawn at its shown size
    assert "BP4D test frame 0 (subject F001): true AU1; predicted AU1; 12/12 AUs right" in ex.caption.value
    ex.controls["frame"].value = 4
    assert "test frame 4" in ex.caption.value and "true AU7" in ex.caption.value
    ex.controls["dataset"].value = "disfa"
    assert ex.controls["frame"].max == 2 and "DISFA test frame 2 (subject SN001)" in ex.caption.value
    ex.reset()
    assert "BP4D test frame 0" in ex.caption.value and ex.controls["frame"].max == 4
    with pytest.raises(ValueError, match="same dataset keys"):
        heatmap_explorer(models, {"bp4d": sets["bp4d"]})
    latent = heatmap_explorer({"bp4d": _FakeFGNet(["AU1"], latent=True)}, {"bp4d": sets["bp4d"]})
    assert "could not render" in latent.caption.value and "latent" in latent.caption.value


@pytest.mark.notebooks
def test_probe_bar_in_a_notebook_ends_as_one_line_not_a_frozen_bar(tmp_path):
    """In a kernel the bar is a widget; the executed notebook keeps the final line of text in
    its place (a static copy of a widget would show the bar's text at 0 %)."""
    import nbformat
    from nbclient import NotebookClient

    from aulib.workbook.runner import ensure_kernel

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from aulib.synth.probe import domain_shift_probe\n"
        "table = domain_shift_probe(n_train=12, n_test=4, size=64)")]
    NotebookClient(nb, kernel_name=ensure_kernel(), timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outs = nb.cells[0].outputs
    assert len(outs) == 1, outs
    text = outs[0]["data"]["text/plain"]
    assert text.startswith("probe: rendered 12 lab-a training faces and 4 test faces in each of lab-a, lab-b, wild")
    assert "0%" not in text and "application/vnd.jupyter.widget-view+json" not in outs[0]["data"]


_EXPLORERS_NOTEBOOK = '''\
import numpy as np
from aulib import synth
from aulib.synth.explorer import au_explorer
from aulib.papers.fgnet import heatmap_explorer
explorer = au_explorer(seed=0)
explorer.set(identity=3, yaw=15, AU1=3, AU2=3, AU6=3, AU12=4, AU25=2)
display(explorer)
class Fake:  # an FG-Net's explain(): a SynthAU face and two Gaussians per AU
    def __init__(self, aus):
        self.aus = aus
    def explain(self, item):
        img, _ = synth.render_face({"AU12": 4}, identity=item["k"], size=128)
        n, (yy, xx) = len(self.aus), np.mgrid[:32, :32]
        c = np.random.default_rng(item["k"]).integers(6, 26, (n, 2))
        maps = np.stack([np.exp(-((xx - a) ** 2 + (yy - b) ** 2) / 18.0) for a, b in c])
        return {"image": img, "target": maps, "pred": -maps, "label": np.ones(n), "active": np.zeros(n, bool)}
aus = ["AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24"]
display(heatmap_explorer({"bp4d": Fake(aus)}, {"bp4d": [{"k": k, "subject": "F001"} for k in range(9)]},
                         names={"bp4d": "BP4D"}))
'''


@pytest.mark.notebooks
def test_explorers_fit_a_1280x800_jupyterlab_in_headless_chromium(tmp_path):
    """JupyterLab in headless Chromium at 1280x800, file browser open (a fresh lab's layout):
    each explorer, scrolled to the top of the notebook, has its picture, every slider and its
    Reset button on screen, nothing cut off at the right; with the file browser closed (Ctrl+B)
    the sliders' value readouts show too. Screenshots are left in ``tmp_path``."""
    import nbformat

    from aulib.synth import AUS
    from aulib.workbook import book
    from aulib.workbook.runner import ensure_kernel

    try:
        chromium = book.chromium_path()
        from playwright.sync_api import sync_playwright
    except (book.BookError, ImportError) as e:
        pytest.skip(f"no browser test here: {e}")
    kernel = ensure_kernel()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python (aulib venv)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(_EXPLORERS_NOTEBOOK)]
    nbformat.write(nb, tmp_path / "explorers.ipynb")
    token, log = "t0ken-for-this-test", tmp_path / "lab.log"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
           f"--LabApp.workspaces_dir={tmp_path / 'ws'}", f"--LabApp.user_settings_dir={tmp_path / 'settings'}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log, "w") as fh:
        lab = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        base = _wait_for(r"http://127\.0\.0\.1:\d+/lab", log, lab, 90).group(0)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=book.CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{base}/tree/explorers.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            page.get_by_text("Python (aulib venv) | Idle").wait_for(timeout=90_000)   # the kernel is up
            page.wait_for_timeout(3000)
            for _ in range(3):                                           # run the one cell
                page.locator(".jp-Cell .jp-InputArea-editor").first.click()
                page.keyboard.press("Shift+Enter")
                try:
                    page.wait_for_function("document.querySelectorAll('.widget-image').length >= 1", timeout=60_000)
                    break
                except Exception:  # sent before the kernel listened: the prompt stays [ ]
                    pass
            try:
                page.wait_for_function("document.querySelectorAll('.widget-image').length == 2", timeout=120_000)
            except Exception:
                page.screenshot(path=str(tmp_path / "no_widgets.png"))
                raise AssertionError(f"the explorers did not render; see {tmp_path / 'no_widgets.png'}; lab log:\n"
                                     + log.read_text(errors="replace")[-3000:])
            page.wait_for_timeout(1500)

            def check(index: int, shot: str, readouts: bool) -> None:
                page.evaluate(f"document.querySelectorAll('.jp-OutputArea-output')[{index}]"
                              ".scrollIntoView({block: 'start'})")
                page.wait_for_timeout(800)
                page.screenshot(path=str(tmp_path / shot))
                panel = page.locator(".jp-NotebookPanel-notebook").bounding_box()
                right, bottom = panel["x"] + panel["width"], panel["y"] + panel["height"]
                out = page.locator(".jp-OutputArea-output").nth(index)
                boxes = {"picture": out.locator(".widget-image").bounding_box(),
                         "reset": out.locator("button:has-text('Reset')").bounding_box()}
                tracks = out.locator(".widget-slider .slider-container").all()   # what a student drags
                assert len(tracks) == (len(AUS) + 3 if index == 0 else 1), len(tracks)   # + yaw, pitch, roll
                boxes.update({f"slider {i}": t.bounding_box() for i, t in enumerate(tracks)})
                for name, b in boxes.items():
                    assert b and b["x"] >= panel["x"] and b["x"] + b["width"] <= right + 1 \
                        and b["y"] + b["height"] <= bottom + 1, f"{shot}: {name} off screen: {b}, panel {panel}"
                    assert b["width"] >= 60 if name.startswith("slider") else True, f"{shot}: {name} squeezed: {b}"
                assert boxes["picture"]["width"] >= 290, f"{shot}: the picture shrank: {boxes['picture']}"
                if readouts:
                    shown = [r.bounding_box() for r in out.locator(".widget-readout").all()]
                    assert all(b and b["width"] > 10 and b["x"] + b["width"] <= right + 1 for b in shown), shot

            check(0, "au_explorer_file_browser_open.png", readouts=False)
            check(1, "heatmap_explorer_file_browser_open.png", readouts=False)
            page.keyboard.press("Control+b")
            page.wait_for_timeout(800)
            check(0, "au_explorer.png", readouts=True)
            check(1, "heatmap_explorer.png", readouts=True)
            browser.close()
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)


def test_committed_notebooks_are_in_the_git_filters_normal_form(tmp_path):
    """A notebook committed in another JSON key order than nbstripout writes shows as modified in
    a fresh clone once `make setup` installs the filter, and every run then records '+dirty'."""
    listed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    assert listed
    differ = []
    for name in listed:
        blob = subprocess.run(["git", "show", f":{name}"], cwd=REPO_ROOT, capture_output=True,
                              check=True).stdout
        copy = tmp_path / Path(name).name
        copy.write_bytes(blob)
        cleaned = subprocess.run([sys.executable, "-m", "nbstripout", "--keep-id", "-t", str(copy)],
                                 capture_output=True, check=True).stdout
        if cleaned.rstrip(b"\n") != blob.rstrip(b"\n"):
            differ.append(name)
    assert not differ, f"not in nbstripout's form (run `git add --renormalize notebooks/`): {differ}"
