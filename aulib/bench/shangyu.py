"""Benchmarks of Shang & Yu's full model (BL + ML + AS), and at the ``tiny`` size of the two
baselines the comparison trains beside it (ADLD - the BL: the same model with ML and AS off - and
DANN): one training step on a (source, target) batch - for the full model both domains through
E_f, separation, two rounds of reconstruction, every loss term and the discriminators - and
inference (E_au on the self-reconstructed feature), at the ``tiny`` profile's size (64 px, widths
16-64) and the paper's (176 px, widths 32-128), beside a torchvision ResNet-50 yardstick at the
same input size (random weights; speed does not depend on them), timed by FG-Net's benchmark loop
(AdamW, clip 0.1). CPU always, CUDA when present (with peak memory). A training image is counted
once per source face (its paired target face rides along, as in the notebooks).
"""
from __future__ import annotations

from . import register
from .fgnet import _devices, _measure, _rows, yardstick_rows

#: (input px, widths, hidden, batch, warm-up, timed iterations) per size; quick = smoke sizes
SIZES = {"tiny": (64, (16, 32, 64, 64, 64), 128, 16, 1, 3),
         "paper": (176, (32, 64, 128, 128, 128), 512, 16, 1, 2),
         "quick": (64, (8, 16, 16, 16, 16), 32, 2, 0, 1)}


def _batch(b: int, size: int, device: str, n_aus: int = 6) -> dict:
    import torch

    g = torch.Generator().manual_seed(0)

    def lm():
        return (torch.rand(b, 68, 2, generator=g) * size * 0.6 + size * 0.2).to(device)

    return {"image": torch.randn(b, 3, size, size, generator=g).to(device),
            "target_image": torch.randn(b, 3, size, size, generator=g).to(device),
            "landmarks": lm(), "target_landmarks": lm(),
            "au": (torch.rand(b, n_aus, generator=g) > 0.5).float().to(device),
            "au_mask": torch.ones(b, n_aus, device=device)}


def _paired(model, batch: dict):
    """``model`` seen through :func:`aulib.bench.fgnet._measure`'s one-argument calls: in training
    the image comes with the batch's target image and landmarks (``model.train_inputs``)."""
    import torch

    class Paired(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x, *[batch[k] for k in model.train_inputs[1:]]) if self.training else self.model(x)

    return Paired()


def _plan(size_name: str, quick: bool, device: str):
    px, widths, hidden, b, warm, iters = SIZES["quick" if quick else size_name]
    if size_name == "paper" and device == "cpu" and not quick:
        b, warm, iters = 2, 0, 1          # a minute-scale step on two cores
    return px, widths, hidden, b, warm, iters


#: the labels the comparison (aulib.papers.compare, Method.bench) looks these rows up by
LABELS = {"full": "Shang & Yu (BL+ML+AS)", "adld": "ADLD (Shang & Yu's BL)", "dann": "DANN (Shang & Yu's baseline)"}


def _shangyu(size_name: str, quick: bool, which: str = "full") -> list[dict]:
    """Shang & Yu's full model, or (``which="adld"``) its BL: ADLD, the same model with the
    landmark branch and the contrastive alignment off (Table 3, model A)."""
    import torch

    from ..models.shangyu import ShangYu

    switches = {} if which == "full" else {"landmark_branch": False, "contrastive": False}
    rows = []
    for device in _devices():
        px, widths, hidden, b, warm, iters = _plan(size_name, quick, device)
        torch.manual_seed(0)
        model = ShangYu(input_size=px, widths=widths, hidden=hidden, **switches)
        batch = _batch(b, px, device)
        m = _measure(_paired(model, batch), model.loss, batch, device, warm, iters)
        rows += _rows(LABELS[which], size_name + (" (quick: smoke sizes)" if quick else ""), px, device, b, m)
    return rows


def _dann(size_name: str, quick: bool) -> list[dict]:
    """DANN as Shang & Yu's notebooks train it (:func:`aulib.papers.shangyu.baseline_kwargs`: a
    random-init ResNet-18 with a gradient-reversed domain classifier), source and target batch."""
    import torch

    from ..models.dann import dann
    from ..models.shangyu import SHANGYU_AUS

    rows = []
    for device in _devices():
        px, _, _, b, warm, iters = _plan(size_name, quick, device)
        torch.manual_seed(0)
        model = dann(aus=SHANGYU_AUS, backbone="resnet18", input_size=px)
        batch = _batch(b, px, device, n_aus=len(SHANGYU_AUS))
        m = _measure(_paired(model, batch), model.loss, batch, device, warm, iters)
        rows += _rows(LABELS["dann"], size_name + (" (quick: smoke sizes)" if quick else ""), px, device, b, m)
    return rows


def _resnet(size_name: str, quick: bool) -> list[dict]:
    rows = []
    for device in _devices():
        px, _, _, b, warm, iters = _plan(size_name, quick, device)
        rows += yardstick_rows("ResNet-50 (yardstick)", size_name + (" (quick: smoke sizes)" if quick else ""),
                               px, device, b, warm, iters, n_aus=6)
    return rows


@register("shangyu.full_tiny")
def full_tiny(quick: bool) -> list[dict]:
    return _shangyu("tiny", quick)


@register("shangyu.adld_tiny")
def adld_tiny(quick: bool) -> list[dict]:
    return _shangyu("tiny", quick, "adld")


@register("shangyu.dann_tiny")
def dann_tiny(quick: bool) -> list[dict]:
    return _dann("tiny", quick)


@register("shangyu.resnet50_tiny")
def resnet50_tiny(quick: bool) -> list[dict]:
    return _resnet("tiny", quick)


@register("shangyu.full_paper")
def full_paper(quick: bool) -> list[dict]:
    return _shangyu("paper", quick)


@register("shangyu.resnet50_paper")
def resnet50_paper(quick: bool) -> list[dict]:
    return _resnet("paper", quick)
