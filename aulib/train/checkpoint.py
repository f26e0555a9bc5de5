"""Checkpoints: one format, written atomically, loaded through one function.

A checkpoint holds a model's ``state_dict`` plus what is needed to rebuild it from the
registry (model name, constructor arguments), the versions that wrote it, the AU list, how
the model was initialised (ImageNet file / random / pre-trained backbone) and the subjects it
was trained on. No pickled code: files load with ``torch.load(weights_only=True)``.

The training-state file (``last.pt``) adds the optimizer, scheduler, AMP scaler, RNG states,
epoch counter and history, so an interrupted run resumes exactly (see ``loop.fit``).

Leakage guard (user-asks.md #2): a model loaded from a checkpoint, or trained by
``fit``, remembers its training subjects; ``predict`` refuses to score any of them.
"""
from __future__ import annotations

import os
import platform
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

FORMAT = "aulib-checkpoint/1"
# constructor arguments that only say where initial weights came from; the state_dict
# replaces them, so they are not needed (and the files may be absent) when rebuilding
INIT_ONLY_KWARGS = ("weights", "backbone_weights")


class LeakageError(RuntimeError):
    """Raised when a model is evaluated on subjects it was trained on."""


def versions() -> dict:
    import torchvision

    try:
        from importlib.metadata import version

        aulib_v = version("aulib")
    except Exception:  # not installed as a distribution
        aulib_v = "source"
    return {"torch": str(torch.__version__), "torchvision": str(torchvision.__version__),
            "aulib": aulib_v, "python": platform.python_version()}


def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A reader (or a resumed run) sees either the old complete file or the new complete file,
    never a partial one, whatever moment the writer is killed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; expected a file written by "
                                "aulib.train (e.g. <run_dir>/best.pt or last.pt)")
    obj = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not an aulib checkpoint (format {FORMAT!r}); found "
                         f"{type(obj).__name__} with format {getattr(obj, 'get', lambda k: None)('format')!r}")
    return obj


# -- model identity ------------------------------------------------------------------------
def create_model(name: str, **kwargs):
    """Build a registered model and remember its name and constructor arguments, so that
    checkpoints of it can be rebuilt by :func:`load_model`."""
    from aulib.models import registry

    model = registry.create(name, **kwargs)
    model._aulib_spec = {"name": name, "kwargs": _plain(kwargs)}
    return model


def model_spec(model) -> dict | None:
    return getattr(model, "_aulib_spec", None)


def init_note(model) -> str:
    """How the model's weights were initialised (models set ``init``; default 'random')."""
    return str(getattr(model, "init", "random"))


def _plain(obj):
    """Constructor arguments as plain python values (paths -> str, tuples -> lists)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return str(obj)
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"constructor argument {obj!r} of type {type(obj).__name__} cannot be stored "
                    "in a checkpoint; use plain values (str, numbers, lists, dicts)")


def unwrap(model):
    """The plain module inside a DistributedDataParallel wrapper."""
    return model.module if hasattr(model, "module") and isinstance(
        model, torch.nn.parallel.DistributedDataParallel) else model


def model_record(model, train_subjects=(), extra: dict | None = None) -> dict:
    """Checkpoint dict of a model (weights + identity + provenance), no training state."""
    m = unwrap(model)
    spec = model_spec(m) or {}
    state = {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}
    rec = {
        "format": FORMAT,
        "model_name": spec.get("name"),
        "model_kwargs": spec.get("kwargs"),
        "state_dict": state,
        "versions": versions(),
        "aus": list(getattr(m, "aus", []) or []),
        "init": init_note(m),
        "train_subjects": sorted(str(s) for s in train_subjects),
    }
    if extra:
        rec.update(extra)
    return rec


def load_model(path: str | os.PathLike, model=None, map_location="cpu"):
    """Load a checkpoint written by ``aulib.train``: the one way to get a trained model back.

    Without ``model`` the architecture is rebuilt from the registry with the stored name and
    constructor arguments (minus initial-weight file arguments, which the stored weights
    replace). The returned model remembers its training subjects (leakage guard) and init.
    """
    ck = load(path, map_location)
    if model is None:
        if not ck.get("model_name"):
            raise ValueError(f"{path} does not record a model name (the model was not built "
                             "with aulib.train.create_model); pass the model to load into")
        kwargs = {k: v for k, v in (ck.get("model_kwargs") or {}).items() if k not in INIT_ONLY_KWARGS}
        model = create_model(ck["model_name"], **kwargs)
        model._aulib_spec = {"name": ck["model_name"], "kwargs": ck.get("model_kwargs") or {}}
    target = unwrap(model)
    missing, unexpected = target.load_state_dict(ck["state_dict"], strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} does not match the model {type(target).__name__}: "
                         f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    target._aulib_train_subjects = frozenset(ck.get("train_subjects", []))
    target.init = ck.get("init", getattr(target, "init", "random"))
    return model


def check_leakage(model, subjects) -> None:
    """Raise :class:`LeakageError` if any of ``subjects`` was used to train ``model``."""
    trained = getattr(unwrap(model), "_aulib_train_subjects", None)
    if not trained:
        return
    overlap = sorted(set(map(str, subjects)) & set(trained))
    if overlap:
        raise LeakageError(
            f"evaluation data contains {len(overlap)} subject(s) the model was trained on "
            f"({', '.join(overlap[:8])}{'...' if len(overlap) > 8 else ''}); evaluate on a "
            "subject-exclusive split (fold lists from aulib.data) - see user-asks.md #2. "
            "If these are different people who share an ID across datasets, make subject "
            "IDs dataset-qualified (e.g. 'bp4d/F001').")


# -- RNG state -----------------------------------------------------------------------------
def rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "python": _plain_random_state(random.getstate())}
    np_state = np.random.get_state()
    st["numpy"] = {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                   "has_gauss": int(np_state[3]), "gauss": float(np_state[4])}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _plain_random_state(s):
    version, internal, gauss = s
    return [version, list(internal), gauss]


def set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    v, internal, gauss = st["python"]
    random.setstate((v, tuple(internal), gauss))
    n = st["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
