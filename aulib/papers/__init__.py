"""One module per paper: what that paper's notebooks share beyond the model itself.

A paper module holds the notebook-side helpers of its experiments - the check of a notebook's
inputs before its first run, the claims' computations (each citing the paper's sentence it
tests), deviation tables, baseline set-ups, figure helpers. The networks and their checkpoint
loaders stay in :mod:`aulib.models`; the experiments themselves stay in the notebooks. This
room may import every room below it (config, eval, face, data, models, train).
"""


def dataset_problems(datasets, data_root: str = "") -> list[str]:
    """One line per dataset of ``datasets`` that is not where :func:`aulib.data.dataset_root`
    looks under ``data_root`` (the :class:`~aulib.data.DatasetLayoutError` text: the expected
    layout and where to obtain it) - the dataset part of every paper's ``check_inputs``."""
    from aulib import data as D
    from aulib.data import DatasetLayoutError

    problems = []
    for k in datasets:
        try:
            D.dataset_root(k, data_root=data_root or None)
        except DatasetLayoutError as e:
            problems.append(f"dataset {k} (DatasetLayoutError): {e}")
    return problems
