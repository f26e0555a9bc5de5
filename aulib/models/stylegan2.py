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

import functools
import math
import os
import re
from collections import Counter

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
    """A checkpoint's content, keys or shapes differ from what it is loaded into."""


def _shape(v) -> tuple:
    """Shape of a tensor, or a shape given as a tuple/list (``None`` for other values)."""
    if hasattr(v, "shape"):
        return tuple(v.shape)
    return tuple(v) if isinstance(v, (tuple, list)) else None


def layout_faults(expected: dict, found: dict) -> tuple[list, list, list]:
    """Compare a state_dict with an expected layout.

    Args:
        expected: key -> tensor or shape (the layout the loader expects).
        found: key -> tensor (the file's state_dict).

    Returns:
        ``(missing, unexpected, misshaped)``, each a list of
        ``(key, expected shape or None, found shape or None)`` in the expected layout's order
        (unexpected keys in the file's order).
    """
    missing = [(k, _shape(v), None) for k, v in expected.items() if k not in found]
    unexpected = [(k, None, _shape(v)) for k, v in found.items() if k not in expected]
    misshaped = [(k, _shape(v), _shape(found[k])) for k, v in expected.items()
                 if k in found and _shape(v) != _shape(found[k])]
    return missing, unexpected, misshaped


def _fault_lines(missing, unexpected, misshaped, limit: int) -> list[str]:
    def block(title, items, fmt):
        if not items:
            return []
        shown = "; ".join(fmt(k, e, f) for k, e, f in items[:limit])
        more = f"; and {len(items) - limit} more" if len(items) > limit else ""
        return [f"{len(items)} {title}: {shown}{more}"]

    return (block("missing key(s)", missing, lambda k, e, f: f"{k!r} (expected shape {e})")
            + block("unexpected key(s)", unexpected, lambda k, e, f: f"{k!r} (shape {f})")
            + block("mis-shaped key(s)", misshaped,
                    lambda k, e, f: f"{k!r} (expected shape {e}, found {f})"))


_ADVICE = ("Check that the model was built with the checkpoint's architecture (size, style_dim, "
           "n_mlp, channel_multiplier, channel_max) and that the file is in the expected format "
           "(reference/fgnet.md §4).")


_DAMAGED = ("Apart from the keys above the file fits that architecture, so it is damaged or was "
            "written by other code: use the file as published (rosinality's convert_weight.py "
            "output, pSp's released checkpoint; reference/fgnet.md §4-5).")


def compare_state_dict(model_sd: dict, ckpt_sd: dict, what: str = "checkpoint",
                       limit: int = 20, against: str = "the model", advice: str = _ADVICE) -> None:
    """Raise :class:`CheckpointMismatch` naming every missing, unexpected and mis-shaped key.

    ``model_sd`` maps key -> tensor or shape (the expected layout), ``ckpt_sd`` is the file's
    state_dict. Each fault is named with its key and the expected / found shape (up to
    ``limit`` per kind, then a count of the rest).
    """
    lines = _fault_lines(*layout_faults(model_sd, ckpt_sd), limit=limit)
    if lines:
        raise CheckpointMismatch(f"{what} does not match {against}:\n  " + "\n  ".join(lines)
                                 + f"\n{advice}")


def _not_a_checkpoint(path: str) -> str | None:
    """Why the file at ``path`` cannot be a ``torch.save`` file, judged by its content
    (``None`` when it may be one: a zip holding ``data.pkl``, or a pickle)."""
    import zipfile

    if os.path.getsize(path) == 0:
        return "it is empty (0 bytes): an interrupted download or copy?"
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile as e:
            return f"it starts like a zip archive (as torch.save writes) but cannot be read as one ({e}): a truncated file?"
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return None
        msg = (f"it is a zip archive of {len(names)} file(s) (first: {names[:5]}), not a "
               "checkpoint written by torch.save (whose archive holds '<name>/data.pkl')")
        inner = [n for n in names if n.lower().endswith((".pt", ".pth", ".ckpt", ".pkl"))]
        return msg + (f"; it contains {inner[:3]}: extract it and pass that file" if inner else "")
    if head.startswith(b"\x80"):      # a pickle (protocol >= 2): torch's legacy format or another pickle
        return None
    if head.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed, not a torch.save file: decompress it (gunzip) and pass the result"
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file (e.g. Keras/TensorFlow weights), not a PyTorch checkpoint"
    text = head.decode("utf-8", errors="replace")
    printable = sum(c.isprintable() or c in "\r\n\t" for c in text)
    if text and printable >= 0.95 * len(text):
        low = text.lower()
        if "<html" in low or "<!doctype html" in low:
            return (f"it is an HTML page, not a PyTorch checkpoint (it starts with {text.strip()[:60]!r}): "
                    "a web page was saved in place of the weights (Google Drive's 'cannot scan this "
                    "file for viruses' page is a common one); download the file itself")
        return f"it is a text file, not a PyTorch checkpoint (it starts with {text.strip()[:60]!r})"
    return f"its content starts with the bytes {head[:8]!r}: neither a torch.save zip archive nor a pickle"


def read_checkpoint(path, trusted: bool = False) -> dict:
    """``torch.load`` a checkpoint dict on CPU, with a teaching error for each kind of bad file.

    Tensors-and-plain-values files load with ``weights_only=True``; training checkpoints
    that pickle Python objects (rosinality's ``args`` Namespace) need ``trusted=True``.
    ``path`` may also be an already loaded dict (returned as is).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointMismatch: the file is not a checkpoint (empty, text or HTML, a zip of other
            files, gzip, HDF5, NVIDIA's TensorFlow pickle, ...; judged by its content) or
            holds something other than a dict.
        RuntimeError: it could not be loaded with ``weights_only=True`` (advice: ``trusted``).
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
    why = _not_a_checkpoint(path)
    if why:
        raise CheckpointMismatch(f"{path!r}: {why}.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as e:  # noqa: BLE001 - re-raised with advice
        if "dnnlib" in str(e):
            raise CheckpointMismatch(
                f"{path!r} is NVIDIA's official TensorFlow StyleGAN2 pickle (it refers to 'dnnlib'), "
                "not a PyTorch file: convert it with rosinality/stylegan2-pytorch's convert_weight.py "
                "(which writes stylegan2-ffhq-config-f.pt, the file FG-Net loads).") from e
        if trusted:
            raise
        raise RuntimeError(
            f"could not load {path!r} with weights_only=True ({type(e).__name__}: {e}). "
            "If it is a training checkpoint that pickles Python objects and you trust its "
            "source, pass trusted=True.") from e
    if not isinstance(ckpt, dict):
        raise CheckpointMismatch(
            f"{path!r} holds a {type(ckpt).__name__}, not a checkpoint dict of named entries "
            "(rosinality: {'g_ema': state_dict, 'latent_avg': ...}; pSp: {'state_dict', "
            "'latent_avg', 'opts'}; reference/fgnet.md §4).")
    return ckpt


def _dim(sd: dict, key: str, axis: int):
    """``sd[key].shape[axis]`` or ``None`` when the key is absent or has too few dimensions."""
    shape = _shape(sd.get(key))
    return int(shape[axis]) if shape is not None and len(shape) > axis else None


def _mode(values):
    """Most frequent non-None value (ties: the largest), or None."""
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    top = max(counts.values())
    return max(v for v, c in counts.items() if c == top)


def _indices(sd: dict, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return [int(m.group(1)) for k in sd if isinstance(k, str) and (m := rx.match(k))]


_GENERATOR_KEY = re.compile(r"(style\.\d+|input|conv1|to_rgb1|convs\.\d+|to_rgbs\.\d+|noises)\.")
_CHANNEL_MULTIPLIERS = (2, 1, 4, 0.5, 0.25, 8, 0.125)


def generator_kwargs_from_state_dict(sd: dict) -> dict:
    """Infer ``Generator`` constructor arguments from a rosinality state_dict.

    Each quantity is read from every key that carries it and the most frequent reading wins,
    so one missing, extra or mis-shaped key does not change the inferred architecture (the
    loaders then name that key against the inferred layout, :func:`generator_layout`):
    the resolution from the indices of ``convs.N``, ``to_rgbs.N`` and ``noises.noise_N``
    (2*(log2 size - 2) convs, log2 size - 2 to_rgbs, 2*log2 size - 3 noise buffers;
    reference/fgnet.md §4b), ``n_mlp`` from the largest ``style.N`` index, ``style_dim`` from
    the mapping and modulation weights, and the widths per resolution from the conv weights
    and biases, matched to a (channel_multiplier, channel_max) pair (the pair fitting most
    resolutions).

    Returns:
        dict with ``size``, ``style_dim``, ``n_mlp``, ``channel_multiplier``, ``channel_max``.

    Raises:
        CheckpointMismatch: the keys are not those of a rosinality generator.
    """
    keys = [k for k in sd if isinstance(k, str)]
    n_gen = sum(1 for k in keys if _GENERATOR_KEY.match(k))
    if n_gen < max(3, len(keys) // 2):
        raise CheckpointMismatch(
            "not a rosinality StyleGAN2 generator state_dict: expected keys such as "
            "'style.1.weight' [style_dim, style_dim], 'input.input' [1, C, 4, 4], "
            "'conv1.conv.weight' [1, C, C, 3, 3], 'convs.N.*', 'to_rgbs.N.*', 'noises.noise_N' "
            f"(reference/fgnet.md §4b); found {len(keys)} keys, first: {keys[:5]}")
    votes = []
    if convs := _indices(sd, r"convs\.(\d+)\."):
        votes.append((max(convs) + 2) // 2 + 2)
    if rgbs := _indices(sd, r"to_rgbs\.(\d+)\."):
        votes.append(max(rgbs) + 3)
    if noises := _indices(sd, r"noises\.noise_(\d+)$"):
        votes.append((max(noises) + 5) // 2)
    log_size = _mode(votes)
    if log_size is None or log_size < 3:
        raise CheckpointMismatch(
            "cannot tell the generator's resolution: no 'convs.N.*', 'to_rgbs.N.*' or "
            f"'noises.noise_N' keys (a generator of size >= 8 has them); found keys {keys[:8]}")
    size = 2 ** log_size
    mapping = _indices(sd, r"style\.(\d+)\.")
    n_mlp = max(mapping) if mapping else 0
    style_dim = _mode([_dim(sd, f"style.{i}.weight", a) for i in range(1, n_mlp + 1) for a in (0, 1)]
                      + [_dim(sd, k, 1) for k in keys if k.endswith(".conv.modulation.weight")])
    widths = {4: _mode([_dim(sd, "input.input", 1), _dim(sd, "conv1.conv.weight", 1),
                        _dim(sd, "conv1.conv.weight", 2), _dim(sd, "conv1.activate.bias", 0),
                        _dim(sd, "conv1.conv.modulation.weight", 0), _dim(sd, "to_rgb1.conv.weight", 2)])}
    for j in range(log_size - 2):
        up, conv, rgb = f"convs.{2 * j}", f"convs.{2 * j + 1}", f"to_rgbs.{j}"
        widths[2 ** (j + 3)] = _mode([
            _dim(sd, f"{up}.conv.weight", 1), _dim(sd, f"{up}.activate.bias", 0),
            _dim(sd, f"{conv}.conv.weight", 1), _dim(sd, f"{conv}.conv.weight", 2),
            _dim(sd, f"{conv}.conv.modulation.weight", 0), _dim(sd, f"{conv}.activate.bias", 0),
            _dim(sd, f"{rgb}.conv.weight", 2), _dim(sd, f"{rgb}.conv.modulation.weight", 0)])
    known = {r: c for r, c in widths.items() if c is not None}
    if style_dim is None or not known:
        raise CheckpointMismatch("cannot tell the generator's style_dim or widths: no 'style.N.weight', "
                                 f"'*.conv.weight' or '*.conv.modulation.weight' keys; found keys {keys[:8]}")
    best, best_score = None, -1
    for cap in [max(known.values())] + sorted(set(known.values()) | {512}, reverse=True):
        for cm in _CHANNEL_MULTIPLIERS:
            table = channel_table(size, cm, cap)
            score = sum(table[r] == c for r, c in known.items())
            if score > best_score:
                best, best_score = (cm, cap), score
    return dict(size=size, style_dim=style_dim, n_mlp=n_mlp, channel_multiplier=best[0],
                channel_max=best[1])


@functools.lru_cache(maxsize=32)
def _generator_layout(size, style_dim, n_mlp, channel_multiplier, channel_max):
    with torch.device("meta"):          # shapes only: no memory for a 1024-px generator
        g = Generator(size, style_dim, n_mlp, channel_multiplier=channel_multiplier,
                      channel_max=channel_max)
    return tuple((k, tuple(v.shape)) for k, v in g.state_dict().items())


def generator_layout(size: int, style_dim: int, n_mlp: int, channel_multiplier: float = 2,
                     channel_max: int = 512) -> dict[str, tuple]:
    """Key -> shape of the rosinality ``g_ema`` state_dict of that architecture
    (reference/fgnet.md §4b; 171 keys for config-f at 1024 px). Allocates no weights."""
    return dict(_generator_layout(size, style_dim, n_mlp, channel_multiplier, channel_max))


def describe_generator(kw: dict) -> str:
    """One-phrase description of generator constructor arguments (those given)."""
    parts = [f"{k} {kw[k]:g}" if isinstance(kw[k], float) else f"{k} {kw[k]}"
             for k in ("style_dim", "n_mlp", "channel_multiplier", "channel_max") if k in kw]
    return f"{kw['size']}-px generator ({', '.join(parts)})" if "size" in kw else f"generator ({', '.join(parts)})"


def check_generator_arch(found: dict, expected: dict, label: str, what: str = "the file") -> None:
    """Raise :class:`CheckpointMismatch` when a file's generator is not the expected one.

    ``found`` are the file's inferred constructor arguments
    (:func:`generator_kwargs_from_state_dict`); ``expected`` those the caller needs (any
    subset of ``size``, ``style_dim``, ``n_mlp``, ``channel_multiplier``, ``channel_max``);
    ``label`` says who expects what, e.g. "FG-Net's paper profile expects the 1024-px FFHQ
    config-f file". The message reads "this is a 256-px generator; <label>", with any other
    difference (W dimension, mapping layers, widths) named beside the size.
    """
    other = []
    if "style_dim" in expected and found["style_dim"] != expected["style_dim"]:
        d = found["style_dim"]
        other.append(f"{d}-d W codes ('style.1.weight' is {d}x{d}; expected {expected['style_dim']})")
    if "n_mlp" in expected and found["n_mlp"] != expected["n_mlp"]:
        other.append(f"a {found['n_mlp']}-layer mapping network ('style.1'..'style.{found['n_mlp']}'; "
                     f"expected {expected['n_mlp']})")
    if "channel_multiplier" in expected or "channel_max" in expected:
        mine = channel_table(found["size"], found["channel_multiplier"], found["channel_max"])
        theirs = channel_table(expected.get("size", found["size"]), expected.get("channel_multiplier", 2),
                               expected.get("channel_max", 512))
        diff = {r: (c, theirs[r]) for r, c in mine.items() if r in theirs and theirs[r] != c}
        if 0 < len(diff) <= 3:
            other.append("layer widths " + ", ".join(f"{c} at {r} px (expected {e})" for r, (c, e) in diff.items()))
        elif diff:
            res = [r for r in mine if r in theirs]
            other.append(f"layer widths {[mine[r] for r in res]} at {res[0]}..{res[-1]} px "
                         f"(expected {[theirs[r] for r in res]})")
    wrong_size = "size" in expected and found["size"] != expected["size"]
    if not (wrong_size or other):
        return
    head = f"this is a {found['size']}-px generator"
    if other:
        head += " with " + (f"{', '.join(other[:-1])} and {other[-1]}" if len(other) > 1 else other[0])
    n = int(round(math.log2(found["size"])))
    raise CheckpointMismatch(
        f"{what}: {head}; {label}. (Read from its keys: a {found['size']}-px rosinality generator has "
        f"{2 * n - 3} noise buffers 'noises.noise_0..{2 * n - 4}', {n - 2} 'to_rgbs' blocks and "
        f"{2 * n - 2} W+ vectors; reference/fgnet.md §4b.)")


def _source_name(path) -> str:
    return "the checkpoint dict" if isinstance(path, dict) else repr(os.fspath(path))


def load_rosinality(path, generator: Generator | None = None, key: str = "g_ema",
                    trusted: bool = False, expect: dict | None = None,
                    expect_label: str | None = None, **overrides) -> Generator:
    """Load a rosinality checkpoint (``{'g_ema': state_dict, 'latent_avg': ...}``).

    ``path`` may also be an already loaded dict or a bare generator state_dict. Without
    ``generator`` one is built from the architecture the file implies
    (:func:`generator_kwargs_from_state_dict`; ``overrides`` such as ``noise_mode`` are
    passed to the constructor). ``expect`` (a subset of the constructor arguments, e.g.
    ``size=1024``) and ``expect_label`` (who expects it) let the caller that knows the
    expected file refuse another one by name ("this is a 256-px generator; FG-Net's paper
    profile expects the 1024-px FFHQ config-f file"); a given ``generator`` is the
    expectation otherwise. Loading is strict. The file's ``latent_avg`` (if any) is attached
    as ``generator.latent_avg``; ``generator.checkpoint_source`` names the file.

    Raises:
        FileNotFoundError: no such file.
        CheckpointMismatch: not a checkpoint (see :func:`read_checkpoint`); no ``key`` entry
            (the top-level keys found are listed); another architecture than expected; or
            any missing / unexpected / mis-shaped key, each named with its expected and
            found shape (reference/fgnet.md §4a/§4b).
    """
    name = _source_name(path)
    ckpt = read_checkpoint(path, trusted=trusted)
    if isinstance(ckpt.get(key), dict):
        sd, what = ckpt[key], f"{name} [{key!r}]"
    elif sum(1 for k in ckpt if isinstance(k, str) and _GENERATOR_KEY.match(k)) >= max(3, len(ckpt) // 2):
        sd, what = ckpt, name                  # a bare generator state_dict
    else:
        hint = ""
        if "state_dict" in ckpt:
            hint = " It looks like a pSp checkpoint ('state_dict'): pass it as the pSp encoder file."
        elif "g_all" in ckpt:
            hint = " It looks like an FG-Net release model.pth ('g_all'): load it with load_fgnet_release."
        raise CheckpointMismatch(
            f"{name} has no {key!r} entry: a rosinality StyleGAN2 checkpoint is a dict "
            "{'g_ema': generator state_dict, 'latent_avg': [style_dim]} (convert_weight.py) or a "
            "training checkpoint with 'g', 'd', 'g_ema', ... (train.py; reference/fgnet.md §4a); "
            f"top-level keys found: {list(ckpt)[:8]}.{hint}")
    found = generator_kwargs_from_state_dict(sd)
    if generator is not None:
        expected = {k: generator.config[k] for k in ("size", "style_dim", "n_mlp", "channel_multiplier", "channel_max")}
        label = f"the generator it is loaded into is a {describe_generator(expected)}"
        layout = {k: tuple(v.shape) for k, v in generator.state_dict().items()}
    else:
        expected = expect or {}
        label = expect_label or f"expected a {describe_generator(expected)}"
        layout = generator_layout(**found)
    if expected:
        check_generator_arch(found, expected, label, what=name)
    compare_state_dict(layout, sd, what=f"generator state_dict {what}",
                       against=f"the layout of a rosinality {describe_generator(found)}, the "
                               "architecture its keys imply (reference/fgnet.md §4b)",
                       advice=_ADVICE if generator is not None else _DAMAGED)
    avg = ckpt.get("latent_avg") if sd is not ckpt else None
    if avg is not None and (not isinstance(avg, torch.Tensor) or avg.ndim not in (1, 2, 3)
                            or avg.shape[-1] != found["style_dim"]):
        raise CheckpointMismatch(
            f"{name} ['latent_avg'] is {_shape(avg) if isinstance(avg, torch.Tensor) else type(avg).__name__}; "
            f"expected a tensor of shape ({found['style_dim']},): the average w of the mapping network")
    if generator is None:
        generator = Generator(**{**found, **overrides})
    generator.load_state_dict(sd, strict=True)
    if avg is not None:
        generator.latent_avg = avg.detach().clone()
    generator.checkpoint_source = name
    return generator


def save_rosinality(generator: Generator, path, latent_avg: torch.Tensor | None = None) -> None:
    """Write ``{'g_ema': state_dict, 'latent_avg': ...}`` as rosinality's converter does."""
    ckpt = {"g_ema": generator.state_dict()}
    if latent_avg is not None:
        ckpt["latent_avg"] = latent_avg.detach().cpu()
    torch.save(ckpt, path)


# The generator is a building block of FG-Net, not an AU model, so it is deliberately not in
# the AU model registry (whose shared test feeds images and expects per-AU outputs).
