"""Expression labels for face sets, and a Dataset of those faces with their labels.

FG-Net's "ME-GraphAU + FFHQ pre-train" baseline (paper 000, section 4) first trains the
backbone on "the FFHQ dataset and its facial expression labels". Real FFHQ ships none and the
paper does not say where its labels came from, so:

- paper profile: the user supplies them, a CSV with columns ``path`` (relative to the FFHQ
  folder) and ``expression`` (a class index or one of :data:`EXPRESSIONS`) -
  :func:`read_expression_csv`;
- SynthAU's ``synth-ffhq`` knows every face's AUs, so :func:`synth_expression_labels` derives
  basic-expression labels from them with EMFACS-style prototypes (Friesen & Ekman's AU
  combinations of the basic emotions): a face whose present AUs (intensity >= ``min_intensity``
  on the 0-5 scale) contain one of an expression's AU sets gets that expression, checked in the
  order of :data:`PROTOTYPES`; a face matching none is ``neutral``. Coarse, many-to-one labels,
  as expression labels are - not the AU labels themselves.

This lives in the data room, not in ``aulib.synth``: SynthAU's cache fingerprint covers every
source file of ``aulib.synth``, and reading a side file must not regenerate the datasets.
:class:`FaceImages` (torch, imported lazily) serves the faces with their labels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

EXPRESSIONS = ("neutral", "happy", "surprise", "fear", "sad", "anger", "disgust")

#: expression -> AU sets, any of which (all its AUs present) gives it; the first match wins
PROTOTYPES = (
    ("fear", ({"AU1", "AU4", "AU20"}, {"AU1", "AU2", "AU4", "AU5"})),
    ("surprise", ({"AU1", "AU2", "AU26"}, {"AU1", "AU2", "AU5"}, {"AU1", "AU2", "AU25"})),
    ("happy", ({"AU6", "AU12"}, {"AU12"})),
    ("disgust", ({"AU9"}, {"AU10", "AU15"})),
    ("sad", ({"AU1", "AU4", "AU15"}, {"AU15", "AU17"}, {"AU15"})),
    ("anger", ({"AU4", "AU7"}, {"AU4", "AU23"}, {"AU4", "AU24"}, {"AU23", "AU24"})),
)

SYNTH_GROUND_TRUTH = "synthau_ground_truth.csv.gz"


def expression_of(present) -> str:
    """The expression of a face whose present AUs are ``present`` (names like ``"AU12"``)."""
    present = set(present)
    for name, sets in PROTOTYPES:
        if any(s <= present for s in sets):
            return name
    return "neutral"


def synth_expression_labels(root, min_intensity: int = 2) -> pd.DataFrame:
    """Expression label of every face of a SynthAU folder (e.g. ``synth.ensure("synth-ffhq")``).

    Columns ``path`` (relative to ``root``), ``subject``, ``name`` (one of
    :data:`EXPRESSIONS`) and ``expression`` (its index). Frames SynthAU marked as failures
    (corrupt files) are dropped.
    """
    gt_path = Path(root) / SYNTH_GROUND_TRUTH
    if not gt_path.is_file():
        raise FileNotFoundError(f"{gt_path} not found: these labels come from SynthAU's ground truth (a folder "
                                "written by aulib.synth.ensure). For real FFHQ, give your own labels as a CSV "
                                "(path, expression) to read_expression_csv.")
    gt = pd.read_csv(gt_path, dtype={"subject": str, "failure": str})
    if "failure" in gt.columns:
        gt = gt[gt["failure"].isna() | (gt["failure"] == "")]
    aus = [c[:-4] for c in gt.columns if c.startswith("AU") and c.endswith("_int")]
    present = gt[[f"{a}_int" for a in aus]].to_numpy() >= min_intensity
    names = [expression_of(a for a, p in zip(aus, row) if p) for row in present]
    return pd.DataFrame({"path": gt["path"].astype(str).to_numpy(), "subject": gt["subject"].astype(str).to_numpy(),
                         "name": names, "expression": [EXPRESSIONS.index(n) for n in names]})


def read_expression_csv(path) -> pd.DataFrame:
    """A user's expression labels: CSV with ``path`` and ``expression`` (index or name)."""
    df = pd.read_csv(path)
    missing = {"path", "expression"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: an expression-label CSV needs the columns path and expression; "
                         f"missing {sorted(missing)}, found {list(df.columns)}")
    if df["expression"].dtype == object:
        unknown = sorted(set(df["expression"]) - set(EXPRESSIONS))
        if unknown:
            raise ValueError(f"{path}: unknown expression names {unknown[:5]}; use indices or {EXPRESSIONS}")
        df["name"] = df["expression"]
        df["expression"] = [EXPRESSIONS.index(n) for n in df["name"]]
    df["subject"] = df.get("subject", df["path"]).astype(str)
    return df


def __getattr__(name):
    if name == "FaceImages":
        from .torch_dataset import FaceImages

        return FaceImages
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
