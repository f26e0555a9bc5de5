"""Multi-label CNN baselines shared by several papers' tables: ResNet-18, ResNet-50 and
EfficientNet-B1 (torchvision architectures) with one logit per AU.

ImageNet initialisation comes only from a user-supplied file in torchvision's format
(``weights="path/to/resnet18-f37072fd.pth"``); without it the network starts from random
init. ``model.init`` records which ("imagenet:<file>" or "random") so results can say it.
Input size 224 (the ME-GraphAU/ResNet convention, methods.md E.2); any size >= 32 works.
"""
from __future__ import annotations

from torch import nn

from .common import DISFA_AUS, Backbone, au_list
from .registry import register


class AUClassifier(nn.Module):
    """Backbone feature map -> global average pool -> dropout -> Linear(C, n_aus) logits.

    No loss of its own: the trainer's default applies (``TrainConfig.loss``: masked BCE with
    per-AU weights from the training base rates, GLEE-Net eq. 5 / JAA-Net, methods.md A.3).
    """

    def __init__(self, arch: str, aus=DISFA_AUS, weights=None, dropout: float = 0.0, input_size: int = 224):
        super().__init__()
        self.aus = au_list(aus)
        self.input_size = int(input_size)
        self.backbone = Backbone(arch, weights)
        self.init = self.backbone.init
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.out_channels, len(self.aus))

    def features(self, x):
        return self.pool(self.backbone(x)).flatten(1)

    def forward(self, x):
        return self.head(self.dropout(self.features(x)))


_TINY = {"aus": ["AU1", "AU2", "AU12"], "input_size": 64}


@register("resnet18", output="logits (B, n_aus)", paper="He et al., CVPR 2016 (torchvision resnet18)",
          tiny_kwargs=_TINY)
def resnet18(aus=DISFA_AUS,          # AU names predicted, in output order
             weights=None,           # path to torchvision's resnet18-f37072fd.pth; None = random init
             dropout: float = 0.0,   # dropout before the AU layer
             input_size: int = 224):  # declared input size (bench, notebooks)
    return AUClassifier("resnet18", aus, weights, dropout, input_size)


@register("resnet50", output="logits (B, n_aus)", paper="He et al., CVPR 2016 (torchvision resnet50)",
          tiny_kwargs=_TINY)
def resnet50(aus=DISFA_AUS,          # AU names predicted, in output order
             weights=None,           # path to resnet50-0676ba61.pth / resnet50-11ad3fa6.pth; None = random
             dropout: float = 0.0,   # dropout before the AU layer
             input_size: int = 224):  # declared input size
    return AUClassifier("resnet50", aus, weights, dropout, input_size)


@register("efficientnet_b1", output="logits (B, n_aus)",
          paper="Tan & Le, ICML 2019 (torchvision efficientnet_b1)", tiny_kwargs=_TINY)
def efficientnet_b1(aus=DISFA_AUS,          # AU names predicted, in output order
                    weights=None,           # path to efficientnet_b1_rwightman-bac287d4.pth (or -c27df63c)
                    dropout: float = 0.2,   # torchvision's classifier dropout for B1
                    input_size: int = 240):  # torchvision's B1 evaluation size
    return AUClassifier("efficientnet_b1", aus, weights, dropout, input_size)
