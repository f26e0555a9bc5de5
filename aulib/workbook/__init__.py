"""Workbook room: notebook registry, papermill execution, cache keys, manifest, index and
the CLI (``python -m aulib.workbook``). Imports ``config`` and ``eval`` only, never torch,
so the CLI starts fast. Notebooks use :func:`start` to get their :class:`Run` and
:func:`choices` to read a comma-list parameter, :func:`select_folds` for the folds they run."""
from .notebook import Run, choices, select_folds, start

__all__ = ["Run", "choices", "select_folds", "start"]
