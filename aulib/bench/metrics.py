"""Benchmark of the metrics: per-AU F1 over a large pooled test set."""
from __future__ import annotations

import time

import numpy as np

from . import register


@register("eval.f1_per_au")
def f1_throughput(quick: bool) -> list[dict]:
    from ..eval import metrics

    n = 20_000 if quick else 2_000_000
    rng = np.random.default_rng(0)
    y = (rng.random((n, 12)) < 0.3).astype(np.int8)
    p = (rng.random((n, 12)) < 0.3).astype(np.int8)
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        metrics.f1_per_au(y, p, [f"AU{i}" for i in range(12)])
    dt = (time.perf_counter() - t0) / reps
    return [{"name": "F1 per AU, 12 AUs", "value": n / dt, "unit": "frames/s", "frames": n}]
