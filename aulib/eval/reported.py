"""The store of REPORTED numbers: every result table of the four papers, as data.

This module owns the loader and the schema of the CSV files in ``aulib/eval/reported/``
(one file per source, long format, one printed number per row; provenance and column
meanings in ``aulib/eval/reported/README.md``). Sources, cited by their id:

- ``fgnet``: Yin et al., "FG-Net: Facial Action Unit Detection with Generalizable Pyramidal
  Features", WACV 2024 (``/work/shared/papers/000_*``): Tables 1-3, one number from the text
  about Figure 6.
- ``gleenet``: Hu et al., "GLEE-Net: Facial Action Units Detection Aided by Global-Local
  Expression Embedding" (``002_*``): Tables 1-5.
- ``shangyu``: Shang & Yu, "Boosting Facial Action Unit Detection through Jointly Learning
  Facial Landmark Detection and Domain Separation and Reconstruction", arXiv 2310.05207
  (``003_*``): Tables 1-3.
- ``piapdf``: Tang et al., "PIAP-DF: Pixel-Interested and Anti Person-Specific Facial AU
  Detection Net with Discrete Feedback Learning", ICCV 2021 (``004_*``): Tables 1-3, one
  number from Sec. 3.2.
- ``megraphau``: the ME-GraphAU README (CVI-SZU/ME-GraphAU; Luo et al., IJCAI 2022), its
  reported per-AU F1 as gathered in ``/work/shared/reference/methods.md`` E.3.

Numbers are kept exactly as printed, including printed averages that do not match the mean of
the printed per-AU values (flagged ``avg-mismatch`` in ``note``), never "fixed".
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).with_name("reported")

#: Column order of every CSV file in the store.
COLUMNS = ("paper", "table", "dataset", "protocol", "method", "method_key", "ref", "au",
           "metric", "value", "note")

#: Source id -> citation. The file for source ``x`` is ``DATA_DIR / f"{x}.csv"``.
SOURCES = {
    "fgnet": "Yin, Chang, Song, Sang, Zhi, Liu, Luo, Soleymani. FG-Net: Facial Action Unit "
             "Detection with Generalizable Pyramidal Features. WACV 2024.",
    "gleenet": "Hu, Zhang, Li, Ding, Chen, Deng, Yu. GLEE-Net: Facial Action Units Detection "
               "Aided by Global-Local Expression Embedding. arXiv 2210.13718.",
    "shangyu": "Shang, Yu. Boosting Facial Action Unit Detection through Jointly Learning Facial "
               "Landmark Detection and Domain Separation and Reconstruction. arXiv 2310.05207.",
    "piapdf": "Tang, Zeng, Zhao, Zhang. PIAP-DF: Pixel-Interested and Anti Person-Specific Facial "
              "Action Unit Detection Net with Discrete Feedback Learning. ICCV 2021.",
    "megraphau": "ME-GraphAU README (github.com/CVI-SZU/ME-GraphAU), reported F1; Luo et al., "
                 "Learning Multi-dimensional Edge Feature-based AU Relation Graph for Facial "
                 "Action Unit Recognition, IJCAI 2022.",
}

#: The four papers the workbook reproduces (``SOURCES`` adds the ME-GraphAU README).
PAPERS = ("fgnet", "gleenet", "shangyu", "piapdf")

#: ``F1``, ``Acc``: percent; ``MSE``: landmark mean squared error in percent of the squared face
#: size (PIAP-DF §3.2); ``Saving``: percent of a plain network's parameters / FLOPs saved.
METRICS = ("F1", "Acc", "MSE", "Saving")
#: ``within``: subject-exclusive folds of one dataset; ``cross``: train on A, test on B;
#: ``source``: tested on the labelled source domain of an adaptation run (Shang & Yu Table 2).
#: ``landmarks``: a landmark regressor's held-out error; ``complexity``: a network's size and cost.
PROTOCOLS = ("within", "cross", "source", "ablation", "data-efficiency", "face-recognition",
             "landmarks", "complexity")
_AU_RE = re.compile(r"^(AU[1-9][0-9]*|Avg|-)$")
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

#: Other spellings of a method key (model-registry names, common names) -> the store's key.
ALIASES = {
    "megraph": "megraphau", "me-graphau": "megraphau", "me-graph": "megraphau",
    "jaa-net": "jaanet", "jaanet-ijcv": "jaanet", "jaanet-v1": "jaanet-eccv18",
    "fg-net": "fgnet", "glee-net": "gleenet", "piap-df": "piapdf", "shang-yu": "shangyu",
    "eac-net": "eacnet", "lp-net": "lpnet", "ugn-b": "ugnb", "hmp-ps": "hmpps", "sev-net": "sevnet",
    "mhsa-ffn": "mhsaffn", "gh-feat": "ghfeat", "patch-mcd": "patchmcd", "fab-net": "fabnet",
}


class ReportedSchemaError(ValueError):
    """A CSV file of the store does not follow the schema (see ``reported/README.md``)."""


def _fail(path: Path, line: int | None, msg: str):
    where = f"{path.name}" + (f" line {line}" if line is not None else "")
    raise ReportedSchemaError(
        f"{where}: {msg}. Every file in {DATA_DIR} must have the columns {', '.join(COLUMNS)} "
        "(see README.md there); fix the file rather than the loader.")


def validate(df: pd.DataFrame, path: Path, source: str) -> pd.DataFrame:
    """Check one source's rows against the schema; return them with ``value`` as float.

    Checks: the exact column order; non-empty ``paper, table, dataset, protocol, method,
    method_key, au, metric``; ``paper`` equals the file's source id; ``au`` is ``AUn``,
    ``Avg`` or ``-`` (a number that is not per AU); ``protocol`` in :data:`PROTOCOLS`;
    ``metric`` in :data:`METRICS`; ``value``
    a number in [0, 100]; ``method_key`` lower-case ``[a-z0-9-]``; one row per
    (table, dataset, method_key, au, metric).
    """
    if tuple(df.columns) != COLUMNS:
        _fail(path, 1, f"header is {list(df.columns)}, expected {list(COLUMNS)}")
    for col in ("paper", "table", "dataset", "protocol", "method", "method_key", "au", "metric"):
        empty = df.index[df[col].str.strip() == ""]
        if len(empty):
            _fail(path, int(empty[0]) + 2, f"empty {col!r}")
    bad = df.index[df["paper"] != source]
    if len(bad):
        _fail(path, int(bad[0]) + 2, f"paper is {df.at[bad[0], 'paper']!r}, expected {source!r} "
              "(the file name)")
    bad = df.index[~df["au"].str.match(_AU_RE)]
    if len(bad):
        _fail(path, int(bad[0]) + 2, f"au {df.at[bad[0], 'au']!r} is not 'AU<n>', 'Avg' or '-'")
    bad = df.index[~df["protocol"].isin(PROTOCOLS)]
    if len(bad):
        _fail(path, int(bad[0]) + 2, f"protocol {df.at[bad[0], 'protocol']!r} not in {PROTOCOLS}")
    bad = df.index[~df["metric"].isin(METRICS)]
    if len(bad):
        _fail(path, int(bad[0]) + 2, f"metric {df.at[bad[0], 'metric']!r} not in {METRICS}")
    bad = df.index[~df["method_key"].str.match(_KEY_RE)]
    if len(bad):
        _fail(path, int(bad[0]) + 2, f"method_key {df.at[bad[0], 'method_key']!r} must be "
              "lower-case letters, digits and '-'")
    values = pd.to_numeric(df["value"], errors="coerce")
    bad = df.index[values.isna() | (values < 0) | (values > 100)]
    if len(bad):
        _fail(path, int(bad[0]) + 2, f"value {df.at[bad[0], 'value']!r} is not a percentage in "
              "[0, 100]")
    ident = ["table", "dataset", "method_key", "au", "metric"]
    dup = df.index[df.duplicated(ident, keep="first")]
    if len(dup):
        _fail(path, int(dup[0]) + 2, "duplicate row for " +
              ", ".join(f"{c}={df.at[dup[0], c]!r}" for c in ident))
    out = df.copy()
    out["value"] = values.astype(float)
    return out


@functools.lru_cache(maxsize=1)
def _store() -> pd.DataFrame:
    frames = []
    for source in SOURCES:
        path = DATA_DIR / f"{source}.csv"
        if not path.is_file():
            raise FileNotFoundError(
                f"the reported-numbers file {path} is missing; it ships with aulib "
                "(package data *.csv) - reinstall aulib or restore the file from git")
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        frames.append(validate(raw, path, source))
    return pd.concat(frames, ignore_index=True)


def _check(kind: str, value, valid, hint: str = "") -> None:
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; valid {kind}s{hint}: "
                         + ", ".join(repr(v) for v in valid))


def papers() -> list[str]:
    """Source ids in the store: the four papers, then ``megraphau`` (the ME-GraphAU README)."""
    return list(SOURCES)


def tables(paper: str) -> list[str]:
    """Table names of one source, as printed (``"Table 1"``, ...), in the order of the file."""
    _check("paper", paper, papers())
    df = _store()
    return list(dict.fromkeys(df.loc[df["paper"] == paper, "table"]))


def datasets(paper: str, table: str) -> list[str]:
    """Datasets (or ``"A->B"`` directions) that one table reports, in printed order."""
    return list(dict.fromkeys(load(paper, table)["dataset"]))


def load(paper: str | None = None, table: str | None = None, dataset: str | None = None,
         metric: str | None = None) -> pd.DataFrame:
    """Reported numbers as a long DataFrame with the columns :data:`COLUMNS`.

    Filters are exact matches; an unknown value raises an error listing the valid ones
    (tables of ``paper`` when given, datasets of the selection). ``value`` is the printed
    number (percent) as float. The result is a copy: change it freely.
    """
    df = _store()
    if paper is not None:
        _check("paper", paper, papers())
        df = df[df["paper"] == paper]
    if table is not None:
        valid = list(dict.fromkeys(df["table"]))
        _check("table", table, valid, f" of {paper!r}" if paper else "")
        df = df[df["table"] == table]
    if dataset is not None:
        valid = list(dict.fromkeys(df["dataset"]))
        where = " of " + " ".join(x for x in (paper, table) if x) if (paper or table) else ""
        _check("dataset", dataset, valid, where)
        df = df[df["dataset"] == dataset]
    if metric is not None:
        _check("metric", metric, list(dict.fromkeys(df["metric"])))
        df = df[df["metric"] == metric]
    return df.reset_index(drop=True).copy()


def row(paper: str, table: str, method_key: str, dataset: str | None = None,
        metric: str = "F1") -> pd.Series:
    """One method's printed numbers in one table as a Series indexed by AU (``"Avg"`` last).

    ``dataset`` may be left out when the table reports a single dataset.
    """
    df = load(paper, table, dataset, metric)
    if dataset is None and df["dataset"].nunique() > 1:
        raise ValueError(f"{paper} {table} reports several datasets "
                         f"({', '.join(dict.fromkeys(df['dataset']))}); pass dataset=")
    key = normalise_key(method_key, df)
    sel = df[df["method_key"] == key]
    if sel.empty:
        raise ValueError(f"{method_key!r} is not a method of {paper} {table}; its methods: "
                         + ", ".join(dict.fromkeys(df["method_key"])))
    s = pd.Series(sel["value"].to_numpy(), index=sel["au"].to_numpy(), name=key, dtype=float)
    return s


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def normalise_key(name: str, rows: pd.DataFrame | None = None) -> str:
    """Map a method name or key to the store's ``method_key``.

    Accepts a key (``"jaanet"``), an alias (``"megraph"``, see :data:`ALIASES`) or a printed
    name (``"ME-GraphAU"``, ``"GLEE-Net (Ours)"``). With ``rows`` (a slice of :func:`load`),
    printed names are matched within those rows; otherwise within the whole store. Unknown
    names come back lower-cased, so a method only we ran keeps a stable key.
    """
    raw = str(name).strip()
    low = raw.lower()
    rows = _store() if rows is None else rows
    keys = set(rows["method_key"])
    if low in keys:
        return low
    if low in ALIASES:
        return ALIASES[low]
    by_name = {}
    for method, key in zip(rows["method"], rows["method_key"]):
        by_name.setdefault(_squash(method), key)
    for key in keys:
        by_name.setdefault(_squash(key), key)
    return by_name.get(_squash(raw), low)
