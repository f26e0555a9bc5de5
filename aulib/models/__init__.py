"""Models room: one module per method or baseline, each registering itself in
:mod:`aulib.models.registry`. Checkpoint loaders for published formats live beside their
model. Import a model module here so that it registers."""
from .registry import create, get, list_models, register  # noqa: F401

# Model modules register themselves on import; add new ones to this list.
import importlib as _importlib

for _name in ("baselines", "drml", "megraph", "dann", "stylegan2", "psp", "fgnet", "facenet", "gleenet", "landmark_branch", "shangyu", "dwunet", "piapdf"):
    try:
        _importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:  # module not written yet
        if _e.name != f"{__name__}.{_name}":
            raise
