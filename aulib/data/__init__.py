"""Data room: dataset readers (official layouts), frame indices, the ledger of excluded frames,
the dataset checker, evaluation protocols and PyTorch Datasets. Imports ``config`` and ``face``.

Public API
----------
``DATASETS``: name -> :class:`~aulib.data.catalog.DatasetInfo` (expected sub-folder of the data
    root, layout, where to obtain it, AU list). Names: disfa, bp4d, bp4dplus, emotionet, fec,
    afewva, casia, lfw, ffhq.
``frame_index(name, root=None, refresh=False, labeled_only=True, **reader_kwargs) -> DataFrame``
    One row per frame: dataset, subject, video, frame, path (relative to root; videos as
    ``file.avi#frame``), labeled, AU<k> (1/0/NaN unknown), AU<k>_int (DISFA). Cached.
    ``root`` is the dataset folder (default ``config.data_root()/<subfolder>``); a SynthAU
    folder from ``aulib.synth.ensure(...)`` reads the same way.
``ledger(name, root=None, landmarks=None) -> DataFrame``, ``ledger_counts(ledger)``
    Excluded/masked frames with the reason (missing image, corrupt file, unknown label, no face).
``check(name, root=None) -> DataFrame``: what is ok / missing / mis-shaped, by expected path.
``protocols``: ``folds(dataset, subjects=None, val="train-holdout")``, ``Fold``,
    ``fold_table``, ``check_no_leakage``, ``cross_domain(source, target, fold)``,
    ``subset(index, n, seed)``, ``adld_bp4d_split()``, ``emotionet_split(index, ...)``.
``AUDataset(index, aus, image_size, alignment="similarity"|"ffhq"|"none", landmarks="auto",
    train=False, cache=True)`` and ``make_loader(ds, batch_size, ...)`` (torch; imported lazily).
``expressions``: basic-expression labels of a face set (``synth_expression_labels(root)`` from
    SynthAU's AU ground truth, ``read_expression_csv(path)`` for the user's FFHQ labels) and
    ``FaceImages(root, table, size)``, those faces as a torch Dataset (FG-Net's ME-GraphAU
    pre-train baseline).

Label conventions: DISFA intensity >= 2 is an occurrence (``readers/disfa.py``); BP4D's 9 and
EmotioNet's 999 are unknown -> NaN -> ``au_mask = 0``, never 0 (``readers/bp4d.py``).
"""
from . import protocols
from .catalog import DATASETS, DatasetInfo, DatasetLayoutError, dataset_root, info
from .check import check
from .index import frame_index, ledger, ledger_counts
from .protocols import Fold, LeakageError, check_no_leakage, cross_domain, folds, subset

__all__ = ["DATASETS", "DatasetInfo", "DatasetLayoutError", "dataset_root", "info", "check",
           "frame_index", "ledger", "ledger_counts", "protocols", "Fold", "LeakageError",
           "check_no_leakage", "cross_domain", "folds", "subset", "AUDataset", "make_loader"]


def __getattr__(name):
    if name in ("AUDataset", "make_loader"):
        from . import torch_dataset

        return getattr(torch_dataset, name)
    raise AttributeError(f"module 'aulib.data' has no attribute {name!r}")
