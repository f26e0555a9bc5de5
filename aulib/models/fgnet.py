"""FG-Net (Yin et al., WACV 2024): AU detection from StyleGAN2 features with a Pyramid-CNN.

This module owns the FG-Net model, its ablation switches and its checkpoint loaders (paper 000,
§3 and Table 3); what the notebooks share beyond the model (deviation table, baselines, figure
helpers, claims) is in :mod:`aulib.papers.fgnet`. The model:
image -> pSp encoder -> W+ codes (+ ``latent_avg``) -> StyleGAN2 synthesis -> the feature map
after the second AdaIN of each of the first k blocks, f_1..f_k -> Pyramid-CNN interpreter
c_i = C_i(c_{i-1} + f_i), c_0 = 0 (Eq. 4), each C_i = interpolate, conv, ReLU, (dropout), BN
-> one heatmap per AU. Training: MSE between predicted and ground-truth heatmaps (§3.4);
inference: an AU is active iff its heatmap sums to more than 0 (§3.4). Encoder and generator
are fine-tuned with the interpreter ("we fine-tune the encoder and the generator during
training", §3.3).

Ground truth (paper Eq. 2-3, reference/fgnet.md §1): two Gaussians per AU at the ROI
centres of :data:`aulib.face.regions.FGNET_ROI`, +1 peaks when the AU is active and -1 when
not, values < 0.01 zeroed, clipped to [-1, 1]; sigma = 20 px on a 128-px map (paper §4.2).
:func:`heatmap_targets` is a batched torch version of :func:`aulib.face.regions.fgnet_heatmaps`
(same table, same rule; a test checks they agree).

Ablations (Table 3) are options of this one model:
- ``head="upscale_concat"``: features bilinearly resized to the heatmap size, concatenated
  and classified per pixel by an MLP (1x1 convs: dim->128->32->n with ReLU+BN, DatasetGAN's
  pixel classifier, as FG-Net's first public commit). The paper upsamples to the input
  resolution (6080 channels); we upsample to the heatmap size, which the loss is taken at.
- ``head="latent"``: a classifier on the W+ codes (flattened, MLP with one hidden layer of
  ``latent_hidden`` units), trained with masked BCE (active terms weighted as the heatmap
  loss's, see ``active_weight``); no generator, no heatmaps. The paper
  gives neither the head nor the loss for this variant.
- ``drop_group="early" | "middle" | "late"``: the k blocks are split into three consecutive
  groups (``numpy.array_split``); paper k = 9 -> early = blocks 1-3 (4, 8, 16 px), middle =
  4-6 (32, 64, 128 px), late = 7-9 (256, 512, 1024 px). Tiny (k = 4, 4..32 px, up to the
  32-px heatmap, as the paper's blocks reach past its heatmap): early = 1-2 (4, 8), middle =
  3 (16), late = 4 (32). :meth:`FGNet.feature_groups` prints it.

Where the paper is silent or paper and official code (ihp-lab/FG-Net) differ:
- Input size: the paper says images are resized to 128x128 (§4.2); the official code feeds
  256-px FFHQ-aligned faces to pSp (whose encoder is built for 256 px) and regresses
  128x128 heatmaps. We follow the code: ``input_size=256``, ``heatmap_size=128`` - reading
  the paper's 128 as the heatmap resolution.
- Blocks: the paper's "k = 9 blocks of two convs each" - the 4x4 block has one conv; its
  output is f_1 (as the code, indices 1, 3, ..., 17).
- Features larger than the heatmap are resized down to it (code; paper silent). Kernel 3
  for C_1 and 5 for the others, dropout before BN, N(0, 0.02) conv init (code).
- Interpreter output channels: the code outputs 32 channels and scores only the first
  n_aus (``out_channels=32`` reproduces that); we default to n_aus.
- Decision: paper "sum > 0"; the code clamps to [-1, 1] before averaging
  (``clamp_decision=True``). :meth:`FGNet.decide` returns sigmoid(mean heatmap), a score
  whose > 0.5 threshold equals the paper's rule, so the shared trainer's threshold applies.
- Batch size: paper 8, code 16 (training configs; the trainer's ``TrainConfig`` sets it).
- Generator noise: silent in both; constant (stored buffers) by default.
- ``latent_avg`` is added to the encoder output (pSp ``start_from_latent_avg``; the code
  does it with a forward hook) and is not trained.
- Second mapping pass (``remap_codes``): the official code passes the pSp codes (+
  ``latent_avg``) through the generator's mapping network (``style``: PixelNorm + n_mlp
  EqualLinear) once more, code by code, before synthesis (reference/fgnet.md §3, step 2); the
  paper does not mention it. On for the paper profile (:func:`model_kwargs`) and set by
  :func:`load_fgnet_release` (the released checkpoints were trained with it); off at smoke /
  tiny, whose synth-ffhq prior never trained its mapping network (see :class:`FGNet`).
- Samples without landmarks (NaN) contribute no heatmap loss (our rule; the code runs dlib
  on the fly instead).

Weights (``weights`` argument; the stored state_dict replaces it when a trained model is
reloaded): ``None`` (random init), a path to a pSp-format checkpoint (the pSp FFHQ model, or
our synth-ffhq prior from :mod:`aulib.models.prior`), or ``{"generator": rosinality .pt,
"encoder": pSp .pt}`` - the paper profile's FFHQ files, as the official code loads them.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..face.regions import BP4D_AUS, FGNET_ROI, FGNET_SIGMA
from .common import AUSubset, RunningBaseRate  # AUSubset re-exported: notebooks import it from here
from .psp import GradualStyleEncoder, load_psp
from .registry import register
from .stylegan2 import Generator, load_rosinality

GROUPS = ("early", "middle", "late")
HEADS = ("pyramid", "upscale_concat", "latent")


# ---------------------------------------------------------------------------------------
# Ground truth
def roi_centres(landmarks: torch.Tensor, aus) -> torch.Tensor:
    """Batched FG-Net ROI centres ``(B, n_aus, 2, 2)`` (x, y) from landmarks ``(B, 68, 2)``.

    Same table as :func:`aulib.face.regions.fgnet_roi_centres` (IOD = |lm42 - lm39|).
    """
    lm = landmarks.float()
    iod = (lm[:, 42] - lm[:, 39]).norm(dim=-1)
    out = []
    for au in aus:
        if au not in FGNET_ROI:
            raise KeyError(f"FG-Net defines no ROI for {au}; known AUs: {', '.join(FGNET_ROI)} "
                           "(reference/fgnet.md §1)")
        pair = []
        for spec, shift in FGNET_ROI[au]:
            p = lm[:, spec[1]] if spec[0] == "lm" else lm[:, spec[1]:spec[2] + 1].mean(1)
            pair.append(torch.stack([p[:, 0], p[:, 1] + shift * iod], -1))
        out.append(torch.stack(pair, 1))
    return torch.stack(out, 1)


def heatmap_targets(centres: torch.Tensor, labels: torch.Tensor, size: int, sigma: float,
                    threshold: float = 0.01) -> torch.Tensor:
    """Signed two-Gaussian heatmaps ``(B, n_aus, size, size)`` in [-1, 1] (paper Eq. 2-3).

    ``centres`` (B, n, 2, 2) in heatmap pixels; ``labels`` (B, n) 0/1. Gaussians on the
    integer pixel grid, values below ``threshold`` zeroed, added for active AUs and
    subtracted otherwise, then clipped to [-1, 1] (reference/fgnet.md §1).
    """
    grid = torch.arange(size, device=centres.device, dtype=torch.float32)
    cx, cy = centres[..., 0, None, None], centres[..., 1, None, None]       # (B, n, 2, 1, 1)
    d2 = (grid.view(1, 1, 1, 1, -1) - cx) ** 2 + (grid.view(1, 1, 1, -1, 1) - cy) ** 2
    g = torch.exp(-d2 / (2 * sigma ** 2))
    g = torch.where(g < threshold, torch.zeros_like(g), g.clamp(max=1.0))
    sign = torch.where(labels > 0.5, 1.0, -1.0).to(g)[..., None, None]
    return (g.sum(2) * sign).clamp(-1.0, 1.0)


# ---------------------------------------------------------------------------------------
# Interpreters
class InterpreterBlock(nn.Module):
    """C_i: interpolate (bilinear, align_corners) -> conv -> ReLU -> dropout -> BN."""

    def __init__(self, in_c: int, out_c: int, kernel: int, out_size: int, dropout: float):
        super().__init__()
        self.out_size = out_size
        self.conv = nn.Conv2d(in_c, out_c, kernel, padding=kernel // 2)
        self.drop = nn.Dropout(dropout)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x):
        if x.shape[-1] != self.out_size or x.shape[-2] != self.out_size:
            x = F.interpolate(x, size=(self.out_size, self.out_size), mode="bilinear", align_corners=True)
        return self.bn(self.drop(F.relu(self.conv(x))))


class PyramidInterpreter(nn.Module):
    """Pyramid-CNN interpreter H (paper Eq. 4-5): c_i = C_i(c_{i-1} + f_i), m = c_k.

    ``channels[i]`` / ``resolutions[i]`` describe feature f_{i+1}. Level i runs at
    min(resolution, out_size); C_i maps to the next level's channels and size; the last
    level is a block at ``out_size`` followed by a conv to ``out_channels`` (the code's head).
    """

    def __init__(self, channels: list[int], resolutions: list[int], out_channels: int,
                 out_size: int, dropout: float = 0.1, first_kernel: int = 3, kernel: int = 5):
        super().__init__()
        self.sizes = [min(r, out_size) for r in resolutions]
        L = len(channels)
        self.blocks = nn.ModuleList()
        for i in range(L):
            nxt_c = channels[i + 1] if i + 1 < L else channels[i]
            nxt_s = self.sizes[i + 1] if i + 1 < L else out_size
            self.blocks.append(InterpreterBlock(channels[i], nxt_c, first_kernel if i == 0 else kernel,
                                                nxt_s, dropout))
        self.out = nn.Conv2d(channels[-1], out_channels, kernel, padding=kernel // 2)
        _init_official(self)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = None
        for f, s, block in zip(feats, self.sizes, self.blocks):
            if f.shape[-1] != s:
                f = F.interpolate(f, size=(s, s), mode="bilinear", align_corners=True)
            x = f if x is None else x + f
            x = block(x)
        return self.out(x)


class UpscaleConcatInterpreter(nn.Module):
    """Table 3 "upscale & concat": resize all features, concatenate, per-pixel MLP."""

    def __init__(self, channels: list[int], out_channels: int, out_size: int, hidden=(128, 32)):
        super().__init__()
        self.out_size = out_size
        dims = [sum(channels), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Conv2d(a, b, 1), nn.ReLU(), nn.BatchNorm2d(b)]
        layers.append(nn.Conv2d(dims[-1], out_channels, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, feats):
        s = (self.out_size, self.out_size)
        x = torch.cat([f if f.shape[-2:] == s else
                       F.interpolate(f, size=s, mode="bilinear", align_corners=True) for f in feats], 1)
        return self.mlp(x)


class LatentClassifier(nn.Module):
    """Table 3 "latent code": an MLP on the flattened W+ codes -> per-AU logits; ``norm=True``
    first standardises every code element over the training batches (``feature_norm="batch"``)."""

    def __init__(self, n_latent: int, style_dim: int, n_aus: int, hidden: int = 256, dropout: float = 0.1,
                 norm: bool = False):
        super().__init__()
        self.norm = nn.BatchNorm1d(n_latent * style_dim, affine=False) if norm else nn.Identity()
        self.mlp = nn.Sequential(nn.Flatten(1), nn.Linear(n_latent * style_dim, hidden), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, n_aus))

    def forward(self, codes):
        return self.mlp(self.norm(codes.flatten(1)))


def _init_official(module: nn.Module) -> None:
    """FG-Net code's init: conv weights N(0, 0.02), zero bias, BN weight N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------
class FGNet(nn.Module):
    """FG-Net: encoder -> W+ -> generator features -> interpreter -> AU heatmaps.

    Args:
        aus: AU names, one output heatmap each (default BP4D's 12).
        input_size: side of the encoder's input (pSp: 256); other sizes are resized.
        generator_size: StyleGAN2 resolution (paper: 1024).
        style_dim: W / W+ vector size (paper: 512).
        n_mlp: mapping-network depth (paper: 8; used only with ``remap_codes``).
        channel_multiplier: generator width factor (config-f: 2).
        channel_max: cap on generator widths (512; tiny: narrow).
        encoder_units: IR-SE units per stage (IR-SE-50: 3, 4, 14, 3).
        encoder_depths: IR-SE stage widths (64, 128, 256, 512).
        encoder_stem: width of the encoder's input layer (64).
        k: number of synthesis blocks whose features are used (paper: 9).
        heatmap_size: side of the predicted / target heatmaps (code: 128).
        sigma: Gaussian sigma in heatmap pixels (default 20 * heatmap_size / 128).
        dropout: interpreter dropout (paper: 0.1).
        interp_kernel: kernel of the interpreter convs after the first (code: 5; first: 3).
        head: "pyramid" (FG-Net) | "upscale_concat" | "latent" (Table 3 ablations).
        drop_group: "" | "early" | "middle" | "late" (Table 3 ablations).
        out_channels: interpreter output channels (default n_aus; the code uses 32).
        latent_hidden: hidden units of the latent-code classifier.
        clamp_decision: clamp heatmaps to [-1, 1] before the decision (code) or not (paper).
        active_weight: weight of the heatmap MSE of active AUs (paper and code: 1, plain MSE;
            > 1 counters rare AUs on short budgets - not a paper setting). 0 means "balanced":
            per AU, (1 - r) / r with r the AU's base rate in the training batches seen so far
            (a running mean, clipped to [1, 50]), so that an uninformative model's mean map sits
            at the decision boundary instead of "always inactive" - not a paper setting.
            The latent-code head's BCE weights its active terms the same way.
        noise_mode: generator noise, "const" (stored buffers) or "random".
        remap_codes: pass the W+ codes (encoder output + ``latent_avg``, shape (B, n_latent,
            style_dim)) through the generator's mapping network ``style`` a second time, each
            of the n_latent codes on its own, before synthesis - what FG-Net's official code
            does (reference/fgnet.md §3, step 2; the paper is silent). The mapping network is
            then fine-tuned with the generator. True for the paper profile and for released
            FG-Net weights (:func:`load_fgnet_release` sets it); False (default) feeds the codes
            to synthesis directly, as the paper describes and as our synth-ffhq prior was
            trained (its mapping network is untrained, :mod:`aulib.models.prior`). The
            latent-code head reads the encoder's codes either way.
        feature_norm: "none" (paper) or "batch": standardise every element of each feature map
            f_i over the training batches (running statistics, no affine; a BatchNorm1d over the
            flattened map) before the interpreter. Not a paper setting: a weak prior's feature
            maps barely vary between faces (at tiny, 2-4 % of their spread), so the interpreter
            otherwise sees a near-constant input. With ``head="latent"``: every W+ code element
            is standardised the same way before the classifier (the GH-Feat-style baseline).
        finetune: "all" (paper: encoder + generator + interpreter) or "interpreter".
        input_mean, input_std: the normalisation of the images given to forward (per
            channel); they are mapped to pSp's [-1, 1] range (mean = std = 0.5: no change).
        weights: initial weights (see the module docstring).
    """

    # the ToRGB layers (and the mapping network unless remap_codes) get no gradient
    ddp_find_unused_parameters = True

    def __init__(self,
                 aus=BP4D_AUS,
                 input_size: int = 256,
                 generator_size: int = 1024,
                 style_dim: int = 512,
                 n_mlp: int = 8,
                 channel_multiplier: float = 2,
                 channel_max: int = 512,
                 encoder_units=(3, 4, 14, 3),
                 encoder_depths=(64, 128, 256, 512),
                 encoder_stem: int = 64,
                 k: int = 9,
                 heatmap_size: int = 128,
                 sigma: float | None = None,
                 dropout: float = 0.1,
                 interp_kernel: int = 5,
                 head: str = "pyramid",
                 drop_group: str = "",
                 out_channels: int | None = None,
                 latent_hidden: int = 256,
                 clamp_decision: bool = False,
                 active_weight: float = 1.0,
                 noise_mode: str = "const",
                 remap_codes: bool = False,
                 feature_norm: str = "none",
                 finetune: str = "all",
                 input_mean=(0.5, 0.5, 0.5),
                 input_std=(0.5, 0.5, 0.5),
                 weights=None):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if drop_group not in ("", *GROUPS):
            raise ValueError(f"drop_group must be '' or one of {GROUPS}, got {drop_group!r}")
        if finetune not in ("all", "interpreter"):
            raise ValueError(f"finetune must be 'all' or 'interpreter', got {finetune!r}")
        self.aus = [str(a) for a in aus]
        missing = [a for a in self.aus if a not in FGNET_ROI]
        if missing:
            raise ValueError(f"FG-Net has no ROI centres for {missing}; supported AUs: "
                             f"{', '.join(FGNET_ROI)} (reference/fgnet.md §1)")
        self.input_size, self.heatmap_size = int(input_size), int(heatmap_size)
        self.sigma = float(sigma) if sigma is not None else FGNET_SIGMA * heatmap_size / 128.0
        self.head, self.drop_group = head, drop_group
        self.clamp_decision = bool(clamp_decision)
        self.remap_codes = bool(remap_codes)
        self.active_weight = float(active_weight)
        if self.active_weight < 0:
            raise ValueError(f"active_weight must be >= 0 (0 = balanced), got {active_weight}")
        # running base rate of each AU in the training batches (active_weight=0 only)
        self.base_rate = RunningBaseRate(len(self.aus))
        self.generator = Generator(generator_size, style_dim, n_mlp, channel_multiplier=channel_multiplier,
                                   channel_max=channel_max, noise_mode=noise_mode)
        if not 1 <= k <= self.generator.n_blocks:
            raise ValueError(f"k must be in 1..{self.generator.n_blocks} for a {generator_size}-px "
                             f"generator (blocks at 4..{generator_size} px), got {k}")
        self.k = int(k)
        self.encoder = GradualStyleEncoder(self.generator.n_latent, style_dim, input_size,
                                           units=encoder_units, depths=encoder_depths, stem=encoder_stem)
        self.register_buffer("latent_avg", torch.zeros(self.generator.n_latent, style_dim))
        self.register_buffer("in_mean", torch.tensor(input_mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("in_std", torch.tensor(input_std, dtype=torch.float32).view(1, -1, 1, 1))
        self.blocks = self._used_blocks()
        chans = [self.generator.block_channels()[b] for b in self.blocks]
        res = [self.generator.block_resolutions()[b] for b in self.blocks]
        if feature_norm not in ("none", "batch"):
            raise ValueError(f"feature_norm must be 'none' or 'batch', got {feature_norm!r}")
        self.feature_norm = feature_norm
        self.feature_norms = nn.ModuleList(
            [nn.BatchNorm1d(c * r * r, affine=False) for c, r in zip(chans, res)]
            if feature_norm == "batch" and head != "latent" else [])
        n_out = int(out_channels or len(self.aus))
        if n_out < len(self.aus):
            raise ValueError(f"out_channels={n_out} < {len(self.aus)} AUs")
        if head == "pyramid":
            self.interpreter = PyramidInterpreter(chans, res, n_out, self.heatmap_size, dropout,
                                                  kernel=interp_kernel)
        elif head == "upscale_concat":
            self.interpreter = UpscaleConcatInterpreter(chans, n_out, self.heatmap_size)
        else:
            self.interpreter = LatentClassifier(self.generator.n_latent, style_dim, len(self.aus),
                                                latent_hidden, dropout, norm=feature_norm == "batch")
        self.init = "random"
        if weights:
            self.load_pretrained(weights)
        self.finetune = finetune
        if finetune == "interpreter":
            for p in (*self.encoder.parameters(), *self.generator.parameters()):
                p.requires_grad_(False)
            self.encoder.eval()
            self.generator.eval()

    def train(self, mode: bool = True):
        """As nn.Module.train; with ``finetune="interpreter"`` the frozen encoder and generator
        stay in eval mode (their BatchNorm statistics are the prior's, not the batch's)."""
        super().train(mode)
        if getattr(self, "finetune", "all") == "interpreter":
            self.encoder.eval()
            self.generator.eval()
        return self

    # -- structure ---------------------------------------------------------------------
    def feature_groups(self) -> dict[str, list[tuple[int, int]]]:
        """Early / middle / late groups: {group: [(block number 1..k, resolution px), ...]}."""
        res = self.generator.block_resolutions()
        parts = np.array_split(np.arange(self.k), 3)
        return {g: [(int(b) + 1, res[int(b)]) for b in part] for g, part in zip(GROUPS, parts)}

    def _used_blocks(self) -> list[int]:
        drop = set()
        if self.drop_group:
            drop = {b - 1 for b, _ in self.feature_groups()[self.drop_group]}
        used = [b for b in range(self.k) if b not in drop]
        if not used:
            raise ValueError(f"dropping the {self.drop_group!r} group leaves no features (k={self.k})")
        return used

    # -- weights -----------------------------------------------------------------------
    def load_pretrained(self, weights) -> None:
        """Load encoder/generator weights (pSp-format path, or {"generator", "encoder"} paths)."""
        if isinstance(weights, (str, os.PathLike)):
            _, _, avg, _ = load_psp(weights, encoder=self.encoder, decoder=self.generator)
            self.init = f"pSp checkpoint {os.path.basename(os.fspath(weights))}"
        elif isinstance(weights, dict):
            unknown = set(weights) - {"generator", "encoder"}
            if unknown or "encoder" not in weights:
                raise ValueError("weights as a dict needs 'encoder' (pSp .pt) and optionally "
                                 f"'generator' (rosinality .pt); found keys {sorted(weights)}")
            _, _, avg, _ = load_psp(weights["encoder"], encoder=self.encoder, with_decoder="generator" not in weights,
                                    decoder=None if "generator" in weights else self.generator)
            if "generator" in weights:
                load_rosinality(weights["generator"], generator=self.generator)
            self.init = "FFHQ: " + ", ".join(f"{k}={os.path.basename(str(v))}" for k, v in sorted(weights.items()))
        else:
            raise TypeError(f"weights must be a path or a dict of paths, got {type(weights).__name__}")
        self.latent_avg.copy_(avg.to(self.latent_avg))

    # -- forward -----------------------------------------------------------------------
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """W+ codes (B, n_latent, style_dim) = encoder(image) + latent_avg."""
        x = (image * self.in_std + self.in_mean - 0.5) / 0.5
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        return self.encoder(x) + self.latent_avg

    def synthesis_codes(self, image: torch.Tensor) -> torch.Tensor:
        """The codes synthesis reads (B, n_latent, style_dim): :meth:`encode`, then with
        ``remap_codes`` the mapping network applied to each code (official code's second pass)."""
        codes = self.encode(image)
        if self.remap_codes:
            codes = self.generator.style(codes.reshape(-1, codes.shape[-1])).view_as(codes)
        return codes

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The generator features f_i of the used blocks (after their second AdaIN); without
        autograd when the encoder and generator are frozen (``finetune="interpreter"``)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.finetune == "all"):
            codes = self.synthesis_codes(image)
            feats = self.generator.synthesis_features(codes, k=self.blocks[-1] + 1)
        out = [feats[b] for b in self.blocks]
        if self.feature_norm == "batch":
            out = [norm(f.flatten(1)).view_as(f) for norm, f in zip(self.feature_norms, out)]
        return out

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Heatmaps (B, out_channels, heatmap_size, heatmap_size); latent head: logits (B, n_aus)."""
        if self.head == "latent":
            with torch.set_grad_enabled(torch.is_grad_enabled() and self.finetune == "all"):
                codes = self.encode(image)
            return self.interpreter(codes)
        return self.interpreter(self.features(image))

    # -- training / inference (the trainer calls these) -------------------------------
    def targets(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Ground-truth heatmaps for a batch and the (B, n_aus) mask of usable maps."""
        lm = batch["landmarks"].float()
        img_side = batch["image"].shape[-1]
        valid = torch.isfinite(lm).all(dim=(-2, -1))
        lm = torch.nan_to_num(lm, nan=0.0) * (self.heatmap_size / img_side)
        maps = heatmap_targets(roi_centres(lm, self.aus), batch["au"].float(), self.heatmap_size, self.sigma)
        mask = batch.get("au_mask", torch.ones_like(batch["au"])).float() * valid[:, None].float()
        return maps, mask

    def loss(self, batch: dict, output: torch.Tensor) -> torch.Tensor:
        """Heatmap MSE (paper §3.4) over known AUs of samples with landmarks; latent head: BCE.
        ``active_weight`` weights the terms of active AUs in both."""
        n = len(self.aus)
        if self.head == "latent":
            mask = batch.get("au_mask", torch.ones_like(batch["au"])).float()
            per = F.binary_cross_entropy_with_logits(output.float(), batch["au"].float(), reduction="none")
            if self.active_weight != 1.0:     # the same weighting of active AUs as the heatmap loss
                mask = mask * torch.where(batch["au"].float() > 0.5, self._active_weights(batch, mask), 1.0)
            return (per * mask).sum() / mask.sum().clamp_min(1.0)
        target, mask = self.targets(batch)
        per = (output[:, :n].float() - target).pow(2).mean(dim=(-2, -1))
        if self.active_weight != 1.0:
            mask = mask * torch.where(batch["au"].float() > 0.5, self._active_weights(batch, mask), 1.0)
        return (per * mask).sum() / mask.sum().clamp_min(1.0)

    def _active_weights(self, batch: dict, mask: torch.Tensor) -> torch.Tensor:
        """Weight of active-AU maps: ``active_weight``, or (0) balanced per AU (see class doc)."""
        if self.active_weight > 0:
            return torch.full_like(mask[0], self.active_weight)
        return self.base_rate.weights(batch["au"], mask)

    def heatmap_scores(self, output: torch.Tensor) -> torch.Tensor:
        """Per-AU heatmap sums (B, n_aus) - the paper's decision statistic (active iff > 0)."""
        if self.head == "latent":
            return output.float()
        h = output[:, :len(self.aus)].float()
        if self.clamp_decision:
            h = h.clamp(-1, 1)
        return h.sum(dim=(-2, -1))

    def decide(self, output: torch.Tensor) -> torch.Tensor:
        """Scores in (0, 1) with > 0.5 <=> heatmap sum > 0: sigmoid of the mean heatmap."""
        if self.head == "latent":
            return torch.sigmoid(output.float())
        return torch.sigmoid(self.heatmap_scores(output) / float(self.heatmap_size ** 2))

    @torch.no_grad()
    def explain(self, item: dict) -> dict:
        """One dataset item through the model, for figures (numpy arrays).

        Returns ``image`` (H, W, 3 uint8, de-normalised), ``pred`` and ``target`` heatmaps
        (n_aus, h, w; None for the latent head), ``score`` (decide()), ``active`` (score > 0.5)
        and ``label`` (the item's 0/1 labels).
        """
        was = self.training
        self.eval()
        dev = self.latent_avg.device
        img = item["image"][None].to(dev).float()
        out = self(img)
        n = len(self.aus)
        pred = target = None
        if self.head != "latent":
            pred = out[0, :n].float().cpu().numpy()
            target = self.targets({"image": img, "landmarks": item["landmarks"][None].to(dev),
                                   "au": item["au"][None].to(dev)})[0][0].cpu().numpy()
        score = self.decide(out)[0].cpu().numpy()
        self.train(was)
        rgb = (img[0] * self.in_std[0] + self.in_mean[0]).clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        return {"image": (rgb * 255).round().astype(np.uint8), "pred": pred, "target": target,
                "score": score, "active": score > 0.5, "label": item["au"].cpu().numpy()}


def official_interpreter_key_map(model: "FGNet") -> dict[str, str]:
    """Our interpreter keys -> FG-Net release keys (``model.pth['interpreter']``).

    The release's ``pyramid_interpreter`` (reference/fgnet.md §4e): layer0-4 =
    [Upsample, Conv, ReLU, Dropout, BN] (conv at index 1, BN at 4), layer5-7 = [Conv, ReLU,
    Dropout, BN] (0, 3), layer8 = [Conv, ReLU, Dropout, BN, Conv] (0, 3, 4).
    """
    if model.head != "pyramid" or model.blocks != list(range(9)):
        raise ValueError("the FG-Net release checkpoints hold the full 9-block pyramid interpreter; "
                         "build FGNet with head='pyramid', k=9 and no drop_group")
    out = {}
    for i, block in enumerate(model.interpreter.blocks):
        conv, bn = (1, 4) if i <= 4 else (0, 3)
        for name, _ in block.conv.named_parameters():
            out[f"interpreter.blocks.{i}.conv.{name}"] = f"layer{i}.{conv}.{name}"
        for name in block.bn.state_dict():
            out[f"interpreter.blocks.{i}.bn.{name}"] = f"layer{i}.{bn}.{name}"
    for name in ("weight", "bias"):
        out[f"interpreter.out.{name}"] = f"layer8.4.{name}"
    return out


def load_fgnet_release(model: "FGNet", path, psp_checkpoint) -> "FGNet":
    """Load a released FG-Net ``model.pth`` (keys ``interpreter``, ``g_all``, ``pspencoder``).

    The release has 32 interpreter output channels (build with ``out_channels=32``; only the
    first n_aus are read) and no ``latent_avg``: it comes from the pSp checkpoint the
    release was trained from (``psp_checkpoint``, FG-Net's ``encoder.pt``). The release was
    trained with the official code's second pass of the codes through the mapping network
    (reference/fgnet.md §3, step 2), so this sets ``model.remap_codes = True``: without it the
    released weights would see other codes than they were trained on.
    """
    from .stylegan2 import compare_state_dict, read_checkpoint

    ckpt = read_checkpoint(path)
    need = {"interpreter", "g_all", "pspencoder"}
    if not need <= set(ckpt):
        raise ValueError(f"expected an FG-Net release checkpoint with keys {sorted(need)}; found "
                         f"{sorted(ckpt)[:8]} (reference/fgnet.md §4e)")
    compare_state_dict(model.generator.state_dict(), ckpt["g_all"], what="FG-Net release 'g_all'")
    compare_state_dict(model.encoder.state_dict(), ckpt["pspencoder"], what="FG-Net release 'pspencoder'")
    kmap = official_interpreter_key_map(model)
    theirs = ckpt["interpreter"]
    interp = {k: theirs[v] for k, v in kmap.items() if v in theirs}
    ours = {k: v for k, v in model.state_dict().items() if k.startswith("interpreter.")}
    compare_state_dict(ours, interp, what="FG-Net release 'interpreter' (mapped to our names)")
    unexpected = sorted(set(theirs) - set(kmap.values()))
    if unexpected:
        raise ValueError(f"FG-Net release 'interpreter' has keys we do not map: {unexpected[:5]}")
    model.generator.load_state_dict(ckpt["g_all"])
    model.encoder.load_state_dict(ckpt["pspencoder"])
    model.load_state_dict(interp, strict=False)
    _, _, avg, _ = load_psp(psp_checkpoint, with_decoder=False)
    model.latent_avg.copy_(avg.to(model.latent_avg))
    model.remap_codes = True
    model.init = f"FG-Net release {os.path.basename(os.fspath(path))}"
    return model


TINY_KWARGS = dict(input_size=32, generator_size=32, style_dim=16, n_mlp=2, channel_max=8,
                   encoder_units=(1, 1, 1, 1), encoder_depths=(8, 12, 16, 24), encoder_stem=8,
                   k=4, heatmap_size=16)

# The tiny profile's model (64-px faces, narrow); the prior in aulib.models.prior matches it.
TINY_PROFILE_KWARGS = dict(input_size=64, generator_size=64, style_dim=32, n_mlp=2, channel_max=16,
                           encoder_units=(1, 1, 1, 1), encoder_depths=(8, 16, 24, 32),
                           encoder_stem=8, k=4, heatmap_size=32, interp_kernel=3)


@register("fgnet",
          output="heatmaps (B, n_aus, H, W) (head='latent': logits (B, n_aus)); "
                 "decide() -> sigmoid(mean heatmap), > 0.5 iff heatmap sum > 0",
          paper="Yin et al., FG-Net: Facial Action Unit Detection with Generalizable Pyramidal "
                "Features, WACV 2024",
          tiny_kwargs=TINY_KWARGS)
def fgnet(**kwargs) -> FGNet:
    """FG-Net; ablations of Table 3 via ``head=`` and ``drop_group=`` (see :class:`FGNet`)."""
    return FGNet(**kwargs)


def model_kwargs(profile: str, **overrides) -> dict:
    """Constructor arguments of FG-Net for a profile (smoke/tiny: small; paper: the paper's,
    with the official code's ``remap_codes=True``; smoke/tiny leave it off - their prior's
    mapping network is untrained, and tiny's choice was not measured, see :class:`FGNet`)."""
    if profile == "paper":
        kw = dict(remap_codes=True)     # the official code's second mapping pass
    elif profile == "tiny":
        kw = dict(TINY_PROFILE_KWARGS)
    elif profile == "smoke":
        kw = dict(TINY_KWARGS)
    else:
        raise ValueError(f"unknown profile {profile!r}")
    kw.update(overrides)
    return kw
