"""``python -m aulib.synth``: ``prepare --profile tiny [names...]`` writes SynthAU datasets
(all by default; cached), ``list`` shows what exists for a profile."""
from __future__ import annotations

import argparse
import sys
import time

from .. import config
from .store import NAMES, SYNTH_PROFILES, ensure, status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aulib.synth", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write SynthAU datasets in their official layouts")
    p.add_argument("names", nargs="*", help=f"datasets (default all): {', '.join(NAMES)}")
    p.add_argument("--profile", default=config.DEFAULT_PROFILE, choices=SYNTH_PROFILES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default=None, help="data root (default $AULIB_DATA or <repo>/data)")
    ls = sub.add_parser("list", help="show the datasets and their state")
    ls.add_argument("--profile", default=config.DEFAULT_PROFILE, choices=SYNTH_PROFILES)
    ls.add_argument("--seed", type=int, default=0)
    ls.add_argument("--root", default=None)
    a = ap.parse_args(argv)
    if a.cmd == "list":
        for row in status(a.profile, a.root, a.seed):
            print(f"{row['name']:18s} {row['state']:8s} {row['path']}")
        return 0
    bad = [n for n in a.names if n not in NAMES]
    if bad:
        print(f"unknown dataset(s) {bad}; available: {', '.join(NAMES)}", file=sys.stderr)
        return 2
    for name in a.names or NAMES:
        t = time.time()
        path = ensure(name, a.profile, a.root, a.seed)
        print(f"{name:18s} {time.time() - t:7.1f}s  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
