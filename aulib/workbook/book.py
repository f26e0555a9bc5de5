"""``make book``: a static HTML book of one profile's executed notebooks (no re-execution).

    python -m aulib.workbook.book [--profile tiny]      # -> results/<profile>/book/index.html
    python -m aulib.workbook.book --profile tiny --check   # then every page in headless Chromium

What it reads: ``results/<profile>/manifest.json`` and, for every notebook the registry
(:func:`.registry.discover`) lists and the manifest records as ``ok``, its executed notebook,
run record (``<stem>.run.json``: tables, figures, claims) and artifacts; ``results/bench.json``
when present; the manifests of the other profiles for the durations. What it writes: a
Sphinx + MyST-NB + sphinx-book-theme source tree (``results/<profile>/.book-src/``) and the HTML
(``results/<profile>/book/``; built beside it and moved into place when Sphinx succeeded).

Pages: an overview (what the workbook is, the profiles, how to rerun one table), the
tutorials, one chapter per paper with its executed notebooks, and generated index pages —
every table (ours beside the paper's where the notebook wrote them side by side), every
figure, the claims dashboard (every verdict, totals per paper and per verdict, a plot of our
numbers against the published ones), the benchmarks (ratio to the ResNet-50 yardstick,
notebook durations). Each table and figure names the notebook, parameters and commit that
made it and links to the notebook's page. New notebooks and papers appear by being
registered; nothing here lists them.

Offline: MathJax 3 is served from the book's own ``_static`` (``sphinx-mathjax-offline``),
widget outputs keep their text fallback (no widget JavaScript from a CDN), and the theme's
fonts are bundled (facts: ``../shared/reference/book-course-cluster.md`` §2).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .. import config
from .registry import discover
from .runner import _write_atomic, load_manifest

TEMPLATE = Path(__file__).with_name("book_conf.py.tmpl")
SRC_DIR = ".book-src"
BOOK_DIR = "book"
TUTORIALS = "tutorials"
COMPARE = "compare"      # notebooks/compare/: the papers side by side, after the papers' chapters
VERDICT_ORDER = ("holds", "does not hold", "not testable here")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
YARDSTICK = "ResNet-50"
#: the book's one stylesheet: tables of many AU columns get the page's width
CSS = (".bd-page-width { max-width: 100%; }\n.bd-main .bd-content .bd-article-container { max-width: 100%; }\n"
       "table.table { font-size: 0.85em; }\n")


class BookError(RuntimeError):
    """The book cannot be built: no executed notebooks, or Sphinx reported problems."""


# ----------------------------------------------------------------------------------------
# what goes in
def collect(results: Path, notebooks_dir: Path | None = None) -> dict[str, list[dict]]:
    """{paper: [entry, ...]} for every registered notebook with a successful run in
    ``results`` (registry order; tutorials first). Each entry: ``id``, ``paper``, ``stem``,
    ``title``, ``manifest`` (its manifest entry), ``record`` (its run record), ``stale``."""
    manifest = load_manifest(results)
    out: dict[str, list[dict]] = {}
    for nb in discover(notebooks_dir):
        entry = manifest.get("notebooks", {}).get(nb.id)
        executed = results / nb.paper / f"{nb.stem}.ipynb"
        rec_path = results / nb.paper / f"{nb.stem}.run.json"
        if not entry or entry.get("status") != "ok" or not executed.is_file() or not rec_path.is_file():
            continue
        out.setdefault(nb.paper, []).append({
            "id": nb.id, "paper": nb.paper, "stem": nb.stem, "title": nb.title, "manifest": entry,
            "record": json.loads(rec_path.read_text()), "stale": bool(entry.get("stale"))})
    order = sorted(out, key=lambda p: (p != TUTORIALS, p == COMPARE, p))
    return {p: out[p] for p in order}


def provenance(e: dict, link_prefix: str = "") -> str:
    """One line: which notebook (linked), parameters and commit made an artifact."""
    m = e["manifest"]
    params = ", ".join(f"`{k}={v!r}`" for k, v in sorted(m.get("params", {}).items()))
    stale = " — ⚠ **stale** (trained by older code; see the results index)" if e["stale"] else ""
    return (f"Made by [{e['id']}]({link_prefix}{e['paper']}/{e['stem']}.ipynb) at commit "
            f"`{str(m.get('git_commit', '?'))[:12]}` on {m.get('device', '?')}, {m.get('finished', '?')}; "
            f"parameters: {params}{stale}")


def _artifacts(e: dict, kind: str) -> list[dict]:
    return [a for a in e["record"].get("artifacts", []) if a["kind"] == kind]


def _table_body(path: Path) -> list[str]:
    """The Markdown table of ``<name>.md`` without its caption line."""
    if not path.is_file():
        return [f"*(table file {path.name} missing)*"]
    body = path.read_text().strip().splitlines()
    if body and body[0].startswith("**"):
        body = body[2:]
    return body


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


# ----------------------------------------------------------------------------------------
# pages
def overview_page(profile: str, papers: dict, manifest: dict) -> str:
    n_nb = sum(len(v) for v in papers.values())
    profiles = "\n".join(f"| `{p}` | {d} |" for p, d in (
        ("smoke", "seconds on any CPU, SynthAU with a few frames; the tests run it"),
        ("tiny", "minutes per notebook on a laptop CPU, SynthAU; numbers that mean something"),
        ("paper", "a GPU, the real datasets and published weights, the papers' hyper-parameters")))
    chapters = [f"{p}/index" for p in papers]
    example = next((e for es in papers.values() for e in es if _artifacts(e, "table")), None)
    rerun = (f"python -m aulib.workbook run --profile {profile} --only '{example['id']}' --force"
             if example else f"python -m aulib.workbook run --profile {profile} --only '<paper>/<notebook>' --force")
    return "\n".join([
        "# AU Workbench", "",
        "An executable, reproducible workbook for facial **Action Unit (AU) detection** research: a thin "
        "Python library, `aulib`, backs parameterized Jupyter notebooks — one per paper experiment and per "
        "tutorial — that papermill executes to regenerate the papers' tables, figures and claims, with "
        "verdicts computed from each run.", "",
        f"This book shows the **`{profile}`** profile: {n_nb} executed notebook{'' if n_nb == 1 else 's'}, commit "
        f"`{str(manifest.get('git_commit', '?'))[:12]}`, results updated {manifest.get('updated', '?')}. "
        "It was built from the executed notebooks as they are (nothing re-ran); every table and figure "
        "names the notebook, parameters and commit that made it.", "",
        "## Profiles", "", "| profile | what it runs |", "| --- | --- |", profiles, "",
        "## Rerunning one table", "",
        "Each table's provenance line names its notebook. Rerun that notebook alone (cached notebooks are "
        "skipped; `--force` reruns), then rebuild the book:", "",
        "```bash", rerun, f"make book PROFILE={profile}", "```", "",
        "## Contents", "",
        "```{toctree}", ":maxdepth: 1", ":caption: Notebooks", "", *chapters, "```", "",
        "```{toctree}", ":maxdepth: 1", ":caption: Index pages", "", "claims", "tables", "figures",
        "benchmarks", "```", ""])


def chapter_page(paper: str, entries: list[dict]) -> str:
    title = {TUTORIALS: "Tutorials", COMPARE: "The papers side by side"}.get(paper, f"Paper: {paper}")
    n_claims = sum(len(e["record"].get("claims", [])) for e in entries)
    lines = [f"# {title}", "",
             f"{len(entries)} executed notebook(s) of `notebooks/{paper}/`, {n_claims} claim verdict(s) "
             "(see the [claims dashboard](../claims.md)).", ""]
    for e in entries:
        m = e["manifest"]
        lines.append(f"- [{e['title']}]({e['stem']}.ipynb) — `{e['id']}`, {m.get('seconds', '?')} s on "
                     f"{m.get('device', '?')}" + (" — ⚠ stale" if e["stale"] else ""))
    lines += ["", "```{toctree}", ":hidden:", ":maxdepth: 1", "", *[e["stem"] for e in entries], "```", ""]
    return "\n".join(lines)


def _artifact_page(title: str, intro: list[str], papers: dict, kind: str, body) -> str:
    """A page listing every artifact of ``kind``, grouped by paper, each headed by its caption and
    its provenance line, then ``body(paper, artifact)`` (Markdown lines)."""
    lines = [f"# {title}", "", *intro]
    for paper, entries in papers.items():
        found = [(e, a) for e in entries for a in _artifacts(e, kind)]
        if not found:
            continue
        lines += [f"## {paper}", ""]
        for e, a in found:
            lines += [f"### {a.get('caption') or a['name']}", "", f"`{a['name']}` — {provenance(e)}", "",
                      *body(paper, a), ""]
    return "\n".join(lines)


def tables_page(results: Path, papers: dict) -> str:
    intro = ["Every table the notebooks wrote, grouped by paper. Where a notebook compared with a paper, the "
             "table shows our number beside the paper's (`ours` / `paper` columns; `–` where a method was not "
             "run or not reported). The CSV beside each is in the results folder.", ""]
    return _artifact_page("Every table", intro, papers, "table",
                          lambda paper, a: _table_body(results / paper / f"{a['name']}.md"))


def figures_page(papers: dict) -> str:
    return _artifact_page("Every figure", [], papers, "figure", lambda paper, a: [
        f"![{_cell(a.get('caption') or a['name'])}](_artifacts/{paper}/{a['name']}.png)"])


def claims_rows(papers: dict) -> list[dict]:
    """Every verdict the notebooks wrote: paper, notebook, claim, verdict, evidence, numbers."""
    return [dict(c, paper=paper, notebook=e["id"], stem=e["stem"], stale=e["stale"])
            for paper, entries in papers.items() for e in entries for c in e["record"].get("claims", [])]


def published_pairs(results: Path, papers: dict) -> dict[str, list[tuple[float, float, str]]]:
    """{paper: [(published, ours, "<table>: <row> <column>"), ...]} from every table that holds
    ``"<column> ours"`` beside ``"<column> paper"`` (:func:`aulib.eval.tables.side_by_side`'s flat
    view); cells that are not numbers on both sides (``–``, NaN) are left out."""
    import math

    import pandas as pd

    out: dict[str, list] = {}
    for paper, entries in papers.items():
        for e in entries:
            for a in _artifacts(e, "table"):
                csv = results / paper / f"{a['name']}.csv"
                if not csv.is_file():
                    continue
                df = pd.read_csv(csv)
                for col in df.columns:
                    if not str(col).endswith(" ours") or f"{str(col)[:-5]} paper" not in df.columns:
                        continue
                    base = str(col)[:-5]
                    ours = pd.to_numeric(df[col], errors="coerce")
                    pub = pd.to_numeric(df[f"{base} paper"], errors="coerce")
                    label_col = df.columns[0]
                    for i in range(len(df)):
                        o, p = ours.iloc[i], pub.iloc[i]
                        if not (math.isnan(o) or math.isnan(p)):
                            out.setdefault(paper, []).append((float(p), float(o),
                                                              f"{a['name']}: {df[label_col].iloc[i]} {base}"))
    return out


def claims_plot(pairs: dict, path: Path) -> bool:
    """Scatter of our numbers against the published ones, one panel per paper; False when no
    table holds both."""
    if not pairs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(pairs)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), squeeze=False)
    for ax, (paper, pts) in zip(axes[0], pairs.items()):
        pub, ours = [p[0] for p in pts], [p[1] for p in pts]
        hi = max(100.0, max(pub + ours))
        ax.plot([0, hi], [0, hi], color="grey", lw=1, ls="--", label="ours = published")
        ax.scatter(pub, ours, s=14, alpha=0.7)
        ax.set(title=f"{paper} ({len(pts)} numbers)", xlabel="published", ylabel="ours (this profile)",
               xlim=(0, hi), ylim=(0, hi))
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def claims_page(results: Path, papers: dict, src: Path) -> str:
    rows = claims_rows(papers)
    lines = ["# Claims dashboard", "",
             f"Every verdict written by the notebooks of this profile ({len(rows)} claims). A verdict is computed "
             "from the notebook's own run: *holds*, *does not hold* or *not testable here*.", "",
             "## Totals", "", "| paper | " + " | ".join(VERDICT_ORDER) + " | all |",
             "| --- |" + " ---: |" * (len(VERDICT_ORDER) + 1)]
    for paper in papers:
        mine = [r for r in rows if r["paper"] == paper]
        if mine:
            lines.append(f"| {paper} | " + " | ".join(str(sum(r["verdict"] == v for r in mine))
                                                   for v in VERDICT_ORDER) + f" | {len(mine)} |")
    lines += ["| **all** | " + " | ".join(f"**{sum(r['verdict'] == v for r in rows)}**" for v in VERDICT_ORDER)
              + f" | **{len(rows)}** |", ""]
    pairs = published_pairs(results, papers)
    lines += ["## Reproduced vs published numbers", ""]
    if claims_plot(pairs, src / "_artifacts" / "claims_vs_published.png"):
        lines += ["Every cell of a table that shows our number beside the paper's (points on the dashed line "
                  "reproduce the paper exactly).", "",
                  "![our numbers against the published ones, per paper](_artifacts/claims_vs_published.png)", ""]
    else:
        lines += ["No table of this profile holds our numbers beside the paper's yet.", ""]
    lines += ["## Every verdict", "", "| paper | claim | verdict | our numbers | the paper: its numbers, or where it says so | notebook |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        nums = r.get("numbers") or {}
        paper_nums = {k: v for k, v in nums.items() if re.search(r"paper|published|reported", k)}
        verdict = f"**{r['verdict']}**" + (" (⚠ stale)" if r["stale"] else "")
        lines.append(" | ".join(["| " + r["paper"], _cell(r["claim"]), verdict, _cell(r.get("evidence", "")),
                                 _cell(json.dumps(paper_nums) if paper_nums else (r.get("source") or "–")),
                                 f"[{r['notebook']}]({r['paper']}/{r['stem']}.ipynb) |"]))
    return "\n".join(lines) + "\n"


def bench_rows(bench: dict) -> list[dict]:
    """Rows of ``results/bench.json`` with ``ratio`` = value / the ResNet-50 yardstick's value for
    the same input size, device and measurement (train step / inference), when one was measured;
    each row carries its benchmark's ``measured`` date and ``load_avg`` (the machine's 1-minute load
    when it started) where recorded."""
    rows = [dict(r, benchmark=name, **{k: b[k] for k in ("measured", "load_avg") if b.get(k) is not None})
            for name, b in bench.get("benchmarks", {}).items() if b.get("status") == "ok" for r in b.get("results", [])]

    def key(r):
        kind = "train" if "train" in r["name"] else "inference" if "inference" in r["name"] else r["name"]
        return (r.get("input"), r.get("device"), r.get("unit"), kind)

    yard = {key(r): r["value"] for r in rows if r["name"].startswith(YARDSTICK) and r.get("unit") == "images/s"}
    for r in rows:
        y = yard.get(key(r)) if r.get("unit") == "images/s" else None
        r["ratio"] = (r["value"] / y) if y else None
    return rows


DURATION_KINDS = ("cold", "warm", "no training", "last")


def duration_table(results_root: Path) -> tuple[list[tuple[str, str]], dict[str, dict]]:
    """Columns ``(profile, kind)`` present and ``{notebook: {(profile, kind): seconds}}`` from every
    profile's manifest (``durations`` kept by the runner, :func:`.runner.run_kind`; ``last`` = ``seconds``)."""
    table: dict[str, dict] = {}
    for p in config.PROFILES:
        if not (results_root / p / "manifest.json").is_file():
            continue
        for nb_id, e in load_manifest(results_root / p).get("notebooks", {}).items():
            if e.get("status") != "ok":
                continue
            row = table.setdefault(nb_id, {})
            for kind, d in (e.get("durations") or {}).items():
                row[(p, kind)] = float(d["seconds"])
            if e.get("seconds") is not None:
                row[(p, "last")] = float(e["seconds"])
    present = {c for row in table.values() for c in row}
    cols = [(p, k) for p in config.PROFILES for k in DURATION_KINDS if (p, k) in present]
    return cols, table


def benchmarks_page(results_root: Path, profile: str) -> str:
    lines = ["# Benchmarks", ""]
    bench_path = results_root / "bench.json"
    if bench_path.is_file():
        bench = json.loads(bench_path.read_text())
        rows = bench_rows(bench)
        mach = bench.get("machine", {})
        lines += [f"From `results/bench.json` (`make bench`), {bench.get('created', '?')}, {mach.get('platform', '?')}, "
                  f"{mach.get('cpus', '?')} CPUs" + (" — **quick** sizes (proves it runs; not a measurement)"
                                                     if bench.get("quick") else "") + ". "
                  f"*× {YARDSTICK}*: images/s relative to a {YARDSTICK} yardstick at the same input size, device "
                  "and measurement, where one was measured.", "",
                  f"| benchmark | measurement | value | unit | × {YARDSTICK} | context |", "| --- | --- | ---: | --- | ---: | --- |"]
        for r in rows:
            ctx = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("name", "value", "unit", "benchmark", "ratio"))
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "–"
            lines.append(f"| `{r['benchmark']}` | {_cell(r['name'])} | {r['value']:.4g} | {r['unit']} | {ratio} | {_cell(ctx)} |")
        failed = [n for n, b in bench.get("benchmarks", {}).items() if b.get("status") != "ok"]
        if failed:
            lines += ["", "Failed benchmarks: " + ", ".join(f"`{n}`" for n in failed)]
        lines.append("")
    else:
        lines += ["No `results/bench.json` yet: run `make bench`.", ""]
    lines += ["## Notebook durations", "",
              "Seconds per notebook from each profile's `manifest.json`: *cold* is its latest run that trained "
              "a model (the run cache did not have it), *warm* its latest run that read every trained model back "
              "from the run cache, *no training* a notebook that trains nothing; *last* is the latest run of any "
              "kind. A rerun with nothing changed is skipped in well under a second. The totals are what "
              "`make workbook` takes for the notebooks measured in that column.", ""]
    cols, table = duration_table(results_root)
    if table:
        lines += ["| notebook | " + " | ".join(f"{p} {k}" for p, k in cols) + " |", "| --- |" + " ---: |" * len(cols)]
        for nb_id in sorted(table):
            lines.append(f"| `{nb_id}` | " + " | ".join(f"{table[nb_id][c]:.0f}" if c in table[nb_id] else "–"
                                                     for c in cols) + " |")
        lines.append("| **total** | " + " | ".join(f"**{sum(v[c] for v in table.values() if c in v):.0f}**"
                                                 for c in cols) + " |")
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# build
def _copy_notebook(src: Path, dst: Path) -> None:
    """The executed notebook for the book: widget state and widget-view outputs dropped (their
    text fallback stays), so no page asks a CDN for widget JavaScript."""
    nb = json.loads(src.read_text())
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data")
            if isinstance(data, dict) and WIDGET_MIME in data:
                data.pop(WIDGET_MIME)
                data.setdefault("text/plain", "[interactive widget: open the notebook in JupyterLab]")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb))


def write_source(profile: str, results_root: Path | None = None, notebooks_dir: Path | None = None) -> Path:
    """Write the book's Sphinx source tree to ``results/<profile>/.book-src/`` and return it.

    Raises:
        BookError: the profile has no successfully executed registered notebook.
    """
    config.check_profile(profile)
    results_root = Path(results_root or config.results_root())
    results = results_root / profile
    papers = collect(results, notebooks_dir)
    if not papers:
        raise BookError(f"no executed notebooks in {results} (manifest.json lists none as ok): run "
                        f"`make workbook PROFILE={profile}` (or `python -m aulib.workbook run --profile {profile}`) first")
    manifest = load_manifest(results)
    src = results / SRC_DIR
    shutil.rmtree(src, ignore_errors=True)
    (src / "_artifacts").mkdir(parents=True)
    for paper, entries in papers.items():
        for e in entries:
            _copy_notebook(results / paper / f"{e['stem']}.ipynb", src / paper / f"{e['stem']}.ipynb")
            for a in _artifacts(e, "figure"):
                f = results / paper / f"{a['name']}.png"
                if f.is_file():
                    (src / "_artifacts" / paper).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, src / "_artifacts" / paper / f.name)
        (src / paper / "index.md").write_text(chapter_page(paper, entries))
    pages = {"index.md": overview_page(profile, papers, manifest), "tables.md": tables_page(results, papers),
             "figures.md": figures_page(papers), "claims.md": claims_page(results, papers, src),
             "benchmarks.md": benchmarks_page(results_root, profile)}
    for name, text in pages.items():
        (src / name).write_text(text)
    commit = str(manifest.get("git_commit", "unknown"))
    conf = TEMPLATE.read_text()
    for k, v in {"project": json.dumps(f"AU Workbench — {profile} profile"), "commit": json.dumps(commit[:12]),
                 "footer": json.dumps(f"Built from the executed notebooks of results/{profile} (commit {commit[:12]}).")}.items():
        conf = conf.replace("{{" + k + "}}", v)
    (src / "conf.py").write_text(conf)
    (src / "_static").mkdir(exist_ok=True)
    (src / "_static" / "aulib-book.css").write_text(CSS)
    return src


def build(profile: str = config.DEFAULT_PROFILE, results_root: Path | None = None,
          notebooks_dir: Path | None = None, quiet: bool = False) -> Path:
    """Write the source (:func:`write_source`) and build the HTML with Sphinx, warnings as
    errors; returns ``results/<profile>/book`` (its ``index.html`` is the overview).

    Raises:
        BookError: nothing to build, or Sphinx failed / warned (its output is in the message).
    """
    results_root = Path(results_root or config.results_root())
    src = write_source(profile, results_root, notebooks_dir)
    results = results_root / profile
    work = results / ".book-build"
    shutil.rmtree(work, ignore_errors=True)
    html = work / "html"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-d", str(work / "doctrees"),
           str(src), str(html)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    if proc.returncode != 0:
        raise BookError(f"sphinx-build failed (exit {proc.returncode}) on {src}:\n"
                        + (proc.stderr or proc.stdout).strip()[-4000:])
    book = results / BOOK_DIR
    old = results / ".book-old"
    shutil.rmtree(old, ignore_errors=True)
    if book.exists():
        os.replace(book, old)
    os.replace(html, book)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    if not quiet:
        print(f"book: {book / 'index.html'}")
    return book


# ----------------------------------------------------------------------------------------
# the browser check
CHROMIUM = "/usr/bin/chromium"
#: launch flags known to work as root on a closed network (/work/.library/env/machines/python.md,
#: "Known to work"): without the background-networking flags Chromium's connections are refused.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = {"overview": "index.html", "dashboard": "claims.html"}


def chromium_path() -> str:
    """The system Chromium (``$AULIB_CHROMIUM``, else /usr/bin/chromium, else ``chromium`` on PATH).

    Raises:
        BookError: none found, with the command that installs Debian's.
    """
    for cand in (os.environ.get("AULIB_CHROMIUM"), CHROMIUM, shutil.which("chromium")):
        if cand and Path(cand).is_file():
            return cand
    raise BookError("no Chromium found (looked at $AULIB_CHROMIUM, /usr/bin/chromium, PATH): install Debian's with "
                    "`apt-get install -y chromium` (Playwright never downloads a browser here)")


def check_in_browser(book: Path, shots: Path | None = None, chapter: str | None = None,
                     timeout_ms: int = 30000) -> dict:
    """Open the built book in headless Chromium (Playwright driving the system browser), visit
    every page reachable by internal links from ``index.html``, and report what is wrong.

    Returns ``{"pages": [...visited, relative to book], "broken_links": [(page, href)], "bad_images":
    [(page, src)], "console_errors": [(page, text)], "failed_requests": [(page, url, why)],
    "screenshots": {name: path}}``; screenshots (full page, PNG) of the overview, ``chapter`` (a
    chapter's ``<paper>/index.html``, default the first paper that is not the tutorials) and the
    claims dashboard go to ``shots`` when given. Links leaving the book (``http(s)://``) are not
    followed; a ``file://`` request outside the book counts as failed.
    """
    from urllib.parse import unquote, urldefrag, urlparse

    from playwright.sync_api import sync_playwright

    book = Path(book).resolve()
    if not (book / "index.html").is_file():
        raise BookError(f"{book} holds no index.html: build the book first (make book)")
    report = {"pages": [], "broken_links": [], "bad_images": [], "console_errors": [], "failed_requests": [],
              "screenshots": {}}
    if chapter is None:
        chapters = sorted(p.parent.name for p in book.glob("*/index.html") if not p.parent.name.startswith("_"))
        chapter = next((f"{c}/index.html" for c in chapters if c != TUTORIALS), chapters[0] + "/index.html"
                       if chapters else None)
    wanted = dict(SCREENSHOTS, **({"chapter": chapter} if chapter else {}))
    todo, seen = ["index.html"], {"index.html"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        current = {"rel": ""}
        page.on("console", lambda m: m.type == "error" and report["console_errors"].append((current["rel"], m.text)))
        page.on("pageerror", lambda e: report["console_errors"].append((current["rel"], f"uncaught: {e.message}")))
        page.on("requestfailed", lambda r: report["failed_requests"].append((current["rel"], r.url, r.failure)))

        def on_request(r):
            u = urlparse(r.url)
            if u.scheme not in ("file", "data", "blob", "about"):
                report["failed_requests"].append((current["rel"], r.url, "leaves the book (offline)"))
            elif u.scheme == "file" and not unquote(u.path).startswith(str(book)):
                report["failed_requests"].append((current["rel"], r.url, "outside the book folder"))
        page.on("request", on_request)
        while todo:
            rel = todo.pop(0)
            current["rel"] = rel
            page.goto((book / rel).as_uri(), wait_until="load", timeout=timeout_ms)
            report["pages"].append(rel)
            for name, target in wanted.items():
                if target == rel and shots is not None:
                    Path(shots).mkdir(parents=True, exist_ok=True)
                    path = Path(shots) / f"book_{name}.png"
                    page.screenshot(path=str(path), full_page=True)
                    report["screenshots"][name] = path
            for src, ok in page.eval_on_selector_all(
                    "img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0])"):
                if not ok:
                    report["bad_images"].append((rel, src))
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                u = urlparse(href)
                if u.scheme != "file":
                    continue
                target = Path(unquote(urldefrag(href)[0][len("file://"):]))
                try:
                    trel = target.resolve().relative_to(book).as_posix()
                except ValueError:
                    report["broken_links"].append((rel, href))
                    continue
                if not target.is_file():
                    report["broken_links"].append((rel, href))
                elif target.suffix == ".html" and trel not in seen:
                    seen.add(trel)
                    todo.append(trel)
        browser.close()
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m aulib.workbook.book", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=config.DEFAULT_PROFILE, choices=config.PROFILES)
    ap.add_argument("--check", action="store_true",
                    help="then open the book in headless Chromium: every internal link, image and console "
                         "message; screenshots to results/<profile>/book-screenshots/; exit 1 on any fault")
    args = ap.parse_args(argv)
    try:
        book = build(args.profile)
        if args.check:
            return report_browser_check(book, book.parent / "book-screenshots")
    except BookError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def report_browser_check(book: Path, shots: Path) -> int:
    """Run :func:`check_in_browser` on ``book``, print what it found (pages visited, each broken
    link, image that did not load, console error and failed request, the screenshots) and return
    the exit status: 0 when nothing is wrong, 1 otherwise."""
    rep = check_in_browser(book, shots)
    faults = {k: rep[k] for k in ("broken_links", "bad_images", "console_errors", "failed_requests")}
    print(f"book check: {len(rep['pages'])} pages visited in headless Chromium", file=sys.stderr)
    for kind, items in faults.items():
        print(f"  {kind.replace('_', ' ')}: {len(items)}", file=sys.stderr)
        for item in items[:20]:
            print(f"    {' | '.join(map(str, item))}", file=sys.stderr)
    for name, path in rep["screenshots"].items():
        print(f"  screenshot {name}: {path}", file=sys.stderr)
    return 1 if any(faults.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
