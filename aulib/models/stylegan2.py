"""StyleGAN2 generator (Karras et al., CVPR 2020) whose ``state_dict`` matches rosinality's.

This module owns our StyleGAN2 generator: mapping network, modulated convolutions with weight
demodulation, noise injection, ToRGB skip outputs and blurred up-sampling, written in plain
torch (no custom CUDA ops, so it runs on CPU, CUDA and MPS alike). Its parameter and buffer
names and shapes are those of the rosinality/stylegan2-pytorch ``Generator`` (``model.py``),
which is the format FG-Net loads (``g_ema`` of ``stylegan2-ffhq-config-f.pt``), so a
downloaded checkpoint loads with no conversion step (reference/fgnet.md §4a/§4b):

- ``style.{1..n_mlp}.weight|bias`` mapping MLP (``style.0`` is a PixelNorm, no params),
- ``input.input`` the learned 4x4 constant,
- ``conv1.*`` / ``to_rgb1.*`` at 4x4, ``convs.{2j,2j+1}.*`` and ``to_rgbs.j.*`` for each
  resolution 2^(j+3); a StyledConv holds ``conv.weight`` [1,out,in,k,k],
  ``conv.modulation.weight|bias``, ``noise.weight`` [1], ``activate.bias`` [out], and the
  up-sampling ones a ``conv.blur.kernel`` buffer; ToRGB holds ``conv.*``, ``bias`` [1,3,1,1]
  and (except ``to_rgb1``) an ``upsample.kernel`` buffer,
- ``noises.noise_{i}`` fixed noise buffers [1,1,2^r,2^r], r = (i+5)//2.

Implementation notes (our own code, same maths): the modulated convolution scales the
*input* by the style and the output by the demodulation coefficients, which equals
modulating the weight (the StyleGAN2 paper, Eq. 1-3) but runs as one ordinary convolution
for the whole batch. The up-sampling convolution is a stride-2 transposed convolution followed
by a [1,3,3,1] blur, as in rosinality's code (whose converter flips TF's kernels to suit it).

Width and resolution are constructor arguments: the paper uses the 1024-px config-f FFHQ
generator (``size=1024, style_dim=512, n_mlp=8, channel_multiplier=2``); the tiny profile a
64-px, narrow one (``channel_max`` caps every layer's width).

FG-Net details (paper §3.3 and reference/fgnet.md §3):
- The paper speaks of k = 9 "synthesis blocks" of two convolutions each; the 4x4 block of a
  StyleGAN2 generator has only one (``conv1``). Like the official code we take ``conv1``'s
  output for the 4x4 block and the second StyledConv output for every later block, i.e. the
  "hidden state after the second AdaIN" (:meth:`Generator.synthesis_features`).
- Noise: the paper is silent and the official code does not fix it; ``noise_mode`` chooses
  ``"const"`` (the stored ``noises`` buffers: deterministic, our default) or ``"random"``.
"""
from __future__ import annotations

import math
import os
import re
import torch
from torch import nn
from torch.nn import functional as F

# Rosinality's channel table for channel_multiplier=1 at 64 px and above (4..32 px: 512).
_BASE_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32,
                  1024: 16, 2048: 8}
_FIXED_RES = (4, 8, 16, 32)


def channel_table(size: int, channel_multiplier: float = 2, channel_max: int = 512) -> dict[int, int]:
    """Channels per resolution of a rosinality generator (4..size), capped at ``channel_max``."""
    out = {}
    for res, base in _BASE_CHANNELS.items():
        if res > size:
            break
        ch = base if res in _FIXED_RES else int(base * channel_multiplier)
        out[res] = max(1, min(int(channel_max), ch))
    return out


# ---------------------------------------------------------------------------------------
# Building blocks
def make_kernel(k) -> torch.Tensor:
    """2-D FIR kernel from a 1-D one (outer product), normalised to sum 1."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Up-sample by zero insertion, pad, FIR-filter (true convolution), down-sample.

    Plain-torch version of the ``upfirdn2d`` op of StyleGAN2 (same padding convention:
    ``pad=(before, after)`` on both axes, negative values crop).
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    if p0 < 0 or p1 < 0:
        hh, ww = x.shape[-2:]
        x = x[:, :, max(-p0, 0):hh - max(-p1, 0), max(-p0, 0):ww - max(-p1, 0)]
    kh, kw = kernel.shape
    weight = torch.flip(kernel, (0, 1)).to(x).reshape(1, 1, kh, kw).expand(c, 1, kh, kw)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None, slope: float = 0.2,
                     scale: float = math.sqrt(2)) -> torch.Tensor:
    """Bias, leaky ReLU and gain sqrt(2), as StyleGAN2's ``fused_lrelu``."""
    if bias is not None:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        x = x + bias.view(shape)
    return F.leaky_relu(x, slope) * scale


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (keys ``weight`` [out,in], ``bias`` [out])."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class Blur(nn.Module):
    """FIR blur (buffer ``kernel``), used after the transposed up-sampling convolution."""

    def __init__(self, kernel, pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * upsample_factor ** 2
        self.register_buffer("kernel", k)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """x2 up-sampling with an FIR filter (buffer ``kernel``), for the ToRGB skip path."""

    def __init__(self, kernel, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution (the StyleGAN2 replacement of AdaIN).

    ``weight`` has rosinality's leading singleton dimension [1, out, in, k, k];
    ``modulation`` is the affine map A from w to per-input-channel scales (bias init 1).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.in_channel, self.out_channel = in_channel, out_channel
        self.kernel_size = kernel_size
        self.upsample = upsample
        self.demodulate = demodulate
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1),
                             upsample_factor=factor)
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)

    def forward(self, x, style):
        b = x.shape[0]
        s = self.modulation(style)                                   # (B, in)
        w = self.weight[0] * self.scale                              # (out, in, k, k)
        x = x * s.view(b, -1, 1, 1)
        if self.upsample:
            x = F.conv_transpose2d(x, w.transpose(0, 1), stride=2, padding=0)
        else:
            x = F.conv2d(x, w, padding=self.padding)
        if self.demodulate:
            # sum over (in, k, k) of (w * s)^2 = (s^2) @ (sum_k w^2)^T
            d = torch.rsqrt(s.pow(2) @ w.pow(2).sum(dim=(2, 3)).t() + 1e-8)   # (B, out)
            x = x * d.view(b, -1, 1, 1)
        if self.upsample:
            x = self.blur(x)
        return x


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        if noise is None:
            b, _, h, w = x.shape
            noise = x.new_empty(b, 1, h, w).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int):
        return self.input.expand(batch, -1, -1, -1)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    """Modulated conv -> noise -> bias + leaky ReLU (one "AdaIN layer" of the paper)."""

    def __init__(self, in_channel, out_channel, kernel_size, style_dim, upsample=False,
                 blur_kernel=(1, 3, 3, 1), demodulate=True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                    demodulate=demodulate, upsample=upsample,
                                    blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x, style, noise=None):
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, in_channel, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


# ---------------------------------------------------------------------------------------
class Generator(nn.Module):
    """StyleGAN2 generator with rosinality's ``state_dict`` layout.

    Args:
        size: output resolution, a power of two >= 8 (paper: 1024; tiny: 64).
        style_dim: dimension of z, w and each W+ vector (paper: 512).
        n_mlp: layers of the mapping network (paper: 8).
        channel_multiplier: width factor for resolutions >= 64 (config-f: 2).
        channel_max: cap on every layer's width (rosinality: 512; tiny: e.g. 32).
        lr_mlp: learning-rate multiplier of the mapping network (0.01).
        blur_kernel: FIR kernel of the up-sampling filters.
        noise_mode: ``"const"`` uses the ``noises`` buffers, ``"random"`` draws fresh noise.
    """

    def __init__(self, size: int = 1024, style_dim: int = 512, n_mlp: int = 8,
                 channel_multiplier: float = 2, channel_max: int = 512, lr_mlp: float = 0.01,
                 blur_kernel=(1, 3, 3, 1), noise_mode: str = "const"):
        super().__init__()
        log_size = int(round(math.log2(size)))
        if size < 8 or 2 ** log_size != size:
            raise ValueError(f"generator size must be a power of two >= 8, got {size}")
        if noise_mode not in ("const", "random"):
            raise ValueError(f"noise_mode must be 'const' or 'random', got {noise_mode!r}")
        self.size, self.style_dim, self.n_mlp = size, style_dim, n_mlp
        self.config = dict(size=size, style_dim=style_dim, n_mlp=n_mlp,
                           channel_multiplier=channel_multiplier, channel_max=channel_max,
                           lr_mlp=lr_mlp, blur_kernel=tuple(blur_kernel), noise_mode=noise_mode)
        self.noise_mode = noise_mode
        self.channels = channel_table(size, channel_multiplier, channel_max)
        self.log_size = log_size
        self.num_layers = (log_size - 2) * 2 + 1
        self.n_latent = log_size * 2 - 2
        self.n_blocks = log_size - 1            # synthesis blocks 4, 8, ..., size

        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu")
            for _ in range(n_mlp)])
        ch4 = self.channels[4]
        self.input = ConstantInput(ch4)
        self.conv1 = StyledConv(ch4, ch4, 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch4, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        in_ch = ch4
        for i in range(3, log_size + 1):
            out_ch = self.channels[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True,
                                         blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_kernel=blur_kernel))
            in_ch = out_ch

    # -- latent space -----------------------------------------------------------------
    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Mapping network: z (B, style_dim) -> w (B, style_dim)."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """Average w over ``n`` random z (the "latent_avg" of a generator), shape (style_dim,)."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.style_dim, generator=g).to(self.input.input)
        return self.style(z).mean(0)

    def _noise(self, i: int, x: torch.Tensor):
        return getattr(self.noises, f"noise_{i}") if self.noise_mode == "const" else None

    def block_channels(self) -> list[int]:
        """Channels of the feature map of each synthesis block (4, 8, ..., size)."""
        return [self.channels[2 ** r] for r in range(2, self.log_size + 1)]

    def block_resolutions(self) -> list[int]:
        return [2 ** r for r in range(2, self.log_size + 1)]

    # -- synthesis ---------------------------------------------------------------------
    def _check_wplus(self, w_plus: torch.Tensor) -> torch.Tensor:
        if w_plus.ndim == 2:
            w_plus = w_plus[:, None].expand(-1, self.n_latent, -1)
        if w_plus.ndim != 3 or w_plus.shape[1:] != (self.n_latent, self.style_dim):
            raise ValueError(f"expected W+ codes of shape (B, {self.n_latent}, {self.style_dim}) "
                             f"(or w of shape (B, {self.style_dim})), got {tuple(w_plus.shape)}")
        return w_plus

    def synthesis(self, w_plus: torch.Tensor, k: int | None = None, return_image: bool = True):
        """Run the synthesis network on W+ codes.

        Returns ``(image or None, features)`` where ``features[j]`` is the output of block
        j (4x4: ``conv1``; later blocks: their second StyledConv). Only the first ``k``
        blocks are computed when no image is asked for.
        """
        w = self._check_wplus(w_plus)
        k = self.n_blocks if k is None else int(k)
        if not 1 <= k <= self.n_blocks:
            raise ValueError(f"k must be in 1..{self.n_blocks} for a {self.size}-px generator, got {k}")
        last = self.n_blocks if return_image else k
        x = self.input(w.shape[0])
        x = self.conv1(x, w[:, 0], noise=self._noise(0, x))
        feats = [x]
        skip = self.to_rgb1(x, w[:, 1]) if return_image else None
        for j in range(1, last):
            c_up, c2 = self.convs[2 * j - 2], self.convs[2 * j - 1]
            x = c_up(x, w[:, 2 * j - 1], noise=self._noise(2 * j - 1, x))
            x = c2(x, w[:, 2 * j], noise=self._noise(2 * j, x))
            feats.append(x)
            if return_image:
                skip = self.to_rgbs[j - 1](x, w[:, 2 * j + 1], skip)
        return skip, feats[:k]

    def synthesis_features(self, w_plus: torch.Tensor, k: int | None = None) -> list[torch.Tensor]:
        """Feature maps after the second AdaIN (modulated conv) of each of the first ``k`` blocks.

        FG-Net's f_1..f_k (paper §3.3; official code keeps indices 1, 3, ..., 17 of the
        synthesis outputs, reference/fgnet.md §3). Block j has resolution 2^(j+2).
        """
        return self.synthesis(w_plus, k=k, return_image=False)[1]

    def forward(self, w_plus: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, size, size) in about [-1, 1] from W+ codes (or w)."""
        return self.synthesis(w_plus, return_image=True)[0]


# ---------------------------------------------------------------------------------------
# Checkpoints
class CheckpointMismatch(RuntimeError):
    """A checkpoint's keys or shapes differ from the model it is loaded into."""


def compare_state_dict(model_sd: dict, ckpt_sd: dict, what: str = "checkpoint",
                       limit: int = 5) -> None:
    """Raise :class:`CheckpointMismatch` naming the first missing/unexpected/mis-shaped keys."""
    missing = [k for k in model_sd if k not in ckpt_sd]
    unexpected = [k for k in ckpt_sd if k not in model_sd]
    shapes = [f"{k}: model {tuple(model_sd[k].shape)} vs file {tuple(ckpt_sd[k].shape)}"
              for k in model_sd if k in ckpt_sd and tuple(model_sd[k].shape) != tuple(ckpt_sd[k].shape)]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s), first: {missing[:limit]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), first: {unexpected[:limit]}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es), first: {shapes[:limit]}")
    raise CheckpointMismatch(
        f"{what} does not match the model: " + "; ".join(parts) + ". Check that the model was "
        "built with the checkpoint's architecture (size, style_dim, n_mlp, channel_multiplier, "
        "channel_max) and that the file is in the expected format (reference/fgnet.md §4).")


def read_checkpoint(path, trusted: bool = False) -> dict:
    """``torch.load`` a checkpoint on CPU, with a teaching error for missing/odd files.

    Tensors-and-plain-values files load with ``weights_only=True``; training checkpoints
    that pickle Python objects (rosinality's ``args`` Namespace) need ``trusted=True``.
    """
    if isinstance(path, dict):
        return path
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"checkpoint {path!r} not found. The paper profile needs the FFHQ weights: "
            "stylegan2-ffhq-config-f.pt (rosinality/stylegan2-pytorch, 'Convert weight from "
            "official checkpoints') and the pSp FFHQ encoder (pixel2style2pixel README, "
            "'StyleGAN Inversion' model); pass their paths.")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as e:  # noqa: BLE001 - re-raised with advice
        if trusted:
            raise
        raise RuntimeError(
            f"could not load {path!r} with weights_only=True ({type(e).__name__}: {e}). "
            "If it is a training checkpoint that pickles Python objects and you trust its "
            "source, pass trusted=True.") from e


def generator_kwargs_from_state_dict(sd: dict) -> dict:
    """Infer ``Generator`` constructor arguments from a rosinality state_dict."""
    if "input.input" not in sd or "style.1.weight" not in sd:
        raise CheckpointMismatch(
            "not a rosinality generator state_dict: expected keys 'input.input' and "
            f"'style.1.weight', found first keys {list(sd)[:5]}")
    n_noise = sum(1 for k in sd if k.startswith("noises.noise_"))
    n_up = sum(1 for k in sd if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
    log_size = n_up + 2
    if n_noise and n_noise != 2 * log_size - 3:
        raise CheckpointMismatch(f"{n_noise} noise buffers but {n_up} to_rgbs: inconsistent generator")
    style_dim = sd["style.1.weight"].shape[1]
    n_mlp = sum(1 for k in sd if k.startswith("style.") and k.endswith(".weight"))
    size = 2 ** log_size
    found = {4: sd["conv1.conv.weight"].shape[1]}
    for j in range(n_up):
        found[2 ** (j + 3)] = sd[f"convs.{2 * j + 1}.conv.weight"].shape[1]
    cap = max(found.values())
    for cm in (2, 1, 4, 0.5, 0.25, 8, 0.125):
        if channel_table(size, cm, cap) == found:
            return dict(size=size, style_dim=style_dim, n_mlp=n_mlp, channel_multiplier=cm,
                        channel_max=cap)
    raise CheckpointMismatch(f"channel widths {found} fit no (channel_multiplier, channel_max) pair")


def load_rosinality(path, generator: Generator | None = None, key: str = "g_ema",
                    trusted: bool = False, **overrides) -> Generator:
    """Load a rosinality checkpoint (``{'g_ema': state_dict, 'latent_avg': ...}``).

    ``path`` may also be an already loaded dict or a bare generator state_dict. Without
    ``generator`` one is built from the architecture the file implies (``overrides`` such as
    ``noise_mode`` are passed to the constructor). Loading is strict: a mismatch raises
    :class:`CheckpointMismatch` naming the first missing / unexpected keys. The file's
    ``latent_avg`` (if any) is attached as ``generator.latent_avg``.
    """
    ckpt = read_checkpoint(path, trusted=trusted)
    if key in ckpt and isinstance(ckpt[key], dict):
        sd = ckpt[key]
    elif "input.input" in ckpt:
        sd = ckpt
    else:
        raise CheckpointMismatch(
            f"expected a rosinality checkpoint with a {key!r} entry (generator state_dict); "
            f"top-level keys found: {list(ckpt)[:8]}")
    if generator is None:
        kw = generator_kwargs_from_state_dict(sd)
        kw.update(overrides)
        generator = Generator(**kw)
    compare_state_dict(generator.state_dict(), sd, what=f"generator state_dict {key!r}")
    generator.load_state_dict(sd, strict=True)
    if isinstance(ckpt.get("latent_avg"), torch.Tensor):
        generator.latent_avg = ckpt["latent_avg"].detach().clone()
    return generator


def save_rosinality(generator: Generator, path, latent_avg: torch.Tensor | None = None) -> None:
    """Write ``{'g_ema': state_dict, 'latent_avg': ...}`` as rosinality's converter does."""
    ckpt = {"g_ema": generator.state_dict()}
    if latent_avg is not None:
        ckpt["latent_avg"] = latent_avg.detach().cpu()
    torch.save(ckpt, path)


# The generator is a building block of FG-Net, not an AU model, so it is deliberately not in
# the AU model registry (whose shared test feeds images and expects per-AU outputs).
