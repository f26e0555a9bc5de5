"""One module per paper: what that paper's notebooks share beyond the model itself.

A paper module holds the notebook-side helpers of its experiments - the check of a notebook's
inputs before its first run, the claims' computations (each citing the paper's sentence it
tests), deviation tables, baseline set-ups, figure helpers. The networks and their checkpoint
loaders stay in :mod:`aulib.models`; the experiments themselves stay in the notebooks. This
room may import every room below it (config, eval, face, data, models, train).
"""
