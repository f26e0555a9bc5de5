"""PIAP-DF's notebooks (Tang, Zeng, Zhao, Zhang; ICCV 2021; paper 004): what they share.

The check of a notebook's inputs (:func:`check_inputs`), the dataset roots (:func:`roots`), the
deviation table (:func:`deviation_table`: every choice the paper leaves open), the stage-1 data
(:class:`PIMapFaces`: aligned AFEW-VA faces with their predefined PI maps and landmarks), the
cached shared runs (:func:`stage1_generator`, :func:`encoder_p`, :func:`toy_landmarks`), the
ablation rows as switches of the one ``piapdf`` model (:data:`ROWS`, :func:`train_row`), the DF
data (:func:`unlabelled_pool`), Figure 1 (:func:`pi_maps_figure`) and the claims'
computations. No public code exists (methods.md C.1): nothing here is the authors' code.

Every ``claim_*`` returns the keyword arguments of :meth:`aulib.workbook.Run.claim`.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from torch import nn

def _text_number(table: str, dataset: str, method_key: str, metric: str) -> tuple[float, str]:
    """(value, "table: note") of a number paper 004 states in its text, from the one store of
    published numbers (``aulib/eval/reported/piapdf.csv``)."""
    from aulib.eval import reported

    df = reported.load("piapdf", table, dataset, metric)
    sel = df[df["method_key"] == method_key]
    if len(sel) != 1:
        raise KeyError(f"piapdf {table} {dataset} {method_key} {metric}: {len(sel)} rows in the store")
    return float(sel["value"].iloc[0]), f"{table}: {sel['note'].iloc[0]}"


#: the paper's numbers that are not in a table (paper 004 §3.1, §3.2), read from the store:
#: name -> (value, where it is stated and how)
PAPER_NUMBERS = {
    "dwunet_saving_pct": _text_number("Sec. 3.1 (text)", "AFEW-VA", "dwunet", "Saving"),
    "encoder_p_lfw": _text_number("Sec. 3.2 (text)", "CASIA-WebFace->LFW", "piapdf-encoder-p", "Acc"),
    "toy_lfw": _text_number("Sec. 3.2 (text)", "AFEW-VA->LFW", "piapdf-toy-features", "Acc"),
    "toy_mse_pct": _text_number("Sec. 3.2 (text)", "AFEW-VA", "piapdf-toy-landmarks", "MSE"),
}
#: "not person-specific": LFW verification accuracy of the landmark features at most this many
#: points above chance (50 %). The paper's 58 % is 8 points above chance; 15 admits that and no
#: more. Our reading: the paper gives no threshold.
NOT_PERSON_SPECIFIC_MARGIN = 15.0

#: Table 3's rows as switches of the ``piapdf`` model (name -> (label, reported key, switches)).
#: ``df`` rows start from the row named by "from" (teacher and student copies of it, §3.4).
ROWS = {
    "baseline": ("Baseline", "piapdf-baseline", dict(pi="off", ap=False)),
    "pi2": ("PI-2", "piapdf-pi2", dict(pi="pi2", ap=False)),
    "pi3": ("PI-3", "piapdf-pi3", dict(pi="pi3", ap=False)),
    "ap": ("AP", "piapdf-ap", dict(pi="off", ap=True)),
    "df": ("DF", "piapdf-df", dict(pi="off", ap=False, df="discrete", start="baseline")),
    "piap": ("PIAP", "piap", dict(pi="pi3", ap=True)),
    "piapdf": ("PIAP-DF", "piapdf", dict(pi="pi3", ap=True, df="discrete", start="piap")),
    "df_mpl": ("DF with MPL feedback (ours)", "", dict(pi="off", ap=False, df="mpl", start="baseline")),
    "piap_mpl": ("PIAP + MPL feedback (ours)", "", dict(pi="pi3", ap=True, df="mpl", start="piap")),
}


#: the paper's AU encoder (and Encoder P): EfficientNet-B1 (§3.1, §3.2)
PAPER_ARCH = "efficientnet_b1"
#: how tables name the encoder architectures the ``arch`` parameter accepts
ARCH_LABEL = {"efficientnet_b1": "EfficientNet-B1", "resnet18": "ResNet-18"}
#: the pooled feature size (v_AU, v_P) of each
FEATURE_DIM = {"efficientnet_b1": 1280, "resnet18": 512}


class MissingInputs(FileNotFoundError):
    """A notebook's settings need files that are not there (all of them are listed)."""


def _claim(claim: str, holds, evidence: str, source: str, **numbers) -> dict:
    return dict(claim=claim, holds=None if holds is None else bool(holds), evidence=evidence,
                source=source, **numbers)


# ---------------------------------------------------------------------------------- inputs
DATASETS = {"bp4d": "BP4D", "disfa": "DISFA", "afewva": "AFEW-VA", "faces": "CASIA-WebFace + LFW"}


def check_inputs(profile: str, needs=("bp4d",), *, use_synth: bool = True, data_root: str = "",
                 **weight_files) -> None:
    """Every dataset folder in ``needs`` ("bp4d", "disfa", "afewva", "faces" = CASIA-WebFace and
    LFW) and every non-empty weight file in ``weight_files`` (parameter name -> path) must exist;
    raises :class:`MissingInputs` listing each missing one and what to do, before any training.
    With ``use_synth`` the datasets are SynthAU stand-ins (written on demand) and not checked."""
    from aulib import data as D

    problems = []
    if not use_synth:
        for k in needs:
            names = ("casia", "lfw") if k == "faces" else (k,)
            for n in names:
                try:
                    root = D.dataset_root(n, data_root=data_root or None)
                except Exception as e:   # the catalogue's error says where it looked and how to obtain it
                    problems.append(f"{DATASETS.get(k, k)}: folder not found - {str(e).splitlines()[0]}")
                    continue
                if not root.is_dir():
                    problems.append(f"{DATASETS.get(k, k)}: folder {root} not found "
                                    f"(`python -m aulib.data list` says where to obtain it; or set data_root)")
    for name, path in weight_files.items():
        if path and not Path(path).expanduser().is_file():
            problems.append(f"{name}: file {path} not found (pass the torchvision ImageNet file, or leave it empty "
                            "for random init)")
    if problems:
        raise MissingInputs(f"PIAP-DF ({profile} profile) needs:\n  - " + "\n  - ".join(problems))


def roots(needs, synth_profile: str, use_synth: bool, data_root: str = "", seed: int = 0) -> dict:
    """{key: dataset root} for ``needs`` ("bp4d", "disfa", "afewva", "faces"): SynthAU stand-ins
    (``synth-<key>``, written if missing) or the user's folders (``faces``: the CASIA-WebFace
    root; LFW is read from :func:`lfw_root`)."""
    from aulib import data as D
    from aulib import synth

    out = {}
    for k in needs:
        if use_synth:
            out[k] = synth.ensure(f"synth-{k}", synth_profile, root=data_root or None, seed=seed)
        else:
            out[k] = D.dataset_root("casia" if k == "faces" else k, data_root=data_root or None)
    return out


def lfw_root(faces_root, use_synth: bool, data_root: str = "") -> Path:
    """LFW's folder: inside ``synth-faces`` for SynthAU, else the user's LFW folder."""
    from aulib import data as D

    return Path(faces_root) if use_synth else D.dataset_root("lfw", data_root=data_root or None)


# -------------------------------------------------------------------------- deviation table
def deviation_table(profile: str, **s):
    """Where this run differs from the paper, and every choice the paper leaves open (DataFrame).

    ``s``: the notebook's settings as given (``image_size``, ``epochs``, ``max_iters``,
    ``batch_size``, ``lr``, ``n_folds``, ``seeds``, ``unet_base``, ...); missing ones print '?'."""
    import pandas as pd

    paper = profile == "paper"
    g = lambda k: s.get(k, "?")  # noqa: E731
    rows = [
        ("data", "BP4D (41 subjects, 12 AUs, 3 folds), DISFA (27, 8 AUs), AFEW-VA, CASIA-WebFace, LFW",
         "as the paper" if paper else "SynthAU stand-ins in the same layouts (synth-bp4d with uncoded frames, "
         "synth-disfa, synth-afewva, synth-faces)", "real datasets need licences; SynthAU runs anywhere"),
        ("face size", "256 x 256 RGB (§3.1)", f"{g('image_size')} px", "-" if paper else "CPU budget"),
        ("alignment", "not stated", "similarity alignment on the 68 landmarks (JAA-Net's, box 2.9, aligned at "
         "size x 200/176, centre crop), preprocessing.toml [piapdf]", "open in the paper"),
        ("predefined PI maps", "Figure 3 (a drawing on the 68 landmarks)",
         "our polygons (aulib.face.regions.PI_REGIONS, with their FACS rationale)", "the paper gives no coordinates"),
        ("DW-UNet", "U-Net with depthwise-separable convolutions, BCE (eq. 1); shape not given",
         f"Ronneberger's U-Net shape, width {g('unet_base')}, depth {g('unet_depth')}; 3x3 -> depthwise 3x3 + "
         "pointwise 1x1", "open in the paper (paper shape: width 64, depth 4)"),
        ("stage-1 training", "not stated", f"{g('stage1_epochs')} epochs, AdamW lr {g('stage1_lr')}, batch "
         f"{g('batch_size')}, selection on training loss", "open in the paper"),
        ("AU encoder", "EfficientNet-B1, ImageNet-pretrained",
         (ARCH_LABEL[PAPER_ARCH] if s.get("arch", PAPER_ARCH) == PAPER_ARCH
          else f"{ARCH_LABEL.get(s['arch'], s['arch'])} (Encoder P the same)") + ", "
         + ("ImageNet file given" if s.get("imagenet") else "random init (no ImageNet file given)"),
         "no downloads at run time; pass imagenet_efficientnet" + ("" if s.get("arch", PAPER_ARCH) == PAPER_ARCH else
         "; a random-init EfficientNet-B1 at 64 px stays near chance for 300 steps (validation ROC AUC 52), a "
         "ResNet-18 learns in that budget (README, PIAP-DF)")),
        ("PI-2 input", "PI maps (before one-hot) x greyscale image, 12 channels; first conv changed to 12 inputs",
         "sigmoid maps x BT.601 luma; first conv = mean of the RGB kernels x 3/12", "how the conv is adapted is open"),
        ("PI-3 decoder", "DWConv + upsampling from 1280x7x7 to 12x256x256",
         "depthwise-separable blocks, x2 bilinear steps, widths 256 -> 16, final resize", "layer count open"),
        ("loss weights", "alpha, beta, gamma of eqs. 3, 5, 6 not given",
         f"L_PI {g('pi_weight')}, L_AP {g('ap_weight')}, L_AU the rest", "open in the paper"),
        ("L_AU", "BCE (eq. 2)", "masked BCE with per-AU weights from training base rates (all rows alike)",
         "rare AUs are otherwise never predicted within a few hundred steps"),
        ("L_AU balance", "eq. 2 (no balance of an AU's active and inactive frames)",
         "each AU's positive term also weighted by (1 - r) / r, r the running base rate of the labelled training "
         "batches (every row, DF's pseudo-labelled terms too; as Shang & Yu's, DANN's and DRML's balanced losses)"
         if s.get("balanced") else "as the paper",
         "without it the tiny runs answer 'absent' for most AUs (validation F1 far below the always-active floor; "
         "README, PIAP-DF); not the paper's loss" if s.get("balanced") else "-"),
        ("Encoder P", "same architecture, face recognition on CASIA-WebFace; 96.2 % on LFW",
         f"{ARCH_LABEL.get(s.get('arch', PAPER_ARCH), s.get('arch'))}, softmax over identities on normalised features "
         f"(scale 16), {g('p_epochs')} epochs "
         "(aulib.train.identity); LFW protocol on the pairs of our data", "loss and schedule are open"),
        ("v_AU, v_P", "feature vectors of the two encoders", f"global-average-pooled last feature maps ({FEATURE_DIM.get(s.get('arch', PAPER_ARCH), '?')}-d)",
         "which layer is open"),
        ("DF start", "§3.3: teacher and student are copies of a pretrained PIAP; §3.4: 'Encoder AU initialized'",
         "both copies start from the trained row (Baseline for DF, PIAP for PIAP-DF)", "the paper contradicts itself"),
        ("DF optimiser", "eq. 8 / 11: plain gradient steps with eta",
         f"student: SGD lr {g('student_lr')}; teacher: SGD lr {g('df_lr')} (momentum 0): eq. 11 exactly",
         "-"),
        ("DF pseudo labels", "teacher's Y_p (form not stated)", "hard: sigmoid > 0.5, every AU",
         "MPL uses hard labels (methods.md C.3)"),
        ("DF unlabelled data", "BP4D's 240k uncoded frames + labelled BP4D frames with labels hidden + DISFA",
         "the training subjects' uncoded and coded frames (labels hidden) + DISFA frames", "-"),
        ("DF budget", "not stated", f"{g('df_epochs')} epochs x <= {g('max_iters')} steps", "CPU budget"),
        ("MPL variant", "not specified (compared in words only)",
         "continuous feedback eta * g_l^T g_u (first-order MPL, methods.md C.3), no sigma", "our switch"),
        ("AU training", "not stated", f"AdamW lr {g('lr')}, {g('epochs')} epochs x <= {g('max_iters')} steps, "
         f"batch {g('batch_size')}, epoch chosen on held-out training subjects' F1", "open in the paper"),
        ("DISFA (Table 2)", "PIAP from BP4D fine-tuned with a new 8-AU head",
         "the fold-1 BP4D PIAP run, new 8-AU head, same loss", "-"),
    ]
    if "n_folds" in s:
        rows.append(("folds", "3 subject-exclusive folds", f"{s['n_folds']} of the 3 folds", "CPU budget" if not paper else "-"))
    if "seeds" in s:
        rows.append(("seeds", "one run per row (no spread reported)", f"seeds {s['seeds']}, mean +- std",
                     "a spread tells whether a row difference is real"))
    if s.get("max_test_frames"):
        rows.append(("test frames", "every frame", f"at most {s['max_test_frames']} per test set (seeded)", "CPU budget"))
    return pd.DataFrame(rows, columns=["item", "paper", f"this run ({profile})", "why"])


# ----------------------------------------------------------------------- stage-1 data
class PIMapFaces:
    """Aligned faces of a landmark dataset (AFEW-VA) with their predefined PI maps.

    Faces are aligned as the AU datasets are (:class:`aulib.data.AUDataset`, ``"similarity"``:
    aligned at round(size * 200 / 176), centre crop ``size``), once, in memory (uint8). Items:
    ``image`` (float 3 x S x S, (v/255 - 0.5)/0.5), ``pi_maps`` (float n_aus x S x S in {0, 1},
    :func:`aulib.face.regions.pi_maps` on the aligned landmarks), ``landmarks`` (68 x 2 px),
    ``subject`` (clip), ``index``. Frames without landmarks are dropped and counted in
    ``ledger`` (never silently)."""

    def __init__(self, index, size: int, aus="bp4d"):
        import pandas as pd

        from aulib.face import align as A
        from aulib.face import regions
        from aulib.face.frames import read_frame
        from aulib.face.landmarks import dataset_landmarks

        root = index.attrs["root"]
        table = dataset_landmarks(index, root, progress=False)
        imgs, lms, subj, rows, led = [], [], [], [], []
        for i, (ref, s) in enumerate(zip(index.path.astype(str), index.subject.astype(str))):
            lm = table.get(ref)
            if lm is None:
                led.append((ref, "no landmarks"))
                continue
            im, alm = A.align_face(read_frame(root, ref), lm, "similarity", round(size * 200 / 176), 2.9)
            im, alm = A.centre_crop(im, alm, size)
            imgs.append(im)
            lms.append(np.asarray(alm, np.float32))
            subj.append(s)
            rows.append(i)
        if not imgs:
            raise ValueError(f"no frame of {root} has landmarks; the PI maps are drawn from them")
        self.images = np.stack(imgs)
        self.landmarks = np.stack(lms)
        self.maps = np.stack([regions.pi_maps(lm, size, aus) for lm in self.landmarks]).astype(np.uint8)
        self.subjects, self.rows, self.size = np.asarray(subj), np.asarray(rows), int(size)
        self.aus = None    # no AU labels (the trainer must not match AU names)
        self.ledger = pd.DataFrame(led, columns=["path", "reason"])
        self.root = root

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        import torch

        x = self.images[i].transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
        return {"image": torch.from_numpy(x), "pi_maps": torch.from_numpy(self.maps[i].astype(np.float32)),
                "landmarks": torch.from_numpy(self.landmarks[i]), "subject": str(self.subjects[i]),
                "index": int(self.rows[i])}

    def split(self, val_fraction: float = 0.2, seed: int = 0):
        """(train, held-out) subsets with disjoint clips (subjects)."""
        from torch.utils.data import Subset

        clips = np.unique(self.subjects)
        rng = np.random.default_rng(seed)
        held = set(rng.choice(clips, max(1, int(round(len(clips) * val_fraction))), replace=False).tolist())
        te = np.flatnonzero(np.isin(self.subjects, list(held)))
        tr = np.flatnonzero(~np.isin(self.subjects, list(held)))
        return _Part(self, tr), _Part(self, te)


class _Part:
    """Items ``pos`` of a :class:`PIMapFaces` (exposes ``subjects`` for the leakage guard)."""

    def __init__(self, base, pos):
        self.base, self.pos = base, np.asarray(pos)
        self.subjects, self.aus = base.subjects[self.pos], None

    def __len__(self):
        return len(self.pos)

    def __getitem__(self, i):
        return self.base[int(self.pos[i])]


def _frames_table(part: _Part):
    import pandas as pd

    return pd.DataFrame({"path": [f"{part.base.root}#{r}" for r in part.base.rows[part.pos]]})


# ----------------------------------------------------------------------- shared runs
def stage1_generator(afewva_root, profile: str, config, size: int, base: int, depth: int, seed: int = 0):
    """PI Generator 0: the DW-UNet trained on AFEW-VA faces -> predefined PI maps (§3.1, eq. 1),
    in the shared run cache. Returns (generator file, DWUNet, held-out scores dict, run dir).

    Held-out scores on clips kept out of training: mean BCE and mean IoU of the binarised maps
    (> 0.5) with the predefined ones, per AU and overall, beside the IoU of the training faces'
    mean predefined map (``mean_map_iou``: what a generator that ignores the face scores)."""
    import torch

    from aulib import data as D
    from aulib.models.piapdf import export_generator
    from aulib.train.recipes import cached_fit

    faces = PIMapFaces(D.frame_index("afewva", afewva_root), size)
    tr, te = faces.split(0.2, seed)
    kw = dict(base=int(base), depth=int(depth), input_size=int(size))
    model, res, run_dir = cached_fit("dwunet", kw, tr, None, config, profile, "piapdf/stage1", _frames_table(tr),
                                     None, data_root=afewva_root)
    out = run_dir / "generator.pt"
    if not out.is_file():
        export_generator(model, out, source=f"stage 1: DW-UNet on {Path(afewva_root).name} ({len(tr)} faces), "
                                            f"run {run_dir.name}")
    model.eval()
    with torch.no_grad():
        items = [te[i] for i in range(len(te))]
        x = torch.stack([it["image"] for it in items])
        y = torch.stack([it["pi_maps"] for it in items])
        logits = torch.cat([model(x[i:i + 32]) for i in range(0, len(x), 32)])
    scores = map_scores(torch.sigmoid(logits).numpy(), y.numpy(), model.aus)
    scores["bce"] = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y))
    # the reference a generator must beat: the mean predefined map of the training faces (no image used)
    mean_map = np.mean([tr.base.maps[i] for i in tr.pos], 0, dtype=np.float32)
    ref = map_scores(np.broadcast_to(mean_map, y.shape), y.numpy(), model.aus)
    scores["mean_map_iou"], scores["mean_map_iou_per_au"] = ref["iou"], ref["iou_per_au"]
    scores["n_test"], scores["n_train"] = len(te), len(tr)
    return out, model, scores, run_dir


def map_scores(pred, target, aus) -> dict:
    """Per-AU IoU (percent) of binarised predicted maps (> 0.5) with target maps, and ``iou``
    (their mean): (N, n_aus, S, S) arrays."""
    p, t = np.asarray(pred) > 0.5, np.asarray(target) > 0.5
    inter, union = (p & t).sum((0, 2, 3)), (p | t).sum((0, 2, 3))
    per = {a: 100.0 * float(i / u) if u else float("nan") for a, i, u in zip(aus, inter, union)}
    return {"iou_per_au": per, "iou": float(np.nanmean(list(per.values())))}


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class EmbedNet(nn.Module):
    """A backbone as an embedding network: image -> global-average-pooled feature map (B, C)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone, self.pool = backbone, nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(self.backbone(x)).flatten(1)


class LandmarkFeatures(nn.Module):
    """The toy model's 1000-d feature vector as an embedding network."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.features(x)


def encoder_p(faces_root, lfw_dir, profile: str, arch: str, size: int, epochs: int, batch_size: int, lr: float,
              seed: int = 0, weights=None, device: str = "cpu"):
    """Encoder P (§3.2): ``arch`` trained for face recognition on the CASIA-WebFace part of
    ``faces_root`` (:func:`aulib.train.identity.pretrain_identity`), in the run cache; then its
    LFW-protocol verification accuracy on ``lfw_dir``'s pairs. Returns (backbone file,
    verification table, record)."""
    from aulib import config as aconfig
    from aulib.models.common import Backbone, save_backbone
    from aulib.train.identity import lfw_verification, pretrain_identity

    parts = dict(what="encoder_p", arch=arch, size=int(size), epochs=int(epochs), batch=int(batch_size), lr=lr,
                 seed=int(seed), weights=str(weights), data=aconfig.fingerprint_path(faces_root))
    run_dir = aconfig.cache_dir("runs", profile, "piapdf", "encoder_p", _key(parts))
    net = EmbedNet(Backbone(arch, weights))
    rec = pretrain_identity(net, faces_root, run_dir, size, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                            device=device, save=lambda m, p: save_backbone(m.backbone, p, source="Encoder P: "
                                                                             f"face recognition on {Path(faces_root).name}"))
    from aulib.models.common import load_backbone_weights

    load_backbone_weights(net.backbone, rec["file"])
    ver = lfw_verification(net.to(device), lfw_dir, size, device=device)
    return Path(rec["file"]), ver, rec


def toy_landmarks(afewva_root, profile: str, config, size: int, arch: str = "resnet50", weights=None, seed: int = 0):
    """§3.2's toy case: the landmark regressor trained on AFEW-VA (MSE on landmarks in [0, 1]),
    in the run cache. Returns (model, held-out MSE in percent of the squared face size, run dir)."""
    import torch

    from aulib import data as D
    from aulib.train.recipes import cached_fit

    faces = PIMapFaces(D.frame_index("afewva", afewva_root), size)
    tr, te = faces.split(0.2, seed)
    kw = dict(arch=arch, weights=None if weights is None else str(weights), input_size=int(size))
    model, res, run_dir = cached_fit("piapdf_landmarks", kw, tr, None, config, profile, "piapdf/toy",
                                     _frames_table(tr), None, data_root=afewva_root)
    model.eval()
    with torch.no_grad():
        x = torch.stack([te[i]["image"] for i in range(len(te))])
        y = torch.stack([te[i]["landmarks"] for i in range(len(te))]) / size
        pred = torch.cat([model(x[i:i + 32]) for i in range(0, len(x), 32)])
    return model, 100.0 * float(((pred - y) ** 2).mean()), run_dir


def landmark_verification(model, lfw_dir, size: int, device: str = "cpu"):
    """LFW-protocol accuracy on the toy model's 1000-d features (:func:`aulib.train.identity.lfw_verification`)."""
    from aulib.train.identity import lfw_verification

    return lfw_verification(LandmarkFeatures(model).to(device), lfw_dir, size, device=device)


# ----------------------------------------------------------------------- AU rows
def row_kwargs(row: str, gen0, gen1, enc_p, start_run=None, imagenet=None, **common) -> dict:
    """Constructor arguments of Table 3's ``row`` (:data:`ROWS`) for the ``piapdf`` model.

    ``gen0``: stage 1's generator file (PI-2's input maps); ``gen1``: PI Generator 1 (a PI-2
    run's exported generator; PI-3's targets); ``enc_p``: Encoder P's file; ``start_run``: the
    ``best.pt`` a DF row starts from; ``common``: shared arguments (``input_size``, ...)."""
    sw = dict(ROWS[row][2])
    sw.pop("start", None)
    kw = dict(common, weights=None if imagenet is None else str(imagenet), pi=sw["pi"], ap=sw["ap"],
              df=sw.get("df", "off"))
    if sw["pi"] == "pi2":
        kw["generator_weights"] = str(gen0)
    elif sw["pi"] == "pi3":
        kw["generator_weights"] = str(gen1)
    if sw["ap"]:
        kw["encoder_p_weights"] = str(enc_p)
    if kw["df"] != "off":
        if start_run is None:
            raise ValueError(f"row {row!r} (DF) starts from the trained {ROWS[row][2]['start']!r} run; pass start_run")
        kw["init_weights"] = str(start_run)
    return kw


def generator_1(pi2_model, run_dir) -> Path:
    """PI Generator 1: the generator of a trained PI-2 model, exported beside its run."""
    from aulib.models.piapdf import export_generator

    out = Path(run_dir) / "generator1.pt"
    if not out.is_file():
        export_generator(pi2_model.generator, out, source=f"PI Generator 1 (PI-2 run {Path(run_dir).name})")
    return out


def unlabelled_pool(exp, fold, bp4d_root, disfa_root=None, max_frames: int = 0, seed: int = 0):
    """DF's unlabelled faces x_u (§3.3): the fold's training subjects' BP4D frames without
    codes and coded frames with their labels hidden, plus DISFA frames (no labels used), each a
    seeded subset of at most ``max_frames`` (0 = all). Returns (dataset, counts dict)."""
    from torch.utils.data import ConcatDataset

    from aulib import data as D
    from aulib.data import AUDataset, protocols

    full = D.frame_index("bp4d", bp4d_root, labeled_only=False)
    full = full[full.subject.isin(list(fold.train))]
    uncoded = full[~full.labeled.astype(bool)]
    coded = full[full.labeled.astype(bool)]
    if max_frames and len(coded) > max_frames:
        coded = protocols.subset(coded, max_frames, seed)
    import pandas as pd

    idx = pd.concat([uncoded, coded])
    idx.attrs.update(full.attrs)
    parts = [AUDataset(idx, image_size=exp.image_size, alignment=exp.alignment, progress=False)]
    counts = {"bp4d_uncoded": len(uncoded), "bp4d_coded_hidden": len(coded), "disfa": 0}
    if disfa_root is not None:
        d = D.frame_index("disfa", disfa_root)
        if max_frames and len(d) > max_frames:
            d = protocols.subset(d, max_frames, seed)
        parts.append(AUDataset(d, image_size=exp.image_size, alignment=exp.alignment, progress=False))
        counts["disfa"] = len(parts[-1])
    counts["bp4d_aligned"] = len(parts[0])
    return ConcatDataset(parts), counts


def train_row(exp, row: str, fold, kw: dict, pool=None, df_config=None, tag: str = ""):
    """Train (or read back) Table 3's ``row`` on ``fold`` of BP4D. DF rows train on labelled
    frames paired with ``pool`` (:func:`unlabelled_pool`) under ``df_config``. Returns
    (model, run dir)."""
    from aulib.train.data import PairedDomains
    from aulib.train.recipes import cached_fit

    if kw.get("df", "off") == "off":
        tr = exp.frames("bp4d", fold.train)
        va = exp.frames("bp4d", fold.val, max_frames=exp.max_test_frames) if fold.val else None
        model, res, run_dir = cached_fit("piapdf", dict(kw, aus=exp.aus("bp4d")), exp.faces_of(tr),
                                         None if va is None else exp.faces_of(va), exp.config, exp.profile,
                                         f"{exp.group}/bp4d", tr, va, data_root=exp.roots["bp4d"])
    else:
        tr = exp.frames("bp4d", fold.train)
        va = exp.frames("bp4d", fold.val, max_frames=exp.max_test_frames) if fold.val else None
        paired = PairedDomains(exp.faces_of(tr), pool, seed=exp.seed)
        model, res, run_dir = cached_fit("piapdf", dict(kw, aus=exp.aus("bp4d")), paired,
                                         None if va is None else exp.faces_of(va), df_config, exp.profile,
                                         f"{exp.group}/bp4d-df", tr, va, data_root=exp.roots["bp4d"])
    if exp.verbose:
        print(f"{tag or row}: {len(tr)} frames, best epoch {res.best_epoch} (validation F1 {res.best_val_f1:.1f}), "
              f"run {run_dir.name}")
    return model, run_dir


def feedback_stats(run_dir) -> dict:
    """DF feedback counts over the whole run (from ``last.pt``; from ``best.pt``, i.e. up to the
    selected epoch, when a run was kept without its last state, ``cached_fit(keep_last=False)``):
    steps, % positive feedback (the sign rate), % disabled by sigma, mean g_l^T g_u, source file."""
    import torch

    f = Path(run_dir) / "last.pt"
    f = f if f.is_file() else Path(run_dir) / "best.pt"
    st = torch.load(f, map_location="cpu", weights_only=True)["state_dict"]
    n = int(st["fb_steps"])
    return {"steps": n, "counted_in": f.name, "positive_rate": 100.0 * int(st["fb_positive"]) / n if n else float("nan"),
            "disabled_rate": 100.0 * int(st["fb_disabled"]) / n if n else float("nan"),
            "mean_dot": float(st["fb_sum"]) / n if n else float("nan")}


# ----------------------------------------------------------------------- Figure 1
def pi_maps_figure(images, predefined, refined, aus, au_names=("AU2", "AU6")):
    """Figure 1(b): per face and AU, the predefined map as a translucent mask, the refined map
    binarised (> 0.5) as a translucent mask, and the refined map as a heatmap. ``images``:
    uint8 (N, S, S, 3); ``predefined`` / ``refined``: (N, n_aus, S, S) in [0, 1]."""
    import matplotlib.pyplot as plt

    cols = [(a, v) for a in au_names for v in ("predefined", "refined (binary)", "refined (heatmap)")]
    fig, axes = plt.subplots(len(images), len(cols), figsize=(1.6 * len(cols), 1.7 * len(images)), squeeze=False)
    for r, img in enumerate(images):
        for c, (a, view) in enumerate(cols):
            k = list(aus).index(a)
            ax = axes[r, c]
            ax.imshow(img)
            if view == "predefined":
                ax.imshow(predefined[r, k] > 0.5, cmap="bwr", alpha=0.45, vmin=0, vmax=1)
            elif view == "refined (binary)":
                ax.imshow(refined[r, k] > 0.5, cmap="bwr", alpha=0.45, vmin=0, vmax=1)
            else:
                ax.imshow(refined[r, k], cmap="jet", alpha=0.55, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{a}\n{view}", fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------- claims
def _ms(vals) -> tuple[float, float]:
    v = np.asarray(vals, float)
    return float(v.mean()), float(v.std(ddof=0))


def claim_each_improves(scores: dict) -> dict:
    """"each of PI-2, PI-3, AP, DF improves on the baseline" (§4.3, Table 3). ``scores``:
    {row: [Avg F1 per seed]}. Holds when each row's mean is above the baseline's mean by more
    than the larger of the two seed spreads (std); with one seed, above the mean."""
    b_m, b_s = _ms(scores["baseline"])
    parts, ok = [], True
    for r in ("pi2", "pi3", "ap", "df"):
        if r not in scores:
            return _claim("Each of PI-2, PI-3, AP and DF improves on the baseline", None,
                          f"row {ROWS[r][0]} not run", "§4.3; Table 3")
        m, s = _ms(scores[r])
        better = m - b_m > max(s, b_s)
        ok &= better
        parts.append(f"{ROWS[r][0]} {m:.1f} +- {s:.1f} ({m - b_m:+.1f})")
    return _claim("Each of PI-2, PI-3, AP and DF improves on the baseline (by more than the seed spread)", ok,
                  f"baseline {b_m:.1f} +- {b_s:.1f}; " + "; ".join(parts), "§4.3; Table 3",
                  baseline=b_m)


def claim_best_row(scores: dict) -> dict:
    """"PIAP-DF is the best row of Table 3" (§4.3): its mean Avg F1 is the highest of the
    paper's seven rows."""
    rows = [r for r in ("baseline", "pi2", "pi3", "ap", "df", "piap", "piapdf") if r in scores]
    if "piapdf" not in rows:
        return _claim("PIAP-DF is the best row of Table 3", None, "PIAP-DF not run", "§4.3; Table 3")
    means = {r: _ms(scores[r])[0] for r in rows}
    best = max(means, key=means.get)
    return _claim("PIAP-DF is the best row of Table 3", best == "piapdf",
                  "; ".join(f"{ROWS[r][0]} {means[r]:.1f} +- {_ms(scores[r])[1]:.1f}" for r in rows)
                  + f"; best: {ROWS[best][0]}", "§4.3 ('the best F1-score of 64.4%'); Table 3",
                  best=ROWS[best][0])


def claim_discrete_beats_mpl(scores: dict, sign_rates: dict) -> dict:
    """"This strategy [discrete feedback] performs better than MPL in our task" (§3.3): the DF
    rows beside the same rows with MPL's continuous feedback, pooled over the pairs run (mean
    of the per-seed differences); holds when the mean difference is positive and larger than
    its spread over seeds."""
    pairs = [(d, m) for d, m in (("df", "df_mpl"), ("piapdf", "piap_mpl")) if d in scores and m in scores]
    if not pairs:
        return _claim("Discrete feedback beats MPL's continuous feedback", None, "no DF/MPL pair run", "§3.3")
    diffs = np.concatenate([np.asarray(scores[d], float) - np.asarray(scores[m], float) for d, m in pairs])
    mean, sd = float(diffs.mean()), float(diffs.std(ddof=0))
    ev = "; ".join(f"{ROWS[d][0]} {_ms(scores[d])[0]:.1f} vs {ROWS[m][0]} {_ms(scores[m])[0]:.1f}" for d, m in pairs)
    ev += f"; mean difference {mean:+.1f} +- {sd:.1f} over {len(diffs)} seed runs"
    ev += "; positive feedback " + ", ".join(f"{ROWS[k][0]} {v:.0f} %" for k, v in sign_rates.items())
    return _claim("Discrete feedback beats MPL's continuous feedback", mean > 0 and mean > sd, ev,
                  "§3.3 ('This strategy performs better than MPL in our task')", difference=mean)


def claim_not_person_specific(landmark_acc: float, encoder_p_acc: float) -> dict:
    """"The features extracted by the landmark detection task contain almost no person-specific
    features" (§2, §3.2; 58 % on LFW): the landmark features' LFW accuracy is within
    :data:`NOT_PERSON_SPECIFIC_MARGIN` points of chance (50 %) and below Encoder P's."""
    holds = landmark_acc - 50.0 <= NOT_PERSON_SPECIFIC_MARGIN and landmark_acc < encoder_p_acc
    return _claim("Landmark features are not person-specific (LFW accuracy near chance, below Encoder P's)", holds,
                  f"landmark ResNet features {landmark_acc:.1f} % vs Encoder P {encoder_p_acc:.1f} % on the LFW "
                  f"protocol (chance 50 %; paper 58 % vs 96.2 %)", "§3.2 (toy case); §2",
                  landmark=landmark_acc, encoder_p=encoder_p_acc)


def claim_dwunet_saving(cost: dict) -> dict:
    """"DW-UNet reduces the number of parameters and calculations by 90%" (§3.1): both savings at
    least 85 % (the paper's round 90 % rounded from, our reading)."""
    p, f = cost["param_saving_pct"], cost["flop_saving_pct"]
    return _claim("DW-UNet saves about 90 % of the parameters and FLOPs of the plain U-Net", p >= 85 and f >= 85,
                  f"parameters {cost['params_dw']:,} vs {cost['params_plain']:,} ({p:.1f} % saved); FLOPs "
                  f"{cost['flops_dw'] / 1e9:.2f} G vs {cost['flops_plain'] / 1e9:.2f} G ({f:.1f} % saved)", "§3.1",
                  param_saving=p, flop_saving=f)


# ----------------------------------------------------------------------- notebook set-up
def shared_parts(profile: str, roots_: dict, *, image_size: int, unet_base: int, unet_depth: int,
                 stage1_epochs: int, stage1_lr: float, batch_size: int, max_iters: int, p_epochs: int, p_lr: float,
                 use_synth: bool = True, data_root: str = "", imagenet=None, seed: int = 0, device: str = "cpu",
                 need_p: bool = True, arch: str = PAPER_ARCH) -> dict:
    """What every PIAP-DF notebook builds on, trained once in the run cache: PI Generator 0
    (:func:`stage1_generator`) and Encoder P (:func:`encoder_p`, when ``need_p``; architecture
    ``arch``, the AU encoder's). Returns
    {"gen0", "stage1", "stage1_run", "generator", "enc_p", "verification", "identity"}."""
    from aulib.train import TrainConfig

    cfg = TrainConfig(optimizer="adamw", lr=stage1_lr, weight_decay=5e-4, epochs=stage1_epochs, batch_size=batch_size,
                      schedule="constant", max_iters_per_epoch=max_iters, seed=seed, device=device, progress=False)
    gen0, gnet, scores, run_dir = stage1_generator(roots_["afewva"], profile, cfg, image_size, unet_base, unet_depth,
                                                   seed)
    out = {"gen0": gen0, "stage1": scores, "stage1_run": run_dir, "generator": gnet}
    if need_p:
        f, ver, rec = encoder_p(roots_["faces"], lfw_root(roots_["faces"], use_synth, data_root), profile,
                                arch, image_size, p_epochs, batch_size, p_lr, seed, imagenet, device)
        out.update(enc_p=f, verification=ver, identity=rec)
    return out


def experiment(roots_: dict, profile: str, *, image_size: int, epochs: int, max_iters: int, batch_size: int,
               lr: float, max_test_frames: int, seed: int = 0, device: str = "cpu"):
    """The :class:`aulib.train.recipes.Experiment` of the AU tables: ``piapdf`` on similarity-
    aligned faces, AdamW, constant lr, epoch chosen on held-out training subjects. Of ``roots_``
    it keeps the AU datasets (bp4d, disfa, and emotionet, a test-only domain of the comparison);
    a dataset root never changes a run's key."""
    from aulib.train import TrainConfig
    from aulib.train.recipes import Experiment

    cfg = TrainConfig(optimizer="adamw", lr=lr, weight_decay=5e-4, epochs=epochs, batch_size=batch_size,
                      schedule="constant", max_iters_per_epoch=max_iters, seed=seed, device=device, progress=False)
    au_roots = {k: v for k, v in roots_.items() if k in ("bp4d", "disfa", "emotionet")}
    return Experiment(au_roots, profile, cfg, "piapdf", {}, image_size=image_size, alignment="similarity",
                      max_test_frames=max_test_frames, seed=seed, device=device, group="piapdf-notebooks")


def df_config(exp, lr: float, epochs: int, seed: int):
    """DF's training configuration: the teacher's optimiser is plain SGD (momentum 0, no weight
    decay), so that its update is eq. 11 exactly."""
    from aulib.train import TrainConfig

    c = exp.config
    return TrainConfig(optimizer="sgd", lr=lr, momentum=0.0, weight_decay=0.0, epochs=epochs,
                       batch_size=c.batch_size, schedule="constant", max_iters_per_epoch=c.max_iters_per_epoch,
                       seed=seed, device=c.device, progress=False)


#: what a row needs trained first (PI Generator 1 comes from PI-2; DF rows start from a row)
_NEEDS = {"pi3": ["pi2"], "piap": ["pi2"], "df": ["baseline"], "piapdf": ["pi2", "piap"],
          "df_mpl": ["baseline"], "piap_mpl": ["pi2", "piap"]}


def common_kwargs(image_size: int, pi_weight: float = 0.2, ap_weight: float = 0.2, balanced: bool = False,
                  arch: str = PAPER_ARCH) -> dict:
    """The ``piapdf`` constructor arguments every row shares (:func:`row_kwargs`' ``common``).
    ``balanced`` (the notebooks' parameter, not the paper's eq. 2) is passed only when true and
    ``arch`` (the AU encoder and Encoder P) only when not the paper's EfficientNet-B1, so runs with
    the paper's settings keep their run keys."""
    kw = dict(input_size=int(image_size), pi_weight=pi_weight, ap_weight=ap_weight)
    if balanced:
        kw["balanced"] = True
    if arch != PAPER_ARCH:
        kw["arch"] = arch
    return kw


def run_rows(exp, fold, rows, parts: dict, *, seed: int, pool=None, df_lr: float = 0.01, df_epochs: int = 1,
             student_lr: float = 0.01, pi_weight: float = 0.2, ap_weight: float = 0.2, imagenet=None,
             balanced: bool = False, arch: str = PAPER_ARCH) -> dict:
    """Train (or read back) Table 3's ``rows`` on BP4D ``fold`` with training seed ``seed``, in
    dependency order (PI-2 before anything that needs PI Generator 1, the start row before its
    DF row); ``balanced``, ``arch``: see :func:`common_kwargs`. Returns {row: (model, run dir)} for every
    row trained, dependencies included."""
    import dataclasses

    exp_s = exp
    if exp.config.seed != seed:
        exp_s = type(exp).__new__(type(exp))
        exp_s.__dict__.update(exp.__dict__)
        exp_s.config = dataclasses.replace(exp.config, seed=seed)
    order = []
    for r in rows:
        for d in _NEEDS.get(r, []) + [r]:
            if d not in order:
                order.append(d)
    done: dict = {}
    common = common_kwargs(exp.image_size, pi_weight, ap_weight, balanced, arch)
    for r in order:
        sw = ROWS[r][2]
        gen1 = generator_1(*done["pi2"]) if "pi2" in done else None
        start = Path(done[sw["start"]][1]) / "best.pt" if "start" in sw else None
        kw = row_kwargs(r, parts["gen0"], gen1, parts.get("enc_p"), start, imagenet, **common)
        if kw["df"] != "off":
            kw["student_lr"] = student_lr
        done[r] = train_row(exp_s, r, fold, kw, pool=pool, df_config=df_config(exp_s, df_lr, df_epochs, seed)
                            if kw["df"] != "off" else None, tag=f"{ROWS[r][0]} seed {seed}")
    return done


def claim_generator_draws_maps(scores: dict) -> dict:
    """PI Generator 0 "generate[s] 12 predefined PI Maps ... from the raw images" (§3.1): on
    held-out clips its binarised maps overlap the predefined ones (IoU) more than the training
    faces' mean map does (a generator that ignored the face)."""
    g, m = scores["iou"], scores["mean_map_iou"]
    return _claim("PI Generator 0 draws the predefined PI maps from the image (held-out IoU above the mean map's)", g > m,
                  f"held-out IoU {g:.1f} % vs {m:.1f} % for the training faces' mean map; BCE {scores['bce']:.3f} "
                  f"({scores['n_test']} faces of clips not trained on)", "§3.1", iou=g, mean_map_iou=m)


class Table1Runs:
    """``piapdf/01_bp4d_table1``'s set-up from its parameters ``p`` (the notebook's
    ``run.params``, or the registry's values for it at a profile), so that the notebook and the
    comparison (``compare/``) train and read back the same runs: checks the inputs
    (:func:`check_inputs`), the dataset roots (:func:`roots`; ``extra`` adds test-only datasets,
    e.g. ``("emotionet",)``), the shared stage-1 generator and Encoder P (:func:`shared_parts`)
    and the AU :func:`experiment`. Attributes ``roots``, ``parts``, ``exp``, ``imagenet``."""

    NEEDS = ("bp4d", "disfa", "afewva", "faces")

    def __init__(self, p: dict, device: str, extra=()):
        self.p = dict(p)
        check_inputs(p["profile"], self.NEEDS, use_synth=p["use_synth"], data_root=p["data_root"],
                     imagenet_efficientnet=p["imagenet_efficientnet"])
        self.imagenet = p["imagenet_efficientnet"] or None
        self.roots = roots(self.NEEDS + tuple(extra), p["synth_profile"], p["use_synth"], p["data_root"], p["seed"])
        self.parts = shared_parts(p["profile"], self.roots, image_size=p["image_size"], unet_base=p["unet_base"],
                                  unet_depth=p["unet_depth"], stage1_epochs=p["stage1_epochs"],
                                  stage1_lr=p["stage1_lr"], batch_size=p["batch_size"], max_iters=p["max_iters"],
                                  p_epochs=p["p_epochs"], p_lr=p["p_lr"], use_synth=p["use_synth"],
                                  data_root=p["data_root"], imagenet=self.imagenet, seed=p["seed"], device=device,
                                  need_p=True, arch=p.get("arch", PAPER_ARCH))
        self.exp = experiment(self.roots, p["profile"], image_size=p["image_size"], epochs=p["epochs"],
                              max_iters=p["max_iters"], batch_size=p["batch_size"], lr=p["lr"],
                              max_test_frames=p["max_test_frames"], seed=p["seed"], device=device)

    def train_rows(self, fold, rows) -> tuple[dict, dict]:
        """Table 3's ``rows`` on BP4D ``fold`` (:func:`run_rows`, dependencies included), DF's
        unlabelled pool built for the fold (:func:`unlabelled_pool`). Returns ({row: (model, run
        dir)}, the pool's counts)."""
        p = self.p
        pool, counts = unlabelled_pool(self.exp, fold, self.roots["bp4d"], self.roots.get("disfa"),
                                       p["max_unlabelled"], p["seed"])
        done = run_rows(self.exp, fold, rows, self.parts, seed=p["seed"], pool=pool, df_lr=p["df_lr"],
                        df_epochs=p["df_epochs"], student_lr=p["student_lr"], pi_weight=p["pi_weight"],
                        ap_weight=p["ap_weight"], imagenet=self.imagenet, balanced=p.get("balanced", False),
                        arch=p.get("arch", PAPER_ARCH))
        return done, counts



# ----------------------------------------------------------------------- the comparison (compare/)
TABLE1_NOTEBOOK = "piapdf/01_bp4d_table1"
#: why PIAP-DF and PIAP have no DISFA-trained rows in the comparison
_BP4D_ONLY = "trained on BP4D only (the paper's DISFA model is PIAP fine-tuned from the BP4D run, piapdf/02)"


def _compare_experiment(ctx):
    """Table 1's experiment from ``piapdf/01_bp4d_table1``'s parameters at ``ctx.profile``
    (:class:`Table1Runs`), synth-emotionet added as a test-only domain; the set-up rides along as
    ``exp.table1`` (its :meth:`Table1Runs.train_rows` trains the rows)."""
    runs = Table1Runs(ctx.params(TABLE1_NOTEBOOK), ctx.device, extra=("emotionet",))
    runs.exp.table1 = runs
    return runs.exp


def _compare_train(row: str):
    def train(ctx, exp, source):
        done, _ = exp.table1.train_rows(exp.folds(source)[0], [row])
        return done[row][0]
    return train


def table1_avg(key: str) -> float:
    """Table 1's printed average F1 (BP4D) of method ``key``, from the store of published numbers."""
    from aulib.eval import reported

    return float(reported.row("piapdf", "Table 1", key, "BP4D")["Avg"])


def _compare_claims(results):
    from aulib.papers.compare import best_of, f1_of

    holds, evidence = best_of(results, "PIAP-DF", "within")
    out = [_claim("PIAP-DF has the highest within-domain F1 on BP4D of the methods compared", holds, evidence,
                  "§4.2 ('PIAP-DF achieves an average performance improvement'); Table 1, tested on the common protocol")]
    full, piap = f1_of(results, "piapdf", "within"), f1_of(results, "piap", "within")
    if full is None or piap is None:
        out.append(_claim("DF improves PIAP on BP4D (PIAP-DF above PIAP)", None,
                          "needs PIAP-DF and PIAP on the within protocol", "Table 1"))
    else:
        out.append(_claim("DF improves PIAP on BP4D (PIAP-DF above PIAP)", full > piap,
                          f"PIAP-DF {full:.1f} vs PIAP {piap:.1f} (paper {table1_avg('piapdf'):.1f} vs "
                          f"{table1_avg('piap'):.1f})", "Table 1"))
    return out


def _compare_entries() -> list:
    from aulib.papers.compare import Method

    def entry(row, label, headline, claims=None):
        return Method(row, label, "piapdf", TABLE1_NOTEBOOK, None, _compare_experiment, headline,
                      "PIAP AU encoder (EfficientNet-B1)", claims, sources=("bp4d",), not_applicable=_BP4D_ONLY,
                      train=_compare_train(row))
    bp4d = ("within", "bp4d", "bp4d")
    return [entry("piapdf", "PIAP-DF", {bp4d: ("piapdf", "Table 1", "BP4D", "piapdf")}, _compare_claims),
            entry("piap", "PIAP (PIAP-DF without DF)", {bp4d: ("piapdf", "Table 1", "BP4D", "piap"),   # Table 2 prints
                                                        ("within", "disfa", "disfa"): ("piapdf", "Table 2", "DISFA", "piap")})]  # PIAP only


#: PIAP-DF (and PIAP, its row without DF) in the four-paper comparison (:mod:`aulib.papers.compare`)
COMPARE = _compare_entries()
