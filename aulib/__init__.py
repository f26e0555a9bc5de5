"""aulib: the library behind AU Workbench's notebooks.

Rooms (see README, "Architecture"): ``config`` (profiles, paths, device, seeds), ``eval``
(metrics, reported numbers, side-by-side tables, claims, plots), ``face`` (landmarks,
alignment, where an AU lives), ``synth`` (SynthAU), ``data`` (dataset readers, frame
indices, protocols, torch Datasets), ``models`` (one module per method, a registry),
``train`` (trainer, losses, checkpoints, protocol runner), ``workbook`` (notebook runner).
Sub-packages are imported on demand; ``import aulib`` itself is cheap.
"""
__version__ = "0.1.0"
