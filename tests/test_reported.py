"""The store of reported numbers (aulib.eval.reported) and the side-by-side renderer
(aulib.eval.tables)."""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from aulib.eval import reported, tables
from aulib.eval.tables import DASH

PAPERS_DIR = Path(os.environ.get("AULIB_PAPERS", "/work/shared/papers"))
REFERENCE_DIR = PAPERS_DIR.parent / "reference"
PAPER_FILES = {"fgnet": "000_75ff76bde870f69e.txt", "gleenet": "002_4933781577667f77.txt",
               "shangyu": "003_94ef846ba60bd820.txt", "piapdf": "004_7baca12a644cecbe.txt"}

# what /work/shared/papers/README.md says each paper must regenerate (numeric tables)
REQUIRED_TABLES = {
    "fgnet": ["Table 1", "Table 2", "Table 3"],
    "gleenet": ["Table 1", "Table 2", "Table 3", "Table 4", "Table 5"],
    "shangyu": ["Table 1", "Table 2", "Table 3"],
    "piapdf": ["Table 1", "Table 2", "Table 3"],
}


def _value(paper, table, dataset, key, au, metric="F1"):
    df = reported.load(paper, table, dataset, metric)
    sel = df[(df.method_key == key) & (df.au == au)]
    assert len(sel) == 1, (paper, table, dataset, key, au, len(sel))
    return float(sel.value.iloc[0])


# ----------------------------------------------------------------------------- schema
def test_schema_of_every_file():
    df = reported.load()
    assert tuple(df.columns) == reported.COLUMNS
    assert df["value"].dtype == float
    assert df["value"].between(0, 100).all()
    assert set(df["paper"]) == set(reported.papers()) == set(reported.SOURCES)
    assert set(reported.PAPERS) <= set(df["paper"])
    assert df["au"].str.match(r"^(AU\d+|Avg|-)$").all()
    assert set(df["metric"]) <= set(reported.METRICS)
    assert set(df["protocol"]) <= set(reported.PROTOCOLS)
    ident = ["paper", "table", "dataset", "method_key", "au", "metric"]
    assert not df.duplicated(ident).any()
    # AU columns only where the dataset has them
    disfa = {"AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25", "AU26", "Avg"}
    bp4d = {"AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23",
            "AU24", "Avg"}
    assert set(df[df.dataset == "DISFA"].au) <= disfa
    assert set(df[df.dataset.isin(["BP4D", "BP4D+", "BP4D->BP4D+"])].au) <= bp4d
    for ds in ("DISFA->BP4D", "BP4D->DISFA"):  # only AUs both datasets code
        assert set(df[df.dataset == ds].au) == {"AU1", "AU2", "AU4", "AU6", "AU12", "Avg"}
    # the csv files are package data inside aulib
    assert reported.DATA_DIR.parent == Path(reported.__file__).parent
    for src in reported.SOURCES:
        assert (reported.DATA_DIR / f"{src}.csv").is_file()
    assert (reported.DATA_DIR / "README.md").is_file()


def _good_frame():
    path = reported.DATA_DIR / "fgnet.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False).head(5), path


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d.drop(columns=["note"]), "header"),
    (lambda d: d.assign(au=["AU1", "A2", "AU4", "AU6", "Avg"]), "'A2'"),
    (lambda d: d.assign(value=["12.0", "x", "1", "1", "1"]), "'x'"),
    (lambda d: d.assign(value=["120.0", "1", "1", "1", "1"]), "120.0"),
    (lambda d: d.assign(metric=["F1", "AUC", "F1", "F1", "F1"]), "AUC"),
    (lambda d: d.assign(paper="gleenet"), "expected 'fgnet'"),
    (lambda d: d.assign(method_key="DRML"), "method_key"),
    (lambda d: d.assign(protocol="mixed"), "protocol"),
    (lambda d: pd.concat([d, d.head(1)], ignore_index=True), "duplicate"),
    (lambda d: d.assign(dataset=["", "BP4D", "DISFA", "BP4D", "DISFA"]), "empty 'dataset'"),
])
def test_validate_rejects_broken_files(breakage, message):
    good, path = _good_frame()
    assert len(reported.validate(good, path, "fgnet")) == 5
    with pytest.raises(reported.ReportedSchemaError, match=re.escape(message)):
        reported.validate(breakage(good.copy()), path, "fgnet")


def test_every_paper_has_the_tables_its_readme_lists():
    for paper, required in REQUIRED_TABLES.items():
        have = reported.tables(paper)
        missing = [t for t in required if t not in have]
        assert not missing, f"{paper} lacks {missing}"
    assert reported.datasets("fgnet", "Table 2") == ["DISFA->BP4D", "BP4D->DISFA"]
    assert reported.datasets("gleenet", "Table 4") == ["BP4D->BP4D+"]
    assert reported.datasets("shangyu", "Table 1") == ["BP4D->EmotioNet"]


# ----------------------------------------------------------------------------- values
def test_spot_checks_against_the_papers():
    assert _value("fgnet", "Table 1", "DISFA", "fgnet", "Avg") == 65.4   # also in Sec. 4.3 text
    assert _value("fgnet", "Table 1", "BP4D", "fgnet", "Avg") == 64.3
    assert _value("fgnet", "Table 1", "DISFA", "drml", "Avg") == 26.7
    assert _value("fgnet", "Table 2", "BP4D->DISFA", "fgnet", "AU2") == 70.5
    assert _value("fgnet", "Table 2", "DISFA->BP4D", "megraphau", "Avg") == 42.7
    assert _value("fgnet", "Table 2", "BP4D->DISFA", "idennet", "AU12") == 66.1
    assert _value("fgnet", "Table 3", "BP4D->DISFA", "fgnet-no-late", "Avg") == 56.6
    assert _value("gleenet", "Table 1", "BP4D", "gleenet", "Avg") == 65.7
    assert _value("gleenet", "Table 2", "DISFA", "gleenet", "AU4") == 75.8
    assert _value("gleenet", "Table 3", "BP4D+", "gleenet", "Avg") == 63.7
    assert _value("gleenet", "Table 4", "BP4D->BP4D+", "gleenet", "AU14") == 76.6
    assert _value("gleenet", "Table 5", "BP4D", "gleenet-no-3dgb", "Avg") == 64.6
    assert _value("shangyu", "Table 1", "BP4D->EmotioNet", "shangyu", "Avg") == 38.9
    assert _value("shangyu", "Table 1", "BP4D->EmotioNet", "adld", "AU2") == 25.2
    assert _value("shangyu", "Table 2", "BP4D", "clp", "Avg") == 61.8
    assert _value("shangyu", "Table 3", "BP4D->EmotioNet", "shangyu-bl", "Avg", "Acc") == 86.4
    assert _value("shangyu", "Table 3", "BP4D->EmotioNet", "shangyu-bl-ml", "Avg", "F1") == 37.5
    assert _value("piapdf", "Table 1", "BP4D", "piapdf", "Avg") == 64.4
    assert _value("piapdf", "Table 1", "BP4D", "jaanet-eccv18", "Avg") == 60.0
    assert _value("piapdf", "Table 2", "DISFA", "piap", "Avg") == 63.8
    assert _value("piapdf", "Table 3", "BP4D", "piapdf-pi2", "AU15") == 67.2
    assert _value("piapdf", "Table 3", "BP4D", "piap", "AU24") == 52.0   # printed "[52]"
    assert _value("megraphau", "README", "DISFA", "megraphau-resnet50", "Avg") == 63.1
    assert _value("megraphau", "README", "BP4D", "megraphau-swinb", "AU14") == 69.4


def test_numbers_the_texts_repeat():
    # gains the papers state in their text, recomputed from the store
    sy = reported.load("shangyu", "Table 1").query("au == 'Avg'").set_index("method_key").value
    assert round(sy["shangyu"] - sy["dann"], 1) == 17.4 and round(sy["shangyu"] - sy["adda"], 1) == 16.8
    assert round(sy["shangyu"] - sy["t2net"], 1) == 17.1 and round(sy["shangyu"] - sy["drit"], 1) == 10.7
    assert round(sy["shangyu"] - sy["adld"], 1) == 2.1
    src = reported.load("shangyu", "Table 2").query("au == 'Avg'").set_index("method_key").value
    assert [round(src["shangyu"] - src[k], 1) for k in ("fabnet", "tae", "clp", "adld")] == \
        [8.4, 1.5, 0.8, 1.6]
    gl = reported.load("gleenet", "Table 2").query("au == 'Avg'").set_index("method_key").value
    # GLEE-Net's "+11.4%, +7.4%, +6.5%" are relative gains
    assert [round(100 * (gl["gleenet"] / gl[k] - 1), 1) for k in ("sevnet", "hmpps", "mhsaffn")] == \
        [11.4, 7.4, 6.5]
    pi = reported.load("piapdf", "Table 3").query("au == 'Avg'").set_index("method_key").value
    assert round(100 * (pi["piapdf-pi2"] / pi["piapdf-baseline"] - 1), 1) == 4.9
    assert round(100 * (pi["piap"] / pi["piapdf-baseline"] - 1), 1) == 11.1
    f3 = reported.load("fgnet", "Table 3").pivot(index="method_key", columns="dataset", values="value")
    mean_w = (f3["DISFA"] + f3["BP4D"]) / 2
    mean_c = (f3["DISFA->BP4D"] + f3["BP4D->DISFA"]) / 2
    assert ((mean_w - f3["mean(DISFA,BP4D)"]).abs() <= 0.051).all()
    assert ((mean_c - f3["mean(DISFA->BP4D,BP4D->DISFA)"]).abs() <= 0.051).all()


EXPECTED_AVG_MISMATCHES = {
    ("gleenet", "Table 1", "BP4D", "lsvm"), ("gleenet", "Table 1", "BP4D", "drml"),
    ("gleenet", "Table 1", "BP4D", "eacnet"), ("gleenet", "Table 2", "DISFA", "drml"),
    ("gleenet", "Table 2", "DISFA", "srerl"), ("gleenet", "Table 2", "DISFA", "lpnet"),
    ("gleenet", "Table 2", "DISFA", "ugnb"), ("piapdf", "Table 1", "BP4D", "lsvm"),
    ("piapdf", "Table 1", "BP4D", "tcae"), ("piapdf", "Table 1", "BP4D", "drml"),
    ("piapdf", "Table 1", "BP4D", "eacnet"), ("piapdf", "Table 2", "DISFA", "drml"),
}


def test_printed_averages_match_the_per_au_values_or_say_why():
    df = reported.load()
    mismatched, checked = set(), 0
    for (paper, table, ds, key, metric), g in df.groupby(
            ["paper", "table", "dataset", "method_key", "metric"], sort=False):
        per_au, avg = g[g.au.str.startswith("AU")], g[g.au == "Avg"]
        if per_au.empty or avg.empty:
            continue
        checked += 1
        off = abs(per_au.value.mean() - avg.value.iloc[0])
        flagged = "avg-mismatch" in avg.note.iloc[0]
        assert flagged == (off > 0.15), (paper, table, ds, key, round(off, 3), avg.note.iloc[0])
        if flagged:
            mismatched.add((paper, table, ds, key))
    assert checked > 100
    assert mismatched == EXPECTED_AVG_MISMATCHES


def test_same_baseline_agrees_across_papers_or_is_noted():
    df = reported.load()
    within = df[df.protocol == "within"]
    for (key, ds, au, metric), g in within.groupby(["method_key", "dataset", "au", "metric"]):
        if g.value.nunique() > 1:
            assert g.note.str.len().gt(0).any(), (key, ds, au, g[["paper", "table", "value"]])
    lp = within[(within.method_key == "lpnet") & (within.dataset == "DISFA") & (within.au == "AU26")]
    assert sorted(lp.value) == [56.0, 65.0]
    # JAA-Net IJCV numbers printed by three papers agree
    assert _value("fgnet", "Table 1", "BP4D", "jaanet", "Avg") == \
        _value("gleenet", "Table 1", "BP4D", "jaanet", "Avg") == \
        _value("piapdf", "Table 1", "BP4D", "jaanet", "Avg") == 62.4


def _numbers(line: str) -> list[float]:
    line = re.sub(r"<[^>]+>", "", line)
    line = re.sub(r"\([+-]\d+(?:\.\d+)?\)", "", line)          # "38.9(+2.4)" gains
    return [float(x) for x in re.findall(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w])", line)]


def _contains(seq, sub):
    return any(seq[i:i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))


@pytest.mark.skipif(not PAPERS_DIR.is_dir(), reason=f"papers not found at {PAPERS_DIR}")
def test_every_number_is_on_a_line_of_its_source():
    """Each method's numbers, in stored order, appear as a run on one line of the source text."""
    texts = {p: (PAPERS_DIR / f).read_text(encoding="utf-8") for p, f in PAPER_FILES.items()}
    ref = REFERENCE_DIR / "methods.md"
    if ref.is_file():
        texts["megraphau"] = ref.read_text(encoding="utf-8")
    lines = {p: [_numbers(ln) for ln in t.splitlines()] for p, t in texts.items()}
    df = reported.load()
    df = df[df.paper.isin(lines)]
    n = 0
    for (paper, table, method), g in df.groupby(["paper", "table", "method"], sort=False):
        seq = [float(v) for v in g.value]
        if paper == "megraphau":  # methods.md E.3: one dataset a line, avg before or after
            parts = [[float(v) for v in d.value] for _, d in g.groupby("dataset", sort=False)]
            found = [any(not (Counter(p) - Counter(ln)) for ln in lines[paper]) for p in parts]
        else:
            parts = [seq]
            found = [any(_contains(ln, seq) for ln in lines[paper])]
        assert all(found), (paper, table, method, parts)
        n += len(parts)
    assert n > 100


# ----------------------------------------------------------------------------- loader
def test_load_filters_and_teaching_errors():
    t2 = reported.load("fgnet", "Table 2", "BP4D->DISFA")
    assert set(t2.dataset) == {"BP4D->DISFA"} and set(t2.table) == {"Table 2"}
    assert len(t2[t2.method_key == "fgnet"]) == 6
    with pytest.raises(ValueError, match="valid papers.*'fgnet'.*'piapdf'"):
        reported.load("fg-net")
    with pytest.raises(ValueError, match="valid tables of 'shangyu'.*'Table 3'"):
        reported.load("shangyu", "Table 4")
    with pytest.raises(ValueError, match="valid datasets.*'DISFA->BP4D'.*'BP4D->DISFA'"):
        reported.load("fgnet", "Table 2", "DISFA")
    with pytest.raises(ValueError, match="valid papers"):
        reported.tables("nope")
    # a copy: editing it leaves the store alone
    t2.loc[:, "value"] = -1.0
    assert reported.load("fgnet", "Table 2", "BP4D->DISFA").value.min() >= 0


def test_row_and_normalise_key():
    r = reported.row("gleenet", "Table 2", "GLEE-Net (Ours)")
    assert list(r.index)[-1] == "Avg" and r["Avg"] == 65.5 and len(r) == 9
    with pytest.raises(ValueError, match="several datasets"):
        reported.row("fgnet", "Table 2", "fgnet")
    with pytest.raises(ValueError, match="not a method of fgnet Table 1"):
        reported.row("fgnet", "Table 1", "glee", dataset="DISFA")
    assert reported.normalise_key("megraph") == "megraphau"
    assert reported.normalise_key("ME-GraphAU") == "megraphau"
    assert reported.normalise_key("JAA-Net") == "jaanet"
    assert reported.normalise_key("my-new-net") == "my-new-net"


# ----------------------------------------------------------------------------- tables
def _ours():
    return tables.ours_long({
        "fgnet": pd.Series({"AU1": 50.0, "AU2": 40.0, "AU4": 30.0, "AU6": 45.0, "AU12": 60.0,
                            "Avg": 45.0}),
        "megraph": pd.Series({"AU1": 40.0, "AU2": 20.0, "AU4": 30.0, "AU6": 20.0, "AU12": 40.0,
                              "Avg": 30.0}),
        "resnet18": pd.Series({"AU1": 10.0, "Avg": 12.34}),
    }, dataset="BP4D->DISFA")


def test_side_by_side_puts_a_dash_where_we_did_not_run():
    df = tables.side_by_side(_ours(), "fgnet", "Table 2", "BP4D->DISFA")
    assert list(df.columns[:3]) == ["method", "AU1 ours", "AU1 paper"]
    assert df.columns[-1] == "Avg paper" and len(df.columns) == 1 + 6 * 2
    by = df.set_index("method")
    # paper rows in printed order, then ours only
    assert list(by.index) == ["DRML", "JAA-Net", "ME-GraphAU", "ME-GraphAU + FFHQ pre-train",
                              "GH-Feat", "Patch-MCD", "IdenNet", "FG-Net (Ours)", "resnet18"]
    assert by.loc["DRML", "AU1 ours"] == DASH and by.loc["DRML", "AU1 paper"] == 10.4
    assert by.loc["FG-Net (Ours)", "AU2 ours"] == 40.0 and by.loc["FG-Net (Ours)", "AU2 paper"] == 70.5
    assert by.loc["ME-GraphAU", "Avg ours"] == 30.0          # "megraph" matched to ME-GraphAU
    assert by.loc["resnet18", "Avg ours"] == 12.3 and by.loc["resnet18", "Avg paper"] == DASH
    assert by.loc["resnet18", "AU2 ours"] == DASH
    md = df.to_markdown(index=False, floatfmt=".1f")          # what run.table does
    assert DASH in md and "FG-Net (Ours)" in md and "70.5" in md


def test_side_by_side_diff_and_multiindex_views():
    diff = tables.side_by_side(_ours(), "fgnet", "Table 2", "BP4D->DISFA", view="diff")
    by = diff.set_index("method")
    assert by.loc["FG-Net (Ours)", "AU2 diff"] == pytest.approx(40.0 - 70.5)
    assert by.loc["FG-Net (Ours)", "Avg diff"] == pytest.approx(45.0 - 54.4)
    assert by.loc["DRML", "Avg diff"] == DASH
    wide = tables.side_by_side(_ours(), "fgnet", "Table 2", "BP4D->DISFA", view="all", flat=False,
                               methods=["fgnet", "DRML"], aus=["AU12", "Avg"])
    assert list(wide.index) == ["FG-Net (Ours)", "DRML"]
    assert list(wide.columns) == [("AU12", "ours"), ("AU12", "paper"), ("AU12", "diff"),
                                  ("Avg", "ours"), ("Avg", "paper"), ("Avg", "diff")]
    assert wide.loc["FG-Net (Ours)", ("AU12", "diff")] == pytest.approx(60.0 - 61.5)
    md = tables.to_markdown(wide)
    assert md.splitlines()[0].split("|")[1].strip() == "method" and "AU12 diff" in md
    with pytest.raises(ValueError, match="view must be one of"):
        tables.side_by_side(None, "fgnet", "Table 1", view="both")
    with pytest.raises(ValueError, match="no column AU9"):
        tables.side_by_side(None, "fgnet", "Table 2", "BP4D->DISFA", aus=["AU9"])
    with pytest.raises(ValueError, match="no rows for 'glee'"):
        tables.side_by_side(None, "fgnet", "Table 2", "BP4D->DISFA", methods=["glee"])


def test_side_by_side_tables_of_several_datasets():
    # FG-Net Table 1 prints one average per dataset: columns are the datasets
    ours = pd.DataFrame({"method_key": ["fgnet", "fgnet"], "dataset": ["DISFA", "BP4D"],
                         "au": ["Avg", "Avg"], "value": [60.0, 61.0]})
    t1 = tables.side_by_side(ours, "fgnet", "Table 1").set_index("method")
    assert list(t1.columns) == ["DISFA ours", "DISFA paper", "BP4D ours", "BP4D paper"]
    assert t1.loc["FG-Net (Ours)", "BP4D ours"] == 61.0 and t1.loc["FG-Net (Ours)", "BP4D paper"] == 64.3
    assert t1.loc["GH-Feat", "DISFA ours"] == DASH
    # without a dataset column ours is ambiguous for a two-dataset table
    with pytest.raises(ValueError, match="several datasets"):
        tables.side_by_side(ours.drop(columns="dataset"), "fgnet", "Table 1")
    # two metrics (Shang & Yu Table 3): metric in the column name
    t3 = tables.side_by_side(None, "shangyu", "Table 3").set_index("method")
    assert list(t3.columns) == ["F1 ours", "F1 paper", "Acc ours", "Acc paper"]
    assert t3.loc["A", "Acc paper"] == 86.4
    # duplicates in ours are refused with advice
    dup = pd.concat([_ours(), _ours().head(1)])
    with pytest.raises(ValueError, match="average the seeds first"):
        tables.side_by_side(dup, "fgnet", "Table 2", "BP4D->DISFA")
    # ours for another dataset is an error, not a silent table of dashes
    with pytest.raises(ValueError, match="none of ours matches this table"):
        tables.side_by_side(_ours(), "fgnet", "Table 2", "DISFA->BP4D")
    arrow = _ours().assign(dataset="BP4D → DISFA")
    assert tables.side_by_side(arrow, "fgnet", "Table 2", "BP4D->DISFA").set_index(
        "method").loc["FG-Net (Ours)", "AU1 ours"] == 50.0
    # no ours at all: paper only, every "ours" cell a dash
    only = tables.side_by_side(None, "piapdf", "Table 2")
    assert (only.filter(like="ours") == DASH).all().all() and len(only) == 10


def test_report_card():
    paper = reported.row("fgnet", "Table 2", "fgnet", dataset="BP4D->DISFA")
    runs = pd.DataFrame([{"AU1": 50.0, "Avg": 40.0}, {"AU1": 52.0, "Avg": 44.0}])
    card = tables.report_card(runs, paper, source="synthetic SynthAU", seeds=[0, 1],
                              chain="trained on BP4D fold 1, tested on DISFA")
    assert list(card.columns) == ["au", "paper", "ours", "ours_sd", "diff", "source", "seeds", "chain"]
    by = card.set_index("au")
    assert list(by.index) == ["AU1", "AU2", "AU4", "AU6", "AU12", "Avg"]
    assert by.loc["AU1", "ours"] == 51.0 and by.loc["AU1", "paper"] == 61.3
    assert by.loc["AU1", "diff"] == pytest.approx(-10.3)
    assert by.loc["Avg", "ours_sd"] == pytest.approx(2.8, abs=0.05)
    assert by.loc["AU2", "ours"] == DASH and by.loc["AU2", "diff"] == DASH
    assert set(card.seeds) == {"0,1"} and set(card.source) == {"synthetic SynthAU"}
    # a slice of reported.load works as the paper row; a single run has no sd
    sl = reported.load("gleenet", "Table 2", "DISFA").query("method_key == 'gleenet'")
    one = tables.report_card(pd.Series({"AU1": 60.0}), sl, source="retrained", seeds=[3])
    assert one.set_index("au").loc["AU1", "diff"] == pytest.approx(60.0 - 61.9)
    assert (one.ours_sd == DASH).all() and len(one) == 9
    with pytest.raises(ValueError, match="2 runs .* 1 seeds"):
        tables.report_card(runs, paper, seeds=[0])
    assert "Avg" in tables.to_markdown(card)
