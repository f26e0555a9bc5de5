"""``python -m aulib.bench [--quick] [--only GLOB]`` -> ``results/bench.json``.

Each registered benchmark runs in its own subprocess so its peak memory (max RSS) and wall
time are its own; results are merged into one JSON file with the machine's description. A run
with ``--only`` updates the benchmarks it ran in an existing report of the same kind and machine
and keeps the others; each entry records when it was ``measured``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from fnmatch import fnmatch
from pathlib import Path

from .. import config
from . import load_all


def _child(name: str, quick: bool) -> None:
    benches = load_all()
    t0 = time.perf_counter()
    rows = benches[name](quick)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print("@@BENCH@@" + json.dumps({"rows": rows, "seconds": time.perf_counter() - t0,
                                    "peak_rss_mib": round(peak, 1)}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aulib.bench")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (proves each bench runs)")
    ap.add_argument("--only", help="glob over benchmark names")
    ap.add_argument("--out", default=None, help="output JSON (default results/bench.json)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.quick)
        return 0
    names = sorted(n for n in load_all() if not args.only or fnmatch(n, args.only))
    out = Path(args.out) if args.out else config.results_root() / "bench.json"
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    report = {"created": now, "machine": machine, "quick": args.quick, "benchmarks": {}}
    if args.only and out.is_file():
        # a partial run (--only) updates the benchmarks it ran and keeps the others of the report
        # (each entry says when it was measured); a report of the other kind (--quick or not) is replaced
        earlier = json.loads(out.read_text())
        if earlier.get("quick") == args.quick and earlier.get("machine") == machine:
            report["benchmarks"] = {k: dict(v, measured=v.get("measured", earlier.get("created")))
                                    for k, v in earlier.get("benchmarks", {}).items()}
    failed = 0
    for name in names:
        cmd = [sys.executable, "-m", "aulib.bench", "--child", name] + (["--quick"] if args.quick else [])
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None   # other work on the machine
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@BENCH@@")]
        if proc.returncode != 0 or not line:
            failed += 1
            report["benchmarks"][name] = {"status": "failed", "measured": now, "error": proc.stderr[-2000:]}
            print(f"✗ {name}: failed\n{proc.stderr[-800:]}", file=sys.stderr)
            continue
        res = json.loads(line[0][len("@@BENCH@@"):])
        entry = {"status": "ok", "measured": now, "wall_s": round(wall, 2), "bench_s": round(res["seconds"], 2),
                 "peak_rss_mib": res["peak_rss_mib"],  # of the benchmark's own process
                 # 1-minute load average when it started: above the core count, other processes shared the
                 # cores and the speeds read low (README, "Threads on a shared machine")
                 "load_avg": None if load is None else round(load, 2),
                 "results": res["rows"]}
        report["benchmarks"][name] = entry
        busy = load is not None and load > (os.cpu_count() or 1) - 0.5
        print(f"✓ {name} ({wall:.1f} s)" + (f"  [load {load:.1f} on {os.cpu_count()} cores: speeds read low]"
                                             if busy else ""))
        for r in res["rows"]:
            ctx = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("name", "value", "unit"))
            print(f"    {r['name']}: {r['value']:.4g} {r['unit']}" + (f"  [{ctx}]" if ctx else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
