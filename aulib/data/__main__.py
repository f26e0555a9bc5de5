"""``python -m aulib.data``: check a dataset folder, list the datasets, build a frame index.

    python -m aulib.data list
    python -m aulib.data check disfa /path/to/DISFA      # what is ok / missing / mis-shaped
    python -m aulib.data index bp4d [/path/to/BP4D]      # build (and cache) the frame index
"""
from __future__ import annotations

import argparse
import sys

from .catalog import DATASETS, DatasetLayoutError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aulib.data")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="datasets, their expected folders and where to obtain them")
    for name in ("check", "index"):
        p = sub.add_parser(name)
        p.add_argument("dataset", choices=sorted(DATASETS))
        p.add_argument("root", nargs="?", default=None, help="the dataset folder")
    args = ap.parse_args(argv)
    if args.cmd == "list":
        for key, d in DATASETS.items():
            print(f"{key:10s} <data_root>/{d.subfolder:22s} {d.title} — obtain: {d.obtain}")
        return 0
    if args.cmd == "check":
        from .check import check

        report = check(args.dataset, args.root)
        return 0 if (report["status"] == "ok").all() else 1
    from .index import frame_index

    try:
        idx = frame_index(args.dataset, args.root)
    except DatasetLayoutError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not len(idx):
        print(f"error: the {args.dataset} index has no labelled frames; run "
              f"python -m aulib.data check {args.dataset} {args.root or ''} to see why",
              file=sys.stderr)
        return 1
    print(f"{len(idx)} frames, {idx['subject'].nunique()} subjects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
