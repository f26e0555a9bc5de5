"""FaceNet's Inception-ResNet-v1 (Schroff et al., CVPR 2015; Szegedy et al., AAAI 2017), in the
module layout of facenet-pytorch, with a strict loader for its published weight files.

GLEE-Net's global branch is two siamese copies of this network initialised from FaceNet trained
for face recognition on VGGFace2 (GLEE-Net §3.1). ``facenet-pytorch`` pins an old torch and
downloads its weights at run time, so the network is written here and the file the user has
(``20180402-114759-vggface2.pt``) is read in its own key layout by :func:`load_facenet_weights`.

Facts used (``../shared/reference/gleenet-facenet.md``, from timesler/facenet-pytorch
``models/inception_resnet_v1.py`` at 787da06): module names and shapes (stem ``conv2d_1a`` ...
``conv2d_4b``, ``repeat_1`` = 5 x Block35 scale 0.17, ``mixed_6a``, ``repeat_2`` = 10 x Block17
scale 0.10, ``mixed_7a``, ``repeat_3`` = 5 x Block8 scale 0.20, ``block8`` scale 1.0 without the
final ReLU, ``last_linear`` 1792->512 without bias, ``last_bn`` and ``logits``); BasicConv2d =
bias-free conv + BatchNorm(eps 1e-3, momentum 0.1) + ReLU; residual blocks end in a 1x1
``conv2d`` with bias; dropout 0.6 before ``last_linear``; input 160 x 160 RGB with
``(x - 127.5) / 128`` on 0..255 values; output the L2-normalised 512-d embedding. The file is a
bare state_dict with ``logits.*`` (8631 classes for VGGFace2, 10575 for CASIA-WebFace); 716 keys
with the 112 ``num_batches_tracked`` scalars, 604 without; 27,939,927 numbers for VGGFace2.

``width`` and ``repeats`` shrink the network for CPU profiles (width 1, repeats (5, 10, 5) is
the published architecture, the only one the loader accepts a published file for).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register

#: facenet-pytorch's published files: name -> (classes of its ``logits`` layer, LFW accuracy, size)
PUBLISHED_FILES = {"20180402-114759-vggface2.pt": (8631, 0.9965, "107MB"),
                   "20180408-102900-casia-webface.pt": (10575, 0.9905, "111MB")}
#: input side the published weights were trained at (facenet-pytorch README)
INPUT_SIZE = 160


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps 1e-3) -> ReLU; keys ``conv.weight``, ``bn.*``."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001, momentum=0.1, affine=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Block35(nn.Module):
    """Inception-ResNet-A: three branches (1x1; 1x1-3x3; 1x1-3x3-3x3) -> 1x1 conv2d (bias) -> residual."""

    def __init__(self, ch: int, b: int, scale: float = 0.17):
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(ch, b, 1)
        self.branch1 = nn.Sequential(BasicConv2d(ch, b, 1), BasicConv2d(b, b, 3, padding=1))
        self.branch2 = nn.Sequential(BasicConv2d(ch, b, 1), BasicConv2d(b, b, 3, padding=1),
                                     BasicConv2d(b, b, 3, padding=1))
        self.conv2d = nn.Conv2d(3 * b, ch, 1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        out = self.conv2d(torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1))
        return self.relu(x + self.scale * out)


class Block17(nn.Module):
    """Inception-ResNet-B: 1x1 and 1x1-(1x7)-(7x1) branches -> 1x1 conv2d (bias) -> residual."""

    def __init__(self, ch: int, b: int, scale: float = 0.10):
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(ch, b, 1)
        self.branch1 = nn.Sequential(BasicConv2d(ch, b, 1), BasicConv2d(b, b, (1, 7), padding=(0, 3)),
                                     BasicConv2d(b, b, (7, 1), padding=(3, 0)))
        self.conv2d = nn.Conv2d(2 * b, ch, 1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        out = self.conv2d(torch.cat([self.branch0(x), self.branch1(x)], 1))
        return self.relu(x + self.scale * out)


class Block8(nn.Module):
    """Inception-ResNet-C: 1x1 and 1x1-(1x3)-(3x1) branches; ``no_relu`` for the last block."""

    def __init__(self, ch: int, b: int, scale: float = 0.20, no_relu: bool = False):
        super().__init__()
        self.scale, self.no_relu = scale, no_relu
        self.branch0 = BasicConv2d(ch, b, 1)
        self.branch1 = nn.Sequential(BasicConv2d(ch, b, 1), BasicConv2d(b, b, (1, 3), padding=(0, 1)),
                                     BasicConv2d(b, b, (3, 1), padding=(1, 0)))
        self.conv2d = nn.Conv2d(2 * b, ch, 1)
        if not no_relu:
            self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        out = x + self.scale * self.conv2d(torch.cat([self.branch0(x), self.branch1(x)], 1))
        return out if self.no_relu else self.relu(out)


class Mixed6a(nn.Module):
    """Reduction-A: 3x3/2 conv; 1x1-3x3-3x3/2; max-pool 3/2 (concatenated)."""

    def __init__(self, cin: int, c384: int, c192: int, c256: int):
        super().__init__()
        self.branch0 = BasicConv2d(cin, c384, 3, stride=2)
        self.branch1 = nn.Sequential(BasicConv2d(cin, c192, 1), BasicConv2d(c192, c192, 3, padding=1),
                                     BasicConv2d(c192, c256, 3, stride=2))
        self.branch2 = nn.MaxPool2d(3, stride=2)
        self.out_channels = c384 + c256 + cin

    def forward(self, x):
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class Mixed7a(nn.Module):
    """Reduction-B: three conv branches with a stride-2 3x3 at the end, and max-pool 3/2."""

    def __init__(self, cin: int, c256: int, c384: int):
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(cin, c256, 1), BasicConv2d(c256, c384, 3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(cin, c256, 1), BasicConv2d(c256, c256, 3, stride=2))
        self.branch2 = nn.Sequential(BasicConv2d(cin, c256, 1), BasicConv2d(c256, c256, 3, padding=1),
                                     BasicConv2d(c256, c256, 3, stride=2))
        self.branch3 = nn.MaxPool2d(3, stride=2)
        self.out_channels = c384 + 2 * c256 + cin

    def forward(self, x):
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class InceptionResnetV1(nn.Module):
    """FaceNet's Inception-ResNet-v1: face image -> L2-normalised embedding.

    Input: (B, 3, H, W) RGB, normalised as ``(v - 127.5) / 128`` on 0..255 values - i.e. about
    [-1, 1], the [0, 1] -> (x - 0.5) / 0.5 normalisation the AU datasets use, up to 0.4 %.
    H = W >= 80 (160 for the published weights). Output: (B, ``embedding_size``) unit vectors,
    or logits (B, ``num_classes``) when ``classify``.

    Args:
        embedding_size: output dimension of ``last_linear`` (published: 512).
        num_classes: size of the ``logits`` layer (8631 for the VGGFace2 file; None = no layer).
        classify: forward returns ``logits`` instead of the embedding.
        dropout_prob: dropout before ``last_linear`` (published: 0.6).
        width: channel multiplier (1.0 = published; CPU profiles use less).
        repeats: numbers of Block35 / Block17 / Block8 blocks (published: (5, 10, 5)).
    """

    def __init__(self, embedding_size: int = 512, num_classes: int | None = None, classify: bool = False,
                 dropout_prob: float = 0.6, width: float = 1.0, repeats=(5, 10, 5)):
        super().__init__()
        c = lambda n: max(8, int(round(n * width)))  # noqa: E731
        self.width, self.repeats = float(width), tuple(int(r) for r in repeats)
        self.conv2d_1a = BasicConv2d(3, c(32), 3, stride=2)
        self.conv2d_2a = BasicConv2d(c(32), c(32), 3)
        self.conv2d_2b = BasicConv2d(c(32), c(64), 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(c(64), c(80), 1)
        self.conv2d_4a = BasicConv2d(c(80), c(192), 3)
        self.conv2d_4b = BasicConv2d(c(192), c(256), 3, stride=2)
        self.repeat_1 = nn.Sequential(*[Block35(c(256), c(32), 0.17) for _ in range(self.repeats[0])])
        self.mixed_6a = Mixed6a(c(256), c(384), c(192), c(256))
        ch6 = self.mixed_6a.out_channels
        self.repeat_2 = nn.Sequential(*[Block17(ch6, c(128), 0.10) for _ in range(self.repeats[1])])
        self.mixed_7a = Mixed7a(ch6, c(256), c(384))
        ch7 = self.mixed_7a.out_channels
        self.repeat_3 = nn.Sequential(*[Block8(ch7, c(192), 0.20) for _ in range(self.repeats[2])])
        self.block8 = Block8(ch7, c(192), 1.0, no_relu=True)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout_prob)
        self.last_linear = nn.Linear(ch7, embedding_size, bias=False)
        self.last_bn = nn.BatchNorm1d(embedding_size, eps=0.001, momentum=0.1, affine=True)
        self.classify = bool(classify)
        self.embedding_size, self.feature_channels = int(embedding_size), ch7
        if num_classes:
            self.logits = nn.Linear(embedding_size, int(num_classes))
        elif classify:
            raise ValueError("classify=True needs num_classes (the number of identities)")
        self.init = "random"

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The batch-normalised ``last_bn`` output (B, embedding_size), before L2 normalisation."""
        for name in ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a",
                     "conv2d_4b", "repeat_1", "mixed_6a", "repeat_2", "mixed_7a", "repeat_3", "block8"):
            x = getattr(self, name)(x)
        if x.shape[-1] < 1 or x.shape[-2] < 1:
            raise ValueError("input too small for Inception-ResNet-v1: use at least 80 x 80 pixels")
        x = self.dropout(self.avgpool_1a(x).flatten(1))
        return self.last_bn(self.last_linear(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.logits(x) if self.classify else F.normalize(x, p=2, dim=1)


def expected_layout(num_classes: int | None = 8631) -> dict[str, tuple]:
    """{key: shape} of facenet-pytorch's published state_dict (with ``logits`` of
    ``num_classes`` rows, or without when None), ``num_batches_tracked`` scalars included."""
    net = InceptionResnetV1(num_classes=num_classes)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _file_problems(state: dict, model: InceptionResnetV1) -> list[str]:
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    optional = {k for k in own if k.endswith("num_batches_tracked")}
    has = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(own) - set(has) - optional)
    extra = sorted(set(has) - set(own))
    shaped = [f"{k}: file {has[k]} vs model {own[k]}" for k in own if k in has and has[k] != own[k]]
    out = []
    if missing:
        out.append(f"{len(missing)} missing key(s): {', '.join(missing[:12])}" + (" ..." if len(missing) > 12 else ""))
    if extra:
        out.append(f"{len(extra)} unexpected key(s): {', '.join(extra[:12])}" + (" ..." if len(extra) > 12 else ""))
    if shaped:
        out.append(f"{len(shaped)} mis-shaped key(s): {'; '.join(shaped[:12])}" + (" ..." if len(shaped) > 12 else ""))
    return out


def read_state_dict(path) -> dict:
    """The tensors of a facenet-pytorch weight file (a bare state_dict saved with torch.save).

    Raises FileNotFoundError naming the file expected, ValueError when the file is not a
    state_dict of tensors (e.g. a saved whole model, an HTML page)."""
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"FaceNet weights not found at {p}. Expected facenet-pytorch's published file "
            f"20180402-114759-vggface2.pt (107MB, a bare state_dict; GLEE-Net starts from FaceNet trained on "
            "VGGFace2) - download it yourself from facenet-pytorch's GitHub release v2.2.9 and pass its path.")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means: not this format
        raise ValueError(f"{p} is not a torch state_dict file ({type(e).__name__}: {str(e)[:200]}); expected "
                         "facenet-pytorch's 20180402-114759-vggface2.pt") from e
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{p} holds {type(state).__name__}, not a bare state_dict of tensors as "
                         "facenet-pytorch's 20180402-114759-vggface2.pt is")
    return state


def load_facenet_weights(model: InceptionResnetV1, path, keep_logits: bool = False) -> InceptionResnetV1:
    """Load facenet-pytorch's published weights into ``model``, strictly, in the file's key layout.

    The file must hold every key of the published architecture with its exact shape
    (``num_batches_tracked`` may be absent; reference §1): a missing, unexpected or mis-shaped
    key is an error that names each one with the expected and found shapes. ``logits.*`` (the
    identity classifier) are checked against the number of classes of a published file and
    dropped unless ``keep_logits`` (then ``model`` must have a ``logits`` layer of that size).
    ``model`` must have the published width and block counts. Sets ``model.init``.
    """
    if model.width != 1.0 or model.repeats != (5, 10, 5) or model.embedding_size != 512:
        raise ValueError(f"the published FaceNet weights fit the full Inception-ResNet-v1 (width 1.0, repeats "
                         f"(5, 10, 5), 512-d embedding); this model has width {model.width}, repeats "
                         f"{model.repeats}, {model.embedding_size}-d - build it with the defaults")
    state = read_state_dict(path)
    name = Path(os.fspath(path)).name
    n_cls = int(state["logits.weight"].shape[0]) if "logits.weight" in state else None
    known = {v[0] for v in PUBLISHED_FILES.values()}
    if n_cls is not None and n_cls not in known:
        raise ValueError(f"{name}: its logits layer has {n_cls} classes; the published files have "
                         f"{sorted(known)} (VGGFace2 8631, CASIA-WebFace 10575) - is it another network's file?")
    probe = InceptionResnetV1(num_classes=n_cls if n_cls else None)
    problems = _file_problems(state, probe)
    if problems:
        raise ValueError(f"{name} does not match facenet-pytorch's Inception-ResNet-v1 layout: "
                         + "; ".join(problems) + ". Expected the published file 20180402-114759-vggface2.pt "
                         "(716 keys with num_batches_tracked, 604 without)")
    if keep_logits:
        have = getattr(model, "logits", None)
        if have is None or have.out_features != n_cls:
            raise ValueError(f"keep_logits=True needs a model with logits of {n_cls} classes "
                             f"(InceptionResnetV1(num_classes={n_cls}))")
    else:
        state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    target = model.state_dict()
    sub = {k: v for k, v in state.items() if k in target}
    model.load_state_dict(sub, strict=False)   # every required key is there (checked above)
    model.init = f"facenet:{name}"
    return model


@register("facenet", output="L2-normalised embedding (B, 512); logits with classify=True",
          paper="Schroff et al., CVPR 2015 (Inception-ResNet-v1, facenet-pytorch layout)",
          tiny_kwargs={"width": 0.125, "repeats": (1, 1, 1), "embedding_size": 32, "input_size": 96})
def facenet(embedding_size: int = 512,       # last_linear output size (published 512)
            num_classes: int | None = None,  # logits layer size (VGGFace2 8631); None = no layer
            classify: bool = False,          # forward returns logits
            dropout_prob: float = 0.6,       # dropout before last_linear (published 0.6)
            width: float = 1.0,              # channel multiplier (1.0 = published)
            repeats=(5, 10, 5),              # Block35 / Block17 / Block8 counts (published)
            input_size: int = INPUT_SIZE,    # declared input side (published 160; at least 80)
            weights=None):                   # path to 20180402-114759-vggface2.pt; None = random init
    net = InceptionResnetV1(embedding_size, num_classes, classify, dropout_prob, width, repeats)
    net.input_size = int(input_size)
    if weights:
        load_facenet_weights(net, weights, keep_logits=bool(num_classes))
    return net
