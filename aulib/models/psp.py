"""pSp encoder (Richardson et al., CVPR 2021): a GradualStyleEncoder giving W+ codes.

This module owns our GradualStyleEncoder and the pSp checkpoint format. Key names and shapes
follow eladrich/pixel2style2pixel (``models/encoders/psp_encoders.py``, ``helpers.py``), so the
pSp FFHQ "StyleGAN Inversion" checkpoint that FG-Net uses loads with no conversion
(reference/fgnet.md §4c/§4d):

- ``input_layer.{0,1,2}``: conv 3->64 (3x3, no bias), BatchNorm, PReLU;
- ``body.{i}``: bottleneck IR-SE units; each has ``res_layer.{0..5}`` (BN, conv 3x3, PReLU,
  conv 3x3 with the unit's stride, BN, SE module with ``fc1``/``fc2``) and, where the width
  changes, ``shortcut_layer.{0,1}`` (conv 1x1 + BN); IR-SE-50 has 3/4/14/3 units of width
  64/128/256/512, the first unit of each stage with stride 2;
- ``latlayer1`` / ``latlayer2``: 1x1 convs of the feature pyramid;
- ``styles.{j}``: one "map2style" block per W+ vector: ``convs.{0,2,..}`` stride-2 3x3 convs
  with LeakyReLU between, then ``linear`` (an equalised linear layer).
  Styles 0-2 read the coarsest map (c3), 3-6 the middle (p2), 7.. the finest (p1).

A pSp checkpoint is ``{'state_dict': {'encoder.*', 'decoder.*'}, 'latent_avg', 'opts'}``
(decoder = a rosinality generator, see :mod:`aulib.models.stylegan2`); the encoder's output
plus ``latent_avg`` are the W+ codes (pSp's ``start_from_latent_avg``; FG-Net adds it with a
forward hook, ``code/model_utils.py``).

Profiles: the paper uses IR-SE-50 on 256-px aligned faces with 18 styles (1024-px decoder).
The tiny profile keeps the same layout and key scheme with fewer, narrower units
(``units``/``depths`` arguments) on small inputs. Where the input is not 256 px, each
map2style block still reduces its map to 1x1 (log2 of its input size stride-2 convs).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .stylegan2 import (CheckpointMismatch, EqualLinear, Generator, compare_state_dict,
                        generator_kwargs_from_state_dict, read_checkpoint)

IR_SE_50 = dict(units=(3, 4, 14, 3), depths=(64, 128, 256, 512))
IR_SE_100 = dict(units=(3, 13, 30, 3), depths=(64, 128, 256, 512))


class SEModule(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class BottleneckIRSE(nn.Module):
    """Improved-residual unit with squeeze-excitation (ArcFace's IR-SE)."""

    def __init__(self, in_channel: int, depth: int, stride: int, se_reduction: int = 16):
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channel, depth, 1, stride, bias=False),
                                                nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
            SEModule(depth, se_reduction))

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


class GradualStyleBlock(nn.Module):
    """map2style: stride-2 convs down to 1x1, then an equalised linear layer."""

    def __init__(self, in_c: int, out_c: int, spatial: int):
        super().__init__()
        n = max(1, int(math.log2(spatial)))
        layers: list[nn.Module] = [nn.Conv2d(in_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        for _ in range(n - 1):
            layers += [nn.Conv2d(out_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_c, lr_mul=1)
        self.out_c = out_c

    def forward(self, x):
        x = self.convs(x)
        if x.shape[-1] != 1 or x.shape[-2] != 1:   # non-power-of-two inputs
            x = F.adaptive_avg_pool2d(x, 1)
        return self.linear(x.flatten(1))


class GradualStyleEncoder(nn.Module):
    """pSp's GradualStyleEncoder producing W+ codes (B, n_styles, style_dim).

    Args:
        n_styles: number of W+ vectors (2*log2(generator size) - 2; 18 for 1024 px).
        style_dim: size of each vector (paper: 512).
        input_size: side of the (square) input image (paper: 256).
        units: residual units per stage (IR-SE-50: 3, 4, 14, 3).
        depths: width of each stage (IR-SE-50: 64, 128, 256, 512).
        stem: width of the input layer (64).
        input_nc: input channels (3).
        coarse, middle: style indices where the middle / fine groups start (3 and 7).
    """

    def __init__(self, n_styles: int = 18, style_dim: int = 512, input_size: int = 256,
                 units=IR_SE_50["units"], depths=IR_SE_50["depths"], stem: int = 64,
                 input_nc: int = 3, coarse: int = 3, middle: int = 7, se_reduction: int = 16):
        super().__init__()
        if len(units) != 4 or len(depths) != 4:
            raise ValueError(f"units and depths need 4 stages, got {units} / {depths}")
        self.config = dict(n_styles=n_styles, style_dim=style_dim, input_size=input_size,
                           units=tuple(units), depths=tuple(depths), stem=stem,
                           input_nc=input_nc, coarse=coarse, middle=middle,
                           se_reduction=se_reduction)
        self.n_styles, self.style_dim, self.input_size = n_styles, style_dim, input_size
        self.coarse_ind, self.middle_ind = min(coarse, n_styles), min(middle, n_styles)
        self.input_layer = nn.Sequential(nn.Conv2d(input_nc, stem, 3, 1, 1, bias=False),
                                         nn.BatchNorm2d(stem), nn.PReLU(stem))
        mods, in_c = [], stem
        for n_units, depth in zip(units, depths):
            for u in range(n_units):
                mods.append(BottleneckIRSE(in_c, depth, 2 if u == 0 else 1, se_reduction))
                in_c = depth
        self.body = nn.Sequential(*mods)
        ends = [sum(units[:i + 1]) - 1 for i in range(4)]
        self._taps = {ends[1]: "c1", ends[2]: "c2", ends[3]: "c3"}
        top = depths[3]
        s3, s2, s1 = input_size // 16, input_size // 8, input_size // 4
        self.styles = nn.ModuleList()
        for i in range(n_styles):
            spatial = s3 if i < self.coarse_ind else (s2 if i < self.middle_ind else s1)
            self.styles.append(GradualStyleBlock(top, style_dim, spatial))
        self.latlayer1 = nn.Conv2d(depths[2], top, 1, 1, 0)
        self.latlayer2 = nn.Conv2d(depths[1], top, 1, 1, 0)

    @staticmethod
    def _upsample_add(x, y):
        return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y

    def forward(self, x):
        x = self.input_layer(x)
        taps = {}
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self._taps:
                taps[self._taps[i]] = x
        c1, c2, c3 = taps["c1"], taps["c2"], taps["c3"]
        lat = [self.styles[j](c3) for j in range(self.coarse_ind)]
        if self.middle_ind > self.coarse_ind or self.n_styles > self.middle_ind:
            p2 = self._upsample_add(c3, self.latlayer1(c2))
            lat += [self.styles[j](p2) for j in range(self.coarse_ind, self.middle_ind)]
            if self.n_styles > self.middle_ind:
                p1 = self._upsample_add(p2, self.latlayer2(c1))
                lat += [self.styles[j](p1) for j in range(self.middle_ind, self.n_styles)]
        return torch.stack(lat, dim=1)


def n_styles_for(size: int) -> int:
    """W+ vectors of a ``size``-px generator: 2*log2(size) - 2 (18 for 1024, 14 for 256)."""
    return 2 * int(round(math.log2(size))) - 2


class PSP(nn.Module):
    """Encoder + decoder with pSp's state_dict layout (``encoder.*``, ``decoder.*``).

    ``latent_avg`` (n_styles, style_dim) is kept as a non-persistent buffer, as in pSp it is
    a plain attribute saved beside the state_dict; :func:`save_psp` / :func:`load_psp` carry
    it. ``forward`` returns the reconstruction (and the W+ codes).
    """

    def __init__(self, encoder: GradualStyleEncoder, decoder: Generator,
                 latent_avg: torch.Tensor | None = None):
        super().__init__()
        if encoder.n_styles != decoder.n_latent or encoder.style_dim != decoder.style_dim:
            raise ValueError(f"encoder gives {encoder.n_styles}x{encoder.style_dim} codes but the "
                             f"decoder expects {decoder.n_latent}x{decoder.style_dim}")
        self.encoder, self.decoder = encoder, decoder
        if latent_avg is None:
            latent_avg = torch.zeros(encoder.n_styles, encoder.style_dim)
        self.register_buffer("latent_avg", _expand_avg(latent_avg, encoder.n_styles), persistent=False)

    def encode(self, x):
        return self.encoder(x) + self.latent_avg

    def forward(self, x):
        codes = self.encode(x)
        return self.decoder(codes), codes


def _expand_avg(avg: torch.Tensor, n_styles: int) -> torch.Tensor:
    avg = avg.detach().float()
    if avg.ndim == 1:
        avg = avg[None].repeat(n_styles, 1)
    if avg.ndim == 3:   # (1, n, d)
        avg = avg[0]
    if avg.shape[0] != n_styles:
        raise CheckpointMismatch(f"latent_avg has {avg.shape[0]} rows, expected {n_styles} "
                                 "(one per W+ vector) or a single vector")
    return avg


def encoder_kwargs_from_state_dict(sd: dict, input_size: int | None = None) -> dict:
    """Infer ``GradualStyleEncoder`` arguments from its (prefix-free) state_dict.

    Stages are told apart by their width, so the four stages must have distinct widths
    (true of IR-SE-50/100 and of our tiny encoders). ``input_size`` is not stored in the
    file; by default it is read off the first map2style block, which has log2(input/16)
    stride-2 convs (4 for pSp's 256-px input).
    """
    if "input_layer.0.weight" not in sd:
        raise CheckpointMismatch("not a GradualStyleEncoder state_dict: expected key "
                                 f"'input_layer.0.weight', found first keys {list(sd)[:5]}")
    n_styles = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("styles."))
    style_dim = sd["styles.0.linear.weight"].shape[0]
    n_body = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    widths = [sd[f"body.{i}.res_layer.1.weight"].shape[0] for i in range(n_body)]
    depths, units = [], []
    for w in widths:
        if not depths or depths[-1] != w:
            depths.append(w)
            units.append(1)
        else:
            units[-1] += 1
    if len(depths) != 4:
        raise CheckpointMismatch(f"expected 4 stages of body units, found widths {widths}")
    if input_size is None:
        n_convs = len({k.split(".")[3] for k in sd if k.startswith("styles.0.convs.")})
        input_size = 16 * 2 ** n_convs
    return dict(n_styles=n_styles, style_dim=style_dim, input_size=input_size, units=tuple(units),
                depths=tuple(depths), stem=sd["input_layer.0.weight"].shape[0],
                input_nc=sd["input_layer.0.weight"].shape[1])


def split_psp_state_dict(sd: dict) -> tuple[dict, dict]:
    enc = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    dec = {k[len("decoder."):]: v for k, v in sd.items() if k.startswith("decoder.")}
    other = [k for k in sd if not k.startswith(("encoder.", "decoder."))]
    if other:
        raise CheckpointMismatch(f"pSp state_dict has {len(other)} key(s) outside 'encoder.'/"
                                 f"'decoder.', first: {other[:5]}")
    return enc, dec


def load_psp(path, encoder: GradualStyleEncoder | None = None, decoder: Generator | None = None,
             input_size: int | None = None, with_decoder: bool = True, trusted: bool = False,
             noise_mode: str = "const"):
    """Load a pSp checkpoint ``{'state_dict', 'latent_avg', 'opts'}``.

    Returns ``(encoder, decoder or None, latent_avg (n_styles, style_dim), opts)``. Modules
    not given are built from the architecture the file implies. Loading is strict; a
    mismatch raises :class:`CheckpointMismatch` naming the first missing/unexpected keys.
    ``latent_avg`` missing in the file (models trained without ``start_from_latent_avg``)
    gives zeros; a single vector is repeated for every W+ row.
    """
    ckpt = read_checkpoint(path, trusted=trusted)
    if "state_dict" not in ckpt:
        raise CheckpointMismatch(
            "expected a pSp checkpoint with a 'state_dict' entry (keys 'encoder.*' and "
            f"'decoder.*'), plus 'latent_avg' and 'opts'; top-level keys found: {list(ckpt)[:8]}")
    enc_sd, dec_sd = split_psp_state_dict(ckpt["state_dict"])
    if not enc_sd:
        raise CheckpointMismatch("pSp state_dict holds no 'encoder.*' keys")
    if encoder is None:
        encoder = GradualStyleEncoder(**encoder_kwargs_from_state_dict(enc_sd, input_size))
    compare_state_dict(encoder.state_dict(), enc_sd, what="pSp encoder ('encoder.*')")
    encoder.load_state_dict(enc_sd, strict=True)
    if with_decoder and dec_sd:
        if decoder is None:
            decoder = Generator(**generator_kwargs_from_state_dict(dec_sd), noise_mode=noise_mode)
        compare_state_dict(decoder.state_dict(), dec_sd, what="pSp decoder ('decoder.*')")
        decoder.load_state_dict(dec_sd, strict=True)
    elif not with_decoder:
        decoder = None
    avg = ckpt.get("latent_avg")
    avg = torch.zeros(encoder.n_styles, encoder.style_dim) if avg is None else _expand_avg(avg, encoder.n_styles)
    return encoder, decoder, avg, dict(ckpt.get("opts") or {})


def save_psp(path, encoder: GradualStyleEncoder, decoder: Generator,
             latent_avg: torch.Tensor | None = None, opts: dict | None = None) -> None:
    """Write a checkpoint in pSp's layout (loadable by pSp's code and :func:`load_psp`)."""
    sd = {f"encoder.{k}": v.detach().cpu() for k, v in encoder.state_dict().items()}
    sd.update({f"decoder.{k}": v.detach().cpu() for k, v in decoder.state_dict().items()})
    ckpt = {"state_dict": sd, "opts": dict(opts or {})}
    ckpt["opts"].setdefault("output_size", decoder.size)
    ckpt["opts"].setdefault("encoder_type", "GradualStyleEncoder")
    ckpt["opts"].setdefault("start_from_latent_avg", latent_avg is not None)
    if latent_avg is not None:
        ckpt["latent_avg"] = latent_avg.detach().cpu()
    torch.save(ckpt, path)


# Encoder is a building block of FG-Net, not an AU model: deliberately not registered in the
# AU model registry.
