"""What the trainer needs to know about a Dataset without loading every image.

The Dataset-item contract (a dict with ``image``, ``au``, ``au_mask``, ``landmarks``,
``subject``, ``index``) is per item; the trainer also needs, per dataset, the subjects (for
the leakage guard) and the AU labels (for the per-AU loss weights). A dataset can answer
cheaply by exposing either

- ``subjects`` (sequence, one per item) and ``labels`` / ``au_labels`` ((N, n_aus) array,
  NaN = unknown) or ``labels`` + ``label_mask``, or
- a frame table (``frames`` / ``frame_index`` / ``table`` DataFrame, one row per item) with a
  ``subject`` column and AU columns named ``AU<k>``;

``torch.utils.data.Subset`` and ``ConcatDataset`` are unwrapped. Otherwise the items are read
once (with a progress bar), which is correct but loads every image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Subset

_TABLE_ATTRS = ("frames", "frame_index", "table")


@dataclass
class DatasetSummary:
    subjects: list
    labels: np.ndarray | None     # (N, n_aus) 0/1, 0 where unknown
    mask: np.ndarray | None       # (N, n_aus) 1 = known


def _from_table(ds, aus):
    for attr in _TABLE_ATTRS:
        df = getattr(ds, attr, None)
        if df is None or not hasattr(df, "columns") or len(df) != len(ds):
            continue
        subjects = [str(s) for s in df["subject"]] if "subject" in df.columns else None
        labels = mask = None
        if aus and all(a in df.columns for a in aus):
            raw = df[list(aus)].to_numpy(dtype=np.float64)
            mask = np.isin(raw, (0, 1)).astype(np.float32)
            labels = np.where(mask > 0, raw, 0).astype(np.float32)
        return subjects, labels, mask
    return None, None, None


def _from_attrs(ds):
    # aulib.data.AUDataset keeps per-frame arrays and serves item i from slot _slots[i]
    # (frames that failed to decode are skipped); other datasets index them by item
    slots = getattr(ds, "_slots", None) if getattr(ds, "cache", False) else None
    pick = (lambda a: np.asarray(a)[slots]) if slots is not None else (lambda a: a)
    subjects = getattr(ds, "subjects", None)
    subjects = [str(s) for s in pick(subjects)] if subjects is not None and not callable(subjects) \
        and len(pick(subjects)) == len(ds) else None
    labels = mask = None
    for name in ("au_labels", "labels"):
        y = getattr(ds, name, None)
        if y is None or callable(y):
            continue
        y = np.asarray(pick(y), dtype=np.float64)
        if y.ndim != 2 or len(y) != len(ds):
            continue
        m = getattr(ds, "label_mask", None)
        if m is None:
            m = getattr(ds, "mask", None)
        m = None if m is None or callable(m) else np.asarray(pick(m), dtype=np.float32)
        mask = m if m is not None and m.shape == y.shape else np.isin(y, (0, 1)).astype(np.float32)
        labels = np.where(mask > 0, np.nan_to_num(y), 0).astype(np.float32)
        break
    return subjects, labels, mask


def summarise(ds, aus=None, need_labels: bool = True, progress: bool = False) -> DatasetSummary:
    """Subjects and labels of every item of ``ds`` (see module docstring for the fast paths)."""
    if isinstance(ds, Subset):
        base = summarise(ds.dataset, aus, need_labels, progress)
        idx = list(ds.indices)
        return DatasetSummary([base.subjects[i] for i in idx],
                              None if base.labels is None else base.labels[idx],
                              None if base.mask is None else base.mask[idx])
    if isinstance(ds, ConcatDataset):
        parts = [summarise(d, aus, need_labels, progress) for d in ds.datasets]
        have_labels = all(p.labels is not None for p in parts)
        return DatasetSummary(sum((p.subjects for p in parts), []),
                              np.concatenate([p.labels for p in parts]) if have_labels else None,
                              np.concatenate([p.mask for p in parts]) if have_labels else None)
    aus = aus or getattr(ds, "aus", None)
    subjects, labels, mask = _from_attrs(ds)
    if subjects is None or (need_labels and labels is None):
        s2, l2, m2 = _from_table(ds, aus)
        subjects = subjects if subjects is not None else s2
        if labels is None:
            labels, mask = l2, m2
    if subjects is not None and (labels is not None or not need_labels):
        return DatasetSummary(subjects, labels, mask)
    return _by_reading(ds, progress)


def _by_reading(ds, progress: bool) -> DatasetSummary:
    from tqdm.auto import tqdm

    subjects, labels, masks = [], [], []
    for i in tqdm(range(len(ds)), desc="reading labels", disable=not progress, leave=False):
        item = ds[i]
        subjects.append(str(item.get("subject", "")))
        if "au" in item:
            y = torch.as_tensor(item["au"]).float().numpy()
            m = torch.as_tensor(item.get("au_mask", torch.ones_like(torch.as_tensor(y)))).float().numpy()
            labels.append(y * m)
            masks.append(m)
    if labels:
        return DatasetSummary(subjects, np.stack(labels).astype(np.float32), np.stack(masks).astype(np.float32))
    return DatasetSummary(subjects, None, None)


def dataset_aus(ds):
    """The AU names a dataset yields (``aus`` attribute, through Subset/ConcatDataset)."""
    if isinstance(ds, Subset):
        return dataset_aus(ds.dataset)
    if isinstance(ds, ConcatDataset):
        return dataset_aus(ds.datasets[0])
    aus = getattr(ds, "aus", None)
    return list(aus) if aus is not None else None


class PairedDomains(torch.utils.data.Dataset):
    """Labelled source items, each with an unlabelled target-domain image added under
    ``target_image`` (the batches DANN/ADDA train on).

    Item ``i`` is source item ``i`` plus the image of target item ``perm[i % len(target)]``,
    ``perm`` a fixed permutation from ``seed``. Subjects and labels are the source's (the
    leakage guard records source subjects; target images carry no labels).
    """

    def __init__(self, source, target, seed: int = 0):
        self.source, self.target = source, target
        g = torch.Generator().manual_seed(int(seed))
        self._perm = torch.randperm(len(target), generator=g).tolist()
        self.aus = dataset_aus(source)
        self._summary = None

    def __len__(self):
        return len(self.source)

    def __getitem__(self, i):
        item = dict(self.source[i])
        item["target_image"] = self.target[self._perm[i % len(self._perm)]]["image"]
        return item

    def _summ(self):
        if self._summary is None:
            self._summary = summarise(self.source, self.aus)
        return self._summary

    @property
    def subjects(self):
        return self._summ().subjects

    @property
    def au_labels(self):
        s = self._summ()
        return None if s.labels is None else np.where(s.mask > 0, s.labels, np.nan)
