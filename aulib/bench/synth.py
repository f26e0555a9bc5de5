"""SynthAU benchmarks: rendering + encoding + writing throughput (images/s at 128 px with
2 worker processes, the project's target being >= 1,000/s), one core alone, and the
time to write a smoke-sized dataset.

Images are written to a scratch folder beside the datasets (under the data root), i.e. on
the file system SynthAU really writes to: creating files in some sandboxes' ``/tmp`` costs
up to a millisecond each, which would measure the file system instead of the generator."""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from . import register


def _sequences(n_images: int, size: int, per_seq: int = 100):
    from ..synth.catalogue import AUS
    from ..synth.engine import Sequence

    rng = np.random.default_rng(0)
    seqs = []
    for k in range(max(1, n_images // per_seq)):
        aus = rng.uniform(0, 5, (per_seq, len(AUS))) * (rng.random((per_seq, len(AUS))) < 0.25)
        dom = ("lab-a", "lab-b", "wild")[k % 3]
        seqs.append(Sequence(key=f"s{k}", paths=[f"s{k}/{i}.jpg" for i in range(per_seq)], aus=aus,
                             identity=k, domain=dom, size=size, seed=k,
                             mode="video" if dom != "wild" else "stills"))
    return seqs


@register("synth")
def bench_synth(quick: bool) -> list[dict]:
    from ..synth.engine import render_all

    from .. import config

    scratch = config.data_root()
    scratch.mkdir(parents=True, exist_ok=True)
    out = []
    n = 300 if quick else 6000
    for workers in (1, 2):
        seqs = _sequences(n if workers == 2 else n // 2, 128)
        total = sum(len(s.aus) for s in seqs)
        with tempfile.TemporaryDirectory(dir=scratch, prefix=".bench-") as d:
            render_all(seqs[:1], d, workers=1)             # warm caches (backgrounds, imports)
            t = time.perf_counter()
            render_all(seqs, d, workers=workers)
            dt = time.perf_counter() - t
        out.append({"name": f"synth.render_write_128px_{workers}w", "value": round(total / dt, 1),
                    "unit": "images/s", "size": 128, "workers": workers, "images": total,
                    "target": 1000 if workers == 2 else None, "cpus": os.cpu_count(),
                    "load_avg_1min": round(os.getloadavg()[0], 2)})
    from ..synth import ensure

    with tempfile.TemporaryDirectory(dir=scratch, prefix=".bench-") as d:
        t = time.perf_counter()
        ensure("synth-disfa", "smoke", root=d)
        out.append({"name": "synth.ensure_disfa_smoke", "value": round(time.perf_counter() - t, 2),
                    "unit": "s"})
    return out
