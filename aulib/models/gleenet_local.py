"""GLEE-Net's local branch (Hu et al., AAAI 2023, §3.2): 16 fixed crops of the face, one small
extractor per crop, concatenated, MLP -> the local expression feature L_exp.

Facts (paper 002, §3.2 and Figure 3): the crops are positioned by the image area, not by
landmarks ("we choose to crop the image according to the whole image area instead of facial
landmarks"): three quarters and one half of the image from the left, right, top and bottom
(L34, R34, T34, B34, L12, R12, T12, B12) and from two directions at once (TL34, TR34, TL12,
TR12, BL34, BR34, BL12, BR12); each is resized to 96 x 96 and fed to its own extractor: four
3 x 3 convolutions, a self-attention module, average pooling; the 16 features are concatenated
and "resized" to 16 by MLP layers. T12 (the top half) covers eyebrows and eyes.

Choices the paper leaves open (listed in ``aulib.papers.gleenet.deviation_table``): "crop X
from the left" keeps the left X of the image; the convolutions' widths (32, 64, 64, 64) and
strides (2, 2, 1, 1) with BatchNorm + ReLU; a SAGAN-style self-attention (query/key 1x1 to C/8,
value 1x1, learned residual gate starting at 0); pooling to 4 x 4; one hidden MLP layer of 512.
With these the paper-size model has 57.1 M parameters and 8.31 GFLOPs (160 px) against the paper's 56.6 M and 8.72
(``aulib.papers.gleenet.complexity_table``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: crop name -> (x0, x1, y0, y1) as fractions of the image side (paper 002 §3.2, in its order)
CROPS: dict[str, tuple[float, float, float, float]] = {
    "L34": (0.0, 0.75, 0.0, 1.0), "R34": (0.25, 1.0, 0.0, 1.0),
    "T34": (0.0, 1.0, 0.0, 0.75), "B34": (0.0, 1.0, 0.25, 1.0),
    "L12": (0.0, 0.5, 0.0, 1.0), "R12": (0.5, 1.0, 0.0, 1.0),
    "T12": (0.0, 1.0, 0.0, 0.5), "B12": (0.0, 1.0, 0.5, 1.0),
    "TL34": (0.0, 0.75, 0.0, 0.75), "TR34": (0.25, 1.0, 0.0, 0.75),
    "TL12": (0.0, 0.5, 0.0, 0.5), "TR12": (0.5, 1.0, 0.0, 0.5),
    "BL34": (0.0, 0.75, 0.25, 1.0), "BR34": (0.25, 1.0, 0.25, 1.0),
    "BL12": (0.0, 0.5, 0.5, 1.0), "BR12": (0.5, 1.0, 0.5, 1.0),
}


def crop_boxes(size: int) -> dict[str, tuple[int, int, int, int]]:
    """{crop name: (x0, x1, y0, y1) in pixels} of the 16 crops of a ``size`` x ``size`` image."""
    return {k: (round(a * size), round(b * size), round(c * size), round(d * size)) for k, (a, b, c, d) in CROPS.items()}


def local_crops(image: torch.Tensor, crop_size: int = 96) -> torch.Tensor:
    """The 16 crops of a batch of square images, each resized (bilinear, antialiased) to
    ``crop_size``: (B, 3, H, W) -> (16, B, 3, crop_size, crop_size), in :data:`CROPS` order."""
    if image.ndim != 4 or image.shape[-1] != image.shape[-2]:
        raise ValueError(f"local_crops expects square images (B, C, S, S), got {tuple(image.shape)}")
    out = []
    for x0, x1, y0, y1 in crop_boxes(image.shape[-1]).values():
        part = image[:, :, y0:y1, x0:x1]
        out.append(F.interpolate(part, size=(crop_size, crop_size), mode="bilinear", align_corners=False,
                                 antialias=part.shape[-1] > crop_size or part.shape[-2] > crop_size))
    return torch.stack(out)


class SelfAttention2d(nn.Module):
    """Self-attention over the positions of a feature map (SAGAN-style): 1x1 query/key to
    C/8 channels, 1x1 value, softmax over positions, added back with a learned gate (starts at 0)."""

    def __init__(self, ch: int):
        super().__init__()
        self.q = nn.Conv2d(ch, max(1, ch // 8), 1)
        self.k = nn.Conv2d(ch, max(1, ch // 8), 1)
        self.v = nn.Conv2d(ch, ch, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        b, c, h, w = x.shape
        q = self.q(x).flatten(2).transpose(1, 2)                  # (B, HW, C')
        k = self.k(x).flatten(2)                                  # (B, C', HW)
        attn = torch.softmax(q @ k / (k.shape[1] ** 0.5), dim=-1)  # (B, HW, HW)
        v = self.v(x).flatten(2)                                  # (B, C, HW)
        return x + self.gamma * (v @ attn.transpose(1, 2)).view(b, c, h, w)


class LocalExtractor(nn.Module):
    """One crop's extractor: four 3x3 conv-BN-ReLU layers, self-attention, average pooling to
    ``pool`` x ``pool``; (B, 3, s, s) -> (B, channels[-1] * pool^2)."""

    def __init__(self, channels=(32, 64, 64, 64), strides=(2, 2, 1, 1), pool: int = 4):
        super().__init__()
        layers, cin = [], 3
        for c, s in zip(channels, strides):
            layers += [nn.Conv2d(cin, c, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            cin = c
        self.convs = nn.Sequential(*layers)
        self.attention = SelfAttention2d(cin)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.out_features = cin * pool * pool

    def forward(self, x):
        return self.pool(self.attention(self.convs(x))).flatten(1)


class LocalBranch(nn.Module):
    """16 crops -> 16 extractors -> concatenation -> MLP -> L_exp (B, ``embed_dim``).

    Args:
        crop_size: side each crop is resized to (paper 96).
        channels, strides, pool: each extractor's conv widths, strides and pooled size.
        hidden: the MLP's hidden width.
        embed_dim: size of L_exp (paper 16).
    """

    def __init__(self, crop_size: int = 96, channels=(32, 64, 64, 64), strides=(2, 2, 1, 1), pool: int = 4,
                 hidden: int = 512, embed_dim: int = 16):
        super().__init__()
        self.crop_size = int(crop_size)
        self.names = list(CROPS)
        self.extractors = nn.ModuleList(LocalExtractor(channels, strides, pool) for _ in CROPS)
        n = len(CROPS) * self.extractors[0].out_features
        self.mlp = nn.Sequential(nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, embed_dim))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        crops = local_crops(image, self.crop_size)
        return self.mlp(torch.cat([ex(c) for ex, c in zip(self.extractors, crops)], 1))
