"""The papers side by side (``notebooks/compare/``): every method trained on the same SynthAU frames,
folds and step budget, tested within and across domains.

A method joins the comparison by being registered — here for FG-Net and the shared baselines it
trains beside it, and in any other paper module by a module-level ``COMPARE`` list of
:class:`Method` (:func:`methods` imports every ``aulib.papers`` module and collects them): GLEE-Net
(``gleenet``), PIAP-DF and PIAP (``piapdf``), Shang & Yu with ADLD and DANN (``shangyu``).

A method is trained through its paper notebook's own set-up, built from the parameters the registry
resolves for that notebook at the same profile (``Method.notebook``, e.g. ``fgnet/01_within_domain``;
:meth:`Context.params`): same model arguments, training settings, frames and run-cache group, hence
the same run keys, so a model a paper notebook already trained is read back from the run cache, not
retrained (``aulib.train.recipes.cached_fit``). Test sets are capped as each notebook caps them
(its ``max_test_frames``, a seeded subset).

Protocols (:data:`PROTOCOLS`), all on fold 1 of the source's three subject-exclusive folds (the
first fold, as FG-Net's Table 2 uses Table 1's fold-1 models):

- ``within``: synth-disfa and synth-bp4d, tested on the fold's test subjects;
- ``cross``: lab-a <-> lab-b, the DISFA model tested on every synth-bp4d subject and the BP4D
  model on every synth-disfa subject, on the AUs both label (:func:`aulib.data.protocols.shared_aus`);
- ``wild``: lab -> wild, the BP4D model tested on the **test half** of synth-emotionet's labelled
  images (Shang & Yu's EmotioNet split, :func:`aulib.data.protocols.emotionet_split`, with
  ``shangyu/01_target_source``'s seed), on the AUs both label: the validation half is where the
  adapted models (Shang & Yu, ADLD, DANN) were selected, so no method is tested on it.

**Methods that support only some protocols.** A method declares the protocols it can be tested
under (:attr:`Method.protocols`) and the datasets it can be trained on (:attr:`Method.sources`),
with the reason (:attr:`Method.not_applicable`). Every (method, protocol, train, test) row the
chosen protocols ask for is in :func:`compare`'s table; a row outside what the method supports has
``f1`` and ``floor`` NaN and ``note`` = ``"not applicable: <reason>"`` — never silently missing,
never filled with a number from another protocol. The paper's own number is still shown on such a
row where the paper reports one. Shang & Yu (and ADLD, DANN) are unsupervised domain adaptation:
trained on labelled BP4D (ADLD's split, parts 1 + 2) with unlabelled EmotioNet images, so they apply
to ``wild`` only, tested by their own set-up (dlib-aligned faces; images without a face are in its
ledger) on the same test half; their BP4D training subjects include fold 1's test part, so a
``within`` or ``cross`` row would test on training subjects (the leakage guard's case). PIAP-DF and
PIAP are trained on BP4D only (``piapdf/01_bp4d_table1``; the paper's DISFA model is PIAP
fine-tuned from BP4D, ``piapdf/02``), so their DISFA-source rows are not applicable.

F1 is the per-AU F1 averaged over AUs (:mod:`aulib.eval.metrics`). Each row carries the
paper's own headline number for the method (``aulib/eval/reported``) beside ours, and
:func:`efficiency` the parameter count and the ``make bench`` speeds.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

PROTOCOLS = {"within": [("disfa", "disfa"), ("bp4d", "bp4d")],
             "cross": [("disfa", "bp4d"), ("bp4d", "disfa")],
             "wild": [("bp4d", "emotionet")]}
DATASET_NAME = {"disfa": "synth-disfa", "bp4d": "synth-bp4d", "emotionet": "synth-emotionet"}


@dataclass(frozen=True)
class Method:
    """One method of the comparison.

    key: short name (``"fgnet"``); label: shown name; paper: the paper module it comes from;
    notebook: the registered notebook whose parameters (and so whose cached runs) it shares;
    setup: ``(context, experiment, dataset) -> (registered model name, constructor kwargs)``;
    experiment: ``context -> Experiment`` for that notebook (shared by the methods of one notebook);
    headline: ``{(protocol, source, target): (paper, table, dataset, method_key)}`` — where the
    reported-numbers store holds the paper's own Avg F1 for the method;
    bench: the label its rows carry in ``results/bench.json`` (e.g. ``"FG-Net"``);
    claims: ``results -> [dict(claim, holds, evidence, source)]`` — the paper's comparative claims
    this common protocol can test, computed from :func:`compare`'s table (``holds`` None when it
    cannot: :func:`claims` passes them to ``run.claim``);
    protocols, sources: the protocols it can be tested under and the datasets it can be trained on
    (default: all); other rows are "not applicable" with the reason ``not_applicable``;
    train: ``(context, experiment, source) -> model`` when fold 1 of ``source`` is not trained by
    ``setup`` + ``Experiment.train_on`` (e.g. PIAP-DF's chain of rows);
    test: ``(context, experiment, model, protocol, source, target) -> (per-AU F1 Series with "Avg",
    always-active floor)`` when the method is not tested through ``Experiment.test_on`` (Shang & Yu's
    own set-up).
    """

    key: str
    label: str
    paper: str
    notebook: str
    setup: Callable
    experiment: Callable = field(repr=False, default=None)
    headline: dict = field(default_factory=dict)
    bench: str = ""
    claims: Callable | None = field(repr=False, default=None)
    protocols: tuple = ("within", "cross", "wild")
    sources: tuple = ("disfa", "bp4d")
    not_applicable: str = ""
    train: Callable | None = field(repr=False, default=None)
    test: Callable | None = field(repr=False, default=None)

    def why_not(self, protocol: str, source: str) -> str:
        """"" when the method applies to ``protocol`` trained on ``source``, else the reason."""
        if protocol in self.protocols and source in self.sources:
            return ""
        return self.not_applicable or (f"{self.label} is tested under {', '.join(self.protocols)} only, "
                                       f"trained on {', '.join(self.sources)}")


@dataclass
class Context:
    """What the comparison runs with: profile, seed, device, data root, and ``overrides`` —
    parameter values given to every paper notebook that declares them (published files at the
    paper profile; a cut of epochs / iterations / batch / test frames, ``keep_last``);
    empty or zero values are left out (the paper notebook's own value holds), booleans always passed.
    ``check_cut`` (the paper check) adds each paper notebook's own cut
    (:func:`aulib.workbook.papercheck.cut_for`: its pre-training stages, folds, seeds, its
    ``[check.params]``), so the comparison trains the runs the check's paper notebooks train. Experiments are built once
    per notebook and kept here, with the trained models (``models``, per method and source) and the
    ``wild`` test images (``wild_test``)."""

    profile: str
    seed: int = 0
    device: str = "cpu"
    data_root: str = ""
    overrides: dict = field(default_factory=dict)
    check_cut: bool = False
    experiments: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    wild_test: dict = field(default_factory=dict)

    def params(self, notebook: str) -> dict:
        """``notebook``'s parameters at this profile with the overrides it declares (and
        ``data_root`` when set)."""
        given = {k: v for k, v in self.overrides.items() if isinstance(v, bool) or v not in ("", 0, None)}
        if self.data_root:
            given["data_root"] = self.data_root
        if self.check_cut:    # the paper check: each notebook's own cut, pre-training stages included
            from aulib.workbook.papercheck import cut_for
            from aulib.workbook.registry import discover

            given.update(cut_for({nb.id: nb for nb in discover()}[notebook]))
        return notebook_params(notebook, self.profile, given)

    def experiment(self, m: Method):
        if m.notebook not in self.experiments:
            self.experiments[m.notebook] = m.experiment(self)
        return self.experiments[m.notebook]


def notebook_params(notebook: str, profile: str, overrides: dict | None = None) -> dict:
    """The parameters the registry resolves for ``notebook`` at ``profile`` (its sidecar), with
    those of ``overrides`` the notebook declares (validated as ``-p`` values are)."""
    from aulib.workbook.registry import discover

    nbs = {nb.id: nb for nb in discover()}
    if notebook not in nbs:
        raise KeyError(f"no registered notebook {notebook!r}; registered: {', '.join(nbs)}")
    declared = nbs[notebook].parameters()
    return nbs[notebook].resolve(profile, {k: v for k, v in (overrides or {}).items() if k in declared})


# ----------------------------------------------------------------------------------------
# FG-Net and the shared baselines (as fgnet/01_within_domain trains them)
FGNET_NOTEBOOK = "fgnet/01_within_domain"


def fgnet_experiment(ctx: Context):
    """FG-Net's Experiment exactly as ``fgnet/01_within_domain`` builds it at ``ctx.profile``
    (same parameters from its sidecar, so the same run keys), with synth-emotionet added as a
    test-only domain."""
    from aulib import data as D, synth
    from aulib.models import prior
    from aulib.models.fgnet import model_kwargs
    from aulib.train import TrainConfig, recipes

    p = ctx.params(FGNET_NOTEBOOK)
    root = p["data_root"]
    roots = {k: synth.ensure(DATASET_NAME[k], p["synth_profile"], root=root or None, seed=p["seed"]) if p["use_synth"]
             else D.dataset_root(k, data_root=root or None) for k in DATASET_NAME}
    faces_root = synth.ensure("synth-ffhq", p["synth_profile"], root=root or None) if ctx.profile != "paper" else None
    weights = prior.fgnet_weights(ctx.profile, faces_root, p["stylegan_checkpoint"], p["psp_checkpoint"], device=ctx.device)
    base = model_kwargs(ctx.profile, weights=weights, active_weight=p["active_weight"], finetune=p["finetune"])
    cfg = TrainConfig(optimizer="adamw", lr=p["lr"], weight_decay=5e-4, epochs=p["epochs"], batch_size=p["batch_size"],
                      grad_clip=0.1, schedule="constant", max_iters_per_epoch=p["max_iters"], seed=p["seed"],
                      amp=p["amp"], device=ctx.device, progress=False)
    return recipes.Experiment(roots, ctx.profile, cfg, "fgnet", base, image_size=base.get("input_size", 256),
                              alignment="ffhq", max_test_frames=p["max_test_frames"], seed=p["seed"],
                              device=ctx.device, group="fgnet-notebooks", landmarks=p["landmarks"], verbose=False,
                              keep_last=p.get("keep_last", ctx.overrides.get("keep_last", True)))


def _fgnet_setup(ctx, exp, dataset):
    return "fgnet", {}


def _baseline(name: str):
    def setup(ctx, exp, dataset):
        from aulib.papers import fgnet as fgnet_paper

        p = ctx.params(FGNET_NOTEBOOK)
        return fgnet_paper.baseline_setup(exp, name, dataset, p["imagenet_resnet"] or None)
    return setup


def _fgnet_headline(key: str) -> dict:
    return {("within", "disfa", "disfa"): ("fgnet", "Table 1", "DISFA", key),
            ("within", "bp4d", "bp4d"): ("fgnet", "Table 1", "BP4D", key),
            ("cross", "disfa", "bp4d"): ("fgnet", "Table 2", "DISFA->BP4D", key),
            ("cross", "bp4d", "disfa"): ("fgnet", "Table 2", "BP4D->DISFA", key)}


def _fgnet_claims(results: pd.DataFrame) -> list[dict]:
    holds, evidence = cross_domain_best(results, "FG-Net")
    return [dict(claim="FG-Net has the highest cross-domain F1 in each direction (DISFA→BP4D, BP4D→DISFA) of the "
                       "methods compared", holds=holds, evidence=evidence,
                 source="FG-Net Table 2 / Section 4.3 (Cross-domain Evaluation), tested on the common protocol")]


BUILT_IN = [
    Method("fgnet", "FG-Net", "fgnet", FGNET_NOTEBOOK, _fgnet_setup, fgnet_experiment, _fgnet_headline("fgnet"), "FG-Net",
           _fgnet_claims),
    Method("drml", "DRML (shared baseline)", "fgnet", FGNET_NOTEBOOK, _baseline("drml"), fgnet_experiment,
           _fgnet_headline("drml"), "drml"),
    Method("megraph", "ME-GraphAU-style (shared baseline)", "fgnet", FGNET_NOTEBOOK, _baseline("megraph"),
           fgnet_experiment, _fgnet_headline("megraphau"), "megraph"),
]


def methods() -> dict[str, Method]:
    """Every registered method: :data:`BUILT_IN`, then each ``aulib.papers`` module's ``COMPARE``
    list (in module name order). Raises ValueError on a duplicate key."""
    import aulib.papers as pkg

    found = list(BUILT_IN)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name in ("compare",):
            continue
        mod = importlib.import_module(f"aulib.papers.{info.name}")
        found += list(getattr(mod, "COMPARE", []))
    out: dict[str, Method] = {}
    for m in found:
        if m.key in out:
            raise ValueError(f"two comparison methods are registered as {m.key!r} ({out[m.key].paper}, {m.paper})")
        out[m.key] = m
    return out


# ----------------------------------------------------------------------------------------
def headline(m: Method, protocol: str, source: str, target: str) -> float:
    """The paper's own Avg F1 for ``m`` under this protocol (real data), NaN when not reported."""
    from aulib.eval import reported

    ref = m.headline.get((protocol, source, target))
    if ref is None:
        return float("nan")
    paper, table, dataset, key = ref
    rows = reported.load(paper, table, dataset)
    rows = rows[(rows.method_key == key) & (rows.au == "Avg")]
    return float(rows.value.iloc[0]) if len(rows) else float("nan")


WILD_SPLIT_NOTEBOOK = "shangyu/01_target_source"


def wild_test_subjects(ctx: Context, emotionet_root) -> list:
    """The ``wild`` protocol's test images: the test half of the labelled EmotioNet images in
    Shang & Yu's split (:func:`aulib.data.protocols.emotionet_split`; ADLD's list files when the
    dataset has them, else halves drawn with :data:`WILD_SPLIT_NOTEBOOK`'s ``seed`` and
    ``n_unlabeled``). Each EmotioNet image is its own subject."""
    from aulib import data as D
    from aulib.data import protocols

    key = str(emotionet_root)
    if key not in ctx.wild_test:
        p = ctx.params(WILD_SPLIT_NOTEBOOK)
        full = D.frame_index("emotionet", emotionet_root, labeled_only=False)
        ctx.wild_test[key] = list(protocols.emotionet_split(full, p["n_unlabeled"] or None, p["seed"])["test"].subject)
    return ctx.wild_test[key]


def _train(ctx: Context, m: Method, exp, source: str):
    """Fold 1 of ``source`` trained (or read back) as ``m``'s paper notebook trains it."""
    if m.train is not None:
        return m.train(ctx, exp, source)
    name, kw = m.setup(ctx, exp, source)
    return exp.train_on(source, exp.folds(source)[0], f"{m.key} {source}", name=name, **kw)


def _test(ctx: Context, m: Method, exp, model, protocol: str, source: str, target: str):
    """(per-AU F1 with "Avg", always-active floor) of ``model`` under ``protocol``."""
    from aulib.data.protocols import shared_aus

    if m.test is not None:
        return m.test(ctx, exp, model, protocol, source, target)
    if source == target:
        subjects, aus = exp.folds(source)[0].test, None
    elif protocol == "wild":
        subjects, aus = wild_test_subjects(ctx, exp.roots[target]), list(shared_aus(source, target))
    else:
        subjects, aus = exp.subjects(target), list(shared_aus(source, target))
    return exp.test_on(model, target, subjects, aus=aus).f1(), exp.floor(target, subjects, aus=aus)


def compare(ctx: Context, chosen: list[str], protocols: list[str]) -> pd.DataFrame:
    """Train (or read back) each chosen method on fold 1 of each source and test it under each
    protocol. Returns ``[method, key, paper, protocol, train, test, aus, f1, floor, paper_f1, note]``
    (F1 in percent; ``floor`` the always-active predictor on the same test frames), one row per
    method and (protocol, train, test) pair asked for: where the method does not apply
    (:meth:`Method.why_not`) ``aus``, ``f1`` and ``floor`` are NaN and ``note`` says "not
    applicable: <why>". Trained models are kept in ``ctx.models`` for :func:`efficiency`."""
    registry = methods()
    unknown = [k for k in chosen if k not in registry]
    if unknown:
        raise KeyError(f"no comparison method {unknown}; registered: {', '.join(registry)}")
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad:
        raise KeyError(f"unknown protocol {bad}; valid: {', '.join(PROTOCOLS)}")
    rows = []
    for key in chosen:
        m = registry[key]
        for proto in protocols:
            for source, target in PROTOCOLS[proto]:
                row = {"method": m.label, "key": key, "paper": m.paper, "protocol": proto,
                       "train": DATASET_NAME[source], "test": DATASET_NAME[target]}
                why = m.why_not(proto, source)
                if why:
                    rows.append(dict(row, aus=float("nan"), f1=float("nan"), floor=float("nan"),
                                     paper_f1=headline(m, proto, source, target), note=f"not applicable: {why}"))
                    continue
                exp = ctx.experiment(m)
                if (key, source) not in ctx.models:
                    ctx.models[(key, source)] = _train(ctx, m, exp, source)
                f1, floor = _test(ctx, m, exp, ctx.models[(key, source)], proto, source, target)
                rows.append(dict(row, aus=len(f1) - 1, f1=float(f1["Avg"]), floor=float(floor),
                                 paper_f1=headline(m, proto, source, target), note=""))
    return pd.DataFrame(rows)


def efficiency(ctx: Context, chosen: list[str], bench_path: Path | None = None) -> pd.DataFrame:
    """Per method: parameters (millions, of the model trained on its first source, as
    :func:`compare` trained it — read from ``ctx.models`` or trained / read back here) and, from
    ``results/bench.json`` when present, CPU train / inference images/s of its bench rows (label
    :attr:`Method.bench`, ``tiny`` size) and GFLOPs when a row reports them; ``NaN`` where not
    measured."""
    from aulib import config

    registry = methods()
    path = Path(bench_path or config.results_root() / "bench.json")
    bench = json.loads(path.read_text()) if path.is_file() else {"benchmarks": {}}
    brows = [r for b in bench.get("benchmarks", {}).values() if b.get("status") == "ok" for r in b.get("results", [])]
    out = []
    for key in chosen:
        m = registry[key]
        source = m.sources[0]
        if (key, source) not in ctx.models:
            ctx.models[(key, source)] = _train(ctx, m, ctx.experiment(m), source)
        model = ctx.models[(key, source)]
        mine = [r for r in brows if m.bench and r["name"].startswith(m.bench + " ") and "tiny" in r["name"]
                and r.get("device", "cpu") == "cpu"]

        def pick(word, unit):
            vals = [r["value"] for r in mine if word in r["name"] and r["unit"] == unit]
            return float(vals[0]) if vals else float("nan")
        out.append({"method": m.label, "params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
                    "GFLOPs": pick("", "GFLOPs"), "CPU train images/s": pick("train", "images/s"),
                    "CPU inference images/s": pick("inference", "images/s")})
    return pd.DataFrame(out)


def run_sources(profile_results: Path, notebook: str = "compare/00_side_by_side") -> pd.DataFrame:
    """The trained runs this kernel read (``aulib.config.noted_runs``: each cached run the
    comparison trained or read back), each with the other notebooks of the profile's manifest
    (``profile_results/manifest.json``) that read the same run (same run key) — so a reader sees
    which numbers come from the paper notebooks' own models. Columns ``[run, model, trained,
    also read by]``; "–" where no other notebook has read it (trained for the comparison, or the
    paper notebook has not run at this profile)."""
    from aulib import config
    from aulib.workbook.runner import load_manifest

    by_key: dict = {}
    for nb_id, e in load_manifest(Path(profile_results)).get("notebooks", {}).items():
        for r in e.get("runs", []):
            if nb_id != notebook:
                by_key.setdefault(r.get("key"), set()).add(nb_id)
    return pd.DataFrame([{"run": Path(r["run"]).name, "model": r.get("model"), "trained": r.get("trained"),
                          "also read by": ", ".join(sorted(by_key.get(r.get("key"), ()))) or "–"}
                         for r in config.noted_runs()], columns=["run", "model", "trained", "also read by"])


def claims(results: pd.DataFrame, chosen: list[str]) -> list[dict]:
    """The comparative claims of the chosen methods' papers (:attr:`Method.claims`), each computed
    from ``results``; a method without claims adds none."""
    registry = methods()
    return [c for k in chosen if registry[k].claims for c in registry[k].claims(results)]


def best_of(results: pd.DataFrame, method: str, protocol: str) -> tuple[bool | None, str]:
    """``method`` (a label) has the highest F1 of the methods compared in every (train, test) pair
    of ``protocol`` where it and another method have a number (not-applicable rows are left out).
    (None, why) when no such pair exists."""
    rows = results[(results.protocol == protocol) & results.f1.notna()]
    parts, ok = [], True
    for (tr, te), g in rows.groupby(["train", "test"], sort=False):
        if method not in set(g.method) or g.method.nunique() < 2:
            continue
        best = g.loc[g.f1.idxmax()]
        mine = float(g[g.method == method].f1.iloc[0])
        ok &= bool(np.isclose(mine, best.f1) or mine >= best.f1)
        parts.append(f"{tr}->{te}: {method} {mine:.1f}, best {best.method} {best.f1:.1f}")
    if not parts:
        return None, f"needs the {protocol} protocol and at least two methods including {method} tested on the same pair"
    return ok, "; ".join(parts)


def f1_of(results: pd.DataFrame, key: str, protocol: str) -> float | None:
    """The F1 of method ``key`` in ``protocol``'s first applicable row; None when it has none."""
    rows = results[(results.key == key) & (results.protocol == protocol) & results.f1.notna()] \
        if "key" in results else results.iloc[:0]
    return float(rows.f1.iloc[0]) if len(rows) else None


def cross_domain_best(results: pd.DataFrame, method: str = "FG-Net") -> tuple[bool | None, str]:
    """FG-Net Table 2's comparative claim on the common protocol: ``method`` has the highest
    cross-domain F1 in each direction among the methods compared (:func:`best_of`)."""
    return best_of(results, method, "cross")
