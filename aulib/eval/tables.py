"""The one table renderer: our numbers beside the papers' reported numbers.

- :func:`side_by_side`: for one printed table (paper, table, dataset) and our long results,
  one row per method (the paper's rows in printed order, then methods only we ran), and for
  every AU our value beside the paper's, or ``ours - paper`` (``view="diff"``), with
  :data:`DASH` where a method was not run by us or not reported.
- :func:`to_markdown`: Markdown for any of these frames (flattens MultiIndex columns).
- :func:`report_card`: per table cell the paper value, ours, the difference, where ours came
  from (synthetic / retrained / released weights), the seeds and the training chain
  (user-asks.md #6).
- :func:`ours_long`: turns ``{method_key: f1_per_au(...) Series}`` into the long format.

The default (flat) layout has a ``method`` column and columns named ``"AU1 ours"``,
``"AU1 paper"``, ... so ``run.table(df, ...)`` (which calls ``df.to_markdown(index=False)``)
renders it as is. Values are rounded to ``decimals`` (1, as the papers print).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from . import reported

DASH = "–"  # en dash: "not run by us" / "not reported"
VIEWS = {"side": ("ours", "paper"), "diff": ("diff",), "all": ("ours", "paper", "diff")}


def ours_long(results: Mapping[str, pd.Series | Mapping[str, float]], dataset: str | None = None,
              metric: str = "F1") -> pd.DataFrame:
    """``{method_key: Series indexed by AU (with "Avg")}`` -> long ``[method_key, au, value, ...]``.

    The Series are what :func:`aulib.eval.metrics.f1_per_au` returns. ``dataset`` (e.g.
    ``"BP4D->DISFA"``) is added as a column when given, as is ``metric``.
    """
    rows = []
    for key, series in results.items():
        for au, value in pd.Series(series, dtype=float).items():
            rows.append({"method_key": key, "au": str(au), "value": float(value)})
    df = pd.DataFrame(rows, columns=["method_key", "au", "value"])
    if dataset is not None:
        df["dataset"] = dataset
    df["metric"] = metric
    return df


def _prepare_ours(ours: pd.DataFrame | None, paper_rows: pd.DataFrame, datasets: list[str],
                  metrics: list[str]) -> pd.DataFrame:
    cols = ["method_key", "method", "dataset", "metric", "au", "value"]
    if ours is None or len(ours) == 0:
        return pd.DataFrame(columns=cols)
    if not isinstance(ours, pd.DataFrame):
        raise TypeError(f"ours must be a long DataFrame [method_key (or method), au, value], "
                        f"got {type(ours).__name__}; build one with tables.ours_long(...)")
    missing = [c for c in ("au", "value") if c not in ours.columns]
    if missing or not ({"method_key", "method"} & set(ours.columns)):
        raise ValueError(f"ours needs the columns method_key (or method), au and value; it has "
                         f"{list(ours.columns)} (tables.ours_long builds it from f1_per_au Series)")
    df = ours.copy()
    names = df["method_key"] if "method_key" in df.columns else df["method"]
    if "method" not in df.columns:
        df["method"] = df["method_key"]
    df["method_key"] = [reported.normalise_key(n, paper_rows) for n in names]
    df["au"] = df["au"].astype(str)
    if "metric" not in df.columns:
        df["metric"] = "F1"
    if "dataset" not in df.columns:
        if len(datasets) > 1:
            raise ValueError(f"this table reports several datasets ({', '.join(datasets)}); "
                             "give ours a 'dataset' column or pass dataset=")
        df["dataset"] = datasets[0]
    df["dataset"] = df["dataset"].astype(str).str.replace("→", "->").str.replace(" ", "")
    keep = df["dataset"].isin(datasets) & df["metric"].isin(metrics)
    if not keep.any():
        raise ValueError(
            f"none of ours matches this table: ours has datasets {sorted(set(df['dataset']))} and "
            f"metrics {sorted(set(df['metric']))}; the table has datasets {datasets} and metrics "
            f"{metrics}")
    df = df[keep]
    dup = df.duplicated(["method_key", "dataset", "metric", "au"])
    if dup.any():
        r = df[dup].iloc[0]
        raise ValueError(f"ours has several values for method {r['method_key']!r}, dataset "
                         f"{r['dataset']!r}, {r['au']}; average the seeds first (or show them "
                         "with tables.report_card)")
    df["value"] = pd.to_numeric(df["value"], errors="raise").astype(float)
    return df[cols]


def _label(dataset: str, metric: str, au: str, multi_ds: bool, multi_metric: bool,
           avg_only: bool) -> str:
    parts = []
    if multi_ds:
        parts.append(dataset)
    if multi_metric:
        parts.append(metric)
    if not (avg_only and parts):
        parts.append(au)
    return " ".join(parts)


def side_by_side(ours: pd.DataFrame | None, paper: str, table: str, dataset: str | None = None,
                 methods: Iterable[str] | None = None, aus: Iterable[str] | None = None,
                 metric: str | None = None, view: str = "side", flat: bool = True,
                 decimals: int | None = 1) -> pd.DataFrame:
    """Our numbers beside the paper's for one printed table.

    ours: long DataFrame ``[method_key (or method), au, value]`` in percent, for the AUs and
      ``"Avg"``; optional columns ``dataset`` (required when the table reports several and
      ``dataset`` is not given) and ``metric`` (default ``"F1"``). Method names are matched
      to the paper's rows through :func:`aulib.eval.reported.normalise_key`. ``None`` or an
      empty frame shows the paper's numbers only.
    paper, table, dataset, metric: which printed numbers (``reported.load`` arguments).
      With several datasets or metrics in the selection, columns are named
      ``"<dataset> [<metric>] <au>"`` (just ``"<dataset>"`` for tables of averages only,
      e.g. FG-Net Table 1).
    methods: method keys or names to keep, in this order (default: the paper's rows in
      printed order, then methods only we ran).
    aus: AU columns to keep, in this order (default: the paper's columns).
    view: ``"side"`` (ours, paper), ``"diff"`` (ours - paper) or ``"all"`` (ours, paper, diff).
    flat: True -> a ``method`` column plus columns ``"AU1 ours"``, ``"AU1 paper"``...;
      False -> index ``method``, MultiIndex columns (column, source).

    Cells hold numbers or :data:`DASH` where a method was not run by us or not reported.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    rep = reported.load(paper, table, dataset, metric)
    datasets = list(dict.fromkeys(rep["dataset"]))
    metrics = list(dict.fromkeys(rep["metric"]))
    mine = _prepare_ours(ours, rep, datasets, metrics)

    # columns: (dataset, metric, au) cells in printed order
    cells = list(dict.fromkeys(zip(rep["dataset"], rep["metric"], rep["au"])))
    if aus is not None:
        wanted = [str(a) for a in aus]
        known = {c[2] for c in cells}
        unknown = [a for a in wanted if a not in known]
        if unknown:
            raise ValueError(f"{paper} {table} has no column {', '.join(unknown)}; its columns: "
                             + ", ".join(dict.fromkeys(c[2] for c in cells)))
        cells = [c for a in wanted for c in cells if c[2] == a]
    avg_only = all(c[2] == "Avg" for c in cells)
    labels = {c: _label(*c, len(datasets) > 1, len(metrics) > 1, avg_only) for c in cells}

    # rows: the paper's methods in printed order, then ours only
    names = dict(zip(rep["method_key"], rep["method"]))
    keys = list(dict.fromkeys(rep["method_key"]))
    for k, m in zip(mine["method_key"], mine["method"]):
        if k not in names:
            names[k] = str(m)
            keys.append(k)
    if methods is not None:
        wanted = [reported.normalise_key(m, rep) for m in methods]
        unknown = [m for m, k in zip(methods, wanted) if k not in names]
        if unknown:
            raise ValueError(f"no rows for {', '.join(map(repr, unknown))} in {paper} {table} or "
                             f"ours; methods there: {', '.join(keys)}")
        keys = wanted

    rep_v = {(k, d, m, a): v for k, d, m, a, v in
             zip(rep["method_key"], rep["dataset"], rep["metric"], rep["au"], rep["value"])}
    our_v = {(k, d, m, a): v for k, d, m, a, v in
             zip(mine["method_key"], mine["dataset"], mine["metric"], mine["au"], mine["value"])}

    def fmt(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return DASH
        return round(float(v), decimals) + 0.0 if decimals is not None else float(v)

    sources = VIEWS[view]
    data = {}
    for cell in cells:
        for src in sources:
            col = []
            for k in keys:
                o, p = our_v.get((k, *cell)), rep_v.get((k, *cell))
                if src == "ours":
                    col.append(fmt(o))
                elif src == "paper":
                    col.append(fmt(p))
                else:
                    col.append(fmt(None if o is None or p is None else o - p))
            data[(labels[cell], src)] = col
    out = pd.DataFrame(data, index=pd.Index([names[k] for k in keys], name="method"))
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["column", "source"])
    out.attrs.update(paper=paper, table=table, dataset=dataset, view=view,
                     method_keys=list(keys), citation=reported.SOURCES[paper])
    return flatten(out) if flat else out


def flatten(df: pd.DataFrame) -> pd.DataFrame:
    """MultiIndex columns ``(AU1, ours)`` -> ``"AU1 ours"``; the index becomes a column."""
    out = df.copy()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = [" ".join(str(p) for p in c if str(p)) for c in out.columns]
    if out.index.name is not None or not isinstance(out.index, pd.RangeIndex):
        out = out.reset_index()
    out.attrs = dict(df.attrs)
    return out


def to_markdown(df: pd.DataFrame, floatfmt: str = ".1f") -> str:
    """Markdown of a side-by-side frame (either layout) or a report card; NaN shows as DASH."""
    flat = flatten(df) if (isinstance(df.columns, pd.MultiIndex)
                           or not isinstance(df.index, pd.RangeIndex)) else df
    flat = flat.astype(object).where(pd.notna(flat), DASH)
    return flat.to_markdown(index=False, floatfmt=floatfmt)


def report_card(ours_row, paper_row, source: str = "synthetic SynthAU",
                seeds: Iterable[int] = (0,), chain: str = "", decimals: int | None = 1
                ) -> pd.DataFrame:
    """Per table cell: the paper's value, ours, the difference, and where ours came from.

    ours_row: a Series indexed by AU (one run), or a DataFrame with one row per seed and AU
      columns (mean and sample standard deviation are shown), or a mapping AU -> value.
    paper_row: a Series indexed by AU (``reported.row(...)``), a slice of ``reported.load``
      (columns ``au``, ``value``) or a mapping.
    source: where ours came from, e.g. ``"synthetic SynthAU"``, ``"retrained on BP4D"``,
      ``"released weights"``.
    seeds: the seeds behind ours; chain: the training chain, e.g. ``"DISFA fine-tuned from
      BP4D fold 1"``.

    Returns one row per AU of the paper (then AUs only ours has): ``au, paper, ours, ours_sd,
    diff, source, seeds, chain``; DASH where a value is missing (user-asks.md #6).
    """
    if isinstance(paper_row, pd.DataFrame):
        if not {"au", "value"} <= set(paper_row.columns):
            raise ValueError("paper_row as a DataFrame must be a slice of reported.load (columns "
                             f"au, value); got {list(paper_row.columns)}")
        if paper_row["au"].duplicated().any():
            raise ValueError("paper_row holds several rows per AU; select one method, dataset and "
                             "metric first (or use reported.row)")
        paper_s = pd.Series(paper_row["value"].to_numpy(), index=paper_row["au"].to_numpy())
    else:
        paper_s = pd.Series(paper_row, dtype=float)
    if isinstance(ours_row, pd.DataFrame):
        ours_m, ours_sd = ours_row.mean(axis=0), ours_row.std(axis=0, ddof=1)
        n_runs = len(ours_row)
    else:
        ours_m, ours_sd, n_runs = pd.Series(ours_row, dtype=float), None, 1
    seeds = [int(s) for s in seeds]
    if isinstance(ours_row, pd.DataFrame) and len(seeds) != n_runs:
        raise ValueError(f"ours_row has {n_runs} runs (rows) but {len(seeds)} seeds were given")
    aus = list(dict.fromkeys([str(a) for a in paper_s.index] + [str(a) for a in ours_m.index]))
    paper_s.index = paper_s.index.map(str)
    ours_m.index = ours_m.index.map(str)

    def val(s, au):
        if s is None or au not in s.index or pd.isna(s[au]):
            return DASH
        return round(float(s[au]), decimals) if decimals is not None else float(s[au])

    rows = []
    for au in aus:
        p, o = val(paper_s, au), val(ours_m, au)
        sd = val(ours_sd, au) if ours_sd is not None and n_runs > 1 else DASH
        diff = DASH if DASH in (p, o) else (round(o - p, decimals) if decimals is not None
                                            else o - p)
        rows.append({"au": au, "paper": p, "ours": o, "ours_sd": sd, "diff": diff,
                     "source": source, "seeds": ",".join(map(str, seeds)), "chain": chain or DASH})
    return pd.DataFrame(rows)
