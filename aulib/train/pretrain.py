"""Backbone pre-training on expression targets: the "+ FFHQ pre-train" step of FG-Net's
ME-GraphAU baseline (FG-Net paper section 4: "we first pre-train the ME-GraphAU's backbones
... with the FFHQ dataset and its facial expression labels. Then we train the ME-GraphAU
with the pre-trained backbones").

Real FFHQ ships no expression labels (FG-Net does not say where theirs came from); on
SynthAU the stand-in ``synth-ffhq`` knows each face's expression, so the dataset passed here
yields it under ``target`` (a class index, a 0/1 vector or a float vector - see ``kind``).
The result is an ``aulib-backbone/1`` file for ``megraph(backbone_weights=...)``.
"""
from __future__ import annotations

from pathlib import Path

from aulib.models.common import save_backbone

from .checkpoint import create_model
from .loop import TrainConfig, fit

BACKBONE_FILE = "backbone.pt"


def pretrain_backbone(dataset, config: TrainConfig, run_dir, backbone: str = "resnet50",
                      n_outputs: int = 7, kind: str = "multiclass", target: str = "expression",
                      weights=None, input_size: int = 224, source: str = "synth-ffhq expressions") -> Path:
    """Train ``backbone`` + a linear head on ``dataset``'s ``target`` and save the backbone.

    Returns ``<run_dir>/backbone.pt``. Resumable like any :func:`~aulib.train.fit` run (the
    last epoch is kept: there is no validation split for pre-training). An existing
    ``backbone.pt`` is returned as is.
    """
    run_dir = Path(run_dir)
    out = run_dir / BACKBONE_FILE
    if out.is_file():
        return out
    model = create_model("expression_pretrain", backbone=backbone, n_outputs=n_outputs, kind=kind,
                         target=target, weights=weights, input_size=input_size)
    fit(model, dataset, None, config, run_dir)
    return save_backbone(model.backbone, out, source=f"{source}; {kind} on '{target}'; init {model.init}")
