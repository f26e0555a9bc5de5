"""Model registry: one shape for every method and baseline (``register``, ``create``,
``list_models``), as timm does.

A method's module registers a constructor with :func:`register`; notebooks and the trainer
build models by name with :func:`create`. Every registered model declares what it outputs
(AU list comes from the constructor's ``aus`` argument; ``output`` says whether the forward
returns logits, probabilities, heatmaps, ...), answering user-asks.md #9.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class ModelEntry:
    name: str
    build: Callable
    output: str            # what forward() returns, e.g. "logits (B, n_aus)" or "heatmaps"
    paper: str = ""        # citation of the method
    tiny_kwargs: dict | None = None  # small constructor arguments for tests / smoke runs


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, output: str, paper: str = "", tiny_kwargs: dict | None = None):
    """Decorator: register ``fn(**kwargs) -> nn.Module`` under ``name``."""
    def deco(fn):
        if name in _REGISTRY and _REGISTRY[name].build is not fn:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, fn, output, paper, tiny_kwargs or {})
        return fn
    return deco


def _load_all() -> None:
    # importing the package imports every model module, which registers itself
    import aulib.models  # noqa: F401


def list_models() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> ModelEntry:
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create(name: str, **kwargs):
    """Build the model registered as ``name`` with constructor ``kwargs``."""
    return get(name).build(**kwargs)
