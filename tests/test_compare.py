"""The comparison's registry and claim (aulib.papers.compare); the notebook itself runs at smoke in
tests/test_notebooks.py like every registered notebook."""
import sys

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
