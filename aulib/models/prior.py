"""The generative prior of FG-Net's small profiles: our StyleGAN2 + pSp pre-trained on synth-ffhq.

FG-Net's strength comes from a generator pre-trained on FFHQ (70k diverse faces) and a pSp
encoder that inverts faces into it (paper 000 §3.3). The paper profile loads the user's FFHQ
checkpoints (``FGNet(weights={"generator": ..., "encoder": ...})``). The smoke and tiny
profiles cannot download them, so this module pre-trains our own generator + encoder on
``synth-ffhq`` (SynthAU's stand-in for FFHQ: many identities, wild capture conditions, no AU
labels used), once per machine, and caches the result.

What we train, and why (the choice the task asks us to write down):
- Objective: **reconstruction only** - the encoder maps an image to W+ (+ a learned
  ``latent_avg``), the generator decodes it, and the loss is pixel L1 + pixel L2 + L1 on a
  2x down-sampled copy (a cheap stand-in for a perceptual term; no LPIPS/VGG weights can be
  downloaded at run time). This is pSp's recipe without its LPIPS / identity terms and with
  the decoder trained too.
- **No adversarial term.** A GAN needs a discriminator, many more steps and is fragile at a
  few CPU minutes; FG-Net only reads the generator's intermediate features, which
  reconstruction training already shapes into a multi-resolution face decoder. The mapping
  network is therefore left untrained (FG-Net never uses it: codes come from the encoder).
- Data: the synth-ffhq images resized to the model's input size, random horizontal flips.
- Length (tiny): 2,500 steps of 16 images (~13 epochs of 3,000 faces; ``fgnet/00_prior``
  took 521 s on 2 cores, once per machine). ``fgnet/00_prior``'s linear probe on the W+ codes
  (synth-disfa fold 1) gives Avg F1 23.8 vs the always-active 17.0, and unseen faces are
  reconstructed 6.2 dB above the mean face. After 700 steps (a one-off script, another test
  split) the codes were at the floor (15.5 vs 14.8) and the PSNR gain was 4.5 dB.
The result is weaker than FFHQ's generator (the tiny notebooks say so where they compare).

This module reads a folder of images and never imports :mod:`aulib.synth` (the models room
imports config and face only); notebooks pass ``aulib.synth.ensure("synth-ffhq", profile)``.

Cache: ``config.cache_dir("fgnet-prior", profile)/prior-<fingerprint>.pt`` in pSp's
checkpoint layout (``state_dict`` with ``encoder.*`` / ``decoder.*``, ``latent_avg``,
``opts``), so :func:`aulib.models.psp.load_psp` and ``FGNet(weights=path)`` read it. The
fingerprint covers the settings, the data folder's fingerprint and :data:`PRIOR_VERSION`; a
file lock makes concurrent notebooks wait for one training run instead of racing.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .. import config
from .fgnet import TINY_KWARGS, TINY_PROFILE_KWARGS
from .psp import PSP, GradualStyleEncoder, load_psp, save_psp
from .stylegan2 import Generator

PRIOR_VERSION = 1
DATASET = "synth-ffhq"
_ARCH_KEYS = ("input_size", "generator_size", "style_dim", "n_mlp", "channel_max",
              "encoder_units", "encoder_depths", "encoder_stem")

PRIOR_SETTINGS = {
    "smoke": dict(arch={k: TINY_KWARGS[k] for k in _ARCH_KEYS}, n_images=64, steps=10,
                  batch_size=8, lr=2e-3, seed=0),
    "tiny": dict(arch={k: TINY_PROFILE_KWARGS[k] for k in _ARCH_KEYS}, n_images=3000, steps=2500,
                 batch_size=16, lr=2e-3, seed=0),
}


def prior_settings(profile: str, **overrides) -> dict:
    """Pre-training settings of a profile (``overrides`` replace top-level entries)."""
    config.check_profile(profile)
    if profile == "paper":
        raise ValueError(
            "the paper profile does not pre-train a prior: it loads the FFHQ weights FG-Net uses - "
            "stylegan2-ffhq-config-f.pt (rosinality format) and the pSp FFHQ encoder - via "
            "FGNet(weights={'generator': <path>, 'encoder': <path>}) (reference/fgnet.md §5)")
    s = json.loads(json.dumps(PRIOR_SETTINGS[profile]))
    unknown = set(overrides) - set(s)
    if unknown:
        raise ValueError(f"unknown prior setting(s) {sorted(unknown)}; known: {sorted(s)}")
    s.update(overrides)
    return s


def build_psp(arch: dict) -> PSP:
    """A fresh encoder + generator for the given architecture entries of the settings."""
    g = Generator(arch["generator_size"], arch["style_dim"], arch["n_mlp"], channel_max=arch["channel_max"])
    e = GradualStyleEncoder(g.n_latent, arch["style_dim"], arch["input_size"], units=tuple(arch["encoder_units"]),
                            depths=tuple(arch["encoder_depths"]), stem=arch["encoder_stem"])
    return PSP(e, g)


# ---------------------------------------------------------------------------------------
# Data
def _image_files(root: Path, limit: int | None = None) -> list[Path]:
    out = []
    # prefer the smallest copy FFHQ's layout offers
    for sub in ("thumbnails128x128", "images1024x1024", "."):
        base = root / sub
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
                out.append(p)
                if limit and len(out) >= limit:
                    return out
        if out:
            return out
    return out


def load_images(root, size: int, n_images: int, seed: int = 0, progress: bool = True) -> torch.Tensor:
    """Up to ``n_images`` faces from ``root`` (deterministic subset), uint8 (N, 3, size, size).

    Unreadable files (SynthAU injects corrupt ones, as real crawls have) are skipped with a
    warning.
    """
    import warnings

    import cv2
    from tqdm.auto import tqdm

    from ..face.frames import imread_quiet

    files = _image_files(Path(root))
    if not files:
        raise FileNotFoundError(f"no PNG/JPG images under {root}")
    if len(files) > n_images:
        pick = np.random.default_rng(seed).choice(len(files), n_images, replace=False)
        files = [files[i] for i in sorted(pick)]
    out, bad = [], []
    for f in tqdm(files, desc=f"read {Path(root).name}", disable=not progress, leave=False):
        img = imread_quiet(f)
        if img is None:
            bad.append(f.name)
            continue
        out.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)[:, :, ::-1])
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s) under {root}, e.g. {bad[:3]}", stacklevel=2)
    if not out:
        raise ValueError(f"none of the {len(files)} images under {root} could be read")
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def to_model_range(x_uint8: torch.Tensor) -> torch.Tensor:
    return x_uint8.float() / 127.5 - 1.0


# ---------------------------------------------------------------------------------------
# Training
def reconstruction_loss(rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Pixel L1 + pixel L2 + L1 at half resolution (see the module docstring)."""
    return (F.l1_loss(rec, x) + F.mse_loss(rec, x)
            + F.l1_loss(F.avg_pool2d(rec, 2), F.avg_pool2d(x, 2)))


def train_prior(images: torch.Tensor, settings: dict, device: str = "cpu",
                progress: bool = True) -> tuple[PSP, list[dict]]:
    """Pre-train encoder + generator on ``images`` (uint8 N,3,S,S) by reconstruction."""
    from tqdm.auto import tqdm

    torch.manual_seed(settings["seed"])
    psp = build_psp(settings["arch"]).to(device)
    avg = torch.nn.Parameter(torch.zeros_like(psp.latent_avg))
    params = [*psp.encoder.parameters(), *psp.decoder.parameters(), avg]
    opt = torch.optim.Adam(params, lr=settings["lr"], betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda it: 0.5 * (1 + np.cos(np.pi * it / settings["steps"])))
    g = torch.Generator().manual_seed(settings["seed"])
    history, t0 = [], time.time()
    psp.train()
    bar = tqdm(range(settings["steps"]), desc="pre-train FG-Net prior", disable=not progress)
    for step in bar:
        idx = torch.randint(len(images), (settings["batch_size"],), generator=g)
        x = to_model_range(images[idx])
        flip = torch.rand(len(x), generator=g) < 0.5
        x[flip] = x[flip].flip(-1)
        x = x.to(device)
        rec = psp.decoder(psp.encoder(x) + avg)
        loss = reconstruction_loss(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        sched.step()
        history.append({"step": step + 1, "loss": float(loss.detach()), "seconds": time.time() - t0})
        if step % 10 == 0:
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
    psp.latent_avg.copy_(avg.detach())
    psp.eval()
    return psp.cpu(), history


def _fingerprint(settings: dict, data_fp: str) -> str:
    blob = json.dumps({"v": PRIOR_VERSION, "settings": settings, "data": data_fp}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def ensure_prior(images_root, profile: str = "tiny", device: str = "cpu", progress: bool = True,
                 **overrides) -> Path:
    """Path of the cached prior for ``profile``; pre-trains it on ``images_root`` first if it
    is not there.

    ``images_root``: a folder of face images in FFHQ's layout (``images1024x1024/``,
    ``thumbnails128x128/`` or flat) - for the small profiles SynthAU's
    ``aulib.synth.ensure("synth-ffhq", profile)``. The file is in pSp's checkpoint layout;
    ``<stem>.json`` beside it holds settings and history.
    """
    settings = prior_settings(profile, **overrides)
    root = Path(images_root)
    if not root.is_dir() or not _image_files(root, limit=1):
        raise FileNotFoundError(
            f"no face images under {root}. The FG-Net prior pre-trains on {DATASET} (FFHQ layout: "
            "images1024x1024/<NNN00>/<NNNNN>.png, thumbnails128x128/..., or a flat folder of PNG/JPG "
            "faces); write it with aulib.synth.ensure('synth-ffhq', profile) and pass that folder.")
    config.note_input(root)
    fp = _fingerprint(settings, config.fingerprint_path(root))
    folder = config.cache_dir("fgnet-prior", profile)
    path = folder / f"prior-{fp}.pt"
    with config.file_lock(folder / f"prior-{fp}.lock"):
        if path.is_file():
            return path
        images = load_images(root, settings["arch"]["input_size"], settings["n_images"],
                             settings["seed"], progress)
        psp, history = train_prior(images, settings, device=config.resolve_device(device), progress=progress)
        tmp = path.with_suffix(".pt.tmp")
        save_psp(tmp, psp.encoder, psp.decoder, psp.latent_avg,
                 opts={"dataset_type": DATASET, "profile": profile, "prior_version": PRIOR_VERSION,
                       "fingerprint": fp, "images": int(len(images))})
        path.with_suffix(".json").write_text(json.dumps(
            {"settings": settings, "images_root": str(root), "n_images": int(len(images)),
             "history": history, "fingerprint": fp}, indent=1))
        tmp.replace(path)
    return path


def fgnet_weights(profile: str, faces_root=None, stylegan_checkpoint="", psp_checkpoint="",
                  device: str = "cpu") -> str | dict:
    """FG-Net's starting weights for a profile (the ``weights`` argument of ``FGNet``).

    paper: the user's FFHQ files, ``{"generator": stylegan_checkpoint (rosinality .pt),
    "encoder": psp_checkpoint (pSp .pt)}`` - both must exist; smoke / tiny: the cached
    synth-ffhq prior (:func:`ensure_prior` on ``faces_root``, pre-trained once per machine).
    """
    if profile == "paper":
        files = {"generator": stylegan_checkpoint, "encoder": psp_checkpoint}
        bad = [f"{name} ({arg or 'not set'})" for (name, arg), param in
               zip(files.items(), ("stylegan_checkpoint", "psp_checkpoint")) if not arg or not Path(arg).is_file()]
        if bad:
            raise FileNotFoundError(
                "the paper profile starts FG-Net from the FFHQ checkpoints; missing: " + ", ".join(bad)
                + ". Set the notebook parameters stylegan_checkpoint (rosinality's "
                "stylegan2-ffhq-config-f.pt) and psp_checkpoint (pSp's psp_ffhq_encode.pt); "
                "see README 'Real datasets'.")
        return files
    if faces_root is None:
        raise ValueError(f"the {profile} profile pre-trains its prior on synth-ffhq: pass faces_root, "
                         f"e.g. aulib.synth.ensure('synth-ffhq', '{profile}')")
    return str(ensure_prior(faces_root, profile, device=device))


def load_prior(path) -> PSP:
    """The pre-trained encoder + generator (with ``latent_avg``) from a prior file."""
    enc, dec, avg, _ = load_psp(path)
    return PSP(enc, dec, avg).eval()


def prior_history(path):
    """Training history (pandas DataFrame: step, loss, seconds) saved beside a prior."""
    import pandas as pd

    return pd.DataFrame(json.loads(Path(path).with_suffix(".json").read_text())["history"])


@torch.no_grad()
def reconstruct(psp: PSP, images_uint8: torch.Tensor) -> torch.Tensor:
    """Reconstructions (uint8, same shape) of uint8 images through encoder + generator. A
    generator larger than the input (paper profile: 1024-px output, 256-px pSp input) is pooled
    to the input size, as pSp's ``face_pool`` (AdaptiveAvgPool2d to 256) does (pSp models/psp.py;
    reference/fgnet.md §4c)."""
    rec, _ = psp(to_model_range(images_uint8))
    if rec.shape[-2:] != images_uint8.shape[-2:]:
        rec = F.adaptive_avg_pool2d(rec, tuple(images_uint8.shape[-2:]))
    return ((rec.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def reconstruction_figure(images_uint8: torch.Tensor, recs_uint8: torch.Tensor, title: str = ""):
    """Two-row grid: inputs (top) and reconstructions (bottom)."""
    import matplotlib.pyplot as plt

    n = len(images_uint8)
    fig, axes = plt.subplots(2, n, figsize=(1.4 * n, 3.0), squeeze=False)
    for i in range(n):
        for r, src in enumerate((images_uint8, recs_uint8)):
            ax = axes[r, i]
            ax.imshow(src[i].permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, i].set_title(str(i), fontsize=7)
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[1, 0].set_ylabel("reconstruction", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def reconstruction_error(psp: PSP, images_uint8: torch.Tensor, batch_size: int = 64) -> dict:
    """Mean absolute error and PSNR (dB) of reconstructions, images in [0, 255]."""
    errs, mses = [], []
    for i in range(0, len(images_uint8), batch_size):
        x = images_uint8[i:i + batch_size]
        r = reconstruct(psp, x).float()
        errs.append((r - x.float()).abs().mean((1, 2, 3)))
        mses.append((r - x.float()).pow(2).mean((1, 2, 3)))
    mae, mse = torch.cat(errs), torch.cat(mses)
    return {"mae": float(mae.mean()), "psnr_db": float((10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-8))).mean())}


# ---------------------------------------------------------------------------------------
# Notebook helpers (fgnet/00_prior)


def training_images(path, n: int = 16) -> torch.Tensor:
    """``n`` of the images a cached prior was trained on (first of its deterministic subset)."""
    info = json.loads(Path(path).with_suffix(".json").read_text())
    s = info["settings"]
    return load_images(info["images_root"], s["arch"]["input_size"], s["n_images"], s["seed"], progress=False)[:n]


def mean_image_error(train_uint8: torch.Tensor, test_uint8: torch.Tensor) -> dict:
    """MAE / PSNR of predicting every test image by the mean training image (a floor)."""
    mean = train_uint8.float().mean(0, keepdim=True)
    d = test_uint8.float() - mean
    mse = d.pow(2).mean((1, 2, 3))
    return {"mae": float(d.abs().mean()),
            "psnr_db": float((10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-8))).mean())}


@torch.no_grad()
def feature_figure(psp: PSP, image_uint8: torch.Tensor, title: str = ""):
    """The synthesis features FG-Net reads (channel-mean of each block's map) for one face."""
    import matplotlib.pyplot as plt

    codes = psp.encode(to_model_range(image_uint8[None]))
    feats = psp.decoder.synthesis_features(codes)
    fig, axes = plt.subplots(1, len(feats) + 1, figsize=(1.6 * (len(feats) + 1), 1.9))
    axes[0].imshow(image_uint8.permute(1, 2, 0).numpy())
    axes[0].set_title("input", fontsize=8)
    for j, (ax, f) in enumerate(zip(axes[1:], feats)):
        ax.imshow(f[0].mean(0).numpy(), cmap="magma")
        ax.set_title(f"f{j + 1}: {f.shape[-1]} px, {f.shape[1]} ch", fontsize=7)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def deviations(profile: str):
    """Where this profile's prior differs from the paper's, and why (a DataFrame)."""
    import pandas as pd

    if profile == "paper":
        s = None
    else:
        s = prior_settings(profile)
    a = s["arch"] if s else {}
    rows = [
        ("training data", "FFHQ, 70k real faces (generator); pSp trained on FFHQ",
         f"synth-ffhq, {s['n_images']} rendered faces" if s else "FFHQ (user's checkpoints)",
         "no downloads at run time; SynthAU stands in for FFHQ"),
        ("generator", "StyleGAN2 config-f, 1024 px, 512-d W, 8-layer mapping",
         f"same code, {a['generator_size']} px, {a['style_dim']}-d W, widths <= {a['channel_max']}" if s else "same",
         "CPU budget"),
        ("encoder", "pSp GradualStyleEncoder, IR-SE-50, 256-px input, 18 styles",
         f"same layout, {sum(a['encoder_units'])} units of widths {tuple(a['encoder_depths'])}, "
         f"{a['input_size']}-px input" if s else "same", "CPU budget"),
        ("objective", "GAN (StyleGAN2) then pSp inversion (L2 + LPIPS + ID)",
         "joint reconstruction: L1 + L2 + half-resolution L1, no adversarial term" if s else "same",
         "minutes on a CPU; LPIPS/ID networks cannot be downloaded"),
        ("steps", "StyleGAN2: 25M images; pSp: 500k steps",
         f"{s['steps']} steps of {s['batch_size']} images" if s else "same", "CPU budget"),
    ]
    return pd.DataFrame(rows, columns=["item", "paper", f"this profile ({profile})", "why"])


# The generator FG-Net's paper profile starts from (reference/fgnet.md §3 and §5).
PAPER_GENERATOR = dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2, channel_max=512)
PAPER_GENERATOR_LABEL = ("FG-Net's paper profile expects the 1024-px FFHQ config-f file "
                         "(stylegan2-ffhq-config-f.pt, rosinality's conversion of NVIDIA's weights: "
                         "size 1024, style_dim 512, n_mlp 8, channel_multiplier 2)")


def load_ffhq(generator_path: str, encoder_path: str, expect: dict | None = None,
              expect_label: str = PAPER_GENERATOR_LABEL) -> PSP:
    """The paper profile's prior: the user's FFHQ StyleGAN2 (rosinality ``g_ema``) and pSp
    encoder files, as FG-Net loads them (reference/fgnet.md §5).

    The generator must be ``expect`` (default :data:`PAPER_GENERATOR`, the 1024-px config-f
    file); the pSp encoder's codes must fit it (18 W+ vectors of 512) and the pSp file must
    hold ``latent_avg`` (FG-Net adds it to every code). Nothing is loaded silently that would
    fail later.

    Raises:
        FileNotFoundError: a path is empty or absent.
        CheckpointMismatch: a file is not a checkpoint, lacks its top-level entry, is another
            architecture ("this is a 256-px generator; FG-Net's paper profile expects the
            1024-px FFHQ config-f file"), its encoder's codes do not fit the generator (both
            counts named), or a key is missing, unexpected or mis-shaped (named with shapes).
    """
    from .stylegan2 import load_rosinality

    if not generator_path or not encoder_path:
        raise FileNotFoundError(
            "the paper profile needs the FFHQ checkpoints FG-Net uses: stylegan_checkpoint = "
            "stylegan2-ffhq-config-f.pt (rosinality/stylegan2-pytorch, converted from NVIDIA's "
            "official pkl) and psp_checkpoint = the pSp FFHQ 'StyleGAN Inversion' model "
            "(pixel2style2pixel README); pass both paths as notebook parameters")
    dec = load_rosinality(generator_path, expect=PAPER_GENERATOR if expect is None else expect,
                          expect_label=expect_label)
    enc, _, avg, _ = load_psp(encoder_path, with_decoder=False, target=dec, require_latent_avg=True)
    return PSP(enc, dec, avg).eval()
