"""The official on-disk layout facts of each dataset, with their sources: ``layouts.toml``.

One place read by the readers (``aulib.data.readers``), the SynthAU writers
(``aulib.synth.writers``, which load the same file) and the layout tests. ``load()`` returns
the TOML as a dict: section per dataset (``bp4d``, ``bp4dplus``, ``disfa``, ``emotionet``,
``ffhq``, ``lfw``), each fact followed by a ``<fact>_source`` entry naming where it comes from
(``/work/shared/reference/datasets.md`` and the public code it cites).
"""
from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import pandas as pd

PATH = Path(__file__).with_name("layouts.toml")


@functools.lru_cache(maxsize=1)
def load() -> dict:
    """The layout facts (dict of dataset -> facts). Raises ``FileNotFoundError`` if the
    package data file is missing (a broken install)."""
    return tomllib.loads(PATH.read_text())


def lfw_protocol_problems(pairs: pd.DataFrame, per_fold: int | None = None) -> list[str]:
    """What in a parsed ``pairs.txt`` (``readers.faces.lfw_pairs``) breaks LFW's View 2
    protocol (``layouts.toml`` [lfw] rules): unequal matched/mismatched counts per fold, a
    person in more than one fold (identity leakage between the folds a verification accuracy
    trains and tests on), a repeated pair, a matched pair with the larger image number first.
    Empty list = the protocol holds."""
    out = []
    counts = pairs.groupby(["fold", "same"]).size().unstack(fill_value=0)
    for fold, row in counts.iterrows():
        want = per_fold if per_fold is not None else row.max()
        if row.get(True, 0) != want or row.get(False, 0) != want:
            out.append(f"fold {fold}: {row.get(True, 0)} matched and {row.get(False, 0)} "
                       f"mismatched pairs, expected {want} of each")
    people = pd.concat([pairs[["fold", "name1"]].rename(columns={"name1": "name"}),
                        pairs[["fold", "name2"]].rename(columns={"name2": "name"})])
    folds_per_person = people.drop_duplicates().groupby("name")["fold"].nunique()
    leak = folds_per_person[folds_per_person > 1]
    if len(leak):
        out.append(f"{len(leak)} of {len(folds_per_person)} people appear in more than one "
                   f"fold (e.g. {leak.index[0]} in {int(leak.iloc[0])} folds)")
    key = pairs[["name1", "idx1", "name2", "idx2"]].astype(str).agg("\t".join, axis=1)
    if key.duplicated().any():
        out.append(f"{int(key.duplicated().sum())} pair lines repeat (e.g. {key[key.duplicated()].iloc[0]!r})")
    bad = pairs[pairs.same & (pairs.idx1 >= pairs.idx2)]
    if len(bad):
        out.append(f"{len(bad)} matched pairs do not list the smaller image number first "
                   f"(e.g. {bad.name1.iloc[0]} {bad.idx1.iloc[0]} {bad.idx2.iloc[0]})")
    return out
