"""Shared set-up for paper notebooks: trained runs reused across notebooks.

One training run is often needed by several notebooks (FG-Net: Table 1's fold-1 model is
also Table 2's cross-domain model, Table 3's full model, Figure 6's "all frames" point and
Figures 5/8's model). :func:`cached_fit` puts each run in a cache folder keyed by
everything that changes its result - the model name and constructor arguments, the
training configuration (seed included), the exact training and validation frames and the
fingerprint of the data folder - so the second notebook reads the first one's checkpoint
instead of retraining. It relies on :func:`aulib.train.fit`'s resume: a finished run is
loaded from ``best.pt``, an interrupted one continues from ``last.pt``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from torch.utils.data import Subset

from aulib import config as aconfig

from . import checkpoint as ck
from .loop import FitResult, TrainConfig, fit

# TrainConfig fields that do not change a run's result (where it runs, how it reports)
_NOT_RESULT = ("progress", "device", "num_workers")


def frames_digest(index) -> str:
    """A short digest of the frames of a frame index (its ``path`` column, or its rows)."""
    if index is None:
        return "none"
    col = index["path"] if "path" in getattr(index, "columns", ()) else index.index
    return hashlib.sha256("\n".join(map(str, col)).encode()).hexdigest()[:16]


def run_key(model_name: str, model_kwargs: dict, config: TrainConfig, **parts) -> str:
    """The cache key of one training run (16 hex digits).

    ``parts``: the run's inputs as plain values, e.g. ``data=<data folder fingerprint>``,
    ``train=frames_digest(train_index)``, ``val=frames_digest(val_index)``.
    """
    blob = json.dumps({"model": model_name, "kwargs": ck._plain(dict(model_kwargs)),
                       "config": {k: v for k, v in config.to_dict().items() if k not in _NOT_RESULT},
                       "parts": ck._plain(parts)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_fit(model_name: str, model_kwargs: dict, train_ds, val_ds, config: TrainConfig, profile: str,
               group: str, train_index, val_index=None, data_root=None) -> tuple:
    """Train ``model_name(**model_kwargs)`` (or read the finished run) in the shared run cache.

    The run folder is ``config.cache_dir("runs", profile, group, key)`` with ``key`` from
    :func:`run_key` over the model, the configuration, the training / validation frames
    (``train_index`` / ``val_index``, the frame indexes the datasets were built from) and the
    fingerprint of ``data_root``. Returns ``(model, FitResult, run_dir)``; the model holds the
    validation-selected weights. Seeds as :func:`aulib.train.run_protocol` does, so the same
    key always means the same initial weights.
    """
    data_fp = aconfig.fingerprint_path(data_root) if data_root else "none"
    key = run_key(model_name, model_kwargs, config, data=data_fp, train=frames_digest(train_index),
                  val=frames_digest(val_index))
    run_dir = aconfig.cache_dir("runs", profile, *group.split("/"), key)
    opts = run_dir / "options.json"
    if not opts.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        opts.write_text(json.dumps({"model": model_name, "model_kwargs": ck._plain(dict(model_kwargs)),
                                    "config": config.to_dict(), "data": data_fp,
                                    "train": frames_digest(train_index), "val": frames_digest(val_index),
                                    "n_train": len(train_ds), "n_val": 0 if val_ds is None else len(val_ds)},
                                   indent=1, sort_keys=True))
    aconfig.seed_everything(config.seed)
    model = ck.create_model(model_name, **model_kwargs)
    res: FitResult = fit(model, train_ds, val_ds, config, run_dir)
    return model, res, Path(run_dir)


class FrameSubset(Subset):
    """The items of one aligned :class:`aulib.data.AUDataset` whose frames are in ``index``
    (matched by ``path``; repeats allowed), so one alignment cache serves every fold, subset
    and test set of a dataset instead of aligning each frame set anew. Frames the base
    dataset dropped (no landmarks) are skipped; the base's ledger lists them.

    Exposes ``aus``, ``labels``, ``mask`` and ``subjects`` of the picked items, like the base.
    """

    def __init__(self, base, index):
        pos = getattr(base, "_aulib_path_pos", None)
        if pos is None:
            pos = {base.refs[j]: i for i, j in enumerate(base._slots)}
            base._aulib_path_pos = pos
        picked = [pos[p] for p in index["path"].astype(str) if p in pos]
        if not picked:
            raise ValueError(f"none of the {len(index)} frames is in the base dataset "
                             f"({len(base)} aligned frames of {base.root})")
        super().__init__(base, picked)
        slots = base._slots[np.asarray(picked)]
        self.aus = list(base.aus)
        self.labels, self.mask, self.subjects = base.labels[slots], base.mask[slots], base.subjects[slots]
