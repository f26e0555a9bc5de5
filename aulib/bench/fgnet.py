"""Benchmarks of FG-Net: train step and inference speed (images/s) and peak memory, at the
tiny and paper sizes, on CPU always and CUDA when present, beside a torchvision ResNet-50 at
the same input size as the yardstick (random weights; speed does not depend on them), and
the baselines FG-Net's tiny notebooks train beside it (DRML, ME-GraphAU-style) with their
tiny set-up on the same 64-px batches (the cost of a baseline run at ``tiny``).

One benchmark per (model, size) so that the runner's per-process peak RSS belongs to it;
CUDA rows also report ``torch.cuda.max_memory_allocated``. The paper-size model on CPU is
timed on one image and one step without warm-up (about a minute each on two cores).
"""
from __future__ import annotations

import time

from . import register

N_AUS = 12


def _batch(b: int, size: int, device: str):
    import torch

    g = torch.Generator().manual_seed(0)
    return {"image": torch.randn(b, 3, size, size, generator=g).to(device),
            "au": (torch.rand(b, N_AUS, generator=g) > 0.5).float().to(device),
            "au_mask": torch.ones(b, N_AUS, device=device),
            "landmarks": (torch.rand(b, 68, 2, generator=g) * size * 0.6 + size * 0.2).to(device)}


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _measure(model, loss_fn, batch: dict, device: str, warmup: int, iters: int) -> dict:
    """Images/s of train steps (AdamW) and of no-grad inference; CUDA peak memory."""
    import torch

    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-5, weight_decay=5e-4)
    b = batch["image"].shape[0]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model.train()
    for i in range(warmup + iters):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        out = model(batch["image"])
        loss = loss_fn(batch, out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.1)
        opt.step()
    _sync(device)
    train = b * iters / (time.perf_counter() - t0)
    train_mem = torch.cuda.max_memory_allocated() / 2 ** 20 if device == "cuda" else None
    model.eval()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        for i in range(warmup + iters):
            if i == warmup:
                _sync(device)
                t0 = time.perf_counter()
            model(batch["image"])
    _sync(device)
    infer = b * iters / (time.perf_counter() - t0)
    infer_mem = torch.cuda.max_memory_allocated() / 2 ** 20 if device == "cuda" else None
    return {"train": train, "infer": infer, "train_mem": train_mem, "infer_mem": infer_mem,
            "gflops": inference_gflops(model, batch["image"][:1])}


def inference_gflops(model, image) -> float:
    """GFLOPs of one forward of ``image`` (one face, (1, C, H, W); eval mode), counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts as 2 FLOPs; operators it
    does not know count 0), as GLEE-Net's size table counts them (``aulib.papers.gleenet``)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    # counted with autograd on: under no_grad the counter's module tracker fails on models whose
    # forward re-enables gradients (FG-Net's); only the forward runs, so only its FLOPs count
    with FlopCounterMode(display=False) as fc:
        model(image)
    return fc.get_total_flops() / 1e9


def _rows(label: str, size_name: str, input_px: int, device: str, batch: int, m: dict) -> list[dict]:
    ctx = {"device": device, "size": size_name, "input": f"{input_px}x{input_px}", "batch": batch}
    rows = [{"name": f"{label} train step ({size_name}, {device})", "value": m["train"], "unit": "images/s", **ctx},
            {"name": f"{label} inference ({size_name}, {device})", "value": m["infer"], "unit": "images/s", **ctx}]
    if m.get("gflops") is not None:
        rows.append({"name": f"{label} inference GFLOPs per face ({size_name})", "value": round(m["gflops"], 4),
                     "unit": "GFLOPs", **ctx})
    if m["train_mem"] is not None:
        rows += [{"name": f"{label} train step peak CUDA memory ({size_name})", "value": m["train_mem"],
                  "unit": "MiB", **ctx},
                 {"name": f"{label} inference peak CUDA memory ({size_name})", "value": m["infer_mem"],
                  "unit": "MiB", **ctx}]
    return rows


def _plan(size_name: str, quick: bool, device: str) -> tuple[dict, int, int, int]:
    """(FG-Net kwargs, batch, warm-up iterations, timed iterations)."""
    from ..models.fgnet import TINY_KWARGS, TINY_PROFILE_KWARGS

    if quick:
        return dict(TINY_KWARGS), 2, 0, 1
    if size_name == "tiny":
        return dict(TINY_PROFILE_KWARGS), 16, 1, 3
    if device == "cpu":
        return {}, 1, 0, 1
    return {}, 8, 2, 5       # paper batch size 8 (paper §4.2)


def _fgnet(size_name: str, quick: bool) -> list[dict]:
    import torch

    from ..models.fgnet import FGNet

    rows = []
    for device in _devices():
        kw, b, warm, iters = _plan(size_name, quick, device)
        torch.manual_seed(0)
        model = FGNet(**kw)
        batch = _batch(b, model.input_size, device)
        m = _measure(model, model.loss, batch, device, warm, iters)
        rows += _rows("FG-Net", size_name + (" (quick: smoke sizes)" if quick else ""), model.input_size,
                      device, b, m)
        del model
    return rows


def _resnet(size_name: str, quick: bool) -> list[dict]:
    from ..models.fgnet import FGNet

    rows = []
    for device in _devices():
        kw, b, warm, iters = _plan(size_name, quick, device)
        px = kw.get("input_size", FGNet.__init__.__defaults__[1])
        rows += yardstick_rows("ResNet-50", size_name + (" (quick: smoke sizes)" if quick else ""),
                               px, device, b, warm, iters)
    return rows


def yardstick_rows(label: str, size_label: str, px: int, device: str, b: int, warm: int, iters: int,
                   n_aus: int = N_AUS) -> list[dict]:
    """The ResNet-50 yardstick every paper's bench sets beside its model: torchvision's
    ResNet-50 (random init, ``n_aus`` logits, plain BCE) trained and run on a batch of
    ``b`` ``px``-px faces on ``device``; rows as :func:`_rows` writes them."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None, num_classes=n_aus)
    crit = torch.nn.BCEWithLogitsLoss()
    batch = _batch(b, px, device)
    batch["au"] = batch["au"][:, :n_aus]
    m = _measure(model, lambda bt, out: crit(out, bt["au"]), batch, device, warm, iters)
    return _rows(label, size_label, px, device, b, m)


@register("fgnet.fgnet_tiny")
def fgnet_tiny(quick: bool) -> list[dict]:
    return _fgnet("tiny", quick)


@register("fgnet.resnet50_tiny")
def resnet50_tiny(quick: bool) -> list[dict]:
    return _resnet("tiny", quick)


@register("fgnet.fgnet_paper")
def fgnet_paper(quick: bool) -> list[dict]:
    return _fgnet("paper", quick)


@register("fgnet.resnet50_paper")
def resnet50_paper(quick: bool) -> list[dict]:
    return _resnet("paper", quick)


def _baseline_tiny(name: str, quick: bool) -> list[dict]:
    """A baseline as ``fgnet/01`` trains it at tiny (:func:`aulib.papers.fgnet.baseline_kwargs`),
    fed the 64-px faces FG-Net's tiny notebooks align."""
    import torch

    from ..models import registry
    from ..models.common import BP4D_AUS
    from ..models.fgnet import TINY_PROFILE_KWARGS
    from ..papers.fgnet import BASELINE_MODEL, baseline_kwargs

    px = TINY_PROFILE_KWARGS["input_size"]
    b, warm, iters = (2, 0, 1) if quick else (16, 1, 3)
    rows = []
    for device in _devices():
        torch.manual_seed(0)
        model = registry.create(BASELINE_MODEL[name], aus=list(BP4D_AUS), **baseline_kwargs(name, "tiny", "bp4d"))
        m = _measure(model, model.loss, _batch(b, px, device), device, warm, iters)
        rows += _rows(f"{name} (FG-Net tiny baseline)", "tiny" + (" (quick)" if quick else ""), px, device, b, m)
    return rows


@register("fgnet.drml_tiny")
def drml_tiny(quick: bool) -> list[dict]:
    return _baseline_tiny("drml", quick)


@register("fgnet.megraph_tiny")
def megraph_tiny(quick: bool) -> list[dict]:
    return _baseline_tiny("megraph", quick)
