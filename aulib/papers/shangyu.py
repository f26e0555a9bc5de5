"""Shang & Yu's notebooks (ICASSP 2024, arXiv 2310.05207; paper 003): the BP4D -> EmotioNet
set-up, the landmark-branch pre-training, the shared trained runs, the separation pictures,
the deviation table and the computations of the paper's claims.

Protocol (paper 003 §3.1; datasets.md §5): source BP4D, ADLD's split (train = parts 1 + 2,
validation / test = the two halves of part 3, :func:`aulib.data.protocols.adld_bp4d_split`);
target EmotioNet: a random subset of the unlabelled images for training and the labelled
images halved into validation and test, fixed by the seed
(:func:`aulib.data.protocols.emotionet_split`; ADLD's list files decide the halves when the
reader finds them). dlib's 68 landmarks on every image (:func:`aulib.face.landmarks.detect_dataset`,
cached); images without a detected face are excluded and listed in each dataset's ledger.
Faces are aligned by the similarity transform (ADLD's margin 2.8) to 200/176 of the crop,
randomly cropped and flipped for training, centre-cropped for testing (methods.md A.2-A.3).
Every adapted model is selected on the **target validation** half only.

Every ``claim_*`` returns the keyword arguments of :meth:`aulib.workbook.Run.claim`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aulib.models.shangyu import PAPER_LAMBDAS, SHANGYU_AUS

AUS = list(SHANGYU_AUS)
SOURCE, TARGET = "bp4d", "emotionet"
#: ADLD's similarity-alignment margin (methods.md A.2; JAA-Net uses 2.9)
BOX_ENLARGE = 2.8
#: Table 3's models as switches of the one model (paper 003 §3.3)
ABLATION = {"A": ("BL", dict(landmark_branch=False, contrastive=False)),
            "B": ("BL + ML", dict(landmark_branch=True, contrastive=False)),
            "C": ("BL + ML + AS", dict(landmark_branch=True, contrastive=True))}
#: eq. 3's weight of the contrastive alignment loss L_c (paper 003 §3.1.2: 100, chosen with the other weights by
#: one-at-a-time verification experiments; 'our proposed contrastive loss takes a large proportion')
PAPER_LAMBDA_C = PAPER_LAMBDAS["c"]
#: our method keys -> the reported-numbers store's keys (Table 3 rows)
ABLATION_KEYS = {"A": "shangyu-bl", "B": "shangyu-bl-ml", "C": "shangyu"}
#: Table 1's image-translation baselines, shown with the paper's numbers only
NOT_RUN = {"t2net": "T2Net (Zheng et al., ECCV 2018)", "drit": "DRIT (Lee et al., ECCV 2018)"}


class MissingInputs(FileNotFoundError):
    """A notebook's settings need data that is not there (every problem listed)."""


def _claim(claim: str, holds, evidence: str, source: str, **numbers) -> dict:
    return dict(claim=claim, holds=None if holds is None else bool(holds), evidence=evidence,
                source=source, **numbers)


def check_inputs(notebook: str, profile: str, use_synth: bool = True, data_root: str = "") -> None:
    """Check the real BP4D and EmotioNet folders (``use_synth=False``) before any run; raises
    :class:`MissingInputs` with the data layer's :class:`~aulib.data.DatasetLayoutError` text
    (expected layout, what was found, where to obtain the data) for each."""
    if use_synth:
        return
    from aulib import data as D
    from aulib.data import DatasetLayoutError

    problems = []
    for k in (SOURCE, TARGET):
        try:
            D.frame_index(k, D.dataset_root(k, data_root=data_root or None), labeled_only=False)
        except DatasetLayoutError as e:
            problems.append(f"dataset {k} (DatasetLayoutError): {e}")
    if problems:
        raise MissingInputs(f"{notebook} at the {profile} profile cannot start - {len(problems)} problem(s):\n"
                            + "\n".join(f"- {p}" for p in problems))


class PairedWithLandmarks(torch.utils.data.Dataset):
    """Source items (image, labels, landmarks) each with a target image and its landmarks
    (``target_image``, ``target_landmarks``): the batches Shang & Yu, ADLD, DANN and ADDA
    train on. Item ``i`` pairs source ``i`` with target ``perm[i % len(target)]`` (``perm``
    fixed by ``seed``, as :class:`aulib.train.data.PairedDomains`); subjects and labels are the
    source's."""

    def __init__(self, source, target, seed: int = 0):
        from aulib.train.data import PairedDomains

        self._pairs = PairedDomains(source, target, seed)
        self.source, self.target, self.aus = source, target, self._pairs.aus

    def __len__(self):
        return len(self.source)

    def __getitem__(self, i):
        item = dict(self.source[i])
        t = self.target[self._pairs._perm[i % len(self._pairs._perm)]]
        item["target_image"], item["target_landmarks"] = t["image"], t["landmarks"]
        return item

    @property
    def subjects(self):
        return self._pairs.subjects

    @property
    def au_labels(self):
        return self._pairs.au_labels


class Setup:
    """The BP4D -> EmotioNet data of every Shang & Yu notebook, and its trained runs.

    Args:
        roots: {"bp4d": root, "emotionet": root} (SynthAU stand-ins or the real folders).
        profile: names the run cache folder.
        image_size: crop side (paper 176; aligned to ``image_size * 200 / 176``).
        n_unlabeled: unlabelled EmotioNet training images (paper 200,000; None = all).
        max_frames: cap on source training frames and on each evaluation set (seeded); 0 = all.
        seed: the split seed (EmotioNet split, subsets, pairing).
        device: where predictions run.
    """

    def __init__(self, roots: dict, profile: str, image_size: int = 176, n_unlabeled: int | None = 200_000,
                 max_frames: int = 0, seed: int = 0, device: str = "cpu", progress: bool = False):
        from aulib import data as D
        from aulib.data import protocols
        from aulib.face.landmarks import detect_dataset

        self.roots = {k: Path(v) for k, v in roots.items()}
        self.profile, self.image_size, self.seed, self.device = profile, int(image_size), int(seed), device
        src = D.frame_index(SOURCE, self.roots[SOURCE])
        fold = protocols.adld_bp4d_split()
        tgt = protocols.emotionet_split(D.frame_index(TARGET, self.roots[TARGET], labeled_only=False),
                                        n_unlabeled, seed=seed)

        def cap(ix):
            return protocols.subset(ix, max_frames, seed) if max_frames and len(ix) > max_frames else ix

        self.index = {"source_train": cap(src[src.subject.isin(fold.train)]),
                      "source_val": cap(src[src.subject.isin(fold.val)]),
                      "source_test": cap(src[src.subject.isin(fold.test)]),
                      "target_train": tgt["train"], "target_val": cap(tgt["val"]), "target_test": cap(tgt["test"])}
        for ix in self.index.values():
            ix.attrs["aus"] = list(AUS)
        # dlib on every image used (cached per dataset and frame list)
        self.landmarks = {k: detect_dataset(pd.concat([v for n, v in self.index.items() if n.startswith(
            "source" if k == SOURCE else "target")]), self.roots[k], progress=progress) for k in (SOURCE, TARGET)}
        self._ds: dict = {}

    # -- data ---------------------------------------------------------------------------
    def faces(self, split: str, train: bool = False):
        """The aligned faces of one split (``source_train`` ... ``target_test``): random crop and
        flip when ``train``, the centre crop otherwise. Excluded images are in ``.ledger``."""
        from aulib.data import AUDataset

        key = (split, bool(train))
        if key not in self._ds:
            dom = SOURCE if split.startswith("source") else TARGET
            self._ds[key] = AUDataset(self.index[split], aus=AUS, image_size=self.image_size, alignment="similarity",
                                      landmarks=self.landmarks[dom], train=train, box_enlarge=BOX_ENLARGE,
                                      root=self.roots[dom], progress=False)
        return self._ds[key]

    def ledger(self) -> pd.DataFrame:
        """Every image a split excluded (no face, corrupt file), with the split named."""
        parts = []
        for split in self.index:
            led = self.faces(split).ledger
            parts.append(led.assign(split=split))
        return pd.concat(parts, ignore_index=True)

    def counts(self) -> pd.DataFrame:
        """Images per split: listed, kept (face found and decoded), excluded."""
        rows = []
        for split, ix in self.index.items():
            ds = self.faces(split)
            rows.append({"split": split, "images": len(ix), "kept": len(ds), "excluded": len(ix) - len(ds)})
        return pd.DataFrame(rows)

    def paired(self):
        """Source training faces paired with target training faces (both augmented)."""
        return PairedWithLandmarks(self.faces("source_train", True), self.faces("target_train", True), self.seed)

    def _train_key_index(self) -> pd.DataFrame:
        """The frames a run's cache key covers: source and target training images by dataset,
        plus the target root's fingerprint (the run cache keys one data root)."""
        from aulib import config as aconfig

        paths = ([f"{SOURCE}:{p}" for p in self.index["source_train"].path]
                 + [f"{TARGET}:{p}" for p in self.index["target_train"].path]
                 + [f"{TARGET}-data:{aconfig.fingerprint_path(self.roots[TARGET])}"])
        return pd.DataFrame({"path": paths})

    # -- runs ---------------------------------------------------------------------------
    def train(self, name: str, kwargs: dict, config, tag: str = "", source_only: bool = False):
        """Train (or read back from the run cache) a registered model on the paired training set,
        selected on the target validation half; ``source_only`` trains on source faces alone,
        selected on the source validation subjects (the domain-gap check). Returns
        ``(model, FitResult, run_dir)``."""
        from aulib.train import recipes

        kw = dict(kwargs, aus=list(AUS))
        if source_only:
            tr_ds, tr_ix = self.faces("source_train", True), self.index["source_train"]
            va_ds, va_ix = self.faces("source_val"), self.index["source_val"]
        else:
            tr_ds, tr_ix = self.paired(), self._train_key_index()
            va_ds, va_ix = self.faces("target_val"), self.index["target_val"]
        model, res, run_dir = recipes.cached_fit(name, kw, tr_ds, va_ds, config, self.profile, "shangyu-notebooks",
                                                 tr_ix, va_ix, data_root=self.roots[SOURCE])
        print(f"{tag or name}: {name} on {len(tr_ds)} source faces, best epoch {res.best_epoch} "
              f"(validation F1 {res.best_val_f1:.1f}), run {run_dir.name}")
        return model, res, run_dir

    def test(self, model, split: str = "target_test"):
        """:class:`aulib.train.loop.Predictions` of ``model`` on a split (centre crops)."""
        from aulib.train.loop import predict

        return predict(model, self.faces(split), device=self.device)

    def floor(self, split: str) -> float:
        """Average F1 of the always-active predictor on a split."""
        from aulib.eval import metrics

        ds = self.faces(split)
        y = np.asarray(ds.labels, float)
        return float(metrics.f1_per_au(y, np.ones_like(y), AUS, mask=np.asarray(ds.mask, float))["Avg"])


def mean_shape(ds) -> np.ndarray:
    """(49, 2) mean of the inner landmarks (pixels of the crop) over the faces of ``ds`` - the
    do-nothing reference of :func:`landmark_nme` and the branch's first prediction."""
    from aulib.face.align import LM68_TO_49

    lm = np.stack([ds[i]["landmarks"].numpy() for i in range(len(ds))])
    return np.nanmean(lm[:, LM68_TO_49], 0)


def pretrain_landmarks(setup: Setup, branch_kwargs: dict, config):
    """Pre-train the landmark branch (paper 003 §3.1.2: lr 1e-4, batch 8, 20 epochs) on the
    source training faces, in the run cache; returns ``(branch, run_dir)``; ``run_dir /
    "best.pt"`` initialises ``E_f`` (``shangyu(branch_weights=...)``). No validation split:
    the last epoch is kept (the paper names no selection); NME is measured on held-out faces
    by :func:`landmark_nme`. The branch's first prediction is the mean shape of the source
    training faces (centre crops; ``LandmarkBranch(mean_shape=...)``): it regresses each face's
    offsets from it - the paper is silent on the initialisation."""
    from aulib.train import recipes

    kw = dict(branch_kwargs, input_size=setup.image_size)
    kw.setdefault("mean_shape", np.round(mean_shape(setup.faces("source_train")), 3).tolist())
    ds = setup.faces("source_train", True)
    model, res, run_dir = recipes.cached_fit("shangyu_landmarks", kw, ds, None, config, setup.profile,
                                             "shangyu-notebooks/landmarks", setup.index["source_train"], None,
                                             data_root=setup.roots[SOURCE])
    return model, run_dir


def landmark_predictions(branch_or_model, ds, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(predicted (N, 49, 2), dlib (N, 68, 2)) landmarks of a landmark branch (or a model with
    ``landmarks(x)``) on the faces of ``ds`` (centre crops)."""
    from torch.utils.data import DataLoader

    net = branch_or_model
    f = net.landmarks if hasattr(net, "landmarks") else net
    was = net.training
    net.eval()
    preds, gts = [], []
    with torch.no_grad():
        for b in DataLoader(ds, batch_size=batch_size):
            preds.append(f(b["image"]).numpy())
            gts.append(b["landmarks"].numpy())
    net.train(was)
    return np.concatenate(preds), np.concatenate(gts)


def landmark_nme(pred49, gt68, train_gt68=None) -> pd.DataFrame:
    """NME (percent of the inter-ocular distance, mean over faces) of the branch, and of the
    mean training shape as the do-nothing reference when ``train_gt68`` is given."""
    from aulib.face.align import LM68_TO_49
    from aulib.models.landmark_branch import nme

    rows = [{"predictor": "landmark branch", "NME (%)": 100 * float(np.nanmean(nme(pred49, gt68))),
             "faces": len(gt68)}]
    if train_gt68 is not None:
        mean = np.nanmean(np.asarray(train_gt68)[:, LM68_TO_49], 0)
        rows.append({"predictor": "mean training shape", "NME (%)": 100 * float(np.nanmean(
            nme(np.broadcast_to(mean, (len(gt68), 49, 2)).copy(), gt68))), "faces": len(gt68)})
    return pd.DataFrame(rows)


def loss_trace(run_dir) -> pd.DataFrame:
    """The per-step loss terms of a run (``loss_trace`` of its ``last.pt``), one column per
    term of :data:`aulib.models.shangyu.TERMS`; empty for a model that records none."""
    from aulib.models.shangyu import TERMS
    from aulib.train import checkpoint as ck

    state = ck.load(Path(run_dir) / "last.pt")["state_dict"]
    tr = state.get("loss_trace")
    if tr is None:
        return pd.DataFrame(columns=list(TERMS))
    return pd.DataFrame(tr.numpy(), columns=list(TERMS))


def swapped_neighbours(model, source_ds, target_ds, n_pairs: int = 4, gallery: int = 200, seed: int = 0):
    """What the separation does, as nearest neighbours: for ``n_pairs`` (source, target) test
    faces, the features ``F_sltb`` (source landmarks, target background) and ``F_sbtl`` (target
    landmarks, source background) of ``model`` are compared (L2) with the real features ``E_f``
    of a gallery of faces from both domains, and the nearest gallery face is returned.

    Returns ``(images, titles)``: ``images`` (n_pairs, 4, H, W, 3) uint8 - source, target,
    nearest to F_sltb, nearest to F_sbtl; ``titles`` the 4 column titles; plus the domains of
    the neighbours in the titles' last two entries per row (list of (str, str))."""
    g = np.random.default_rng(seed)

    def pick(ds, n):
        return [ds[int(i)] for i in g.choice(len(ds), min(n, len(ds)), replace=False)]

    model.eval()
    gal = pick(source_ds, gallery // 2) + pick(target_ds, gallery // 2)
    dom = np.array(["source"] * min(gallery // 2, len(source_ds)) + ["target"] * min(gallery // 2, len(target_ds)))
    with torch.no_grad():
        gx = torch.stack([it["image"] for it in gal])
        gf = model.stem(gx).flatten(1)
        s, t = pick(source_ds, n_pairs), pick(target_ds, n_pairs)
        n = min(len(s), len(t))
        xs, xt = torch.stack([it["image"] for it in s[:n]]), torch.stack([it["image"] for it in t[:n]])
        fs, ft = model.stem(xs), model.stem(xt)
        (ls, bs), (lt, bt) = model.separate(fs), model.separate(ft)
        sltb, sbtl = model.combine(ls, bt).flatten(1), model.combine(lt, bs).flatten(1)
        near_a = torch.cdist(sltb, gf).argmin(1).numpy()
        near_b = torch.cdist(sbtl, gf).argmin(1).numpy()

    def img(x):
        return np.clip((x.permute(1, 2, 0).numpy() * 0.5 + 0.5) * 255, 0, 255).astype(np.uint8)

    images = np.stack([np.stack([img(xs[i]), img(xt[i]), img(gx[near_a[i]]), img(gx[near_b[i]])]) for i in range(n)])
    doms = [(dom[near_a[i]], dom[near_b[i]]) for i in range(n)]
    return images, ["source", "target", "nearest to F_sltb", "nearest to F_sbtl"], doms


# ---------------------------------------------------------------------------------------
# What every notebook sets up from its parameters
def prepare(notebook: str, profile: str, *, use_synth: bool, synth_profile: str, data_root: str, seed: int,
            image_size: int, n_unlabeled: int, max_frames: int, device: str) -> Setup:
    """Check the inputs, then the :class:`Setup` of a notebook: SynthAU's ``synth-bp4d`` and
    ``synth-emotionet`` (``use_synth``) or the user's BP4D and EmotioNet under ``data_root``;
    ``n_unlabeled`` 0 means every unlabelled image."""
    from aulib import data as D
    from aulib import synth

    check_inputs(notebook, profile, use_synth, data_root)
    roots = {k: synth.ensure(f"synth-{k}", synth_profile, root=data_root or None, seed=seed) if use_synth
             else D.dataset_root(k, data_root=data_root or None) for k in (SOURCE, TARGET)}
    return Setup(roots, profile, image_size=image_size, n_unlabeled=n_unlabeled or None, max_frames=max_frames,
                 seed=seed, device=device)


class NotebookRuns:
    """What a Shang & Yu notebook sets up from its parameters ``p`` (its ``run.params``, or the
    registry's values for it at a profile, as the comparison ``compare/`` reads them): the
    :class:`Setup` (:func:`prepare`), the landmark branch pre-trained on the source faces
    (:func:`pretrain_landmarks`, cached), the training configuration (:meth:`cfg`) and the
    model's arguments (:meth:`ours`). The same ``p`` gives the same run keys, so every caller
    reads the same cached runs. ``notebook`` names the notebook in input errors."""

    def __init__(self, notebook: str, p: dict, device: str):
        self.p, self.device = dict(p), device
        self.widths = widths_of(p["widths"])
        self.setup = prepare(notebook, p["profile"], use_synth=p["use_synth"], synth_profile=p["synth_profile"],
                             data_root=p["data_root"], seed=p["seed"], image_size=p["image_size"],
                             n_unlabeled=p["n_unlabeled"], max_frames=p["max_frames"], device=device)
        pre = train_config(lr=p["pre_lr"], epochs=p["pre_epochs"], batch_size=p["pre_batch_size"], max_iters=p["pre_iters"],
                           seed=p["seed"], device=device)
        self.branch, self.branch_dir = pretrain_landmarks(self.setup, {"widths": self.widths, "hidden": p["hidden"]}, pre)

    def cfg(self, seed: int | None = None):
        """The training configuration of every adapted run (:func:`train_config`), seed ``seed``
        (default: the notebook's)."""
        p = self.p
        return train_config(lr=p["lr"], epochs=p["epochs"], batch_size=p["batch_size"], max_iters=p["max_iters"],
                            seed=p["seed"] if seed is None else seed, device=self.device, schedule=p["schedule"])

    def ours(self, **switches) -> dict:
        """The ``shangyu`` model's arguments (:func:`model_kwargs`) with ``switches`` (Table 3's
        :data:`ABLATION`: ``landmark_branch=False, contrastive=False`` is ADLD)."""
        return model_kwargs(self.widths, self.p["hidden"], self.p["image_size"], self.branch_dir / "best.pt",
                            balanced=self.p["balanced"], **switches)


def lambda_c_values(text: str) -> list[float]:
    """The ``lambda_c`` parameter ("1,10") as positive floats; "" gives []. A clear error otherwise."""
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        vals = [-1.0]
    if any(v <= 0 for v in vals):
        raise ValueError(f"lambda_c: expected positive numbers separated by commas (weights of L_c tried beside "
                         f"the paper's {PAPER_LAMBDA_C:g}, e.g. 1,10), found {text!r}")
    return vals


def lambda_c_sweep(runs: "NotebookRuns", values: list[float], seed: int | None = None) -> pd.DataFrame:
    """Model C (BL + ML + AS) trained with the paper's lambda_c (eq. 3: 100; the same run as
    Table 3's C) and with each of ``values``, everything else equal (one seed). Per value: target
    and source test average F1 and, over the last 10 % of steps, the share of ``lambda_c * L_c`` in
    the weighted total loss and the (unweighted) AU loss - whether the contrastive term drowns the
    AU term (the README's Shang & Yu finding at ``tiny``). Our diagnostic: the paper (§3.1.2) chose
    its weights by one-at-a-time verification experiments and prints no other value's result.
    Columns ``[lambda_c, target F1, source F1, lambda_c*L_c share of loss (%), L_au]``, by
    increasing lambda_c."""
    rows = []
    for v in [PAPER_LAMBDA_C] + [float(x) for x in values if float(x) != PAPER_LAMBDA_C]:
        kw = runs.ours(**ABLATION["C"][1], **({} if v == PAPER_LAMBDA_C else {"lambdas": {"c": v}}))
        model, _, run_dir = runs.setup.train("shangyu", kw, runs.cfg(seed), tag=f"C with lambda_c = {v:g}")
        tr = loss_trace(run_dir)
        tail = tr.tail(max(1, len(tr) // 10)).mean()
        rows.append({"lambda_c": v, "target F1": float(runs.setup.test(model, "target_test").f1()["Avg"]),
                     "source F1": float(runs.setup.test(model, "source_test").f1()["Avg"]),
                     "lambda_c*L_c share of loss (%)": float(100 * v * tail["contrast"] / tail["total"]),
                     "L_au": float(tail["au"])})
        del model
    return pd.DataFrame(rows).sort_values("lambda_c", ignore_index=True)


def claim_smaller_lambda_c(sweep: pd.DataFrame, bl_f1: float) -> dict:
    """Our diagnostic, not a claim of the paper: with a smaller lambda_c, AS no longer costs
    target F1 - some smaller value's C reaches BL's (model A's) target F1. Not testable without a
    smaller value in ``sweep``."""
    small = sweep[sweep.lambda_c < PAPER_LAMBDA_C]
    paper = sweep[sweep.lambda_c == PAPER_LAMBDA_C]["target F1"]
    text = "With a smaller lambda_c than the paper's 100, model C (BL+ML+AS) reaches BL's target F1"
    src = "our diagnostic of Table 3's C (§3.1.2 sets lambda_c = 100 and prints no other value's result)"
    if small.empty:
        return _claim(text, None, "no lambda_c below 100 was trained (parameter lambda_c)", src)
    best = small.loc[small["target F1"].idxmax()]
    return _claim(text, best["target F1"] >= bl_f1,
                  f"target F1: C at lambda_c {best.lambda_c:g} {best['target F1']:.1f} (best of "
                  f"{', '.join(f'{v:g}' for v in small.lambda_c)}), at 100 "
                  f"{float(paper.iloc[0]) if len(paper) else float('nan'):.1f}; BL {bl_f1:.1f}", src)


def widths_of(text: str) -> tuple:
    """The ``widths`` parameter ("32,64,128,128,128") as five ints; a clear error otherwise."""
    try:
        w = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        w = ()
    if len(w) != 5 or min(w) < 1:
        raise ValueError(f"widths: expected five positive integers separated by commas (the channels of the "
                         f"landmark branch's five parts, e.g. 32,64,128,128,128), found {text!r}")
    return w


def train_config(*, lr: float, epochs: int, batch_size: int, max_iters: int, seed: int, device: str,
                 schedule: str = "constant", amp: str = "auto"):
    """The :class:`aulib.train.TrainConfig` of every Shang & Yu run (Adam, paper lr 1e-4)."""
    from aulib.train import TrainConfig

    return TrainConfig(optimizer="adam", lr=lr, weight_decay=0.0, epochs=epochs, batch_size=batch_size,
                       schedule=schedule, step_epochs=max(1, epochs // 3), gamma=0.5, max_iters_per_epoch=max_iters,
                       seed=seed, device=device, amp=amp, progress=False)


def model_kwargs(widths: tuple, hidden: int, image_size: int, branch_weights=None, balanced: bool = False,
                 **switches) -> dict:
    """Constructor arguments of the ``shangyu`` model (``switches``: separation, landmark_branch,
    contrastive); ``branch_weights`` only when the landmark branch is on; ``balanced`` (not the
    paper's loss, see :class:`aulib.models.shangyu.ShangYu`) only when true, so the paper's runs
    keep their keys."""
    kw = dict(input_size=image_size, widths=tuple(widths), hidden=hidden, **switches)
    if balanced:
        kw["balanced"] = True
    if kw.get("landmark_branch", True) and branch_weights:
        kw["branch_weights"] = str(branch_weights)
    return kw


def baseline_kwargs(image_size: int, balanced: bool = False) -> dict:
    """DANN / ADDA as Table 1's domain-invariant baselines: a random-init ResNet-18 (the papers
    fix no backbone for them, aulib/models/dann.py); ``balanced`` as the separation models get it
    (only when true, so the paper's runs keep their keys)."""
    return {"backbone": "resnet18", "input_size": image_size, **({"balanced": True} if balanced else {})}


# ---------------------------------------------------------------------------------------
def deviation_table(profile: str, image_size: int, epochs: int, max_iters: int, batch_size: int, lr: float,
                    n_unlabeled, pre_epochs: int, seeds: int = 1, schedule: str = "constant",
                    pre_lr: float = 1e-4, pre_iters: int = 0, balanced: bool = False) -> pd.DataFrame:
    """Where a run differs from the paper (setting, paper, this run, effect)."""
    pre = f"{pre_epochs} epochs" + (f" x {pre_iters} iterations" if pre_iters else "") + f", Adam lr {pre_lr:g}"
    rows = [
        ("data", "BP4D (source) -> EmotioNet (target), real images",
         "SynthAU synth-bp4d (lab-b) -> synth-emotionet (wild)" if profile != "paper" else "the user's BP4D and EmotioNet",
         "numbers are about SynthAU, not the real corpora"),
        ("unlabelled target images", "200,000", "all" if not n_unlabeled else f"{n_unlabeled:,} (or all there are)", "fewer target images to align to"),
        ("face crop", "aligned 200 px, random crop 176 + flip", f"aligned {round(image_size * 200 / 176)} px, crop {image_size} + flip",
         "smaller faces, smaller feature maps (size/4)" if image_size != 176 else "as the paper"),
        ("landmark branch pre-training", "lr 1e-4, batch 8, 20 epochs", pre,
         ("far fewer steps; a larger lr (chosen on the source validation subjects' NME) makes up part of it"
          if pre_lr != 1e-4 else "a weaker initialisation of E_f") if (pre_epochs < 20 or pre_iters or pre_lr != 1e-4)
         else "as the paper"),
        ("landmark branch initialisation", "not printed",
         "last FC layer: zero weights, bias = the mean shape of the source training faces (it regresses offsets)",
         "our reading; starts at the mean-shape NME instead of every point at the crop centre"),
        ("AU loss L_au", "weighted multi-label BCE (weights from the source base rates)",
         "the same, each AU's positive term also weighted by (1 - r) / r (running base rate r); DANN and ADDA "
         "get the same balancing" if balanced else "as the paper",
         "a short run does not settle on 'absent' for every AU; not the paper's loss" if balanced else "as the paper"),
        ("training", "up to 12 epochs, lr 1e-4 for 4 epochs then linear decay every 4",
         f"{epochs} epochs x {max_iters or 'all'} iterations, batch {batch_size}, Adam lr {lr:g}, schedule {schedule}",
         "far fewer steps than the paper" if profile != "paper" else "the decay's exact slope is not printed"),
        ("optimisers", "not printed (ADLD: separate Adam optimisers for generators/discriminators and the task)",
         "one Adam optimiser; discriminators on detached inputs, generators through detached copies",
         "same games, one learning rate"),
        ("projectors P_ij, F_l in L_c", "'relatively simple structure' (not specified)",
         "two 1x1 convolutions on the second-round member of each pair; F_l = the 49 landmark maps", "our reading"),
        ("landmark targets of L_l", "ADLD: some landmarks moved to AU centres", "the dlib inner landmarks as detected",
         "none expected at this size"),
        ("fine-tuning of the best model", "'we choose the pre-trained model with the best performance and fine-tune it'",
         "not done", "the paper does not say how"),
        ("seeds", "one run reported", f"{seeds} seed(s)", "the spread decides whether a difference counts"),
        ("T2Net, DRIT", "image-to-image translation baselines", "not run (the paper's numbers shown)", "Table 1 rows without ours"),
    ]
    return pd.DataFrame(rows, columns=["setting", "paper", "this run", "effect"])


# ---------------------------------------------------------------------------------------
# Claims
def mean_std(values) -> tuple[float, float]:
    v = np.asarray(list(values), float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def _difference(a: list, b: list) -> tuple[float, float, bool | None, str]:
    """(mean of b - mean of a, seed spread = the larger std, exceeds?, text)."""
    ma, sa = mean_std(a)
    mb, sb = mean_std(b)
    d = mb - ma
    spread = np.nanmax([sa, sb]) if len(a) > 1 and len(b) > 1 else float("nan")
    if np.isnan(spread):
        return d, spread, None, f"{mb:.1f} vs {ma:.1f} (difference {d:+.1f}; one seed, no spread)"
    return d, float(spread), bool(d > spread), (f"{mb:.1f} ± {sb:.1f} vs {ma:.1f} ± {sa:.1f} over {len(a)} seeds "
                                                f"(difference {d:+.1f}, seed spread {spread:.1f})")


def claim_gain(better: str, worse: str, f1_better: list, f1_worse: list, text: str, source: str) -> dict:
    """``better`` has a higher target F1 than ``worse``: holds iff the mean difference over seeds
    is positive and larger than the seed spread (the larger std of the two); with one seed the
    sign alone decides and the evidence says that no spread was measured."""
    d, spread, exceeds, txt = _difference(f1_worse, f1_better)
    holds = (d > 0) if exceeds is None else (d > 0 and exceeds)
    note = "" if exceeds is None else ("; the difference exceeds the seed spread" if exceeds
                                      else "; lower, by more than the seed spread" if d < -spread
                                      else "; the difference is within the seed spread")
    return _claim(text, holds, f"target F1 {better} vs {worse}: {txt}{note}", source, difference=d, spread=spread)


def claim_beats_adld(ours: list, adld: list) -> dict:
    """Ours beats ADLD on the target (paper 003 §3.2.1: 'our method outperforms 2.1% in F1-score
    to ADLD'; Table 1: 38.9 vs 36.8)."""
    return claim_gain("ours (BL+ML+AS)", "ADLD (BL)", ours, adld, "Ours beats ADLD on the target domain (average F1)",
                      "Section 3.2.1; Table 1")


def claim_ml_adds(bl_ml: list, bl: list) -> dict:
    """ML adds F1 (paper 003 §3.3: 'The introduction of ML helps achieve an increase of 1.0% in
    F1-score'; Table 3 B vs A)."""
    return claim_gain("B (BL+ML)", "A (BL)", bl_ml, bl, "ML (joint landmark learning) adds target F1 over BL",
                      "Section 3.3; Table 3 (B vs A)")


def claim_as_adds(full: list, bl_ml: list) -> dict:
    """AS adds F1 beyond ML (paper 003 §3.3: 'Adopting AS ... leads to an increase of 1.4% in
    F1-score ... compared to model B'; Table 3 C vs B)."""
    return claim_gain("C (BL+ML+AS)", "B (BL+ML)", full, bl_ml, "AS (contrastive alignment) adds target F1 beyond ML",
                      "Section 3.3; Table 3 (C vs B)")


def claim_invariant_lose(invariant: dict, separation: dict) -> dict:
    """Domain-invariant baselines (DANN, ADDA) lose to separation and reconstruction (paper 003
    §3.2.1: 'Compared to domain-invariant features learning approaches, namely DANN and ADDA,
    our method achieves an average increase of 17.4% and 16.8%'; ADLD is also above both in
    Table 1). Holds iff every domain-invariant model's target F1 is below every separation
    model's (``{name: F1}`` each)."""
    text = "Domain-invariant baselines (DANN, ADDA) score lower target F1 than separation and reconstruction (ADLD, ours)"
    source = "Section 3.2.1; Table 1"
    if not invariant or not separation:
        return _claim(text, None, "DANN / ADDA or the separation models were not run here", source)
    worst_sep = min(separation.values())
    holds = all(v < worst_sep for v in invariant.values())
    ev = (", ".join(f"{k} {v:.1f}" for k, v in invariant.items()) + " vs "
          + ", ".join(f"{k} {v:.1f}" for k, v in separation.items()) + " (one seed each)")
    return _claim(text, holds, ev, source)


#: the source-only model must reach this ROC AUC (%) on the source test subjects before a gap can be
#: read from it: a model near chance (50) has nothing to lose on the target
MIN_SOURCE_AUC = 60.0


def claim_domain_gap(source_f1: float, target_f1: float, source_auc: float, target_auc: float,
                     source_floor: float, target_floor: float, min_source_auc: float = MIN_SOURCE_AUC) -> dict:
    """The set-up has a domain gap: a source-only model loses on the target. F1 moves with base
    rates (README, tutorial 4), so the gap is judged on ROC AUC (base-rate free) and on F1 above
    the always-active floor; holds iff both fall from source to target. Untestable (``holds``
    None) when the source-only model has not learned on the source itself: ROC AUC below
    ``min_source_auc`` or F1 not above the source floor."""
    da, df = source_auc - target_auc, (source_f1 - source_floor) - (target_f1 - target_floor)
    evidence = (f"ROC AUC {source_auc:.1f} (source test) -> {target_auc:.1f} (target test), drop {da:+.1f}; "
                f"F1 above the always-active floor {source_f1 - source_floor:+.1f} -> {target_f1 - target_floor:+.1f}")
    learned = source_auc >= min_source_auc and source_f1 > source_floor
    holds = (da > 0 and df > 0) if learned else None
    if not learned:
        evidence += (f" - the source-only model did not learn on the source (needs ROC AUC >= {min_source_auc:.0f} and "
                     f"F1 above the floor), so no gap can be read from it")
    return _claim("SynthAU lab -> wild has a domain gap: a source-only model loses on the target", holds, evidence,
                  "issue set-up (paper 003 §1: lab vs in-the-wild disparities)", auc_drop=da, f1_margin_drop=df)


# ---------------------------------------------------------------------------------------
# The comparison (compare/00_side_by_side): ours, ADLD and DANN as shangyu/01_target_source trains them
TABLE1_NOTEBOOK = "shangyu/01_target_source"
#: why the comparison tests Shang & Yu's models under the lab -> wild protocol only
_WILD_ONLY = ("unsupervised adaptation to unlabelled EmotioNet images: tested on the EmotioNet test half only (its BP4D "
              "training part, ADLD's parts 1 + 2, holds fold 1's test subjects)")


def _compare_train(which: str):
    def train(ctx, runs, source):
        if which == "dann":
            name, kw = "dann", baseline_kwargs(runs.p["image_size"], runs.p["balanced"])
        else:
            name, kw = "shangyu", runs.ours(**(ABLATION["A"][1] if which == "adld" else {}))
        return runs.setup.train(name, kw, runs.cfg(), tag=f"{which} (comparison)")[0]
    return train


def _compare_test(ctx, runs, model, protocol, source, target):
    return runs.setup.test(model, "target_test").f1(), runs.setup.floor("target_test")


def _compare_claims(results) -> list[dict]:
    from aulib.papers.compare import f1_of

    ours, adld, dann = (f1_of(results, k, "wild") for k in ("shangyu", "adld", "dann"))
    if ours is None or adld is None:
        out = [_claim("Ours beats ADLD on the target domain (average F1)", None,
                      "needs Shang & Yu and ADLD on the wild protocol (lab -> wild)", "Section 3.2.1; Table 1")]
    else:
        out = [claim_beats_adld([ours], [adld])]
    sep = {k: v for k, v in (("ADLD", adld), ("ours", ours)) if v is not None}
    return out + [claim_invariant_lose({} if dann is None else {"DANN": dann}, sep)]


def _compare_entries() -> list:
    from aulib.papers.compare import Method

    def entry(key, label, bench="", claims=None):
        return Method(key, label, "shangyu", TABLE1_NOTEBOOK, None,
                      lambda ctx: NotebookRuns(TABLE1_NOTEBOOK, ctx.params(TABLE1_NOTEBOOK), ctx.device),
                      {("wild", "bp4d", "emotionet"): ("shangyu", "Table 1", "BP4D->EmotioNet", key)}, bench, claims,
                      protocols=("wild",), sources=("bp4d",), not_applicable=_WILD_ONLY, train=_compare_train(key),
                      test=_compare_test)
    return [entry("shangyu", "Shang & Yu (BL+ML+AS)", "Shang & Yu (BL+ML+AS)", _compare_claims),
            entry("adld", "ADLD (Shang & Yu's BL)", "ADLD (Shang & Yu's BL)"),
            entry("dann", "DANN (Shang & Yu's baseline)", "DANN (Shang & Yu's baseline)")]


#: Shang & Yu, ADLD and DANN in the four-paper comparison (:mod:`aulib.papers.compare`)
COMPARE = _compare_entries()
