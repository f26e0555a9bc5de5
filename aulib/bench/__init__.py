"""Benchmarks (``make bench`` -> ``python -m aulib.bench`` -> ``results/bench.json``).

Each area registers its measurements with :func:`register` in a module of this package
(``bench/workbook.py``, ``bench/synth.py``, ...). A benchmark is a function taking the
``quick`` flag (True in the tests: tiny sizes, just proves it runs) and returning a list of
result dicts (``name``, ``value``, ``unit`` and any context such as ``device``, ``size``).
Wall time and peak memory of every benchmark are added by the runner.
"""
from __future__ import annotations

from typing import Callable

_BENCHES: dict[str, Callable] = {}
MODULES = ("workbook", "metrics", "synth", "face", "data", "models", "fgnet", "shangyu", "gleenet", "piapdf")


def register(name: str):
    def deco(fn):
        _BENCHES[name] = fn
        return fn
    return deco


def load_all() -> dict[str, Callable]:
    import importlib

    for m in MODULES:
        try:
            importlib.import_module(f"{__name__}.{m}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{m}":
                raise
    return dict(_BENCHES)
