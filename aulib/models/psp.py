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

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

from .stylegan2 import (_ADVICE, _DAMAGED, CheckpointMismatch, EqualLinear, Generator, _dim, _indices,
                        _mode, _source_name, check_generator_arch, compare_state_dict,
                        describe_generator, generator_kwargs_from_state_dict, generator_layout,
                        read_checkpoint)

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


def _codes_phrase(n_styles: int, style_dim: int) -> str:
    """"14x512 codes (14 W+ vectors: those of a 256-px generator, 2*log2(256) - 2)"."""
    size = 2 ** ((n_styles + 2) // 2) if n_styles >= 4 and n_styles % 2 == 0 else None
    means = f": those of a {size}-px generator, 2*log2({size}) - 2" if size else ""
    return f"{n_styles}x{style_dim} codes ({n_styles} W+ vectors{means}, each {style_dim}-d)"


def codes_mismatch(n_styles: int, style_dim: int, n_latent: int, gen_style_dim: int,
                   encoder: str = "the encoder", generator: str = "the generator",
                   verb: str = "takes") -> str | None:
    """Why an encoder's codes cannot drive a generator (``None`` when they can).

    A pSp encoder emits one W+ vector per style input of its generator: n_styles =
    2*log2(size) - 2 (pSp ``models/psp.py``; reference/fgnet.md §4c), so an encoder trained
    for a 256-px generator (14 vectors) cannot drive a 1024-px one (18).
    """
    if (n_styles, style_dim) == (n_latent, gen_style_dim):
        return None
    return (f"{encoder} emits {_codes_phrase(n_styles, style_dim)} but {generator} {verb} "
            f"{_codes_phrase(n_latent, gen_style_dim)}. Use the pSp model trained with that generator "
            "(for FFHQ at 1024 px: pSp's 'StyleGAN Inversion' model, 18 styles; reference/fgnet.md §4c).")


class PSP(nn.Module):
    """Encoder + decoder with pSp's state_dict layout (``encoder.*``, ``decoder.*``).

    ``latent_avg`` (n_styles, style_dim) is kept as a non-persistent buffer, as in pSp it is
    a plain attribute saved beside the state_dict; :func:`save_psp` / :func:`load_psp` carry
    it. ``forward`` returns the reconstruction (and the W+ codes).

    Raises:
        ValueError: the encoder's codes do not fit the decoder (both counts named).
    """

    def __init__(self, encoder: GradualStyleEncoder, decoder: Generator,
                 latent_avg: torch.Tensor | None = None):
        super().__init__()
        why = codes_mismatch(encoder.n_styles, encoder.style_dim, decoder.n_latent, decoder.style_dim,
                             "the encoder", f"the {decoder.size}-px decoder")
        if why:
            raise ValueError(why)
        self.encoder, self.decoder = encoder, decoder
        if latent_avg is None:
            latent_avg = torch.zeros(encoder.n_styles, encoder.style_dim)
        self.register_buffer("latent_avg", _expand_avg(latent_avg, encoder.n_styles, encoder.style_dim),
                             persistent=False)

    def encode(self, x):
        return self.encoder(x) + self.latent_avg

    def forward(self, x):
        codes = self.encode(x)
        return self.decoder(codes), codes


def _expand_avg(avg, n_styles: int, style_dim: int | None = None) -> torch.Tensor:
    """``latent_avg`` as (n_styles, style_dim): a single vector is repeated per W+ row.

    Raises :class:`CheckpointMismatch` naming the expected shapes otherwise."""
    ok = isinstance(avg, torch.Tensor) and avg.ndim in (1, 2, 3) and (avg.ndim < 3 or avg.shape[0] == 1)
    if ok:
        avg = avg.detach().float()
        avg = avg[0] if avg.ndim == 3 else avg          # (1, n, d)
        avg = avg[None].repeat(n_styles, 1) if avg.ndim == 1 else avg
        ok = avg.shape[0] == n_styles and (style_dim is None or avg.shape[1] == style_dim)
    if not ok:
        d = style_dim if style_dim is not None else "style_dim"
        found = tuple(avg.shape) if isinstance(avg, torch.Tensor) else type(avg).__name__
        raise CheckpointMismatch(
            f"'latent_avg' is {found} but the encoder emits {n_styles} W+ vectors: expected shape "
            f"({n_styles}, {d}) (one average per W+ vector) or ({d},) (reference/fgnet.md §4c)")
    return avg


def encoder_kwargs_from_state_dict(sd: dict, input_size: int | None = None) -> dict:
    """Infer ``GradualStyleEncoder`` arguments from its (prefix-free) state_dict.

    Each quantity is read from every key that carries it and the most frequent reading wins,
    so one missing or mis-shaped key does not change the inferred architecture (the loader
    then names that key against :func:`encoder_layout`): ``n_styles`` from the largest
    ``styles.N`` index, ``style_dim`` from the map2style linear layers, each body unit's
    width from its convs / BN / PReLU / SE weights. Stages are told apart by their width, so
    the four stages must have distinct widths (true of IR-SE-50/100 and of our tiny
    encoders). ``input_size`` is not stored in the file; by default it is read off the
    map2style blocks, which have log2(input/16) (coarse), log2(input/8) (middle) and
    log2(input/4) (fine) stride-2 convs (4, 5, 6 for pSp's 256-px input).

    Raises:
        CheckpointMismatch: not a GradualStyleEncoder state_dict, or not four stages.
    """
    keys = [k for k in sd if isinstance(k, str)]
    if not any(k.startswith("input_layer.") for k in keys) or not any(k.startswith("styles.") for k in keys):
        raise CheckpointMismatch(
            "not a pSp GradualStyleEncoder state_dict: expected keys 'input_layer.0.weight' "
            "[64, 3, 3, 3], 'body.N.res_layer.*', 'styles.N.convs.*', 'styles.N.linear.weight' "
            f"(reference/fgnet.md §4d); found {len(keys)} keys, first: {keys[:5]}")
    n_styles = 1 + max(_indices(sd, r"styles\.(\d+)\."))
    style_dim = _mode([_dim(sd, f"styles.{j}.linear.{p}", 0) for j in range(n_styles) for p in ("weight", "bias")])
    body = _indices(sd, r"body\.(\d+)\.")
    widths = []
    for i in range(1 + max(body) if body else 0):
        u = f"body.{i}.res_layer"
        w = _mode([_dim(sd, f"{u}.1.weight", 0), _dim(sd, f"{u}.2.weight", 0), _dim(sd, f"{u}.3.weight", 0),
                   _dim(sd, f"{u}.3.weight", 1), _dim(sd, f"{u}.4.weight", 0), _dim(sd, f"{u}.5.fc2.weight", 0)])
        widths.append(w if w is not None else (widths[-1] if widths else None))
    depths, units = [], []
    for w in widths:
        if not depths or depths[-1] != w:
            depths.append(w)
            units.append(1)
        else:
            units[-1] += 1
    if len(depths) != 4 or None in depths:
        raise CheckpointMismatch(f"expected 4 stages of body units ('body.N.res_layer.1.weight' widths), "
                                 f"found widths {widths}")
    if input_size is None:
        log_in = []
        for j in range(n_styles):
            convs = _indices(sd, rf"styles\.{j}\.convs\.(\d+)\.")
            if convs:
                group = 4 if j < 3 else (3 if j < 7 else 2)      # coarse / middle / fine
                log_in.append(max(convs) // 2 + 1 + group)
        input_size = 2 ** (_mode(log_in) or 8)
    return dict(n_styles=n_styles, style_dim=style_dim, input_size=input_size, units=tuple(units),
                depths=tuple(depths),
                stem=_mode([_dim(sd, f"input_layer.{i}.weight", 0) for i in range(3)]),
                input_nc=_dim(sd, "input_layer.0.weight", 1) or 3)


@functools.lru_cache(maxsize=16)
def _encoder_layout(items: tuple) -> tuple:
    with torch.device("meta"):          # shapes only
        e = GradualStyleEncoder(**dict(items))
    return tuple((k, tuple(v.shape)) for k, v in e.state_dict().items())


def encoder_layout(**kwargs) -> dict[str, tuple]:
    """Key -> shape of a ``GradualStyleEncoder(**kwargs)`` state_dict (pSp's names without the
    ``encoder.`` prefix; reference/fgnet.md §4d). Allocates no weights."""
    return dict(_encoder_layout(tuple(sorted(kwargs.items()))))


def split_psp_state_dict(sd: dict) -> tuple[dict, dict]:
    enc = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    dec = {k[len("decoder."):]: v for k, v in sd.items() if k.startswith("decoder.")}
    other = [k for k in sd if not k.startswith(("encoder.", "decoder."))]
    if other:
        raise CheckpointMismatch(f"pSp state_dict has {len(other)} key(s) outside 'encoder.'/"
                                 f"'decoder.', first: {other[:5]} (reference/fgnet.md §4c)")
    return enc, dec


def load_psp(path, encoder: GradualStyleEncoder | None = None, decoder: Generator | None = None,
             input_size: int | None = None, with_decoder: bool = True, trusted: bool = False,
             noise_mode: str = "const", target: Generator | None = None,
             require_latent_avg: bool | None = None):
    """Load a pSp checkpoint ``{'state_dict', 'latent_avg', 'opts'}``.

    Returns ``(encoder, decoder or None, latent_avg (n_styles, style_dim), opts)``. Modules
    not given are built from the architecture the file implies. Before anything is built,
    the encoder's codes are checked against the generator they will drive - the file's own
    decoder (``decoder.*``, even when ``with_decoder=False``), a given ``decoder`` and
    ``target`` (e.g. the FFHQ generator loaded from its own file) - and against
    ``opts['output_size']``; a mismatch names both code counts and what they mean.

    ``latent_avg``: required when ``require_latent_avg`` is true (FG-Net always adds the
    file's ``latent_avg``, ``code/model_utils.py``, reference/fgnet.md §4c) or, when it is
    ``None``, when ``opts['start_from_latent_avg']`` says the model was trained with it;
    otherwise a missing one gives zeros. A single vector is repeated for every W+ row.

    Raises:
        FileNotFoundError: no such file.
        CheckpointMismatch: not a checkpoint (see ``read_checkpoint``); no top-level
            ``state_dict`` or a missing required ``latent_avg`` (named); codes that do not fit
            the generator; any missing / unexpected / mis-shaped key, named with its expected
            and found shape.
    """
    name = _source_name(path)
    ckpt = read_checkpoint(path, trusted=trusted)
    if not isinstance(ckpt.get("state_dict"), dict):
        hint = (" It looks like a rosinality StyleGAN2 file ('g_ema'): pass it as the generator file."
                if "g_ema" in ckpt else "")
        raise CheckpointMismatch(
            f"{name} has no 'state_dict' entry: a pSp checkpoint is a dict with 'state_dict' "
            "(keys 'encoder.*' and 'decoder.*'), 'latent_avg' and 'opts' (pSp training/coach.py; "
            f"reference/fgnet.md §4c); top-level keys found: {list(ckpt)[:8]}.{hint}")
    opts = ckpt.get("opts") or {}
    opts = dict(opts if isinstance(opts, dict) else vars(opts))
    enc_sd, dec_sd = split_psp_state_dict(ckpt["state_dict"])
    if not enc_sd:
        raise CheckpointMismatch(f"{name}: the pSp state_dict holds no 'encoder.*' keys (found "
                                 f"{len(dec_sd)} 'decoder.*' keys)")
    enc_what = f"the pSp encoder in {name} ('encoder.styles.*')"
    if encoder is not None:
        try:
            kw = encoder_kwargs_from_state_dict(enc_sd, input_size)
        except CheckpointMismatch:
            kw = None                          # the key-by-key comparison below says what is wrong
        if kw is not None:
            why = codes_mismatch(kw["n_styles"], kw["style_dim"], encoder.n_styles, encoder.style_dim,
                                 enc_what, "the encoder it is loaded into", verb="emits")
            if why:
                raise CheckpointMismatch(why)
        enc_layout = {k: tuple(v.shape) for k, v in encoder.state_dict().items()}
        n_styles, style_dim = encoder.n_styles, encoder.style_dim
    else:
        kw = encoder_kwargs_from_state_dict(enc_sd, input_size)
        enc_layout = encoder_layout(**kw)
        n_styles, style_dim = kw["n_styles"], kw["style_dim"]
    gens = []                                  # (generator description, n_latent, style_dim)
    dec_kw = None
    if dec_sd:
        try:
            dec_kw = generator_kwargs_from_state_dict(dec_sd)
        except CheckpointMismatch:
            if with_decoder and decoder is None:
                raise
        if dec_kw is not None:
            gens.append((f"its decoder ('decoder.*', a {dec_kw['size']}-px generator)",
                         n_styles_for(dec_kw["size"]), dec_kw["style_dim"]))
    if decoder is not None and with_decoder:
        gens.append((f"the {decoder.size}-px decoder it is loaded into", decoder.n_latent, decoder.style_dim))
    if target is not None:
        src = getattr(target, "checkpoint_source", None)
        gens.append((f"the {target.size}-px generator" + (f" from {src}" if src else ""),
                     target.n_latent, target.style_dim))
    for gen_what, n_latent, gen_dim in gens:
        why = codes_mismatch(n_styles, style_dim, n_latent, gen_dim, enc_what, gen_what)
        if why:
            raise CheckpointMismatch(why)
    if isinstance(opts.get("output_size"), int) and n_styles_for(opts["output_size"]) != n_styles:
        raise CheckpointMismatch(
            f"{enc_what} emits {_codes_phrase(n_styles, style_dim)} but the file's "
            f"opts['output_size'] = {opts['output_size']} says its generator is "
            f"{opts['output_size']}-px ({n_styles_for(opts['output_size'])} W+ vectors): an inconsistent pSp file")
    compare_state_dict(enc_layout, enc_sd, what=f"pSp encoder ('encoder.*') in {name}",
                       against="the layout of a pSp GradualStyleEncoder" + (f" with {kw}" if kw else "")
                               + " (reference/fgnet.md §4d)", advice=_ADVICE if encoder is not None else _DAMAGED)
    if with_decoder and dec_sd:
        if decoder is not None:
            expected = {k: decoder.config[k] for k in ("size", "style_dim", "n_mlp", "channel_multiplier", "channel_max")}
            if dec_kw is not None:
                check_generator_arch(dec_kw, expected, f"the decoder it is loaded into is a "
                                     f"{describe_generator(expected)}", what=f"{name} ('decoder.*')")
            dec_layout = {k: tuple(v.shape) for k, v in decoder.state_dict().items()}
        else:
            dec_layout = generator_layout(**dec_kw)
        compare_state_dict(dec_layout, dec_sd, what=f"pSp decoder ('decoder.*') in {name}",
                           against="the layout of a rosinality " + describe_generator(dec_kw or decoder.config)
                                   + " (reference/fgnet.md §4b)", advice=_ADVICE if decoder is not None else _DAMAGED)
    avg = ckpt.get("latent_avg")
    need_avg = bool(opts.get("start_from_latent_avg")) if require_latent_avg is None else require_latent_avg
    if avg is None and need_avg:
        why = ("FG-Net adds it to every code" if require_latent_avg
               else "its opts say start_from_latent_avg=True")
        raise CheckpointMismatch(
            f"{name} has no 'latent_avg' entry, but {why}: the codes are encoder(x) + latent_avg "
            f"(expected shape ({n_styles}, {style_dim}) or ({style_dim},); reference/fgnet.md §4c). "
            f"Top-level keys found: {list(ckpt)[:8]}. Use the pSp checkpoint as released.")
    avg = torch.zeros(n_styles, style_dim) if avg is None else _expand_avg(avg, n_styles, style_dim)
    if encoder is None:
        encoder = GradualStyleEncoder(**kw)
    encoder.load_state_dict(enc_sd, strict=True)
    if with_decoder and dec_sd:
        if decoder is None:
            decoder = Generator(**dec_kw, noise_mode=noise_mode)
        decoder.load_state_dict(dec_sd, strict=True)
    elif not with_decoder:
        decoder = None
    return encoder, decoder, avg, opts


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
