"""GLEE-Net's notebooks (Hu et al., AAAI 2023; paper 002): sizes per profile, the deviation
table (every choice the paper leaves open), the pre-training runs shared by the notebooks,
the experiment set-up with the 3DMM branch, the claims' computations and figure helpers.

No public code exists for GLEE-Net (methods.md D.1); these notebooks are its only executable
version, so every choice made here is listed by :func:`deviation_table`.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from aulib.train.recipes import Experiment

#: names of the notebooks' methods -> (printed name, key in the reported store)
BASELINES = {"resnet": ("ResNet (ours)", "resnet"), "drml": ("DRML (ours)", "drml"),
             "megraph": ("ME-GraphAU-style (ours)", "megraphau")}
#: Table 5's rows as switches of one model: key -> (printed name, reported key, GLEE-Net arguments)
ABLATIONS = {
    "no_pretrain": ("w/o pretrain", "gleenet-no-pretrain", {"pretrain": False}),
    "fixed": ("w. fixed GB & LB", "gleenet-fixed-gb-lb", {"freeze_branches": True}),
    "resnet": ("w. ResNet", "gleenet-resnet", {"branches": "resnet", "pretrain": False}),
    "no_gb_lb": ("w/o GB & LB", "gleenet-no-gb-lb", {"branches": "none"}),
    "no_3dgb": ("w/o 3DGB", "gleenet-no-3dgb", {"n_exp3d": 0}),
    "no_lb": ("w/o LB", "gleenet-no-lb", {"branches": "gb"}),
    "no_tc": ("w/o TC", "gleenet-no-tc", {"classifier": "mlp"}),
    "no_joint_fc": ("w/o joint FC", "gleenet-no-joint-fc", {"joint_fc": False}),
    "full": ("GLEE-Net (Full)", "gleenet", {}),
}
#: the paper's N_s, N_e (§3.3)
N_SHAPE, N_EXPR = 60, 51
#: "lowest Ave-Var" and "beats": differences smaller than this many seed standard deviations are
#: reported as within noise (a claim that needs a difference does not hold on noise)
NOISE_SD = 1.0


def model_kwargs(profile: str, balanced: bool = False, **overrides) -> dict:
    """GLEE-Net's constructor arguments per profile (paper: §3-4 sizes; smoke / tiny: small).
    ``balanced`` (the notebooks' parameter; not the paper's loss, see :class:`aulib.models.gleenet.GLEENet`)
    is passed only when true, so runs with the paper's eq. 5 keep their run keys."""
    if profile == "paper":
        kw = dict(input_size=160, facenet={}, local={}, n_exp3d=N_EXPR)
    elif profile == "tiny":
        kw = dict(input_size=96, facenet=dict(width=0.25, repeats=(1, 2, 1), embedding_size=128),
                  local=dict(crop_size=32, channels=(16, 32, 32, 32), pool=2, hidden=128), n_exp3d=N_EXPR,
                  token_dim=32, n_layers=3, hidden=64)
    elif profile == "smoke":
        kw = dict(input_size=96, facenet=dict(width=0.125, repeats=(1, 1, 1), embedding_size=32),
                  local=dict(crop_size=24, channels=(8, 8, 8, 8), pool=2, hidden=32), n_exp3d=N_EXPR,
                  token_dim=8, n_layers=1, hidden=16)
    else:
        raise ValueError(f"unknown profile {profile!r}; smoke, tiny or paper")
    if balanced:
        kw["balanced"] = True
    kw.update(overrides)
    return kw


def baseline_kwargs(name: str, profile: str, size: int, balanced: bool = False) -> tuple[str, dict]:
    """(registered model, arguments) of a baseline trained beside GLEE-Net on the same frames.
    ``balanced`` (the notebooks' parameter) turns on DRML's own ``balanced`` switch, the same
    positive weighting as GLEE-Net's; the ResNet row gets it from the trainer's loss
    (:func:`train_config`); ME-GraphAU-style keeps its weighted asymmetric loss (E.2), whose
    negative term already shrinks with the predicted probability."""
    small = profile != "paper"
    if name == "resnet":
        return ("resnet18" if small else "resnet50"), {"input_size": size}
    if name == "drml":
        return "drml", {"input_size": size, "grid": 4 if small else 8,
                        "fc_dims": (256, 128) if small else (4096, 2048), **({"balanced": True} if balanced else {})}
    if name == "megraph":
        return "megraph", {"backbone": "resnet18" if small else "resnet50", "input_size": size}
    raise ValueError(f"unknown baseline {name!r}; GLEE-Net's notebooks train {', '.join(BASELINES)}")


def deviation_table(profile: str, **s) -> pd.DataFrame:
    """Where a run differs from the paper, and every choice the paper leaves open
    (columns: item, paper, this run, why)."""
    small = profile != "paper"
    rows = [
        ("data", "BP4D, DISFA, BP4D+ (and FEC)", "SynthAU stand-ins in the official layouts" if s.get("use_synth", small)
         else "the user's datasets", "licensed data is not shipped"),
        ("FaceNet initialisation", "FaceNet for face recognition on VGGFace2 (§3.1)",
         "facenet-pytorch's 20180402-114759-vggface2.pt, read strictly" if not small else
         "our FaceNet (width %s) trained on synth-faces' CASIA part, softmax over identities on the 16x-scaled "
         "unit embedding; LFW-protocol accuracy reported" % model_kwargs(profile)["facenet"].get("width", 1.0),
         "the published file is the user's; no download at run time"),
        ("network size", "Inception-ResNet-v1, 160 px; 96-px crops", "as the paper" if not small else
         f"FaceNet width {model_kwargs(profile)['facenet'].get('width')} and fewer blocks, {model_kwargs(profile)['input_size']}-px "
         f"faces, {model_kwargs(profile)['local']['crop_size']}-px crops", "CPU budget"),
        ("3DMM", "LSFM mean + 60 shape bases in [-3, 3], 51 sculpted blendshapes", "the user's model file (.npz at the "
         "68 landmarks)" if not small else "built from each fold's training landmarks: PCA of subjects' neutral shapes "
         "(N_s < subjects) and of expression displacements (N_e <= 51), in-plane bases, generic ellipsoid depth",
         "LSFM is licensed; SynthAU's own AU fields would hand the branch the answer"),
        ("3DMM fit", "LM, perspective, lambda 1e-4, point-to-curve for non-endpoint contour landmarks",
         "the same; contours = jaw, brows, outer and inner lip (mouth corners as endpoints), distance to the "
         "tangent line; 20 LM iterations; focal = 10 face radii", "the paper names no contour set or camera"),
        ("landmarks", "OpenFace 2.0 [2]", "the dataset's landmarks_68.npz (dlib's layout)" if small else
         "the dataset's landmark cache (dlib)", "OpenFace is not packaged for Python"),
        ("local extractor", "four 3x3 convs, self-attention, average pooling", "convs 32/64/64/64 stride 2,2,1,1 "
         "+ BN-ReLU, SAGAN-style attention, pool 4x4, MLP 512 -> 16 (paper size)", "widths not given; chosen so the "
         "paper-size model has 57.1 M parameters (paper 56.6 M)"),
        ("E_exp in the classifier", "E_exp concatenated with f_exp", "E_exp before normalisation",
         "the paper normalises it only for the triplet loss"),
        ("Transformer classifier", "parallel MLPs, 12 tokens of 32, 3 encoders, per-AU FC, joint FC",
         "MLP F->64->32 per AU, 4 heads, feed-forward 64, no positional code, joint FC n_aus->n_aus",
         "not given in the paper"),
        ("AU loss balance", "eq. 5 (weighted BCE, no balance of an AU's active and inactive frames)",
         "eq. 5 with each AU's positive term also weighted by (1 - r) / r, r the running base rate of the training "
         "batches (as Shang & Yu's and DRML's balanced losses); the same for the DRML and ResNet rows, ME-GraphAU-style "
         "keeps its asymmetric loss" if s.get("balanced")
         else "as the paper", "with eq. 5 alone a short CPU run answers 'absent' for most AUs (README, GLEE-Net: "
         "F1 0.0 on synth-DISFA, validation F1 below the always-active floor on BP4D at lr 0.01); not the paper's loss" if s.get("balanced") else "as the paper"),
        ("loss weights", "eq. 5: 1/r_i averaged over AUs", "1/r_i rescaled to sum to the number of AUs (the trainer's "
         "weights)", "a constant factor; same optimum"),
        ("triplet margin", "m (not printed)", f"{s.get('margin', 0.1)}", "FEC's paper uses 0.1 for its 16-d embedding"),
        ("pre-training", "SGD m 0.9, lr 2e-4, batch 30, 10 epochs on FEC", f"lr {s.get('pretrain_lr')}, "
         f"{s.get('pretrain_epochs')} epochs, {s.get('max_triplets') or 'all'} triplets of synth-fec", "CPU budget"),
        ("fine-tuning", "SGD m 0.9, lr 2e-3, 10 epochs", f"SGD m 0.9, lr {s.get('lr')}, {s.get('epochs')} epochs of "
         f"<= {s.get('max_iters') or 'all'} iterations, batch {s.get('batch_size')}", "CPU budget"),
        ("folds", "3-fold cross-validation", f"{s.get('n_folds', 3)} of 3 folds", "CPU budget"),
        ("test frames", "all", f"at most {s.get('max_test_frames')} per test set (seeded)" if s.get("max_test_frames")
         else "all", "CPU budget"),
        ("w. ResNet row", "a ResNet instead of GB & LB", "ResNet-18 (tiny) / ResNet-50 (paper), random init, "
         "not pre-trained on FEC", "the paper does not say how it was initialised"),
    ]
    return pd.DataFrame(rows, columns=["item", "paper", "this run", "why"])


def complexity_table(input_size: int = 160, n_aus: int = 12) -> pd.DataFrame:
    """Parameters and FLOPs (``torch.utils.flop_counter``, one face) of the paper-size GLEE-Net
    beside the paper's 56.6 M and 8.72 GFLOPs (§4.2). Counted once per version of the model's
    code (about a minute on CPU) and kept in ``<cache>/gleenet-complexity/``."""
    from aulib import config as aconfig

    files = [f"aulib/models/{m}.py" for m in ("gleenet", "facenet", "gleenet_local", "gleenet_classifier")]
    key = _key(code=aconfig.code_digests(files), size=input_size, n_aus=n_aus, torch=torch.__version__)
    path = aconfig.cache_dir("gleenet-complexity") / f"{key}.csv"
    if not path.is_file():
        _complexity(input_size, n_aus).to_csv(path, index=False)
    return pd.read_csv(path)


def _complexity(input_size: int, n_aus: int) -> pd.DataFrame:
    from torch.utils.flop_counter import FlopCounterMode

    from aulib.models.gleenet import PAPER_GFLOPS, PAPER_PARAMS_M, GLEENet, pack_inputs

    m = GLEENet(aus=[f"AU{i}" for i in range(1, n_aus + 1)], **model_kwargs("paper", input_size=input_size)).eval()
    x = pack_inputs(torch.zeros(1, 3, input_size, input_size), torch.zeros(1, m.n_exp3d))
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        m(x)
    parts = {"global branch (2 x FaceNet + linear)": sum(p.numel() for n in ("face_net", "id_net", "g_proj")
                                                          for p in getattr(m, n).parameters()),
             "local branch": sum(p.numel() for p in m.local.parameters()),
             "Transformer classifier": sum(p.numel() for p in m.classifier.parameters())}
    rows = [{"quantity": f"parameters: {k}", "ours": v / 1e6, "paper": float("nan")} for k, v in parts.items()]
    rows += [{"quantity": "parameters (M)", "ours": sum(p.numel() for p in m.parameters()) / 1e6, "paper": PAPER_PARAMS_M},
             {"quantity": f"GFLOPs ({input_size} px)", "ours": fc.get_total_flops() / 1e9, "paper": PAPER_GFLOPS}]
    return pd.DataFrame(rows)


class MissingInputs(FileNotFoundError):
    """A GLEE-Net notebook's settings need files that are not there (all of them are listed)."""


def check_inputs(notebook: str, profile: str, *, use_synth: bool = True, data_root: str = "",
                 facenet_weights: str = "", morphable_model: str = "", datasets=()) -> None:
    """Check every file a GLEE-Net notebook's settings need, before any run starts: the real
    datasets (``use_synth=False``: each of ``datasets`` under ``data_root``, e.g. a missing BP4D+
    folder), and at the paper profile the published FaceNet file (``facenet_weights``) and the
    morphable-model file (``morphable_model``). Raises :class:`MissingInputs` naming the
    notebook and, per problem, the parameter, the value found and what is expected."""
    from . import dataset_problems

    problems = [] if use_synth else dataset_problems(datasets, data_root)
    need = {"facenet_weights": (facenet_weights, "facenet-pytorch's 20180402-114759-vggface2.pt (GLEE-Net's "
                                "global branch starts from FaceNet trained on VGGFace2, §3.1)"),
            "morphable_model": (morphable_model, "an .npz with mean (68, 3), shape_basis (N_s, 68, 3), expr_basis "
                                "(N_e, 68, 3) at the 68 landmarks (LSFM + 51 blendshapes, or ICT-FaceKit; §3.3)")}
    for param, (value, what) in need.items():
        if value and not Path(value).is_file():
            problems.append(f"parameter {param}={value!r}: no such file; expected {what}")
        elif not value and profile == "paper":
            problems.append(f"parameter {param} is not set: {what}")
    if problems:
        raise MissingInputs(f"{notebook} at the {profile} profile cannot start - checked before any run, "
                            f"{len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems))


# ---------------------------------------------------------------------------------------
# Pre-training (shared by every notebook through the run cache)
def _key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pretrained_parts(profile: str, faces_root, fec_root, facenet_weights: str = "", identity_epochs: int = 5,
                     pretrain_epochs: int = 10, pretrain_lr: float = 2e-4, max_triplets: int = 0, max_test: int = 0,
                     margin: float = 0.1, seed: int = 0, device: str = "cpu", aus=("AU1",)) -> dict:
    """The two pre-trainings GLEE-Net starts from, each run once and cached:

    1. face recognition: the published FaceNet file (``facenet_weights``, paper) or our FaceNet
       trained on ``faces_root``'s CASIA-WebFace part (:func:`aulib.train.identity.pretrain_identity`),
       with its LFW-protocol verification accuracy on ``faces_root``'s pairs (smoke / tiny);
    2. the expression embedding: global + local branches trained with eq. 4 on ``fec_root``'s
       triplets, starting from 1 (:func:`aulib.train.triplets.pretrain_embedding`), with FEC's
       triplet accuracy on the held-out triplets before and after.

    Returns {"facenet": file, "identity": record or None, "lfw": table or None,
    "embedding": file, "triplets": record}.
    """
    from aulib import config as aconfig
    from aulib.models.facenet import InceptionResnetV1
    from aulib.models.gleenet import EMBEDDING_FORMAT, GLEENet, save_facenet
    from aulib.train.identity import lfw_verification, pretrain_identity
    from aulib.train.triplets import pretrain_embedding

    kw = model_kwargs(profile)
    size = kw["input_size"]
    out = {"identity": None, "lfw": None}
    if facenet_weights:
        out["facenet"] = str(facenet_weights)
    else:
        fkw = dict(kw["facenet"])
        key = _key(what="identity", data=aconfig.fingerprint_path(faces_root), facenet=fkw, size=size,
                   epochs=identity_epochs, seed=seed)
        run_dir = aconfig.cache_dir("runs", profile, "gleenet-pretrain", "identity", key)
        with aconfig.file_lock(run_dir.parent / f"{key}.lock"):
            net = InceptionResnetV1(**fkw)
            rec = pretrain_identity(net, faces_root, run_dir, size, epochs=identity_epochs, seed=seed, device=device,
                                    save=lambda m, p: save_facenet(m, p, fkw, "identity pre-training on synth-faces"))
            lfw_file = run_dir / "lfw.csv"
            if not lfw_file.is_file():
                from aulib.models.gleenet import load_any_facenet

                load_any_facenet(net, rec["file"])
                table = lfw_verification(net, faces_root, size, device)
                table.to_csv(lfw_file, index=False)
        out.update(facenet=rec["file"], identity=rec, lfw=pd.read_csv(lfw_file))
    key = _key(what="embedding", data=aconfig.fingerprint_path(fec_root), facenet=out["facenet"],
               kw={k: kw[k] for k in ("facenet", "local", "input_size")}, epochs=pretrain_epochs, lr=pretrain_lr,
               max_triplets=max_triplets, max_test=max_test, margin=margin, seed=seed)
    run_dir = aconfig.cache_dir("runs", profile, "gleenet-pretrain", "embedding", key)
    with aconfig.file_lock(run_dir.parent / f"{key}.lock"):
        aconfig.seed_everything(seed)
        model = GLEENet(aus=list(aus), **dict(kw, n_exp3d=0), facenet_weights=out["facenet"])
        rec = pretrain_embedding(model, lambda m, x: m.embedding(x), fec_root, run_dir, size,
                                 save=lambda m, p: torch.save({"format": EMBEDDING_FORMAT,
                                                               "state_dict": m.embedding_state()}, p),
                                 epochs=pretrain_epochs, lr=pretrain_lr, margin=margin, max_triplets=max_triplets,
                                 max_test=max_test, seed=seed, device=device)
    out.update(embedding=rec["file"], triplets=rec)
    return out


# ---------------------------------------------------------------------------------------
# The 3D global branch's inputs
class With3D(Dataset):
    """Items of an aligned AU dataset with their 3DMM expression coefficients packed as a fourth
    image plane (:func:`aulib.models.gleenet.pack_inputs`). ``coeffs``: (len(ds), K)."""

    def __init__(self, ds, coeffs: np.ndarray):
        if len(coeffs) != len(ds):
            raise ValueError(f"{len(coeffs)} coefficient rows for {len(ds)} items")
        self.ds, self.coeffs = ds, torch.as_tensor(np.asarray(coeffs, np.float32))
        for a in ("aus", "labels", "mask", "subjects"):
            if hasattr(ds, a):
                setattr(self, a, getattr(ds, a))

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        from aulib.models.gleenet import pack_inputs

        item = dict(self.ds[i])
        item["image"] = pack_inputs(item["image"][None], self.coeffs[i][None])[0]
        return item


def _frames_of(ds):
    """(paths, source landmarks (N, 68, 2)) of the items of a FrameSubset of an AUDataset."""
    base = ds.dataset
    slots = base._slots[np.asarray(ds.indices)]
    return [base.refs[j] for j in slots], base.src_landmarks[slots]


class GleeExperiment(Experiment):
    """:class:`aulib.train.recipes.Experiment` for GLEE-Net: each GLEE-Net run reads its frames
    with 3DMM coefficients from a morphable model built on that run's training frames only
    (or the user's model file, ``morphable_model``), fitted once per frame and cached
    (:func:`aulib.face.morphable.fit_cached`); tests use the model the run was trained with."""

    def __init__(self, *a, morphable_model: str = "", **kw):
        super().__init__(*a, **kw)
        self.morphable_file = morphable_model
        self._mm = None
        self._models = {}

    def morphable(self, k: str, train_index):
        """The 3DMM of a run trained on ``train_index`` of dataset k (cached per frame set)."""
        from aulib.face import morphable as M
        from aulib.train.recipes import frames_digest

        if self.morphable_file:
            return M.load_model(self.morphable_file)
        key = (k, frames_digest(train_index))
        if key not in self._models:
            ds = self.faces_of(train_index)
            _, lms = _frames_of(ds)
            neutral = ((np.asarray(ds.labels) * np.asarray(ds.mask)).sum(1) == 0) & (np.asarray(ds.mask).sum(1) > 0)
            self._models[key] = M.build_from_landmarks(lms, ds.subjects, neutral, N_SHAPE, N_EXPR,
                                                       source=f"{k} training frames {key[1]}")
        return self._models[key]

    def faces_of(self, idx, aus=None):
        ds = super().faces_of(idx, aus)
        if self._mm is None:
            return ds
        from aulib.face import morphable as M

        paths, lms = _frames_of(ds)
        return With3D(ds, M.fit_cached(self._mm, paths, lms, f"gleenet-{idx.attrs['dataset']}"))

    def train_on(self, k, fold, tag="", name=None, train_index=None, config=None, **variant):
        name = name or self.model
        kw = dict(self.base_kwargs, **variant) if name == self.model else dict(variant)
        if name != "gleenet" or not kw.get("n_exp3d"):
            return super().train_on(k, fold, tag, name, train_index, config, **variant)
        tr = self.frames(k, fold.train) if train_index is None else train_index
        mm = self.morphable(k, tr)
        self._mm = mm
        try:
            model = super().train_on(k, fold, tag, name, train_index, config, **dict(variant, n_exp3d=mm.n_expr))
        finally:
            self._mm = None
        model._aulib_morphable = mm
        return model

    def test_on(self, model, k, subjects, aus=None):
        self._mm = getattr(model, "_aulib_morphable", None)
        try:
            return super().test_on(model, k, subjects, aus)
        finally:
            self._mm = None

    def test_across(self, model, source: str, k: str, subjects, aus=None):
        """:meth:`test_on` for a model trained on dataset ``source`` tested on another dataset
        ``k`` whose subject IDs reuse the source's numbering (BP4D and BP4D+ both name their
        subjects F001..., M001...; they are different people, GLEE-Net §4.1 / JAA-Net's
        BP4D->BP4D+ protocol): the leakage guard compares dataset-qualified IDs for this test
        (``bp4d/F003`` is not ``F003`` of BP4D+), so a real overlap within ``k`` is still refused."""
        if source == k:
            raise ValueError("test_across is for another dataset; use test_on within a dataset")
        trained = getattr(model, "_aulib_train_subjects", frozenset())
        model._aulib_train_subjects = frozenset(f"{source}/{s}" for s in trained)
        try:
            return self.test_on(model, k, subjects, aus)
        finally:
            model._aulib_train_subjects = trained

    def test_faces_for(self, model, k, subjects, aus=None):
        """The test set of ``subjects`` as ``model`` reads it (with its 3DMM coefficients if any)."""
        self._mm = getattr(model, "_aulib_morphable", None)
        try:
            return self.test_faces(k, subjects, aus=aus)
        finally:
            self._mm = None


def gleenet_variant(key: str, parts: dict) -> dict:
    """GLEE-Net arguments of Table 5's row ``key`` (:data:`ABLATIONS`), with the pre-trained
    files of ``parts`` (:func:`pretrained_parts`) unless the row has no pre-training."""
    args = dict(ABLATIONS[key][2])
    pretrain = args.pop("pretrain", True)
    if pretrain and args.get("branches", "gb_lb") in ("gb_lb",):
        args["embedding_weights"] = parts["embedding"]
    if args.get("branches", "gb_lb") in ("gb_lb", "gb"):
        args["facenet_weights"] = parts["facenet"]
    return args


# ---------------------------------------------------------------------------------------
# Representations, Ave-Var, retrieval (Figures 1, 4, 5)
@torch.no_grad()
def representations(model, ds, batch_size: int = 64) -> np.ndarray:
    """F_exp (N, F) of every item of ``ds`` (eval mode)."""
    from torch.utils.data import DataLoader

    model.eval()
    return np.concatenate([model.representation(b["image"]).numpy()
                           for b in DataLoader(ds, batch_size=batch_size)])


def combinations(labels, mask, aus, top: int = 7) -> tuple[np.ndarray, list[str]]:
    """Each frame's AU combination as text ("AU6+AU12", "none"); frames with an unknown label
    get "". Returns (per-frame combination, the ``top`` most common known combinations)."""
    y, m = np.asarray(labels) > 0.5, np.asarray(mask) > 0.5
    combo = np.array(["+".join(a for a, on in zip(aus, row) if on) or "none" if mk.all() else ""
                      for row, mk in zip(y, m)])
    counts = pd.Series(combo[combo != ""]).value_counts()
    return combo, list(counts.index[:top])


def ave_var(feats: np.ndarray, combo: np.ndarray, keep) -> float:
    """Ave-Var (paper 002 §4.5): per AU combination the variance of its representations (mean
    squared distance to the combination's mean), averaged over combinations. Features are first
    standardised as a whole (zero mean, unit total variance), so spaces of different size and
    scale compare."""
    f = feats - feats.mean(0)
    f = f / np.sqrt((f ** 2).sum(1).mean() + 1e-12)
    return float(np.mean([((f[combo == c] - f[combo == c].mean(0)) ** 2).sum(1).mean() for c in keep]))


def retrieval_score(feats: np.ndarray, combo: np.ndarray, keep, k: int = 5) -> float:
    """How often (percent) the ``k`` nearest neighbours (Euclidean) of a frame of a kept
    combination share its AU combination, averaged over those frames."""
    sel = np.isin(combo, list(keep))
    f = feats[sel]
    d = ((f[:, None] - f[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, 1)[:, :k]
    c = combo[sel]
    return 100.0 * float((c[nn] == c[:, None]).mean())


# ---------------------------------------------------------------------------------------
# Claims
def _claim(claim, holds, evidence, source, **numbers) -> dict:
    return dict(claim=claim, holds=None if holds is None else bool(holds), evidence=evidence, source=source, **numbers)


def claim_triplet_pretraining(record: dict, chance: float = 100.0 / 3, n_se: float = 2.0) -> dict:
    """"Pre-training gives an expression embedding" (§3.5), on FEC's metric: the held-out triplet
    accuracy after pre-training beats both the untrained network and chance (1/3: one of three
    pairs is the most similar) by more than ``n_se`` (2: about a 95 % interval) binomial standard
    errors of the difference, ``sqrt(2 p (1 - p) / n)`` on ``n`` held-out triplets (unpaired, so conservative);
    a smaller gain is noise, and the claim does not hold. ``record``: the triplet run's record
    (``accuracy``, ``accuracy_untrained``, ``n_test``; percent)."""
    after, before, n = float(record["accuracy"]), float(record["accuracy_untrained"]), int(record["n_test"])
    p = min(max(after / 100.0, 1e-6), 1 - 1e-6)
    se = 100.0 * float(np.sqrt(2 * p * (1 - p) / max(n, 1)))
    bar = n_se * se
    holds = after - before > bar and after - chance > bar
    return _claim("Triplet pre-training gives an expression embedding: held-out triplet accuracy above the untrained "
                  "network's and above chance, beyond noise", holds,
                  f"{after:.1f} % after vs {before:.1f} % untrained and {chance:.1f} % chance on {n} held-out "
                  f"triplets (gain {after - before:+.1f} and {after - chance:+.1f} points; noise bar {bar:.1f} = "
                  f"{n_se:g} x SE {se:.1f})",
                  "Section 3.5 (Pretraining for expression embedding); FEC's metric (triplet prediction accuracy)")


def claim_beats(ours: float, others: dict, text: str, source: str) -> dict:
    """GLEE-Net's average F1 (``ours``) is above every method in ``others`` ({name: F1})."""
    if not others:
        return _claim(text, None, "no baseline was trained in this run (baselines parameter empty)", source)
    best = max(others, key=others.get)
    return _claim(text, ours > others[best], f"GLEE-Net {ours:.1f}; " + ", ".join(f"{n} {v:.1f}" for n, v in
                                                                                    others.items())
                  + f" (best other: {best}, {ours - others[best]:+.1f})", source)


def claim_all_below_full(rows: dict, spread: dict, text: str, source: str) -> dict:
    """Every ablation row's mean F1 is below the full model's, by more than the larger of the two
    rows' seed standard deviations (``spread``) times :data:`NOISE_SD`; a smaller gap counts as
    "not below" (noise). ``rows``: {row: mean F1} with ``"full"``."""
    full = rows["full"]
    if not any(v > 0 for v in spread.values()):
        return _claim(text, None, "one seed per row: no spread to tell a difference from noise (run n_seeds >= 2); "
                      + ", ".join(f"{ABLATIONS[r][0]} {v:.1f}" for r, v in rows.items()), source)
    verdict, parts = True, []
    for r, v in rows.items():
        if r == "full":
            continue
        gap, sd = full - v, max(spread.get(r, 0.0), spread.get("full", 0.0))
        below = gap > NOISE_SD * sd
        verdict &= below
        parts.append(f"{ABLATIONS[r][0]} {v:.1f} ({-gap:+.1f}, sd {sd:.1f}{'' if below else ', not below'})")
    return _claim(text, verdict, f"full {full:.1f} (sd {spread.get('full', 0):.1f}); " + "; ".join(parts), source)


def claim_lowest(values: dict, best: str, text: str, source: str, higher: bool = False) -> dict:
    """``values[best]`` is the lowest (or, with ``higher``, the highest) of ``values``."""
    pick = (max if higher else min)(values, key=values.get)
    return _claim(text, pick == best, ", ".join(f"{k} {v:.3g}" for k, v in values.items()) + f" (best: {pick})", source)


# ---------------------------------------------------------------------------------------
# Figures
def crops_figure(image: np.ndarray, names=("L34", "BL34", "T12", "BR12")):
    """The 16 local crops of one aligned face (uint8 H x W x 3): the face with every crop's box,
    then each crop as the local branch sees it (paper Figure 3 shows L34, BL34, T12, BR12)."""
    import matplotlib.pyplot as plt

    from aulib.models.gleenet_local import CROPS, crop_boxes

    boxes = crop_boxes(image.shape[0])
    fig, axes = plt.subplots(2, 9, figsize=(15, 4))
    ax0 = axes[0, 0]
    ax0.imshow(image)
    for n in names:
        x0, x1, y0, y1 = boxes[n]
        ax0.add_patch(plt.Rectangle((x0, y0), x1 - x0 - 1, y1 - y0 - 1, fill=False, lw=1.5,
                                    color=plt.cm.tab10(list(names).index(n))))
    ax0.set_title("face, boxes of " + ", ".join(names), fontsize=7)
    axes[1, 0].axis("off")
    for ax, n in zip([a for row in axes for a in row if a is not ax0 and a is not axes[1, 0]], CROPS):
        x0, x1, y0, y1 = boxes[n]
        ax.imshow(image[y0:y1, x0:x1])
        ax.set_title(n, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def tsne_figure(spaces: dict, combo: np.ndarray, keep, seed: int = 0):
    """One t-SNE panel per representation space ({name: (N, F) features}) of the frames whose
    AU combination is in ``keep``, coloured by combination, Ave-Var in each title."""
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    sel = np.isin(combo, list(keep))
    fig, axes = plt.subplots(1, len(spaces), figsize=(4.2 * len(spaces), 4.2), squeeze=False)
    for ax, (name, f) in zip(axes[0], spaces.items()):
        x = f[sel]
        emb = TSNE(2, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3)), random_state=seed, init="pca").fit_transform(
            (x - x.mean(0)) / (x.std(0) + 1e-9))
        for i, c in enumerate(keep):
            m = combo[sel] == c
            ax.scatter(emb[m, 0], emb[m, 1], s=8, color=plt.cm.tab10(i % 10), label=c)
        ax.set_title(f"{name}\nAve-Var {ave_var(f, combo, keep):.3f}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    axes[0, -1].legend(fontsize=6, loc="best", markerscale=2)
    fig.tight_layout()
    return fig


def neighbours_figure(images: list, spaces: dict, combo: np.ndarray, query: int, k: int = 5):
    """Figure 5: the query face (red frame) and its ``k`` nearest neighbours in each space, each
    titled with its AU combination. ``images``: uint8 faces in item order."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(spaces), k + 1, figsize=(1.7 * (k + 1), 1.9 * len(spaces)), squeeze=False)
    for row, (name, f) in zip(axes, spaces.items()):
        d = ((f - f[query]) ** 2).sum(1)
        d[query] = np.inf
        for ax, j in zip(row, [query] + list(np.argsort(d)[:k])):
            ax.imshow(images[j])
            ax.set_title(combo[j] or "?", fontsize=6, color="red" if j == query else "black")
            ax.set_xticks([]), ax.set_yticks([])
            if j == query:
                for s in ax.spines.values():
                    s.set_color("red"), s.set_linewidth(2)
        row[0].set_ylabel(name, fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------
# Tables 1-3's set-up, shared by gleenet/01_within_domain and the comparison (compare/)
#: the datasets of Tables 1-3 (BP4D, DISFA, BP4D+)
WITHIN_DATASETS = ("bp4d", "disfa", "bp4dplus")


def train_config(p: dict, device: str):
    """The fine-tuning configuration of every GLEE-Net notebook run from its parameters ``p``:
    SGD momentum 0.9, weight decay 5e-4, constant lr (§4.2). With ``p["balanced"]`` the trainer's
    default loss (the models without a loss of their own: the ResNet row) is ``balanced_bce``,
    the same positive weighting GLEE-Net's and DRML's ``balanced`` switches apply; otherwise the
    default ``weighted_bce`` (so the paper's runs keep their keys)."""
    from aulib.train import TrainConfig

    return TrainConfig(optimizer="sgd", lr=p["lr"], momentum=0.9, weight_decay=5e-4, epochs=p["epochs"],
                       batch_size=p["batch_size"], schedule="constant", max_iters_per_epoch=p["max_iters"],
                       seed=p["seed"], device=device, progress=False,
                       **({"loss": "balanced_bce"} if p.get("balanced") else {}))


def experiment(p: dict, device: str, datasets, notebook: str, extra=()) -> tuple[GleeExperiment, dict]:
    """A GLEE-Net notebook's set-up from its parameters ``p`` (the notebook's ``run.params``, or
    the registry's values for it at a profile): checks its inputs (:func:`check_inputs`, with
    ``notebook``'s name in the message), reads the pre-trained parts (:func:`pretrained_parts`,
    cached by ``gleenet/00_pretraining``) and builds the :class:`GleeExperiment` on ``datasets``
    (trained and tested) plus the test-only datasets ``extra`` (a dataset root never changes a
    run's key), with :func:`train_config`. The same ``p`` gives the same run keys, so notebooks
    and the comparison share runs. Returns (experiment, parts). Raises :class:`MissingInputs`
    before anything runs when a file the settings need is absent."""
    from aulib import data as D, synth

    data_root, use_synth = p["data_root"], p["use_synth"]
    check_inputs(notebook, p["profile"], use_synth=use_synth, data_root=data_root,
                 facenet_weights=p["facenet_weights"], morphable_model=p["morphable_model"], datasets=tuple(datasets))

    def root(k):
        return (synth.ensure(f"synth-{k}", p["synth_profile"], root=data_root or None, seed=p["seed"]) if use_synth
                else D.dataset_root(k, data_root=data_root or None))
    parts = pretrained_parts(p["profile"], root("faces") if not p["facenet_weights"] else None, root("fec"),
                             facenet_weights=p["facenet_weights"], identity_epochs=p["identity_epochs"],
                             pretrain_epochs=p["pretrain_epochs"], pretrain_lr=p["pretrain_lr"],
                             max_triplets=p["max_triplets"], margin=p["margin"], seed=p["seed"], device=device)
    kw = model_kwargs(p["profile"], balanced=p.get("balanced", False))
    exp = GleeExperiment({k: root(k) for k in tuple(datasets) + tuple(extra)}, p["profile"], train_config(p, device),
                         "gleenet", kw, image_size=kw["input_size"], alignment="similarity",
                         max_test_frames=p["max_test_frames"], seed=p["seed"], device=device, group="gleenet-notebooks",
                         morphable_model=p["morphable_model"])
    return exp, parts


def within_experiment(p: dict, device: str, extra=()) -> tuple[GleeExperiment, dict]:
    """``gleenet/01_within_domain``'s set-up (:func:`experiment` on :data:`WITHIN_DATASETS`),
    shared with the comparison."""
    return experiment(p, device, WITHIN_DATASETS, "gleenet/01_within_domain", extra)


# ---------------------------------------------------------------------------------------
# The comparison (compare/00_side_by_side): GLEE-Net as gleenet/01_within_domain trains it
WITHIN_NOTEBOOK = "gleenet/01_within_domain"


def _compare_experiment(ctx):
    """Tables 1-3's experiment from ``gleenet/01_within_domain``'s parameters at ``ctx.profile``
    (:func:`within_experiment`), synth-emotionet added as a test-only domain; the pre-trained
    parts ride along as ``exp.parts``."""
    exp, parts = within_experiment(ctx.params(WITHIN_NOTEBOOK), ctx.device, extra=("emotionet",))
    exp.parts = parts
    return exp


def _compare_claims(results: pd.DataFrame) -> list[dict]:
    from aulib.papers.compare import best_of

    holds, evidence = best_of(results, "GLEE-Net", "within")
    return [_claim("GLEE-Net has the highest within-domain F1 (each dataset) of the methods compared", holds, evidence,
                   "Section 4.3; Tables 1-2 (GLEE-Net's average F1 above every method on BP4D and DISFA), tested on "
                   "the common protocol")]


def _compare_entries() -> list:
    from aulib.papers.compare import Method

    return [Method("gleenet", "GLEE-Net", "gleenet", WITHIN_NOTEBOOK,
                   lambda ctx, exp, dataset: ("gleenet", gleenet_variant("full", exp.parts)), _compare_experiment,
                   {("within", "bp4d", "bp4d"): ("gleenet", "Table 1", "BP4D", "gleenet"),
                    ("within", "disfa", "disfa"): ("gleenet", "Table 2", "DISFA", "gleenet")},
                   "GLEE-Net", _compare_claims)]


#: GLEE-Net in the four-paper comparison (:mod:`aulib.papers.compare`)
COMPARE = _compare_entries()
