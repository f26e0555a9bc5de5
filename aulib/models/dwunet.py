"""DW-UNet: PIAP-DF's PI Generator (paper 004, Tang et al., ICCV 2021, §3.1 and Figure 4).

The paper: "we trained a modified UNet on the AFEW-VA dataset. This modified UNet, which we
call DW-UNet, replaces the original convolution layers with the depthwise separable
convolution and employs the binary cross-entropy loss (BCELoss) as the loss function L_PI
(1) ... DW-UNet reduces the number of parameters and calculations by 90%." It maps an RGB
face (3 x 256 x 256) to the 12 predefined PI maps (12 x 256 x 256) of BP4D's AUs.

What the paper leaves open, our choices (also in :func:`aulib.papers.piapdf.deviation_table`):
the U-Net shape is Ronneberger et al.'s (4 down-sampling steps, two 3x3 conv + BN + ReLU per
level, widths ``base``, 2 ``base``, ... 16 ``base``, max-pool down, bilinear x2 up + concat), with
``base=64`` as the original; "depthwise separable" replaces each 3x3 convolution by a
depthwise 3x3 followed by a pointwise 1x1 (MobileNet's factorisation). ``depthwise=False`` is
the plain U-Net of the same shape, the reference for the parameter / FLOP saving
(:func:`unet_cost`). Output: logits (sigmoid -> maps in [0, 1]).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .common import au_list
from .registry import register

BP4D_AUS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24")


def conv3x3(cin: int, cout: int, depthwise: bool) -> nn.Sequential:
    """3x3 convolution + BN + ReLU; depthwise-separable (3x3 per channel, then 1x1) or plain."""
    if depthwise:
        conv = [nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False)]
    else:
        conv = [nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
    return nn.Sequential(*conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def double_conv(cin: int, cout: int, depthwise: bool) -> nn.Sequential:
    return nn.Sequential(conv3x3(cin, cout, depthwise), conv3x3(cout, cout, depthwise))


class DWUNet(nn.Module):
    """U-Net (depthwise-separable or plain): image (B, 3, S, S) -> logits (B, n_maps, S, S).

    ``S`` must be divisible by 2 ** ``depth``. ``loss(batch, output)``: eq. (1), per-pixel BCE
    against ``batch["pi_maps"]`` (B, n_maps, S, S) in [0, 1].
    """

    def __init__(self, aus=BP4D_AUS, base: int = 64, depth: int = 4, depthwise: bool = True,
                 in_channels: int = 3, input_size: int = 256):
        super().__init__()
        self.aus = au_list(aus)
        self.base, self.depth, self.depthwise, self.input_size = int(base), int(depth), bool(depthwise), int(input_size)
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.inc = double_conv(in_channels, widths[0], depthwise)
        self.down = nn.ModuleList(double_conv(widths[i], widths[i + 1], depthwise) for i in range(depth))
        self.up = nn.ModuleList(double_conv(widths[i + 1] + widths[i], widths[i], depthwise)
                                for i in reversed(range(depth)))
        self.out = nn.Conv2d(widths[0], len(self.aus), 1)

    def forward(self, x):
        if x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"DW-UNet input {tuple(x.shape[-2:])} is not divisible by 2**depth = "
                             f"{2 ** self.depth}; resize the faces (e.g. to 64 or 256 px)")
        skips = [self.inc(x)]
        for blk in self.down:
            skips.append(blk(F.max_pool2d(skips[-1], 2)))
        h = skips.pop()
        for blk in self.up:
            s = skips.pop()
            h = blk(torch.cat([F.interpolate(h, size=s.shape[-2:], mode="bilinear", align_corners=False), s], 1))
        return self.out(h)

    def maps(self, x):
        """PI maps in [0, 1] (sigmoid of the logits), the paper's "before one-hot" maps."""
        return torch.sigmoid(self(x))

    def decide(self, output):
        """Mean map value per AU (for the trainer's prediction path; not an AU detector)."""
        return torch.sigmoid(output.float()).mean((-2, -1))

    def loss(self, batch, output):
        """Eq. (1): mean per-pixel BCE between the predicted and the predefined PI maps."""
        return F.binary_cross_entropy_with_logits(output.float(), batch["pi_maps"].float())


def unet_cost(base: int = 64, depth: int = 4, size: int = 256, n_maps: int = 12) -> dict:
    """Parameters and FLOPs (one 3 x size x size image, forward) of the depthwise and the plain
    U-Net of the same shape, and the saving of the depthwise one in percent (paper: "reduces
    the number of parameters and calculations by 90%", §3.1). FLOPs are counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` (2 per multiply-add; convolutions and
    matrix products only)."""
    from torch.utils.flop_counter import FlopCounterMode

    out = {}
    for kind, dw in (("dw", True), ("plain", False)):
        net = DWUNet(aus=[f"AU{i + 1}" for i in range(n_maps)], base=base, depth=depth, depthwise=dw).eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            net(torch.zeros(1, 3, size, size))
        out[f"params_{kind}"] = sum(p.numel() for p in net.parameters())
        out[f"flops_{kind}"] = int(counter.get_total_flops())
    out["param_saving_pct"] = 100.0 * (1 - out["params_dw"] / out["params_plain"])
    out["flop_saving_pct"] = 100.0 * (1 - out["flops_dw"] / out["flops_plain"])
    return out


@register("dwunet", output="PI-map logits (B, n_aus, S, S)",
          paper="Tang et al., ICCV 2021 (PIAP-DF) §3.1: DW-UNet, PI Generator",
          tiny_kwargs={"aus": ["AU1", "AU2", "AU6"], "base": 4, "depth": 2, "input_size": 32})
def dwunet(aus=BP4D_AUS,          # AUs, one PI map each (BP4D's 12 in the paper)
           base: int = 64,        # width of the first level (Ronneberger's U-Net: 64)
           depth: int = 4,        # number of down-sampling steps (U-Net: 4)
           depthwise: bool = True,  # depthwise-separable 3x3 convolutions (DW-UNet); False = plain U-Net
           input_size: int = 256):  # declared input size (paper: 256)
    return DWUNet(aus, base, depth, depthwise, 3, input_size)
