"""The experiment building block every paper notebook calls: :func:`run_protocol`.

One model configuration, trained and tested once per "fold" of a protocol - the 3-fold
subject-exclusive protocol of BP4D/DISFA (methods.md A.6, E.2), a cross-domain pair (train
and select on the source, test on the target; FG-Net section 4), or a data-efficiency subset
(FG-Net Figure 6) - whatever ``folds`` and ``make_datasets`` describe. Returns a tidy
DataFrame ``[fold, au, f1]`` (per-AU F1 in percent plus ``Avg`` per fold); average over
folds with :func:`aulib.eval.metrics.fold_summary`.

Compute apart from drawing: every fold writes ``<run_root>/<fold>/`` with the checkpoints,
``history.csv``, ``predictions.npz`` (test probabilities, decisions, labels, mask, subjects)
and ``scores.csv``. A finished fold is read back, not retrained; an interrupted fold resumes
from its last checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from aulib import config as aconfig

from . import checkpoint as ck
from .loop import Predictions, TrainConfig, fit, predict

OPTIONS = "options.json"


def fold_name(fold) -> str:
    """A fold's folder name: the string itself, ``fold["name"]`` or ``fold.name``."""
    if isinstance(fold, str):
        name = fold
    elif isinstance(fold, dict) and "name" in fold:
        name = fold["name"]
    elif hasattr(fold, "name"):
        name = fold.name
    else:
        raise TypeError(f"cannot name fold {fold!r}: pass strings, dicts with a 'name' key, or "
                        "objects with a .name attribute")
    name = str(name)
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"fold name {name!r} must be a plain folder name")
    return name


def _check_options(run_root: Path, options: dict) -> None:
    path = run_root / OPTIONS
    if path.is_file():
        old = json.loads(path.read_text())
        if old != options:
            changed = sorted(k for k in set(old) | set(options) if old.get(k) != options.get(k))
            raise ValueError(f"{run_root} holds runs made with other options (differing: {changed}); "
                             "use another run_root, or delete the folder to retrain")
    else:
        run_root.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(options, indent=1, sort_keys=True))


def run_protocol(model_name: str, model_kwargs: dict, folds, make_datasets, config: TrainConfig,
                 run_root, loss=None, progress: bool | None = None) -> pd.DataFrame:
    """Train ``model_name(**model_kwargs)`` once per fold and test it; tidy per-AU F1 table.

    ``make_datasets(fold) -> (train_ds, val_ds, test_ds)`` builds the fold's datasets
    (validation is used for model selection only; ``val_ds`` may be None for "last epoch").
    The returned DataFrame has columns ``fold, au, f1``; ``df.attrs["runs"]`` lists per fold
    the best epoch, the model's initialisation and the folder with its predictions.
    """
    run_root = Path(run_root)
    folds = list(folds)
    names = [fold_name(f) for f in folds]
    if len(set(names)) != len(names):
        raise ValueError(f"fold names must be unique, found {names}")
    _check_options(run_root, {"model": model_name, "model_kwargs": ck._plain(dict(model_kwargs)),
                              "config": {k: v for k, v in config.to_dict().items()
                                         if k not in ("progress", "device", "num_workers")},
                              "loss": getattr(loss, "__name__", None) if loss is not None else None})
    rows, runs = [], []
    for fold, name in zip(folds, names):
        d = run_root / name
        done = d / "done.json"
        if done.is_file():
            scores = pd.read_csv(d / "scores.csv")
            runs.append(json.loads(done.read_text()))
        else:
            train_ds, val_ds, test_ds = make_datasets(fold)
            aconfig.seed_everything(config.seed)     # same seed -> same initial weights
            model = ck.create_model(model_name, **model_kwargs)
            cfg = config if progress is None else replace(config, progress=progress)
            res = fit(model, train_ds, val_ds, cfg, d, loss=loss)
            preds = predict(model, test_ds, batch_size=cfg.eval_batch_size or 2 * cfg.batch_size,
                            threshold=cfg.threshold, num_workers=cfg.num_workers, amp=cfg.amp,
                            channels_last=cfg.channels_last)
            f1 = preds.f1()
            scores = pd.DataFrame({"au": f1.index, "f1": f1.values})
            info = {"fold": name, "best_epoch": res.best_epoch, "best_val_f1": res.best_val_f1,
                    "init": res.init, "n_train": len(train_ds), "n_test": len(test_ds),
                    "n_val": 0 if val_ds is None else len(val_ds), "dir": str(d)}
            if _is_main():
                preds.save(d / "predictions.npz")
                scores.to_csv(d / "scores.csv", index=False)
                done.write_text(json.dumps(info, indent=1))
            runs.append(info)
        scores.insert(0, "fold", name)
        rows.append(scores)
    out = pd.concat(rows, ignore_index=True)[["fold", "au", "f1"]]
    out.attrs["runs"] = runs
    out.attrs["model"] = model_name
    return out


def load_predictions(run_root, fold) -> Predictions:
    """The saved test predictions of one fold of a :func:`run_protocol` run."""
    path = Path(run_root) / fold_name(fold) / "predictions.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run run_protocol for fold {fold_name(fold)!r} first")
    return Predictions.load(path)


def _is_main() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def by_subjects(ds, subjects) -> "torch.utils.data.Subset":  # noqa: F821
    """The items of ``ds`` whose subject is in ``subjects`` (a ``Subset``; dataset order).

    Lets one aligned dataset serve every fold: build it once, then take each fold's train /
    val / test subjects from it (``aulib.data.Fold.train`` etc.).
    """
    from torch.utils.data import Subset

    from .data import summarise

    wanted = set(map(str, subjects))
    item_subjects = summarise(ds, need_labels=False).subjects
    idx = [i for i, s in enumerate(item_subjects) if s in wanted]
    if not idx:
        raise ValueError(f"no items of the dataset belong to subjects {sorted(wanted)[:8]}; the "
                         f"dataset has subjects {sorted(set(item_subjects))[:8]}...")
    return Subset(ds, idx)


def run_cache_dir(name: str, **options) -> Path:
    """A folder under the cache for the runs of one experiment configuration.

    Keyed by ``options`` (plain values: the notebook's parameters that change results) and
    by the fingerprints of the inputs read so far in this process (``config.noted_inputs``),
    so changed data or parameters never reuse stale runs, and an interrupted notebook resumes.
    """
    import hashlib

    blob = json.dumps({"options": ck._plain(options), "inputs": aconfig.noted_inputs()}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return aconfig.cache_dir("runs", *name.split("/"), key)
