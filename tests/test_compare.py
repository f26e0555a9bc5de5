"""The comparison's registry and claim (aulib.papers.compare); the notebook itself runs at smoke in
tests/test_notebooks.py like every registered notebook."""
import sys
from pathlib import Path

import pandas as pd
import pytest

import aulib.papers
from aulib.papers import compare as C


def test_built_in_methods_and_their_published_headlines():
    ms = C.methods()
    assert {"fgnet", "drml", "megraph"} <= set(ms)
    assert C.headline(ms["fgnet"], "within", "disfa", "disfa") == 65.4          # FG-Net Table 1, DISFA Avg
    assert C.headline(ms["drml"], "cross", "bp4d", "disfa") == 14.1             # FG-Net Table 2, BP4D->DISFA
    assert pd.isna(C.headline(ms["fgnet"], "wild", "bp4d", "emotionet"))        # not reported


def test_a_paper_module_joins_by_declaring_COMPARE(tmp_path, monkeypatch):
    (tmp_path / "zz_newpaper.py").write_text(
        "from aulib.papers.compare import Method\n"
        "COMPARE = [Method('newnet', 'NewNet', 'zz_newpaper', 'fgnet/01_within_domain', lambda c, e, d: ('drml', {}))]\n")
    monkeypatch.setattr(aulib.papers, "__path__", list(aulib.papers.__path__) + [str(tmp_path)])
    monkeypatch.delitem(sys.modules, "aulib.papers.zz_newpaper", raising=False)
    ms = C.methods()
    assert ms["newnet"].label == "NewNet" and list(ms)[:3] == ["fgnet", "drml", "megraph"]
    (tmp_path / "zz_newpaper.py").write_text(
        "from aulib.papers.compare import Method\nCOMPARE = [Method('fgnet', 'x', 'zz_newpaper', '', None)]\n")
    monkeypatch.delitem(sys.modules, "aulib.papers.zz_newpaper", raising=False)
    with pytest.raises(ValueError, match="two comparison methods are registered as 'fgnet'"):
        C.methods()


def test_unknown_method_or_protocol_is_refused_with_the_valid_ones():
    with pytest.raises(KeyError, match="no comparison method \\['nope'\\]; registered: fgnet, drml"):
        C.compare(C.Context("smoke"), ["nope"], ["within"])
    with pytest.raises(KeyError, match="unknown protocol \\['sideways'\\]; valid: within, cross, wild"):
        C.compare(C.Context("smoke"), ["fgnet"], ["sideways"])


def _cross(fg, other):
    return pd.DataFrame([dict(method=m, protocol="cross", train=tr, test=te, f1=v)
                         for m, vals in (("FG-Net", fg), ("DRML", other))
                         for (tr, te), v in zip((("a", "b"), ("b", "a")), vals)])


def test_cross_domain_claim_needs_the_best_f1_in_each_direction():
    assert C.cross_domain_best(_cross((30, 20), (25, 19)))[0] is True
    holds, evidence = C.cross_domain_best(_cross((30, 18), (25, 19)))
    assert holds is False and "b->a: FG-Net 18.0, best DRML 19.0" in evidence
    only = _cross((30, 20), (25, 19)).query("method == 'FG-Net'")
    assert C.cross_domain_best(only)[0] is None


def test_claims_come_from_the_chosen_methods_entries():
    res = _cross((30, 20), (25, 19))
    out = C.claims(res, ["fgnet", "drml"])
    assert [c["holds"] for c in out] == [True] and out[0]["claim"].startswith("FG-Net has the highest cross-domain F1")
    assert C.claims(res, ["drml"]) == []


def test_run_sources_name_the_notebooks_that_read_the_same_run(tmp_path, monkeypatch):
    import json

    from aulib import config

    (tmp_path / "manifest.json").write_text(json.dumps({"notebooks": {
        "fgnet/01_within_domain": {"runs": [{"key": "k1"}, {"key": "k2"}]},
        "fgnet/02_cross_domain": {"runs": [{"key": "k1"}]},
        "compare/00_side_by_side": {"runs": [{"key": "k1"}, {"key": "k3"}]}}}))
    monkeypatch.setattr(config, "_RUNS", {})
    config.note_run(tmp_path / "r1", {"key": "k1", "model": "fgnet", "trained": "t"})
    config.note_run(tmp_path / "r3", {"key": "k3", "model": "drml", "trained": "t"})
    df = C.run_sources(tmp_path)
    assert df.to_dict("records") == [
        {"run": "r1", "model": "fgnet", "trained": "t", "also read by": "fgnet/01_within_domain, fgnet/02_cross_domain"},
        {"run": "r3", "model": "drml", "trained": "t", "also read by": "–"}]


def test_context_passes_only_what_a_paper_notebook_declares_and_sets():
    ctx = C.Context("smoke", overrides={"epochs": 0, "max_iters": 3, "imagenet_resnet": "", "methods": "x",
                                        "keep_last": False})
    p = ctx.params("fgnet/01_within_domain")
    default = C.notebook_params("fgnet/01_within_domain", "smoke")
    assert p["max_iters"] == 3 and p["epochs"] == default["epochs"]       # 0 = the notebook's own value
    assert "methods" not in p                                              # not declared by fgnet/01
    assert p.get("keep_last", False) is False                              # a bool is passed as given


# ---------------------------------------------------------------------------------------------
# The paper modules' COMPARE entries (GLEE-Net, PIAP-DF, Shang & Yu)
def _papers_with_notebooks():
    from aulib.workbook.registry import discover

    return sorted({nb.id.split("/")[0] for nb in discover()} - {"tutorials", "compare"})


def test_every_paper_module_with_notebooks_declares_comparison_entries():
    import importlib

    papers = _papers_with_notebooks()
    assert set(papers) >= {"fgnet", "gleenet", "piapdf", "shangyu"}
    ms = C.methods()
    for paper in papers:
        mod = importlib.import_module(f"aulib.papers.{paper}")
        declared = list(getattr(mod, "COMPARE", [])) or [m for m in C.BUILT_IN if m.paper == paper]
        assert declared, f"aulib.papers.{paper} has notebooks but no COMPARE entries"
        for m in declared:
            assert ms[m.key] is m and m.paper == paper and m.notebook.startswith(paper + "/")
    assert {"gleenet", "piapdf", "piap", "shangyu", "adld", "dann"} <= set(ms)


# the builder each entry's experiment calls, and the call its paper notebook makes with run.params
BUILDERS = {"gleenet": ("aulib.papers.gleenet", "within_experiment", "gp.within_experiment(run.params, run.device)"),
            "piapdf": ("aulib.papers.piapdf", "Table1Runs", "P.Table1Runs(run.params, run.device)"),
            "shangyu": ("aulib.papers.shangyu", "NotebookRuns", "sy.NotebookRuns(run.notebook, run.params, run.device)")}


class _Built(Exception):
    pass


@pytest.mark.parametrize("key", ["gleenet", "piapdf", "piap", "shangyu", "adld", "dann"])
def test_each_entry_builds_its_experiment_from_its_notebooks_resolved_params(key, monkeypatch):
    import importlib

    m = C.methods()[key]
    mod_name, builder, _ = BUILDERS[m.paper]
    seen = {}

    def capture(*args, **kw):
        seen["p"] = next(a for a in args if isinstance(a, dict))
        seen["extra"] = kw.get("extra", ())
        raise _Built
    monkeypatch.setattr(importlib.import_module(mod_name), builder, capture)
    ctx = C.Context("smoke", overrides={"epochs": 0, "max_iters": 3, "methods": "x"})
    with pytest.raises(_Built):
        m.experiment(ctx)
    expected = C.notebook_params(m.notebook, "smoke", {"max_iters": 3})
    assert seen["p"] == expected and expected["max_iters"] == 3 and "methods" not in expected
    assert seen["p"]["epochs"] == C.notebook_params(m.notebook, "smoke")["epochs"]     # 0 = the notebook's own
    if m.paper != "shangyu":                                   # a test-only domain for lab -> wild
        assert tuple(seen["extra"]) == ("emotionet",)
    ctx = C.Context("smoke", data_root="/elsewhere")
    with pytest.raises(_Built):
        m.experiment(ctx)
    assert seen["p"]["data_root"] == "/elsewhere"


@pytest.mark.parametrize("paper", sorted(BUILDERS))
def test_the_paper_notebook_builds_its_set_up_with_the_same_call_and_records_every_parameter(paper):
    """run.params (what the notebook hands the builder) is its resolved parameters minus output_dir
    only if start() records every declared parameter; and the notebook builds its set-up with the
    builder the comparison calls (one place, not two copies)."""
    import ast
    import json

    m = next(m for m in C.methods().values() if m.paper == paper)
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / f"{m.notebook}.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert BUILDERS[paper][2] in code
    call = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "start")
    recorded = {k.arg for k in call.keywords} | {"profile", "seed", "device", "output_dir"}
    assert recorded == set(C.notebook_params(m.notebook, "smoke"))


def _fake_results(values: dict) -> pd.DataFrame:
    """Rows of compare()'s table: {(key, label, protocol, train, test): f1 or None (not applicable)}."""
    return pd.DataFrame([dict(key=k, method=lab, protocol=p, train=tr, test=te, f1=float("nan") if v is None else v,
                              note="not applicable: x" if v is None else "")
                         for (k, lab, p, tr, te), v in values.items()])


def test_a_method_restricted_to_some_protocols_gives_not_applicable_rows(tmp_path, monkeypatch):
    (tmp_path / "zz_uda.py").write_text(
        "import pandas as pd\n"
        "from aulib.papers.compare import Method\n"
        "def train(ctx, exp, source):\n"
        "    return ('model trained on', source)\n"
        "def test(ctx, exp, model, protocol, source, target):\n"
        "    assert model == ('model trained on', 'bp4d') and (protocol, target) == ('wild', 'emotionet')\n"
        "    return pd.Series({'AU1': 30.0, 'AU2': 40.0, 'Avg': 35.0}), 20.0\n"
        "COMPARE = [Method('zzuda', 'ZZ-UDA', 'zz_uda', 'shangyu/01_target_source', None, lambda ctx: object(),\n"
        "                  {('wild', 'bp4d', 'emotionet'): ('shangyu', 'Table 1', 'BP4D->EmotioNet', 'shangyu')},\n"
        "                  protocols=('wild',), sources=('bp4d',), not_applicable='adapted to EmotioNet only',\n"
        "                  train=train, test=test)]\n")
    monkeypatch.setattr(aulib.papers, "__path__", list(aulib.papers.__path__) + [str(tmp_path)])
    monkeypatch.delitem(sys.modules, "aulib.papers.zz_uda", raising=False)
    res = C.compare(C.Context("smoke"), ["zzuda"], ["within", "cross", "wild"])
    assert list(zip(res.protocol, res.train, res.test)) == [
        ("within", "synth-disfa", "synth-disfa"), ("within", "synth-bp4d", "synth-bp4d"),
        ("cross", "synth-disfa", "synth-bp4d"), ("cross", "synth-bp4d", "synth-disfa"),
        ("wild", "synth-bp4d", "synth-emotionet")]
    na, wild = res.iloc[:4], res.iloc[4]
    assert na.f1.isna().all() and na.floor.isna().all() and na.aus.isna().all()
    assert (na.note == "not applicable: adapted to EmotioNet only").all() and na.paper_f1.isna().all()
    assert (wild.f1, wild.floor, wild.aus, wild.note, wild.paper_f1) == (35.0, 20.0, 2, "", 38.9)
    holds, ev = C.best_of(res, "ZZ-UDA", "within")                 # no applicable row: cannot be tested
    assert holds is None and "within" in ev


def test_the_real_entries_declare_which_rows_apply():
    ms = C.methods()
    for k in ("shangyu", "adld", "dann"):
        assert ms[k].protocols == ("wild",) and ms[k].sources == ("bp4d",)
        assert ms[k].why_not("wild", "bp4d") == ""
        assert "unsupervised adaptation" in ms[k].why_not("within", "bp4d")
        assert "unsupervised adaptation" in ms[k].why_not("cross", "disfa")
    for k in ("piapdf", "piap"):
        assert ms[k].why_not("within", "bp4d") == ms[k].why_not("wild", "bp4d") == ""
        assert "trained on BP4D only" in ms[k].why_not("within", "disfa")
    assert all(ms[k].why_not(p, s) == "" for k in ("fgnet", "gleenet") for p in C.PROTOCOLS for s in ("disfa", "bp4d"))


def test_headline_lookups_resolve_to_rows_of_the_store():
    from aulib.eval import reported

    ms = C.methods()
    for m in ms.values():
        for (proto, src, tgt), (paper, table, dataset, key) in m.headline.items():
            rows = reported.load(paper, table, dataset)
            assert ((rows.method_key == key) & (rows.au == "Avg")).sum() >= 1, (m.key, table, dataset, key)
            assert not pd.isna(C.headline(m, proto, src, tgt))
    got = {(k, p, s): C.headline(ms[k], p, s, t) for k, p, s, t in [
        ("gleenet", "within", "bp4d", "bp4d"), ("gleenet", "within", "disfa", "disfa"),
        ("piapdf", "within", "bp4d", "bp4d"), ("piap", "within", "bp4d", "bp4d"), ("piap", "within", "disfa", "disfa"),
        ("shangyu", "wild", "bp4d", "emotionet"), ("adld", "wild", "bp4d", "emotionet"),
        ("dann", "wild", "bp4d", "emotionet")]}
    assert list(got.values()) == [65.7, 65.5, 64.4, 64.1, 63.8, 38.9, 36.8, 21.5]
    assert pd.isna(C.headline(ms["piapdf"], "within", "disfa", "disfa"))     # Table 2 prints PIAP only
    assert ms["gleenet"].bench == "GLEE-Net" and ms["shangyu"].bench == "Shang & Yu (BL+ML+AS)"
    assert ms["piapdf"].bench == "PIAP AU encoder (EfficientNet-B1)"


def test_the_papers_comparative_claims_are_computed_from_the_table():
    W, B, D = "wild", "synth-bp4d", "synth-emotionet"
    res = _fake_results({("shangyu", "Shang & Yu", W, B, D): 31.0, ("adld", "ADLD", W, B, D): 29.0,
                         ("dann", "DANN", W, B, D): 22.0, ("shangyu", "Shang & Yu", "within", B, B): None})
    out = C.claims(res, ["shangyu", "adld", "dann"])
    assert [c["holds"] for c in out] == [True, True]
    assert "31.0 vs 29.0" in out[0]["evidence"] and "DANN 22.0" in out[1]["evidence"]
    res.loc[res.key == "dann", "f1"] = 30.0                       # DANN above ADLD: the second claim fails
    assert [c["holds"] for c in C.claims(res, ["shangyu"])] == [True, False]
    alone = C.claims(res[res.key == "shangyu"], ["shangyu"])      # nothing to compare with: not testable
    assert [c["holds"] for c in alone] == [None, None]

    res = _fake_results({("gleenet", "GLEE-Net", "within", "a", "a"): 50.0, ("drml", "DRML", "within", "a", "a"): 40.0,
                         ("gleenet", "GLEE-Net", "within", "b", "b"): 45.0, ("drml", "DRML", "within", "b", "b"): 47.0,
                         ("piapdf", "PIAP-DF", "within", "a", "a"): None, ("piapdf", "PIAP-DF", "within", "b", "b"): 46.0,
                         ("piap", "PIAP", "within", "b", "b"): 46.5})
    g = C.claims(res, ["gleenet"])[0]
    assert g["holds"] is False and "b->b: GLEE-Net 45.0, best DRML 47.0" in g["evidence"]
    best, df = C.claims(res, ["piapdf"])
    assert best["holds"] is False and "a->a" not in best["evidence"]   # its not-applicable row is left out
    assert df["holds"] is False and "PIAP-DF 46.0 vs PIAP 46.5" in df["evidence"]


def test_the_wild_protocol_tests_on_the_target_half_no_adapted_model_was_selected_on():
    from aulib import data as D, synth
    from aulib.data import protocols

    root = synth.ensure("synth-emotionet", "smoke")
    ctx = C.Context("smoke")
    test = C.wild_test_subjects(ctx, root)
    full = D.frame_index("emotionet", root, labeled_only=False)
    split = protocols.emotionet_split(full, None, C.notebook_params(C.WILD_SPLIT_NOTEBOOK, "smoke")["seed"])
    labelled = set(full[full.labeled.astype(bool)].subject)
    assert test and set(test) == set(split["test"].subject) and set(test) < labelled
    assert not set(test) & set(split["val"].subject) and not set(test) & set(split["train"].subject)
    assert set(test) | set(split["val"].subject) == labelled
    assert C.wild_test_subjects(ctx, root) is test                # computed once per context
