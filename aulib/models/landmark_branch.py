"""Shang & Yu's facial landmark detection branch (paper 003 §2.2) and its CBAM block.

The branch: **five parts**, each two 3x3 convolutions (stride 1, padding 1) and a 2x2 average
pooling; then a **CBAM** module (Woo et al., ECCV 2018: channel attention from an MLP shared
by the average- and max-pooled descriptors, then spatial attention from a 7x7 convolution
over the channel-wise mean and max maps); then **two fully-connected layers** regressing the
``n_land = 49`` inner landmarks (the 68 iBUG points minus the 17 contour points and the two
inner mouth corners, :data:`aulib.face.align.LM68_TO_49`, methods.md A.1). Trained by eq. 1,

    L_fl = 1 / (2 d^2) * sum_i [(x_i - x^_i)^2 + (y_i - y^_i)^2],

``d`` the inter-ocular distance (eye centres; JAA-Net's "biocular" term, methods.md A.6).
Eq. 1 is printed with a leading minus sign; a loss to be minimised is the positive sum, which
is what JAA-Net's landmark loss (the same form) minimises, so the sign is read as a typo.

The branch's first two parts have the structure of the feature extractor ``E_f``
(:class:`Stem`), so ``E_f`` is initialised from them after pre-training and then *shared* by
the two tasks (§2.2: "weight sharing of partial modules"). Each convolution is followed by
BatchNorm and PReLU and ``E_f`` ends with Tanh, as ADLD's ``Feat_Enc`` (methods.md A.4) -
the paper names only the convolutions and the pooling. Channel widths are not printed: ADLD's
encoder uses 32 and 64 for the first two parts; parts 3-5 here double up to ``4 x`` that.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .registry import register

N_LANDMARKS = 49


def _lm49() -> np.ndarray:
    from aulib.face.align import LM68_TO_49

    return LM68_TO_49


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.PReLU()]


def part(c_in: int, c_out: int) -> nn.Sequential:
    """One part of the branch: two 3x3 convolutions (stride 1, padding 1) and 2x2 average
    pooling (paper 003 §2.2); (B, c_in, H, W) -> (B, c_out, H/2, W/2)."""
    return nn.Sequential(*_conv(c_in, c_out), *_conv(c_out, c_out), nn.AvgPool2d(2))


class Stem(nn.Module):
    """The first two parts + Tanh: the feature extractor ``E_f`` (ADLD ``Feat_Enc``,
    methods.md A.4). (B, 3, S, S) -> (B, widths[1], S/4, S/4)."""

    def __init__(self, widths=(32, 64)):
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        self.part1, self.part2 = part(3, self.widths[0]), part(self.widths[0], self.widths[1])

    def forward(self, x):
        return torch.tanh(self.part2(self.part1(x)))


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al., ECCV 2018): channel attention
    ``sigmoid(MLP(avgpool) + MLP(maxpool))`` (reduction ``reduction``), then spatial attention
    ``sigmoid(conv7x7([mean_c, max_c]))``; shape preserved."""

    def __init__(self, channels: int, reduction: int = 16, kernel: int = 7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        self.spatial = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x):
        a = self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
        x = x * torch.sigmoid(a)
        s = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(s))


def inner_landmarks(landmarks68: torch.Tensor) -> torch.Tensor:
    """(B, 68, 2) iBUG landmarks -> (B, 49, 2) inner landmarks (methods.md A.1)."""
    return landmarks68[:, torch.as_tensor(_lm49(), device=landmarks68.device)]


def interocular(landmarks49: torch.Tensor) -> torch.Tensor:
    """(B,) distance between the eye centres of (B, 49, 2) landmarks (49-pt 19-24 and 25-30,
    methods.md A.2)."""
    return (landmarks49[:, 19:25].mean(1) - landmarks49[:, 25:31].mean(1)).norm(dim=-1)


def landmark_loss(pred49: torch.Tensor, target68: torch.Tensor) -> torch.Tensor:
    """Eq. 1 of paper 003 (positive form, see module docstring), averaged over the batch.

    ``pred49`` (B, 49, 2) and ``target68`` (B, 68, 2) in the same pixel units; faces whose
    target has a NaN point (no landmarks) are left out; a batch with none gives 0.
    """
    y = inner_landmarks(target68.float())
    ok = torch.isfinite(y).all(-1).all(-1)
    if not bool(ok.any()):
        return pred49.sum() * 0.0
    y, p = y[ok], pred49[ok].float()
    d2 = interocular(y).pow(2).clamp_min(1e-6)
    return ((p - y).pow(2).sum((1, 2)) / (2 * d2)).mean()


def nme(pred49, target68) -> np.ndarray:
    """Per-face normalised mean error: the mean point-to-point distance over the 49 inner
    landmarks divided by the inter-ocular distance (JAA-Net's landmark error, methods.md A.6);
    (B,) numpy, NaN where the target is unknown."""
    y = inner_landmarks(torch.as_tensor(target68).float())
    p = torch.as_tensor(pred49).float()
    e = (p - y).norm(dim=-1).mean(-1) / interocular(y).clamp_min(1e-6)
    return e.numpy()


class LandmarkBranch(nn.Module):
    """Shang & Yu's landmark detection branch (module docstring). ``forward(x)`` returns
    (B, 49, 2) landmarks in pixels of the input; :attr:`stem` is ``E_f``; :meth:`head` maps
    ``E_f`` features to landmarks (so a model sharing the stem runs only the rest).

    Args:
        input_size: side of the input face (paper: 176, §3.1; the fifth pooling floors 11 to 5, so
            the first fully-connected layer reads widths[4] x 5 x 5), at least 32.
        widths: channels of the five parts (the first two are ``E_f``'s).
        hidden: width of the first fully-connected layer.
        n_landmarks: points regressed (paper: 49).
        mean_shape: (n_landmarks, 2) pixel coordinates of the mean training shape, or None. The
            last fully-connected layer starts with zero weights, so its bias is the first
            prediction: the mean shape when given (the branch then regresses each face's offsets
            from it), else every point at the crop centre. The paper is silent on this.
    """

    train_inputs = ("image",)

    def __init__(self, input_size: int = 176, widths=(32, 64, 128, 128, 128), hidden: int = 512,
                 n_landmarks: int = N_LANDMARKS, mean_shape=None):
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"the landmark branch has five parts (paper 003 §2.2); widths has {len(widths)}: {widths}")
        if input_size < 32:
            raise ValueError(f"input_size must be at least 32 (five 2x2 poolings); found {input_size}")
        self.input_size, self.n_landmarks = int(input_size), int(n_landmarks)
        self.widths = tuple(int(w) for w in widths)
        self.stem = Stem(self.widths[:2])
        self.parts = nn.Sequential(*[part(a, b) for a, b in zip(self.widths[1:4], self.widths[2:5])])
        self.cbam = CBAM(self.widths[4])
        side = self.input_size
        for _ in range(5):   # each 2x2 average pooling floors an odd side: the paper's 176 -> 88, 44, 22, 11, 5
            side //= 2
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(self.widths[4] * side * side, hidden), nn.PReLU(),
                                nn.Linear(hidden, 2 * self.n_landmarks))
        nn.init.zeros_(self.fc[-1].weight)   # start from the mean shape (or the crop centre), not from noise
        nn.init.zeros_(self.fc[-1].bias)
        if mean_shape is not None:
            m = torch.as_tensor(np.asarray(mean_shape, np.float32))
            if tuple(m.shape) != (self.n_landmarks, 2) or not bool(torch.isfinite(m).all()):
                raise ValueError(f"mean_shape: expected ({self.n_landmarks}, 2) finite pixel coordinates of the "
                                 f"{self.n_landmarks} inner landmarks, found shape {tuple(m.shape)}")
            with torch.no_grad():
                self.fc[-1].bias.copy_((m / self.input_size - 0.5).reshape(-1))
        self.init = "random"

    def head(self, features):
        """``E_f`` features (B, widths[1], S/4, S/4) -> (B, 49, 2) pixels (the regression is of
        coordinates / input_size, centred: 0 = the middle of the face crop)."""
        z = self.fc(self.cbam(self.parts(features))).view(-1, self.n_landmarks, 2)
        return (z + 0.5) * self.input_size

    def forward(self, x):
        return self.head(self.stem(x))

    def loss(self, batch, output):
        return landmark_loss(output, batch["landmarks"])


def load_branch(branch: LandmarkBranch, path) -> str:
    """Load a pre-trained branch checkpoint (``best.pt`` of an ``aulib.train`` run of
    ``shangyu_landmarks``) into ``branch``; returns the init note. Raises FileNotFoundError
    naming the file, ValueError naming mismatched keys."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"landmark-branch checkpoint {p} not found; pre-train it first "
                                "(notebooks/shangyu/00_landmark_branch, aulib.papers.shangyu.pretrain_landmarks)")
    obj = torch.load(p, map_location="cpu", weights_only=False)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    mine = branch.state_dict()
    bad = [k for k in mine if k not in state or tuple(state[k].shape) != tuple(mine[k].shape)]
    if bad:
        raise ValueError(f"{p} does not fit this landmark branch ({len(bad)} missing or mis-shaped keys, e.g. "
                         f"{bad[:3]}); pre-train the branch with the same input_size and widths")
    branch.load_state_dict({k: state[k] for k in mine})
    return f"pretrained:{p.parent.name}/{p.name}"


@register("shangyu_landmarks", output="landmarks (B, 49, 2) pixels of the input",
          paper="Shang & Yu, ICASSP 2024 (arXiv 2310.05207), landmark detection branch §2.2",
          tiny_kwargs={"input_size": 64, "widths": (8, 16, 16, 16, 16), "hidden": 32})
def shangyu_landmarks(input_size: int = 176,                  # side of the input face (paper 176)
                      widths=(32, 64, 128, 128, 128),         # channels of the five parts
                      hidden: int = 512,                      # first fully-connected layer
                      n_landmarks: int = N_LANDMARKS,         # points regressed (paper 49)
                      mean_shape=None):                       # (49, 2) px: first prediction (None: crop centre)
    return LandmarkBranch(input_size, widths, hidden, n_landmarks, mean_shape)
