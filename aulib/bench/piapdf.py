"""Benchmarks of PIAP-DF: the AU encoder (EfficientNet-B1, the model PIAP-DF deploys) and the
DW-UNet PI generator, train step and inference images/s, at the tiny size (64 px, the tiny
profile's faces; DW-UNet width 16) and at the paper's 256 px (DW-UNet width 64), beside a
torchvision ResNet-50 at the same input size as the yardstick. CPU always, CUDA when present;
CUDA rows report peak memory, the runner adds peak RSS per benchmark. Measurement helpers are
FG-Net's (:mod:`aulib.bench.fgnet`): AdamW steps, then no-grad inference.
"""
from __future__ import annotations

from . import register
from .fgnet import _batch, _devices, _measure, _rows


def _plan(size_name: str, quick: bool, device: str) -> tuple[int, int, int, int]:
    """(input px, batch, warm-up iterations, timed iterations)."""
    if quick:
        return 32, 2, 0, 1
    if size_name == "tiny":
        return 64, 16, 1, 3
    return (256, 1, 0, 1) if device == "cpu" else (256, 32, 2, 5)


def _run(label: str, size_name: str, quick: bool, build, loss) -> list[dict]:
    import torch

    rows = []
    for device in _devices():
        px, b, warm, iters = _plan(size_name, quick, device)
        torch.manual_seed(0)
        model = build(px, size_name)
        batch = _batch(b, px, device)
        batch["pi_maps"] = (torch.rand(b, 12, px, px, generator=torch.Generator().manual_seed(1)) > 0.7).float().to(device)
        m = _measure(model, loss(model), batch, device, warm, iters)
        rows += _rows(label, size_name + (" (quick: smoke sizes)" if quick else ""), px, device, b, m)
        del model
    return rows


def _encoder(px, size_name):
    from ..models.piapdf import PIAP

    return PIAP(input_size=px)


def _dwunet(px, size_name):
    from ..models.dwunet import DWUNet

    return DWUNet(base=16 if size_name == "tiny" else 64, depth=4, input_size=px)


def _resnet(px, size_name):
    import torchvision

    return torchvision.models.resnet50(weights=None, num_classes=12)


def _bce(model):
    import torch

    crit = torch.nn.BCEWithLogitsLoss()
    return lambda bt, out: crit(out if torch.is_tensor(out) else out["logits"], bt["au"])


def _own(model):
    return lambda bt, out: model.loss(bt, out)


for _size in ("tiny", "paper"):
    for _name, _label, _build, _loss in (("encoder", "PIAP AU encoder (EfficientNet-B1)", _encoder, _own),
                                         ("dwunet", "DW-UNet", _dwunet, _own),
                                         ("resnet50", "ResNet-50", _resnet, _bce)):
        def _bench(quick: bool, _l=_label, _s=_size, _b=_build, _f=_loss) -> list[dict]:
            return _run(_l, _s, quick, _b, _f)
        register(f"piapdf.{_name}_{_size}")(_bench)
