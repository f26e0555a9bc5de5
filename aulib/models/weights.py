"""Stand-ins for published weight files: randomly initialised, written in the published formats.

The ``paper`` profile starts from weights other people published (FFHQ StyleGAN2, the pSp FFHQ
encoder, torchvision's ImageNet ResNets, FaceNet on VGGFace2) and GLEE-Net's morphable model.
The paper check (``python -m aulib.workbook run --profile paper --check``,
:mod:`aulib.workbook.papercheck`) runs every notebook at the paper's shapes without them, so it
needs files that the *real* loaders accept: same container, same top-level entries, same keys
and shapes - only the numbers are random. They prove that the loading path works; nothing
computed from them means anything.

Each stand-in is registered in :data:`PUBLISHED` by the name a notebook's ``[check.files]``
table uses, with the file name of the published original and a writer:

- ``stylegan2-ffhq-config-f``: rosinality's conversion of NVIDIA's FFHQ config-f generator,
  ``{"g_ema": state_dict, "latent_avg": (512,)}``, Generator(1024, 512, n_mlp 8, channel
  multiplier 2) (reference/fgnet.md §4a-4b);
- ``psp_ffhq_encode``: pSp's FFHQ encoder checkpoint, ``{"state_dict": encoder.* + decoder.*,
  "opts": {...}, "latent_avg": (18, 512)}``, GradualStyleEncoder IR-SE-50 at 256 px and a
  1024-px decoder (reference/fgnet.md §4c-4d);
- ``resnet18-imagenet`` / ``resnet50-imagenet`` / ``efficientnet_b1-imagenet``: torchvision's
  ImageNet files, a plain ``state_dict`` of ``torchvision.models.resnet*`` /
  ``efficientnet_b1`` (:data:`aulib.models.common.TORCHVISION_FILES`; PIAP-DF's AU encoder and
  Encoder P start from it: "an EfficientNet-B1 pretrained on ImageNet", §3 stages 2-3);
- ``facenet-vggface2``: facenet-pytorch's ``20180402-114759-vggface2.pt``, a bare ``state_dict``
  of Inception-ResNet-v1 with ``logits`` of 8631 VGGFace2 identities (GLEE-Net §3.1;
  :func:`aulib.models.facenet.load_facenet_weights`);
- ``morphable-68``: GLEE-Net's 3DMM at the 68 landmark vertices, an ``.npz`` with ``mean``
  (68, 3), ``shape_basis`` (60, 68, 3) and ``expr_basis`` (51, 68, 3) (GLEE-Net §3.3: LSFM's 60
  identity components, 51 blendshapes; :func:`aulib.face.morphable.load_model`). There is no
  published file of this: the user makes it from the model they hold (methods.md D.2).

The architectures are aulib's own modules (``stylegan2.Generator``, ``psp.GradualStyleEncoder``)
saved by the same functions that write our own checkpoints (:func:`~aulib.models.stylegan2.
save_rosinality`, :func:`~aulib.models.psp.save_psp`); the test suite checks those layouts
against the published key tables independently (``tests/fixtures/checkpoints.py``).

Files are written once per folder (atomically: a temporary name, then renamed) and reused while
the stand-in's settings are unchanged (a ``<file>.json`` beside each records them and says
``"random init - not the published weights"``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

#: what the ``.json`` beside each stand-in says, so nobody mistakes it for the real file
NOTICE = "random init - not the published weights (written by aulib.models.weights for the paper check)"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Published:
    """A published weight file the paper profile reads, and how to write a stand-in for it."""

    name: str                       # key used by [check.files] tables
    filename: str                   # the published file's name
    description: str                # what the original is and where it comes from
    write: Callable[[Path, int], None] = field(repr=False)   # (path, seed) -> writes the file
    settings: dict = field(default_factory=dict)             # architecture of the stand-in


def _rosinality_generator(settings: dict, seed: int):
    from .stylegan2 import Generator

    torch.manual_seed(seed)
    return Generator(**settings).eval()


def write_stylegan2_ffhq(path: Path, seed: int = 0) -> None:
    """rosinality ``g_ema`` of a random 1024-px config-f generator (+ its ``latent_avg``)."""
    from .stylegan2 import save_rosinality

    gen = _rosinality_generator(FFHQ_GENERATOR, seed)
    save_rosinality(gen, path, latent_avg=gen.mean_latent(1024, seed=seed))


def write_psp_ffhq_encode(path: Path, seed: int = 0) -> None:
    """pSp checkpoint: random IR-SE-50 GradualStyleEncoder (18 codes of 512, 256-px input) and a
    random 1024-px decoder, ``latent_avg`` the decoder's mean W repeated 18 times, pSp's opts."""
    from .psp import GradualStyleEncoder, n_styles_for, save_psp

    dec = _rosinality_generator(FFHQ_GENERATOR, seed + 1)
    n = n_styles_for(FFHQ_GENERATOR["size"])
    torch.manual_seed(seed)
    enc = GradualStyleEncoder(n, FFHQ_GENERATOR["style_dim"], PSP_INPUT_SIZE).eval()
    avg = dec.mean_latent(1024, seed=seed).unsqueeze(0).repeat(n, 1)
    save_psp(path, enc, dec, latent_avg=avg,
             opts={"dataset_type": "ffhq_encode", "encoder_type": "GradualStyleEncoder", "input_nc": 3,
                   "label_nc": 0, "output_size": FFHQ_GENERATOR["size"], "start_from_latent_avg": True,
                   "learn_in_w": False, "train_decoder": False})


def _torchvision_writer(arch: str) -> Callable[[Path, int], None]:
    def write(path: Path, seed: int = 0) -> None:
        from .common import _torchvision_arch

        torch.manual_seed(seed)
        torch.save(_torchvision_arch(arch).state_dict(), path)

    write.__doc__ = f"torchvision's {arch} ImageNet file layout: a plain state_dict, random init."
    return write


def write_facenet_vggface2(path: Path, seed: int = 0) -> None:
    """facenet-pytorch's VGGFace2 file layout: a bare state_dict of a random Inception-ResNet-v1
    (published width and blocks, 512-d embedding) with its 8631-class ``logits`` layer."""
    from .facenet import PUBLISHED_FILES, InceptionResnetV1

    torch.manual_seed(seed)
    net = InceptionResnetV1(num_classes=PUBLISHED_FILES[FACENET_FILE][0]).eval()
    torch.save(net.state_dict(), path)


def write_morphable_68(path: Path, seed: int = 0) -> None:
    """The ``.npz`` :func:`aulib.face.morphable.load_model` reads: a random mean (68, 3) - random
    points in the image plane, unit RMS radius, with :func:`~aulib.face.morphable.template_depth`
    for depth - and random bases, ``shape_basis`` (N_s, 68, 3), ``expr_basis`` (N_e, 68, 3),
    small beside the mean so that the fit stays well posed."""
    import numpy as np

    from aulib.face.morphable import template_depth

    rng = np.random.default_rng(seed)
    xy = rng.normal(size=(68, 2))
    xy -= xy.mean(0)
    xy /= np.sqrt((xy ** 2).sum(-1).mean())
    mean = np.concatenate([xy, template_depth(xy)[:, None]], axis=1)
    s = MORPHABLE_68
    with open(path, "wb") as f:      # a file object: np.savez would append .npz to the temporary name
        np.savez(f, mean=mean, shape_basis=0.05 * rng.normal(size=(s["n_shape"], 68, 3)),
                 expr_basis=0.05 * rng.normal(size=(s["n_expr"], 68, 3)),
                 source=np.array("random stand-in (aulib.models.weights) - not a morphable model of faces"))


#: The generator FG-Net's paper profile starts from (reference/fgnet.md §4b).
FFHQ_GENERATOR = dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2, channel_max=512)
#: pSp's encoder input side (reference/fgnet.md §4c: resize to 256 x 256)
PSP_INPUT_SIZE = 256
#: facenet-pytorch's VGGFace2 file (GLEE-Net's global branch starts from it, §3.1)
FACENET_FILE = "20180402-114759-vggface2.pt"
#: GLEE-Net's morphable model at the landmarks (§3.3: N_s = 60 LSFM components, N_e = 51 blendshapes)
MORPHABLE_68 = dict(vertices=68, n_shape=60, n_expr=51)

PUBLISHED: dict[str, Published] = {p.name: p for p in [
    Published("stylegan2-ffhq-config-f", "stylegan2-ffhq-config-f.pt",
              "rosinality/stylegan2-pytorch conversion of NVIDIA's FFHQ config-f (g_ema, latent_avg)",
              write_stylegan2_ffhq, FFHQ_GENERATOR),
    Published("psp_ffhq_encode", "psp_ffhq_encode.pt",
              "pixel2style2pixel's FFHQ 'StyleGAN inversion' encoder (state_dict, opts, latent_avg)",
              write_psp_ffhq_encode, dict(encoder="IR-SE-50", input_size=PSP_INPUT_SIZE,
                                          decoder=FFHQ_GENERATOR)),
    Published("resnet18-imagenet", "resnet18-f37072fd.pth", "torchvision ResNet-18 IMAGENET1K_V1 state_dict",
              _torchvision_writer("resnet18"), dict(arch="resnet18")),
    Published("resnet50-imagenet", "resnet50-0676ba61.pth", "torchvision ResNet-50 IMAGENET1K_V1 state_dict",
              _torchvision_writer("resnet50"), dict(arch="resnet50")),
    Published("efficientnet_b1-imagenet", "efficientnet_b1_rwightman-bac287d4.pth",
              "torchvision EfficientNet-B1 IMAGENET1K_V1 state_dict", _torchvision_writer("efficientnet_b1"),
              dict(arch="efficientnet_b1")),
    Published("facenet-vggface2", FACENET_FILE,
              "facenet-pytorch's Inception-ResNet-v1 trained on VGGFace2 (bare state_dict, logits of 8631 identities)",
              write_facenet_vggface2, dict(arch="InceptionResnetV1", width=1.0, repeats=[5, 10, 5],
                                           embedding_size=512, num_classes=8631)),
    Published("morphable-68", "morphable_model_68.npz",
              "GLEE-Net's 3DMM at the 68 landmark vertices (.npz: mean, shape_basis, expr_basis), made by the "
              "user from LSFM + 51 blendshapes or ICT-FaceKit - no published file",
              write_morphable_68, MORPHABLE_68),
]}


def get(name: str) -> Published:
    """The registered stand-in ``name``; an unknown name raises a KeyError listing the known ones."""
    if name not in PUBLISHED:
        raise KeyError(f"no stand-in for published weights {name!r}; known: {', '.join(PUBLISHED)}")
    return PUBLISHED[name]


def ensure_stand_in(name: str, folder, seed: int = 0) -> Path:
    """Path of the stand-in for ``name`` in ``folder`` (its published file name), written first
    unless a file with the same settings is already there.

    Raises:
        KeyError: ``name`` is not in :data:`PUBLISHED`.
        FileExistsError: ``folder`` holds a file of that name that is not one of our stand-ins
            (no ``.json`` beside it saying so) - never overwritten: it may be the real one.
    """
    entry = get(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / entry.filename
    meta_path = path.with_name(path.name + ".json")
    meta = {"stand_in_for": entry.name, "published_file": entry.filename, "notice": NOTICE,
            "description": entry.description, "settings": entry.settings, "seed": int(seed),
            "format_version": FORMAT_VERSION}
    if path.exists():
        old = json.loads(meta_path.read_text()) if meta_path.is_file() else None
        if old is None:
            raise FileExistsError(f"{path} exists and is not a stand-in written by aulib.models.weights "
                                  f"(no {meta_path.name} beside it): it may be the published file - move it "
                                  "away or give another folder")
        if old == meta:
            return path
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        entry.write(tmp, int(seed))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    meta_path.write_text(json.dumps(meta, indent=1, default=str))
    return path


def main(argv=None) -> int:
    """``python -m aulib.models.weights FOLDER NAME...``: write the stand-ins, print their paths."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m aulib.models.weights", description=main.__doc__)
    ap.add_argument("folder")
    ap.add_argument("names", nargs="+", help=f"any of {', '.join(PUBLISHED)}")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    for name in a.names:
        print(f"{name}: {ensure_stand_in(name, a.folder, a.seed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
