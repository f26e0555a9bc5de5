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
    assert entry["status"] == "ok" and entry["peak_rss_mib"] > 10
    assert entry["results"][0]["unit"] == "frames/s" and entry["results"][0]["value"] > 0
