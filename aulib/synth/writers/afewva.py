"""``synth-afewva``: AFEW-VA-like wild clips with 68 landmarks per frame (datasets.md s.9).

- ``<3-digit clip>/<5-digit frame>.png`` - the frames of each clip (clips from ``001``);
- ``<clip>/<clip>.json`` - ``{"video_id": "<clip>", "frames": {"<5-digit frame>":
  {"valence": v, "arousal": a, "landmarks": [[x, y] x 68]}}}``, valence and arousal
  integers in -10..10 derived from the AUs (valence up with AU12/AU6, down with
  AU4/AU9/AU15/AU1; arousal up with AU5/AU26/AU25/AU1/AU2 - a documented toy mapping).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..catalogue import AUS
from ..dynamics import calibrated_rates, simulate
from ..engine import Sequence, render_all
from ..identity import identity_seed, make_identity
from .common import finish

_I = {a: i for i, a in enumerate(AUS)}


def valence_arousal(aus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lambda a: aus[:, _I[a]]  # noqa: E731
    val = 1.6 * x("AU12") + 0.6 * x("AU6") - 1.2 * x("AU4") - 1.0 * x("AU9") - 1.2 * x("AU15") \
        - 0.5 * x("AU1")
    aro = 1.2 * x("AU5") + 0.8 * x("AU26") + 0.5 * x("AU25") + 0.5 * (x("AU1") + x("AU2")) \
        + 0.3 * x("AU4") + 0.3 * x("AU12") - 3.0
    return (np.clip(np.rint(val), -10, 10).astype(int), np.clip(np.rint(aro), -10, 10).astype(int))


def write(root: Path, size: int, n_clips: int, n_frames: int, seed: int, failure_rates: dict,
          **_) -> dict:
    seqs = []
    for c in range(n_clips):
        clip = f"{c + 1:03d}"
        sid = identity_seed("synth-afewva", clip, seed)
        ident = make_identity(sid)
        rng = np.random.default_rng(sid % 2**32)
        n = int(rng.integers(max(2, n_frames // 2), n_frames * 3 // 2 + 1))
        times = np.arange(n) / 25.0 * 4
        aus = simulate(calibrated_rates("wild"), times, rng, au_rate=ident.au_rate)
        seqs.append(Sequence(key=clip, paths=[f"{clip}/{i:05d}.png" for i in range(n)], aus=aus,
                             identity=sid, domain="wild", size=size, seed=sid % 2**31,
                             mode="video", times=times, fps=25.0))
    results = render_all(seqs, root, desc="synth-afewva")
    for s, r in zip(seqs, results):
        v, a = valence_arousal(s.aus)
        frames = {f"{i:05d}": {"valence": int(v[i]), "arousal": int(a[i]),
                               "landmarks": np.round(r["landmarks"][i], 2).tolist()}
                  for i in range(len(s.aus))}
        (root / s.key / f"{s.key}.json").write_text(json.dumps({"video_id": s.key, "frames": frames}))
    finish(root, "synth-afewva", seqs, results,
           {"layout": __doc__, "size": size, "domain": "wild", "clips": n_clips},
           extra_cols=[{"subject": s.key} for s in seqs])
    return {"frames": int(sum(len(s.aus) for s in seqs))}
