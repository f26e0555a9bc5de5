"""DRML: Deep Region and Multi-label learning (Zhao, Chu & Zhang, CVPR 2016).

Facts from methods.md section F (read from the independent AlexHex7/DRML_pytorch
re-implementation): input 170x170 (crop of a 200x200 aligned face); conv 11x11 (32 ch) ->
region layer (8x8 grid; each patch its own BN -> ReLU -> 3x3 conv, added back to the patch)
-> ReLU -> maxpool 2 -> BN -> conv 8x8 (16) -> conv 8x8 (16) -> conv 6x6 stride 2 (16) ->
conv 5x5 (16), ReLU after each -> FC 4096 -> FC 2048 (ReLU, dropout 0.5) -> FC n_AU. Loss:
multi-label sigmoid cross-entropy ignoring unknown labels (our masked BCE; per-AU weights
are off by default to follow the paper - ``au_weighted=True`` turns them on; ``balanced=True``
weights each AU's positive term by (1 - r) / r, r its running base rate, as FG-Net's
``active_weight=0`` does - not a paper setting).

Patches of a map whose side the grid does not divide are split as evenly as possible.
"""
from __future__ import annotations

import torch
from torch import nn

from .common import DISFA_AUS, AUWeights, RunningBaseRate, au_list, masked_bce
from .registry import register


class RegionLayer(nn.Module):
    """Split the map into a ``grid`` x ``grid`` set of patches; each patch gets its own
    BN -> ReLU -> conv3x3 block whose output is added to the patch (residual)."""

    def __init__(self, channels: int, grid: int = 8):
        super().__init__()
        self.grid = grid
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(grid * grid))

    def forward(self, x):
        rows = torch.tensor_split(x, self.grid, dim=2)
        out_rows = []
        for i, row in enumerate(rows):
            cells = torch.tensor_split(row, self.grid, dim=3)
            out_rows.append(torch.cat([c + self.blocks[i * self.grid + j](c) for j, c in enumerate(cells)], dim=3))
        return torch.cat(out_rows, dim=2)


class DRML(AUWeights):
    def __init__(self, aus=DISFA_AUS, input_size: int = 170, grid: int = 8, fc_dims=(4096, 2048),
                 dropout: float = 0.5, au_weighted: bool = False, resize: bool = False,
                 balanced: bool = False):
        super().__init__()
        self.resize = bool(resize)
        self.balanced = bool(balanced)
        self.aus = au_list(aus)
        self.input_size = int(input_size)
        self.init = "random"
        self.au_weighted = bool(au_weighted)
        self.conv1 = nn.Conv2d(3, 32, 11)
        self.region = RegionLayer(32, grid)
        self.trunk = nn.Sequential(
            nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(32),
            nn.Conv2d(32, 16, 8), nn.ReLU(), nn.Conv2d(16, 16, 8), nn.ReLU(),
            nn.Conv2d(16, 16, 6, stride=2), nn.ReLU(), nn.Conv2d(16, 16, 5), nn.ReLU())
        with torch.no_grad():
            n_flat = self.trunk(torch.zeros(1, 32, self.input_size - 10, self.input_size - 10)).numel()
        layers, d = [], n_flat
        for h in fc_dims:
            layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout)]
            d = h
        self.classifier = nn.Sequential(*layers, nn.Linear(d, len(self.aus)))
        self._init_au_weights(len(self.aus))
        self.base_rate = RunningBaseRate(len(self.aus), enabled=self.balanced)

    def forward(self, x):
        if (x.shape[-1] != self.input_size or x.shape[-2] != self.input_size) and self.resize:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False, antialias=x.shape[-1] > self.input_size)
        elif x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            raise ValueError(f"DRML was built for {self.input_size}x{self.input_size} inputs (its FC layer "
                             f"size depends on it); got {tuple(x.shape[-2:])}. Resize/crop the images or "
                             "build the model with input_size=<your size>")
        f = self.trunk(self.region(self.conv1(x)))
        return self.classifier(f.flatten(1))

    def loss(self, batch, output):
        weights = self.au_weights if self.au_weighted else None
        return masked_bce(output, batch, weights, self.base_rate.pos_weight(batch["au"], batch.get("au_mask")))


@register("drml", output="logits (B, n_aus)", paper="Zhao, Chu & Zhang, CVPR 2016 (DRML)",
          tiny_kwargs={"aus": ["AU1", "AU2", "AU12"], "input_size": 96, "fc_dims": [64, 32]})
def drml(aus=DISFA_AUS,          # AU names predicted, in output order
         input_size: int = 170,  # square input side (170 in the paper's setting)
         grid: int = 8,          # region layer grid (8x8 in the paper)
         fc_dims=(4096, 2048),   # hidden FC sizes
         dropout: float = 0.5,   # dropout after each hidden FC
         au_weighted: bool = False,  # per-AU loss weights from base rates (off = paper's loss)
         resize: bool = False,   # resize inputs of another size to input_size (bilinear) instead of raising
         balanced: bool = False):  # weight each AU's positive term by (1 - r) / r (running base rate r)
    return DRML(aus, input_size, grid, tuple(fc_dims), dropout, au_weighted, resize, balanced)
