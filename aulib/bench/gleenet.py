"""Benchmarks of GLEE-Net: train step and inference (images/s, CUDA peak memory) at the tiny
and paper sizes beside the ResNet-50 yardstick at the same input, and the batched 3DMM fit
(frames/s; the issue's target on CPU is >= 200 frames/s). The train step / inference timing and
the row format are FG-Net's (:mod:`aulib.bench.fgnet`)."""
from __future__ import annotations

import time

from . import register
from .fgnet import N_AUS, _batch, _devices, _measure, _rows, yardstick_rows


def _gleenet(size_name: str, quick: bool) -> list[dict]:
    import torch

    from ..models.gleenet import GLEENet, pack_inputs
    from ..papers.gleenet import model_kwargs

    rows = []
    for device in _devices():
        kw = model_kwargs("smoke" if quick else size_name)
        b, warm, iters = (2, 0, 1) if quick else ((16, 1, 3) if size_name == "tiny" else ((1, 0, 1) if device == "cpu"
                                                                                          else (30, 2, 5)))
        torch.manual_seed(0)
        model = GLEENet(aus=[f"AU{i}" for i in range(1, N_AUS + 1)], **kw)
        batch = _batch(b, model.input_size, device)
        batch["image"] = pack_inputs(batch["image"], torch.randn(b, model.n_exp3d, device=device))
        m = _measure(model, model.loss, batch, device, warm, iters)
        label = size_name + (" (quick: smoke sizes)" if quick else "")
        rows += _rows("GLEE-Net", label, model.input_size, device, b, m)
        del model                                         # free it before the yardstick
        rows += yardstick_rows("ResNet-50 (GLEE-Net input)", label, kw["input_size"], device, b, warm, iters)
    return rows


@register("gleenet.gleenet_tiny")
def gleenet_tiny(quick: bool) -> list[dict]:
    return _gleenet("tiny", quick)


@register("gleenet.gleenet_paper")
def gleenet_paper(quick: bool) -> list[dict]:
    return _gleenet("paper", quick)


@register("gleenet.morphable_fit")
def morphable_fit(quick: bool) -> list[dict]:
    """Batched LM fit of a 60 + 51-coefficient model (random bases) to projected landmarks, one
    thread (frames/s and frames per CPU-second), float32, at most 15 LM iterations."""
    import numpy as np
    import torch

    from ..face import morphable as mm

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ang = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    xy = np.stack([np.cos(ang), 1.2 * np.sin(ang)], 1) + rng.normal(0, .15, (68, 2))
    xy = (xy - xy.mean(0)) / np.sqrt(((xy - xy.mean(0)) ** 2).sum(1).mean())
    model = mm.MorphableModel(np.concatenate([xy, mm.template_depth(xy)[:, None]], 1),
                              rng.normal(0, .02, (60, 68, 3)), rng.normal(0, .03, (51, 68, 3)))
    B = 64 if quick else 512
    R = mm._rodrigues(torch.tensor(rng.uniform(-.3, .3, (B, 3)))).numpy()
    t = np.stack([np.zeros(B), np.zeros(B), rng.uniform(9, 12, B)], 1)
    lm = mm.project(model, rng.normal(0, 1, (B, 60)), rng.normal(0, 1, (B, 51)), R, t).numpy() * 60 + 100
    t0, c0 = time.perf_counter(), time.process_time()
    fit = mm.fit_landmarks(model, lm)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    # frames per CPU-second as well: on a shared machine the wall-clock rate measures the other load
    return [{"name": "3DMM fit, batched LM (CPU, 1 thread)", "value": B / dt, "unit": "frames/s", "batch": B,
             "frames_per_cpu_second": B / max(dc, 1e-9), "iterations": fit.iterations, "target": 200,
             "rms_px": float(fit.rms.mean())}]
