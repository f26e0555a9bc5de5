"""Training room: the one training loop (``fit``/``predict``), the papers' losses,
checkpoints with resume and a leakage guard, DistributedDataParallel under ``torchrun``,
and the protocol runner that returns tidy per-AU F1 tables (``run_protocol``).

Imports config, data, models and eval; notebooks call it, lower rooms never import it.
"""
from .checkpoint import LeakageError, atomic_save, check_leakage, create_model, load_model  # noqa: F401
from .losses import (WeightedBCE, au_weights_from_rates, base_rates_from_labels, heatmap_mse,  # noqa: F401
                     triplet_loss, weighted_asymmetric_loss)
from .loop import FitResult, Predictions, TrainConfig, evaluate, fit, predict  # noqa: F401
from .pretrain import pretrain_backbone  # noqa: F401
from .protocol import by_subjects, fold_name, load_predictions, run_cache_dir, run_protocol  # noqa: F401
