"""Evaluation protocols as data: subject-independent folds, cross-domain pairs, data-efficiency
subsets, ADLD's BP4D split and the EmotioNet split of Shang & Yu — plus the leakage guard.

Subject parts (``subject_parts.csv`` beside this module; datasets.md §4, verified from
ME-GraphAU ``tool/*_image_label_process.py``, PyTorch-JAANet ``data/list/*_part*`` and FG-Net
``data/*/labels/*/test.csv``): BP4D 14 + 14 + 13 subjects, DISFA 9 + 9 + 9. Folds are named by
the part they TEST on: ``test-part1``, ``test-part2``, ``test-part3``. How other codebases
number the same folds (``Fold.aliases``):

====================  ============  =============  ==================
our fold              FG-Net        ME-GraphAU     JAA-Net / ADLD
====================  ============  =============  ==================
test-part1            labels/0      fold3          train combine_2_3
test-part2            labels/1      fold2          train combine_1_3
test-part3            labels/2      fold1          train combine_1_2
====================  ============  =============  ==================

Validation: the papers select epochs on the test part (FG-Net's code reads the test CSV as
validation, fgnet.md §2). Our default ``val="train-holdout"`` holds out a seeded ~15 % of the
training subjects instead, so nothing is selected on test; ``val="test"`` reproduces the
papers' practice and must be labelled as such in any table (user-asks.md #5).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog import BP4D_AUS, DISFA_AUS, EMOTIONET_ADLD_AUS, info

PARTS_FILE = Path(__file__).with_name("subject_parts.csv")
DATA_EFFICIENCY_SIZES = (100, 1000, 5000, 10000)   # FG-Net paper 000 §4.3, Figure 6
ALIASES = {
    1: {"fgnet": "labels/0", "megraph": "fold3", "jaanet": "combine_2_3"},
    2: {"fgnet": "labels/1", "megraph": "fold2", "jaanet": "combine_1_3"},
    3: {"fgnet": "labels/2", "megraph": "fold1", "jaanet": "combine_1_2"},
}


class LeakageError(ValueError):
    """Evaluation subjects overlap the subjects a model was trained on."""


@dataclass(frozen=True)
class Fold:
    """One train/validation/test split by subject ids."""
    name: str
    dataset: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    val_policy: str = "train-holdout"
    aliases: dict = field(default_factory=dict)

    def roles(self) -> pd.DataFrame:
        """The fold as data: one row per (role, subject)."""
        return pd.DataFrame([dict(fold=self.name, dataset=self.dataset, role=r, subject=s)
                             for r in ("train", "val", "test") for s in getattr(self, r)])

    def select(self, index: pd.DataFrame, role: str) -> pd.DataFrame:
        """Rows of ``index`` whose subject has ``role`` in this fold."""
        subs = set(getattr(self, role))
        out = index[index["subject"].isin(subs)].reset_index(drop=True)
        out.attrs.update(index.attrs)
        return out


@lru_cache(maxsize=1)
def subject_parts() -> pd.DataFrame:
    """The published subject parts (and ADLD's BP4D val/test) as a DataFrame."""
    return pd.read_csv(PARTS_FILE, dtype=str)


def parts(dataset: str) -> list[tuple[str, ...]]:
    """The three published parts of ``"bp4d"`` or ``"disfa"`` (subject order as published)."""
    key = info(dataset).name
    df = subject_parts()
    df = df[df.dataset == key]
    if not len(df):
        raise KeyError(f"no published subject parts for {dataset!r}; they exist for bp4d and "
                       "disfa (datasets.md §4). Use folds(dataset, subjects=...) for a seeded split")
    return [tuple(g.sort_values("position", key=lambda s: s.astype(int)).subject)
            for _, g in df.groupby("part", sort=True)]


def seeded_parts(subjects, k: int = 3, seed: int = 0) -> list[tuple[str, ...]]:
    """``k`` subject parts from a seeded permutation (BP4D+ has no published parts)."""
    subs = sorted(set(map(str, subjects)))
    if len(subs) < k:
        raise ValueError(f"need at least {k} subjects for {k} folds, got {len(subs)}")
    perm = np.random.default_rng(seed).permutation(len(subs))
    return [tuple(sorted(subs[i] for i in perm[j::k])) for j in range(k)]


def _holdout(train: list[str], seed: int, frac: float) -> tuple[list[str], list[str]]:
    n_val = min(max(1, int(round(len(train) * frac))), len(train) - 1)
    if n_val <= 0:
        return list(train), []
    rng = np.random.default_rng(seed)
    val = sorted(rng.choice(sorted(train), size=n_val, replace=False).tolist())
    return [s for s in train if s not in val], val


def folds(dataset: str, subjects=None, val: str = "train-holdout", val_fraction: float = 0.15,
          seed: int = 0) -> list[Fold]:
    """The 3 subject-independent folds of ``dataset``.

    BP4D / DISFA (and SynthAU's ``synth-bp4d`` / ``synth-disfa``, whose subject ids follow the
    real ones): the published parts. When ``subjects`` is given (e.g. the subjects present in
    a frame index), parts are restricted to them; an id outside the published parts is an
    error. BP4D+ and other datasets: ``seeded_parts(subjects, 3, seed)`` (``subjects``
    required). ``val``: ``"train-holdout"`` (default, see module docstring), ``"test"`` (the
    papers' practice) or ``"none"``.
    """
    if val not in ("train-holdout", "test", "none"):
        raise ValueError(f"val must be 'train-holdout', 'test' or 'none', got {val!r}")
    key = info(dataset).name
    if key in ("bp4d", "disfa"):
        ps = parts(key)
        if subjects is not None:
            have = set(map(str, subjects))
            known = set().union(*map(set, ps))
            extra = sorted(have - known)
            if extra:
                raise ValueError(f"subjects {extra[:5]} are not in the published {key} parts "
                                 f"(datasets.md §4); pass subjects matching the real ids or use "
                                 f"folds('bp4dplus', subjects=...) for a seeded split")
            ps = [tuple(s for s in p if s in have) for p in ps]
    else:
        if subjects is None:
            raise ValueError(f"{dataset!r} has no published parts: pass subjects=... (e.g. "
                             "index.subject.unique()) for a seeded 3-fold split")
        ps = seeded_parts(subjects, 3, seed)
    out = []
    for k in range(3):
        test = list(ps[k])
        train = [s for j in range(3) if j != k for s in ps[j]]
        if val == "train-holdout":
            train, v = _holdout(train, seed + k, val_fraction)
        elif val == "test":
            v = list(test)
        else:
            v = []
        out.append(Fold(f"test-part{k + 1}", key, tuple(train), tuple(v), tuple(test), val,
                        ALIASES[k + 1] if key in ("bp4d", "disfa") else {}))
    return out


def fold_table(fold_list: list[Fold]) -> pd.DataFrame:
    """Folds as one long table [fold, dataset, role, subject] (fold lists as data)."""
    return pd.concat([f.roles() for f in fold_list], ignore_index=True)


def check_no_leakage(train_subjects, eval_subjects, what: str = "evaluation") -> None:
    """Raise :class:`LeakageError` when any ``eval_subjects`` were used for training."""
    both = sorted(set(map(str, train_subjects)) & set(map(str, eval_subjects)))
    if both:
        raise LeakageError(
            f"{what} subjects overlap the training subjects: {both[:10]}"
            f"{' ...' if len(both) > 10 else ''} ({len(both)} in all). A subject-independent "
            "protocol never evaluates on a training subject; pick the fold whose test part "
            "the model did not train on (user-asks.md #2)")


@dataclass(frozen=True)
class CrossDomain:
    """Train on the source's fold, validate on its held-out part, test on all of the target."""
    source: str
    target: str
    fold: Fold
    aus: tuple[str, ...]
    target_subjects: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}:{self.fold.name}"


def shared_aus(a: str, b: str) -> tuple[str, ...]:
    """AUs both datasets label, in the first one's order (BP4D & DISFA: 1, 2, 4, 6, 12)."""
    aus_b = set(info(b).aus)
    return tuple(x for x in info(a).aus if x in aus_b)


def cross_domain(source: str, target: str, fold: Fold | int | str = 1,
                 target_subjects=None) -> CrossDomain:
    """FG-Net's cross-domain protocol (paper 000 §4.2: "two folds and one fold of data from the
    source domain as the training and validation set and use the target data as the testing
    set"): train on the fold's training parts, validate on its test part, test on every
    target subject. Scored on the AUs both datasets share (FG-Net scores AU1, 2, 4, 6, 12).
    """
    if not isinstance(fold, Fold):
        k = int(str(fold).replace("test-part", ""))
        fold = folds(source, val="test")[k - 1]
    if fold.val_policy != "test":
        fold = Fold(fold.name, fold.dataset, fold.train + fold.val, fold.test, fold.test,
                    "test", fold.aliases)
    tsubs = tuple(sorted(map(str, target_subjects))) if target_subjects is not None else None
    return CrossDomain(info(source).name, info(target).name, fold, shared_aus(source, target),
                       tsubs)


def subset(index: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` random frames of ``index`` (no replacement, seeded) for data-efficiency runs
    (FG-Net's 100 / 1k / 5k / 10k training samples, paper 000 §4.3)."""
    if n > len(index):
        raise ValueError(f"asked for {n} frames but the index has only {len(index)}; "
                         "use a smaller n or the whole training set")
    rows = np.sort(np.random.default_rng(seed).choice(len(index), size=n, replace=False))
    out = index.iloc[rows].reset_index(drop=True)
    out.attrs.update(index.attrs)
    return out


def adld_bp4d_split() -> Fold:
    """ADLD's BP4D split for BP4D -> EmotioNet (datasets.md §5, ADLD ``data/list``): train =
    parts 1 + 2 (28 subjects), val = 7 and test = 6 subjects of part 3."""
    df = subject_parts()
    p = parts("bp4d")
    val = tuple(df[(df.dataset == "bp4d-adld") & (df.part == "val")].subject)
    test = tuple(df[(df.dataset == "bp4d-adld") & (df.part == "test")].subject)
    return Fold("adld", "bp4d", p[0] + p[1], val, test, "adld", {"adld": "BP4D_{train,val,test}"})


def emotionet_split(index: pd.DataFrame, n_unlabeled: int | None = 200_000,
                    seed: int = 0) -> dict[str, pd.DataFrame]:
    """Shang & Yu's EmotioNet split (paper 003 §3): ``n_unlabeled`` random unlabelled images
    for training; all labelled images split into validation and test halves (10,544 each
    in the paper). ADLD's list files, when the reader found them (``list_split``), decide
    val/test instead of the random halves. ``index`` must include unlabelled rows
    (``frame_index("emotionet", labeled_only=False)``). Evaluated on AU1, 2, 4, 6, 12, 17.
    """
    rng = np.random.default_rng(seed)
    unl = index[~index["labeled"]]
    lab = index[index["labeled"]]
    if n_unlabeled is not None and n_unlabeled < len(unl):
        unl = unl.iloc[np.sort(rng.choice(len(unl), n_unlabeled, replace=False))]
    if "list_split" in lab and lab["list_split"].isin(["val", "test"]).any():
        val, test = lab[lab.list_split == "val"], lab[lab.list_split == "test"]
    else:
        perm = rng.permutation(len(lab))
        half = len(lab) // 2
        val, test = lab.iloc[np.sort(perm[:half])], lab.iloc[np.sort(perm[half:])]
    out = {}
    for k, v in (("train", unl), ("val", val), ("test", test)):
        v = v.reset_index(drop=True)
        v.attrs.update(index.attrs)
        v.attrs["aus"] = list(EMOTIONET_ADLD_AUS)
        out[k] = v
    return out


PROTOCOL_AUS = {"bp4d": BP4D_AUS, "disfa": DISFA_AUS, "bp4dplus": BP4D_AUS,
                "bp4d->emotionet": EMOTIONET_ADLD_AUS}
