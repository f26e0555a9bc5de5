"""`make bench` plumbing: a benchmark runs in its own process and lands in the JSON report."""
import json
import subprocess
import sys


def test_bench_writes_report(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "aulib.bench", "--quick", "--only", "eval.*",
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    entry = report["benchmarks"]["eval.f1_per_au"]
    assert entry["status"] == "ok" and entry["peak_rss_mib"] > 10 and entry["load_avg"] >= 0
    assert entry["results"][0]["unit"] == "frames/s" and entry["results"][0]["value"] > 0
    # a second partial run adds its benchmark and keeps the first one's (a partial run never
    # wipes the report the book and the comparison read)
    proc = subprocess.run([sys.executable, "-m", "aulib.bench", "--quick", "--only", "workbook.*",
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    both = json.loads(out.read_text())["benchmarks"]
    assert set(both) == {"eval.f1_per_au", "workbook.runner_overhead"}
    assert both["eval.f1_per_au"]["results"] == entry["results"] and both["eval.f1_per_au"]["measured"]


def test_every_compared_method_has_the_bench_rows_its_efficiency_row_reads(tmp_path):
    """The comparison looks up each method's speed and GFLOPs by its ``bench`` label in the
    ``tiny`` rows (``aulib.papers.compare.efficiency``): a label without rows is an empty cell."""
    from aulib.papers import compare as C

    out = tmp_path / "bench.json"
    # every *_tiny bench but the ResNet-50 yardsticks (no compared method reads them)
    proc = subprocess.run([sys.executable, "-m", "aulib.bench", "--quick", "--only", "*[!0]_tiny",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rows = [r for b in json.loads(out.read_text())["benchmarks"].values() for r in b["results"]]
    for m in C.methods().values():
        assert m.bench, f"{m.key} names no bench label"
        mine = [r for r in rows if r["name"].startswith(m.bench + " ") and "tiny" in r["name"]]
        kinds = {w for w in ("train step", "inference (", "GFLOPs") for r in mine if w in r["name"]}
        assert kinds == {"train step", "inference (", "GFLOPs"}, (m.key, m.bench, [r["name"] for r in mine])
        # GFLOPs per face: torch's FLOP counter over one forward (a multiply-add counts 2)
        (flops,) = [r for r in mine if r["unit"] == "GFLOPs"]
        assert 0.001 < flops["value"] < 100, (m.key, flops)
