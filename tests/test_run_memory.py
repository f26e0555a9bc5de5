"""Trained runs held only while needed: Table 3's runs scored as they finish (no model kept),
Figure 7's models read back one at a time, and ``keep_last=False`` (the paper check) dropping a
completed run's ``last.pt`` while an interrupted run still resumes."""
import gc
import json
import weakref

import pytest
import torch

from aulib.models.fgnet import TINY_KWARGS
from aulib.train import checkpoint as ck


@pytest.fixture
def exp(tmp_path, monkeypatch):
    from aulib import synth
    from aulib.train import TrainConfig, recipes

    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))
    roots = {k: synth.ensure(f"synth-{k}", "smoke", root=tmp_path / "data") for k in ("disfa", "bp4d")}
    cfg = TrainConfig(epochs=1, batch_size=4, max_iters_per_epoch=1, lr=1e-3, device="cpu", progress=False)
    return recipes.Experiment(roots, "smoke", cfg, "fgnet", dict(TINY_KWARGS), image_size=32,
                              max_test_frames=8, group="mem", verbose=False)


class ModelCounter:
    """Counts, each time a model is built, how many models built earlier are still alive."""

    def __init__(self, monkeypatch):
        self.refs, self.alive_at_build = [], []
        real = ck.create_model

        def counting(name, **kw):
            gc.collect()
            self.alive_at_build.append(self.alive())
            model = real(name, **kw)
            self.refs.append(weakref.ref(model))
            return model

        monkeypatch.setattr(ck, "create_model", counting)

    def alive(self) -> int:
        gc.collect()
        return sum(r() is not None for r in self.refs)


def test_ablation_runs_keep_scores_not_models_and_figure7_reads_them_back_one_at_a_time(exp, monkeypatch):
    from aulib.data import protocols
    from aulib.papers import fgnet as fgnet_paper

    count = ModelCounter(monkeypatch)
    variants = {"full": {}, "no_late": {"drop_group": "late"}}
    folds = {k: exp.folds(k)[0] for k in ("disfa", "bp4d")}
    f1, spread, runs = fgnet_paper.ablation_runs(exp, variants, folds, [0], exp.config)
    # 2 variants x 2 sources trained; none was alive when the next was built, none is now
    assert len(count.refs) == 4 and count.alive_at_build == [0] * 4 and count.alive() == 0
    assert set(f1) == {(v, s, kind) for v in variants for s in folds for kind in ("within", "cross")}
    assert list(f1[("full", "disfa", "cross")].index) == list(protocols.shared_aus("disfa", "bp4d")) + ["Avg"]
    assert all(s >= 0 for s in spread.values())
    assert set(runs) == {(v, s) for v in variants for s in folds}
    # the first seed's run is kept: reading it back scores exactly as the model trained
    model = exp.load_run(runs[("full", "disfa")])
    again = exp.test_on(model, "disfa", folds["disfa"].test).f1()
    preds, _ = exp.train_and_test("disfa", folds["disfa"], {"w": ("disfa", folds["disfa"].test)})
    assert again.equals(preds["w"].f1())
    del model, again, preds

    loaded = []
    real_load = exp.load_run
    monkeypatch.setattr(exp, "load_run", lambda d: loaded.append(count.alive()) or real_load(d))
    refs = []
    monkeypatch.setattr(ck, "load_model", _tracking(ck.load_model, refs))
    shared = list(protocols.shared_aus("bp4d", "disfa"))
    item = exp.faces("disfa", exp.subjects("disfa"), aus=shared, max_frames=8)[0]
    image, gt, rows = fgnet_paper.figure7_rows(exp, {v: runs[(v, "bp4d")] for v in variants}, item, shared)
    gc.collect()
    assert len(refs) == 2 and all(r() is None for r in refs)          # both read back, both let go
    assert [label for label, _ in rows] == list(variants)
    assert gt.shape == rows[0][1].shape == (len(shared), TINY_KWARGS["heatmap_size"], TINY_KWARGS["heatmap_size"])
    for j, y in enumerate(item["au"].numpy()):                         # +1 maps where active, -1 where not
        assert (gt[j].max() > 0 and gt[j].min() >= 0) if y > 0.5 else (gt[j].max() <= 0 and gt[j].min() < 0)
    assert image.shape == (32, 32, 3)
    assert fgnet_paper.figure7_rows(exp, {}, item, shared) == (None, None, [])


def _tracking(load_model, refs):
    def wrapped(*a, **kw):
        model = load_model(*a, **kw)
        refs.append(weakref.ref(model))
        return model
    return wrapped


def test_ablation_runs_say_what_they_need(exp):
    from aulib.papers import fgnet as fgnet_paper

    fold = exp.folds("disfa")[0]
    with pytest.raises(ValueError, match="two source datasets"):
        fgnet_paper.ablation_runs(exp, {"full": {}}, {"disfa": fold}, [0], exp.config)
    with pytest.raises(ValueError, match="seeds is empty"):
        fgnet_paper.ablation_runs(exp, {"full": {}}, {k: exp.folds(k)[0] for k in ("disfa", "bp4d")}, [], exp.config)


def test_keep_last_false_drops_last_pt_of_a_completed_run_and_an_interrupted_run_resumes(exp, monkeypatch):
    import dataclasses

    from aulib.train import recipes

    exp.keep_last = False
    fold = exp.folds("disfa")[0]
    cfg2 = dataclasses.replace(exp.config, epochs=2)
    # interrupted after epoch 1 of 2 (killed right after last.pt was written): last.pt stays, no done.json
    real_save = ck.atomic_save

    def killed_after_last(obj, path):
        out = real_save(obj, path)
        if path.name == "last.pt":
            raise KeyboardInterrupt("killed")
        return out

    monkeypatch.setattr(ck, "atomic_save", killed_after_last)
    with pytest.raises(KeyboardInterrupt):
        exp.train_on("disfa", fold, config=cfg2)
    monkeypatch.setattr(ck, "atomic_save", real_save)
    exp_runs = recipes.aconfig.cache_dir("runs", "smoke", "mem", "disfa")
    (run_dir,) = exp_runs.iterdir()
    assert (run_dir / "last.pt").is_file() and not (run_dir / "done.json").exists()
    assert ck.load(run_dir / "last.pt")["epoch"] == 1
    # the next call resumes from epoch 1, completes, then drops last.pt and records the run
    fits = []
    real_fit = recipes.fit
    monkeypatch.setattr(recipes, "fit", lambda *a, **kw: fits.append(1) or real_fit(*a, **kw))
    model = exp.train_on("disfa", fold, config=cfg2)
    assert fits == [1] and not (run_dir / "last.pt").exists() and (run_dir / "best.pt").is_file()
    done = json.loads((run_dir / "done.json").read_text())
    assert done["epochs"] == 2 and [h["epoch"] for h in done["history"]] == [1, 2]
    assert model._aulib_run_dir == run_dir and len(list(exp_runs.iterdir())) == 1
    # read back without fit (which would start over without last.pt): the same weights, train subjects, result
    again = exp.train_on("disfa", fold, config=cfg2)
    assert fits == [1]
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert again._aulib_train_subjects == model._aulib_train_subjects
    assert exp.test_on(again, "disfa", fold.test).f1().equals(exp.test_on(model, "disfa", fold.test).f1())
    # with keep_last (the default) a completed run keeps last.pt
    exp.keep_last = True
    exp.train_on("bp4d", exp.folds("bp4d")[0])
    (kept,) = recipes.aconfig.cache_dir("runs", "smoke", "mem", "bp4d").iterdir()
    assert (kept / "last.pt").is_file() and not (kept / "done.json").exists()
