"""``python -m aulib.workbook``: run, list and inspect the registered notebooks.

    python -m aulib.workbook run [--profile tiny] [--only GLOB] [--jobs N] [--force] [--retrain-stale]
                                 [-p NAME=VALUE]
    python -m aulib.workbook run --profile paper --executor slurm    # one submitit job per notebook (slurm.py)
    python -m aulib.workbook run --profile paper --check [--only GLOB]   # the paper check (papercheck.py)
    python -m aulib.workbook list [--profile P]
    python -m aulib.workbook status [--profile P]      # also lists stale notebooks; runs nothing
    python -m aulib.workbook params NOTEBOOK
"""
from __future__ import annotations

import argparse
import sys

from .. import config
from .registry import ParameterError, discover, parse_override


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aulib.workbook",
                                 description="Execute AU Workbench notebooks with papermill.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute notebooks (cached; writes results/<profile>/)")
    r.add_argument("--profile", default=config.DEFAULT_PROFILE, choices=config.PROFILES)
    r.add_argument("--only", help="comma-separated glob(s) over notebook ids, e.g. 'fgnet/*'")
    r.add_argument("--jobs", type=int, default=1, help="notebooks executed in parallel")
    r.add_argument("--force", action="store_true", help="rerun even when cached")
    r.add_argument("--retrain-stale", action="store_true",
                   help="retrain the cached training runs whose code changed since they were trained, "
                        "and rerun the notebooks that read them")
    r.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter for the selected notebooks: text as written for a "
                        "parameter declared str, else a Python literal (5, 0.5, True, [1, 2])")
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    r.add_argument("--executor", choices=("slurm", "local", "debug"), default=None,
                   help="submit each notebook as a submitit job: slurm (sbatch), local (subprocesses here) or "
                        "debug (in-process); resources from the sidecars' [slurm] tables (aulib.workbook.slurm)")
    r.add_argument("--check", action="store_true",
                   help="with --profile paper: the paper check - every notebook at the paper's settings and "
                        "shapes on stand-ins (SynthAU, random-init weights), loops cut to a handful; numbers "
                        "meaningless (aulib.workbook.papercheck; results/check/paper/)")
    for name in ("list", "status"):
        s = sub.add_parser(name, help=f"{name} registered notebooks")
        s.add_argument("--profile", default=config.DEFAULT_PROFILE, choices=config.PROFILES)
        s.add_argument("--only")
    p = sub.add_parser("params", help="a notebook's parameters and its profiles")
    p.add_argument("notebook")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "run":
            import signal

            from .runner import run

            # `kill` (SIGTERM) ends a run as Ctrl-C does: the manifest, index and staging clean-up
            # in the runner's `finally` still happen (each finished notebook is recorded at once)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

            overrides = dict(parse_override(t) for t in args.param)
            if args.check:
                if args.profile != "paper":
                    print("error: --check runs the paper profile's shapes: use --profile paper --check",
                          file=sys.stderr)
                    return 2
                from .papercheck import run_check

                outcomes = run_check(args.only, args.jobs, args.force, overrides, timeout=args.timeout)
                return 1 if any(o.status == "failed" for o in outcomes) else 0
            if args.profile == "paper":   # real data and published files: check them before any training
                from .preflight import data_check
                from .runner import select

                lines, problems = data_check(select(discover(), args.only), overrides)
                print("\n".join(lines), file=sys.stderr)
                if problems:
                    print(f"\nstopped before any training: {len(problems)} input(s) missing or incomplete:\n  "
                          + "\n  ".join(problems) + "\nfix them (see above) and rerun; `make paper-check` runs the "
                          "same notebooks on stand-ins", file=sys.stderr)
                    return 2
            outcomes = run(args.profile, args.only, args.jobs, args.force, overrides,
                           timeout=args.timeout, retrain_stale=args.retrain_stale, executor=args.executor)
            return 1 if any(o.status == "failed" for o in outcomes) else 0
        if args.cmd == "list":
            from .runner import select

            for nb in select(discover(), args.only):
                profiles = ", ".join(p for p in config.PROFILES if p in nb.profiles)
                print(f"{nb.id:45s} {nb.title}  [{profiles}]")
            return 0
        if args.cmd == "status":
            from .runner import describe_run, load_manifest, plan, retrain_command, stale_notebooks

            results = config.results_root() / args.profile
            manifest = load_manifest(results)
            stale = stale_notebooks(results)
            shown = []
            for nb, _params, _key, fresh in plan(args.profile, args.only):
                entry = manifest["notebooks"].get(nb.id, {})
                state = entry.get("status", "never run")
                note = "up to date" if fresh else ("will run" if state != "failed" else "will rerun")
                extra = f"  ({entry.get('seconds')} s)" if state == "ok" else ""
                if state == "failed":
                    extra = f"  — {entry.get('error', '')[:100]}"
                if nb.id in stale:
                    shown.append(nb.id)
                    extra += f"  STALE: {len(stale[nb.id])} run(s) trained by older code"
                print(f"{nb.id:45s} {state:10s} {note}{extra}")
            if shown:
                print(f"\n{len(shown)} stale notebook(s): their runs were trained by code that has changed since")
                for nb_id in shown:
                    print(f"  {nb_id}:")
                    for r in stale[nb_id]:
                        print(f"    {describe_run(r)}")
                print("  retrain: " + retrain_command(args.profile, shown))
            return 0
        if args.cmd == "params":
            nbs = {nb.id: nb for nb in discover()}
            if args.notebook not in nbs:
                print(f"unknown notebook {args.notebook!r}; registered: {', '.join(nbs)}",
                      file=sys.stderr)
                return 2
            nb = nbs[args.notebook]
            for name, spec in nb.parameters().items():
                per = "  ".join(f"{p}={nb.profiles[p][name]!r}" for p in config.PROFILES
                                if name in nb.profiles.get(p, {}))
                print(f"{name}: {spec['type']} = {spec['default']!r}  # {spec['help']}"
                      + (f"   [{per}]" if per else ""))
            return 0
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
