"""The HTML book (aulib.workbook.book): built from a smoke run of two notebooks in a temp results
folder, opened in headless Chromium (every internal link, every image, no console error), with
screenshots kept under results/book-screenshots/ to look at."""
import json
import shutil
from pathlib import Path

import pytest

from aulib import config
from aulib.workbook import book, runner

NOTEBOOKS = "tutorials/01_au_metrics,tutorials/03_data_and_protocols"
SHOTS = config.REPO_ROOT / "results" / "book-screenshots"


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    outcomes = runner.run("smoke", only=NOTEBOOKS, results=root, quiet=True)
    assert [o.status for o in outcomes] == ["ok", "ok"], [(o.id, o.error) for o in outcomes]
    # a bench.json with a yardstick row, so the benchmarks page has its ratio column to show
    (root / "bench.json").write_text(json.dumps({"created": "now", "machine": {"cpus": 2}, "quick": True,
        "benchmarks": {"x.m": {"status": "ok", "results": [
            {"name": "ResNet-50 train step (tiny, cpu)", "value": 20.0, "unit": "images/s", "device": "cpu", "input": "64x64"},
            {"name": "FG-Net train step (tiny, cpu)", "value": 80.0, "unit": "images/s", "device": "cpu", "input": "64x64"}]}}}))
    return root


@pytest.fixture(scope="module")
def built(smoke_results):
    return book.build("smoke", results_root=smoke_results, quiet=True)


def test_book_pages_come_from_the_registry_and_the_manifest(smoke_results, built):
    src = smoke_results / "smoke" / book.SRC_DIR
    assert (built / "index.html").is_file()
    assert sorted(p.name for p in (src / "tutorials").glob("*.ipynb")) == ["01_au_metrics.ipynb",
                                                                          "03_data_and_protocols.ipynb"]
    for page in ("claims", "tables", "figures", "benchmarks", "tutorials/index", "tutorials/01_au_metrics"):
        assert (built / f"{page}.html").is_file(), page
    # every verdict of the run, with totals
    claims = json.loads((smoke_results / "smoke" / "tutorials" / "claims.json").read_text())
    dash = (src / "claims.md").read_text()
    assert claims and all(c["claim"].replace("|", "\\|") in dash for c in claims)
    n_holds = sum(c["verdict"] == "holds" for c in claims)
    assert f"| tutorials | {n_holds} | " in dash
    # every table and figure, each with the notebook, parameters and commit that made it
    rec = json.loads((smoke_results / "smoke" / "tutorials" / "01_au_metrics.run.json").read_text())
    tables, figures = (src / "tables.md").read_text(), (src / "figures.md").read_text()
    for a in rec["artifacts"]:
        page = tables if a["kind"] == "table" else figures
        assert f"`{a['name']}` — Made by [tutorials/01_au_metrics](tutorials/01_au_metrics.ipynb) at commit" in page
    assert "`n_frames=" in tables
    bench = (src / "benchmarks.md").read_text()
    assert "| 4.00 |" in bench and "| 1.00 |" in bench          # 80 / 20 and the yardstick itself
    # durations: both tutorials train nothing; one column of that kind and the latest run
    secs = {k: e["seconds"] for k, e in json.loads((smoke_results / "smoke" / "manifest.json").read_text())["notebooks"].items()}
    assert "| notebook | smoke no training | smoke last |" in bench
    assert f"| `tutorials/01_au_metrics` | {secs['tutorials/01_au_metrics']:.0f} | {secs['tutorials/01_au_metrics']:.0f} |" in bench


def test_run_kind_tells_cold_from_warm_runs():
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    old, new = {"trained": "2025-12-31T10:00:00+00:00"}, {"trained": "2026-01-01T11:59:00+00:00"}
    assert runner.run_kind([], 100, now) == "no training"
    assert runner.run_kind([old], 100, now) == "warm"            # read back from the run cache
    assert runner.run_kind([old, new], 100, now) == "cold"       # trained during these 100 s
    assert runner.run_kind([new], 30, now) == "warm"             # trained before this run started


def test_book_refuses_a_profile_without_executed_notebooks(tmp_path):
    with pytest.raises(book.BookError, match="no executed notebooks .*make workbook PROFILE=tiny"):
        book.build("tiny", results_root=tmp_path)


def test_published_pairs_read_side_by_side_columns(tmp_path):
    import pandas as pd

    (tmp_path / "p").mkdir()
    pd.DataFrame({"method": ["FG-Net", "DRML"], "AU1 ours": [20.0, "–"], "AU1 paper": [50.0, 40.0],
                  "Avg ours": [30.0, 10.0], "Avg paper": [60.0, 45.0]}).to_csv(tmp_path / "p" / "t.csv", index=False)
    papers = {"p": [{"record": {"artifacts": [{"kind": "table", "name": "t"}]}}]}
    pairs = book.published_pairs(tmp_path, papers)["p"]
    assert sorted(pairs) == sorted([(50.0, 20.0, "t: FG-Net AU1"), (60.0, 30.0, "t: FG-Net Avg"),
                                    (45.0, 10.0, "t: DRML Avg")])


@pytest.mark.skipif(not Path(book.CHROMIUM).is_file() and not shutil.which("chromium"),
                    reason="Debian's chromium is not installed (.ci/run installs it)")
def test_book_in_headless_chromium(built):
    report = book.check_in_browser(built, SHOTS)
    assert len(report["pages"]) >= 8, report["pages"]
    assert {"index.html", "claims.html", "tables.html", "figures.html", "benchmarks.html",
            "tutorials/index.html", "tutorials/01_au_metrics.html"} <= set(report["pages"])
    for problem in ("broken_links", "bad_images", "console_errors", "failed_requests"):
        assert report[problem] == [], (problem, report[problem][:10])
    assert set(report["screenshots"]) == {"overview", "chapter", "dashboard"}
    for path in report["screenshots"].values():
        assert Path(path).stat().st_size > 10_000


def test_browser_check_finds_a_broken_link_and_a_missing_image(tmp_path, capsys):
    if not Path(book.CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    (tmp_path / "index.html").write_text('<html><body><a href="gone.html">x</a><a href="b.html">b</a>'
                                         '<img src="missing.png"></body></html>')
    (tmp_path / "b.html").write_text("<html><body><script>console.error('boom')</script></body></html>")
    report = book.check_in_browser(tmp_path)
    assert report["pages"] == ["index.html", "b.html"]
    assert [h.rsplit("/", 1)[-1] for _, h in report["broken_links"]] == ["gone.html"]
    assert report["bad_images"] == [("index.html", "missing.png")]
    assert ("b.html", "boom") in report["console_errors"]
    # the command line's --check prints the same faults and fails on them
    assert book.report_browser_check(tmp_path, tmp_path / "shots") == 1
    err = capsys.readouterr().err
    assert "book check: 2 pages visited" in err and "broken links: 1" in err and "bad images: 1" in err
    assert "missing.png" in err
