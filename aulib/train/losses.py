"""Losses the four papers train with, all aware of the unknown-label mask.

- :func:`au_weights_from_rates` / :class:`WeightedBCE`: multi-label binary cross-entropy
  with one weight per AU from the training base rates. GLEE-Net eq. 5 weights AU i by
  1/r_i (r_i its occurrence ratio in the training set); JAA-Net/ADLD use the same inverse
  rates normalised to sum to the number of AUs (methods.md A.3), which only rescales the
  loss. We normalise (``normalise=True``, the default) so learning rates carry over between
  AU sets.
- :func:`pos_weights_from_rates`: ``TrainConfig.loss="balanced_bce"`` also weighs each AU's
  positive term by (1 - r) / r (not in the papers; for short CPU runs, see its docstring).
- :func:`weighted_asymmetric_loss`: ME-GraphAU's loss on probabilities (methods.md E.2).
- :func:`heatmap_mse`: FG-Net's per-pixel MSE between predicted and ground-truth AU heatmaps
  (FG-Net paper, section 3: heatmap regression).
- :func:`triplet_loss`: GLEE-Net eq. 4, the two-sided triplet loss on normalised expression
  embeddings with margin ``m``.

Unknown labels (mask 0) contribute nothing; the mean is taken over known entries.
"""
from __future__ import annotations

# The loss functions live in aulib.models.common so that a model's own ``loss`` method can use
# them without importing the train room (models may not import train); this is their public home.
from aulib.models.common import (WeightedBCE, au_weights_from_rates, base_rates_from_labels,  # noqa: F401
                                 heatmap_mse, pos_weights_from_rates, triplet_loss,
                                 weighted_asymmetric_loss, weighted_bce)
