"""Pieces shared by the baseline models: AU lists, torchvision backbones, ImageNet weight
files, a per-AU loss-weight buffer, and the papers' losses (masked weighted BCE, weighted
asymmetric, heatmap MSE, triplet), which live here so that a model's own ``loss`` method can
use them; ``aulib.train.losses`` is their documented public home.

Weights are data (design.md): a torchvision backbone starts from random init unless the
user passes the path of torchvision's own ImageNet state_dict file; a missing or mismatched
file is a loud error naming the expected file and format, never a substitute
(user-asks.md #8). Every model records how it was initialised in ``model.init``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DISFA_AUS = ("AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25", "AU26")
BP4D_AUS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24")

# torchvision's published ImageNet files (name -> (file names accepted, where torchvision hosts them))
TORCHVISION_FILES = {
    "resnet18": (("resnet18-f37072fd.pth",), "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
    "resnet50": (("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"),
                 "https://download.pytorch.org/models/resnet50-0676ba61.pth (IMAGENET1K_V1) or "
                 "resnet50-11ad3fa6.pth (IMAGENET1K_V2)"),
    "efficientnet_b1": (("efficientnet_b1_rwightman-bac287d4.pth", "efficientnet_b1-c27df63c.pth"),
                        "https://download.pytorch.org/models/efficientnet_b1_rwightman-bac287d4.pth "
                        "(IMAGENET1K_V1) or efficientnet_b1-c27df63c.pth (IMAGENET1K_V2)"),
}
HEAD_PREFIXES = ("fc.", "classifier.")


def au_list(aus) -> list[str]:
    """AU names as ``"AU<k>"`` strings, in the given order."""
    if aus is None:
        raise ValueError("aus is required: the list of AU names the model predicts, e.g. "
                         f"{list(DISFA_AUS)} (DISFA) or {list(BP4D_AUS)} (BP4D)")
    names = []
    for a in aus:
        k = str(a).strip().upper().removeprefix("AU")
        if not k.isdigit():
            raise ValueError(f"not an AU name: {a!r} (expected e.g. 'AU12' or 12)")
        names.append(f"AU{int(k)}")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"aus must be a non-empty list of distinct AU names, found {names}")
    return names


def _torchvision_arch(arch: str) -> nn.Module:
    import torchvision.models as tvm

    if arch not in TORCHVISION_FILES:
        raise ValueError(f"unknown backbone {arch!r}; available: {', '.join(TORCHVISION_FILES)}")
    return getattr(tvm, arch)(weights=None)


def load_torchvision_weights(net: nn.Module, arch: str, path) -> str:
    """Load torchvision's ImageNet state_dict file for ``arch`` into ``net`` (the full
    torchvision model); the classification head is skipped. Returns the init note."""
    names, url = TORCHVISION_FILES[arch]
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"ImageNet weights for {arch} not found at {p}. Expected torchvision's state_dict file "
            f"{' or '.join(names)} (a torch.save'd dict of tensors, as downloaded from {url}). "
            "Download it yourself and pass its path, or pass weights=None for random init.")
    state = torch.load(p, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{p} is not a torchvision state_dict (expected a dict of tensors like "
                         f"{names[0]})")
    state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
    own = {k: v for k, v in net.state_dict().items() if not k.startswith(HEAD_PREFIXES)}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f"{p} does not match torchvision's {arch}: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, shape mismatches {shapes[:3]}; expected the "
                         f"file {names[0]} (is it the weights of another architecture?)")
    net.load_state_dict(state, strict=False)
    return f"imagenet:{p.name}"


class Backbone(nn.Module):
    """A torchvision classification network without its pooling and head: image ->
    feature map (B, C, h, w). ``out_channels`` is C; ``init`` says where weights came from."""

    def __init__(self, arch: str = "resnet18", weights=None):
        super().__init__()
        net = _torchvision_arch(arch)
        self.init = "random"
        if weights:
            self.init = load_torchvision_weights(net, arch, weights)
        self.arch = arch
        if arch.startswith("resnet"):
            self.body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                                      net.layer1, net.layer2, net.layer3, net.layer4)
            self.out_channels = net.fc.in_features
        else:  # efficientnet
            self.body = net.features
            self.out_channels = net.classifier[-1].in_features

    def forward(self, x):
        return self.body(x)


BACKBONE_FORMAT = "aulib-backbone/1"


def save_backbone(backbone: Backbone, path, source: str) -> Path:
    """Write a backbone's weights (e.g. after expression pre-training) as a plain file that
    :func:`load_backbone_weights` reads: ``{format, arch, source, state_dict}``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"format": BACKBONE_FORMAT, "arch": backbone.arch, "source": source,
                "state_dict": {k: v.detach().cpu() for k, v in backbone.state_dict().items()}}, tmp)
    os.replace(tmp, path)
    return path


def load_backbone_weights(backbone: Backbone, path) -> str:
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"pre-trained backbone file {p} not found. Expected an '{BACKBONE_FORMAT}' file written by "
            "aulib.train.pretrain.pretrain_backbone (or models.common.save_backbone); run the "
            "pre-training step first, or pass backbone_weights=None")
    obj = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != BACKBONE_FORMAT:
        raise ValueError(f"{p} is not an {BACKBONE_FORMAT} file")
    if obj["arch"] != backbone.arch:
        raise ValueError(f"{p} holds a {obj['arch']} backbone but the model uses {backbone.arch}")
    backbone.load_state_dict(obj["state_dict"])
    return f"pretrained:{p.name} ({obj.get('source', '?')})"


class RunningBaseRate(nn.Module):
    """Each AU's base rate estimated from the training batches a model sees (a running mean:
    the plain mean over the first 20 batches, then an exponential one with momentum 0.05), and
    the positive-term weights ``(1 - r) / r`` (clipped to [1, 50]) that balance each AU's
    active and inactive frames - so that an uninformative model sits at the decision boundary
    instead of answering "absent" for every rare AU. Not a paper setting; used by FG-Net's
    ``active_weight=0`` and by the ``balanced=True`` switch of DRML, Shang & Yu, DANN / ADDA,
    GLEE-Net and PIAP-DF (through :meth:`pos_weight`), so all get the same balancing.

    ``enabled=False`` (a model built with ``balanced=False``, the papers' losses) makes
    :meth:`pos_weight` return ``None`` and leaves the estimate untouched.
    The estimate is a non-persistent buffer: it is rebuilt from the batches after a resume.
    """

    def __init__(self, n: int, warmup: int = 20, momentum: float = 0.05, max_weight: float = 50.0,
                 enabled: bool = True):
        super().__init__()
        self.register_buffer("rate", torch.zeros(n), persistent=False)
        self.batches, self.warmup, self.momentum, self.max_weight = 0, warmup, momentum, max_weight
        self.enabled = bool(enabled)

    def pos_weight(self, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """The ``pos_weight`` of :func:`weighted_bce` for one training batch: ``None`` when not
        ``enabled``, else :meth:`weights` (``mask`` None = every label known). Call it once per
        training step (it updates the estimate in training mode) and reuse the result for every
        set of logits the step scores."""
        if not self.enabled:
            return None
        mask = torch.ones_like(labels) if mask is None else mask
        return self.weights(labels, mask.float())

    def weights(self, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-AU weights of the active terms (n,); updates the estimate in training mode."""
        if self.training:
            with torch.no_grad():
                known = (mask > 0).float()
                rate = ((labels.float() > 0.5).float() * known).sum(0) / known.sum(0).clamp_min(1.0)
                m = 1.0 / (self.batches + 1) if self.batches < self.warmup else self.momentum
                self.rate.mul_(1 - m).add_(m * rate.to(self.rate))
                self.batches += 1
        r = self.rate.clamp(0.02, 1.0)
        return ((1 - r) / r).clamp(1.0, self.max_weight).to(mask)


class AUWeights(nn.Module):
    """Mixin-style module: a buffer of per-AU loss weights that ``fit`` fills from the training
    base rates through ``set_au_weights`` (stored in checkpoints, so resume is exact)."""

    def _init_au_weights(self, n: int):
        self.register_buffer("au_weights", torch.ones(n))

    def set_au_weights(self, weights) -> None:
        self.au_weights.copy_(torch.as_tensor(weights, dtype=self.au_weights.dtype))


def masked_bce(logits, batch, weights=None, pos_weight=None):
    """Masked (optionally per-AU weighted, optionally positive-weighted) BCE on logits against
    ``batch['au']``, unknown labels (``batch['au_mask']`` = 0) left out; ``pos_weight`` usually
    comes from :meth:`RunningBaseRate.pos_weight`."""
    return weighted_bce(logits, batch["au"], weights, batch.get("au_mask"), pos_weight)


# -- losses (the models' own loss methods use them; aulib.train.losses re-exports them) ----


def au_weights_from_rates(rates, normalise: bool = True, min_rate: float = 1e-3) -> torch.Tensor:
    """Per-AU weights ``1 / rate`` (rates as fractions in (0, 1]; clipped at ``min_rate``).

    With ``normalise`` the weights are rescaled to sum to the number of AUs (JAA-Net's
    ``write_AU_weight`` recipe, methods.md A.3); otherwise they are GLEE-Net eq. 5's raw 1/r_i.
    """
    r = np.clip(np.asarray(rates, dtype=np.float64), min_rate, None)
    w = 1.0 / r
    if normalise:
        w = w * (len(w) / w.sum())
    return torch.as_tensor(w, dtype=torch.float32)


def pos_weights_from_rates(rates, max_weight: float = 20.0, min_rate: float = 1e-3) -> torch.Tensor:
    """Per-AU weight of the positive term, ``(1 - r) / r`` clipped to ``max_weight``: positives and
    negatives of each AU then weigh the same in total (not the papers' loss; useful for short
    CPU runs, where an unbalanced loss first learns to answer "absent" for every rare AU)."""
    r = np.clip(np.asarray(rates, dtype=np.float64), min_rate, 1.0)
    return torch.as_tensor(np.clip((1 - r) / r, 1.0, max_weight), dtype=torch.float32)


def base_rates_from_labels(y, mask=None) -> np.ndarray:
    """Occurrence rate per AU (fraction of known frames with the AU present)."""
    y = np.asarray(y, dtype=np.float64)
    m = np.ones_like(y) if mask is None else np.asarray(mask, dtype=np.float64)
    known = m.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (y * m).sum(0) / known
    return np.nan_to_num(rate, nan=0.0)


def _masked_mean(per_entry: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_entry.mean()
    mask = mask.to(per_entry.dtype)
    return (per_entry * mask).sum() / mask.sum().clamp_min(1.0)


def weighted_bce(logits, target, weights=None, mask=None, pos_weight=None):
    """Masked multi-label BCE on logits with optional per-AU ``weights`` (GLEE-Net eq. 5) and
    optional per-AU ``pos_weight`` on the positive term (class balance within an AU)."""
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, device=logits.device, dtype=torch.float32)
    per = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none", pos_weight=pw)
    if weights is not None:
        per = per * torch.as_tensor(weights, device=per.device, dtype=per.dtype)
    return _masked_mean(per, mask)


class WeightedBCE(torch.nn.Module):
    """Masked multi-label BCE on logits, optionally with per-AU weights (GLEE-Net eq. 5).

    ``forward(logits, target, mask=None)``; ``weights`` is an (n_aus,) tensor or None.
    """

    def __init__(self, weights: torch.Tensor | None = None, pos_weight: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("weights", None if weights is None else torch.as_tensor(weights).float())
        self.register_buffer("pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight).float())

    def forward(self, logits, target, mask=None):
        return weighted_bce(logits, target, self.weights, mask, self.pos_weight)


def weighted_asymmetric_loss(probs, target, weights=None, mask=None, eps: float = 1e-8):
    """ME-GraphAU's weighted asymmetric loss on probabilities (methods.md E.2).

    Per AU: ``-[y log p + (1 - y) * p * log(1 - p)]`` with the factor ``p`` of the negative
    term treated as a constant (detached), times the AU weight; averaged over known entries.
    """
    p = probs.float().clamp(eps, 1 - eps)
    y = target.float()
    per = -(y * torch.log(p) + (1 - y) * p.detach() * torch.log(1 - p))
    if weights is not None:
        per = per * torch.as_tensor(weights, device=per.device, dtype=per.dtype)
    return _masked_mean(per, mask)


def heatmap_mse(pred, target, mask=None):
    """Mean squared error between heatmaps (B, n_aus, H, W); ``mask`` (B, n_aus) drops AUs
    with unknown labels (their whole map)."""
    per = (pred.float() - target.float()).pow(2).mean(dim=(-2, -1))
    return _masked_mean(per, mask)


def triplet_loss(anchor, positive, negative, margin: float = 0.1, normalise: bool = True):
    """GLEE-Net eq. 4: two hinge terms on squared distances of (L2-normalised) embeddings.

    ``max(0, |A-P|^2 - |A-N|^2 + m) + max(0, |A-P|^2 - |P-N|^2 + m)``, averaged over the batch.
    GLEE-Net does not print ``m`` in the text we have; 0.1 is a placeholder (FEC-style
    embeddings commonly use 0.1-0.2) - pass the value you want.
    """
    if normalise:
        anchor, positive, negative = (F.normalize(t.float(), dim=-1) for t in (anchor, positive, negative))
    d_ap = (anchor - positive).pow(2).sum(-1)
    d_an = (anchor - negative).pow(2).sum(-1)
    d_pn = (positive - negative).pow(2).sum(-1)
    return (F.relu(d_ap - d_an + margin) + F.relu(d_ap - d_pn + margin)).mean()


class AUSubset(nn.Module):
    """A trained model read on a subset of its AUs (cross-domain tests score the AUs both
    datasets share: AU1, 2, 4, 6, 12, as FG-Net's ``eval_interpreter.py``). Works for any
    model with an ``aus`` list whose output's dim 1 is the AU axis (FG-Net's heatmaps,
    logit classifiers)."""

    def __init__(self, model: nn.Module, aus):
        super().__init__()
        missing = [a for a in aus if a not in model.aus]
        if missing:
            raise ValueError(f"the model predicts {model.aus}; it has no output for {missing}")
        self.model = model
        self.aus = [str(a) for a in aus]
        self.register_buffer("idx", torch.tensor([model.aus.index(a) for a in self.aus]), persistent=False)
        self._aulib_train_subjects = getattr(model, "_aulib_train_subjects", frozenset())

    def forward(self, image):
        return self.model(image).index_select(1, self.idx)

    def decide(self, output):
        if hasattr(self.model, "decide"):
            return self.model.decide(output)
        return torch.sigmoid(output.float())
