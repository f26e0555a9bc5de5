"""The written preprocessing spec of each paper, as data (``preprocessing.toml`` beside this
module): detector, landmark scheme, alignment points, sizes, colour order, normalisation,
with the source of every fact and what the paper leaves unsaid (user-asks.md #3)."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

SPEC_FILE = Path(__file__).with_name("preprocessing.toml")


@lru_cache(maxsize=1)
def all_specs() -> dict[str, dict]:
    """Every paper's spec, keyed by paper id (``fgnet``, ``shangyu``, ``gleenet``, ...)."""
    with open(SPEC_FILE, "rb") as f:
        return tomllib.load(f)


def spec(paper: str) -> dict:
    """One paper's preprocessing spec; a clear error lists the known papers."""
    specs = all_specs()
    if paper not in specs:
        raise KeyError(f"no preprocessing spec for {paper!r}; known: {', '.join(specs)} "
                       f"(specs live in {SPEC_FILE})")
    return dict(specs[paper])


def specs_table():
    """All specs as a DataFrame (one row per paper), for notebooks and the book."""
    import pandas as pd

    return pd.DataFrame([{"paper": k, **v} for k, v in all_specs().items()])
