"""Benchmarks of the shared baselines (ResNet-18/50, EfficientNet-B1, DRML, ME-GraphAU,
DANN, ADDA): train-step images/s (AdamW, the model's own loss), inference images/s and peak
memory, at each model's paper input size (its default ``input_size``), on CPU always and on
CUDA when present (CUDA rows: AMP + channels_last as the trainer uses them, and
``torch.cuda.max_memory_allocated``). Random weights: speed does not depend on them.
``quick``: the registry's tiny arguments, batch 2, one step (proves each bench runs).
One benchmark per model so the runner's per-process peak RSS is that model's.
"""
from __future__ import annotations

import time

from . import register

MODELS = ("resnet18", "resnet50", "efficientnet_b1", "drml", "megraph", "dann", "adda")


def _bench(name: str, quick: bool) -> list[dict]:
    import torch

    from aulib.models import registry
    from aulib.models.common import weighted_bce

    torch.manual_seed(0)
    entry = registry.get(name)
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        model = registry.create(name, **(entry.tiny_kwargs if quick else {}))
        size, n = int(model.input_size), len(model.aus)
        b = 2 if quick else (8 if device == "cpu" else 32)
        warm, iters = (0, 1) if quick else ((1, 3) if device == "cpu" else (3, 10))
        cuda = device == "cuda"
        model.to(device)
        if cuda:
            model.to(memory_format=torch.channels_last)
            torch.cuda.reset_peak_memory_stats()
        g = torch.Generator().manual_seed(0)
        batch = {"image": torch.randn(b, 3, size, size, generator=g),
                 "au": (torch.rand(b, n, generator=g) > 0.5).float(), "au_mask": torch.ones(b, n)}
        batch["target_image"] = batch["image"].flip(0)
        batch = {k: v.to(device) for k, v in batch.items()}
        if cuda:
            batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
        keys = getattr(model, "train_inputs", ("image",))
        if hasattr(model, "set_progress"):
            model.set_progress(0.9)            # ADDA: time the adaptation stage
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)

        def sync():
            if cuda:
                torch.cuda.synchronize()

        def step():
            with amp:
                out = model(*[batch[k] for k in keys])
                loss = model.loss(batch, out) if hasattr(model, "loss") else \
                    weighted_bce(out, batch["au"], mask=batch["au_mask"])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        model.train()
        for _ in range(warm):
            step()
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        sync()
        train_ips = b * iters / (time.perf_counter() - t0)
        model.eval()
        with torch.no_grad():
            for _ in range(warm):
                with amp:
                    model(batch["image"])
            sync()
            t0 = time.perf_counter()
            for _ in range(iters):
                with amp:
                    model(batch["image"])
            sync()
            infer_ips = b * iters / (time.perf_counter() - t0)
        ctx = {"device": device, "input_size": size, "batch": b, "n_aus": n,
               "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2)}
        rows.append({"name": f"{name} train step", "value": round(train_ips, 2), "unit": "images/s", **ctx})
        rows.append({"name": f"{name} inference", "value": round(infer_ips, 2), "unit": "images/s", **ctx})
        if cuda:
            rows.append({"name": f"{name} peak CUDA memory (train)", "unit": "MiB", **ctx,
                         "value": round(torch.cuda.max_memory_allocated() / 2**20, 1)})
    return rows


def _make(name):
    @register(f"models.{name}")
    def bench(quick: bool, _name=name) -> list[dict]:
        return _bench(_name, quick)
    return bench


for _n in MODELS:
    _make(_n)
