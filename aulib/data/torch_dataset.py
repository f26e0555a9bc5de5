"""PyTorch ``Dataset`` of aligned faces with AU labels, and a DataLoader recipe fast on CPU.

Items follow the project's contract (shared by trainer and models): a dict with ``image``
(float32 3 x H x W, normalised), ``au`` (float32 (n_aus,) 0/1), ``au_mask`` (float32, 0 where
the label is unknown), ``landmarks`` (float32 (68, 2) pixels in the returned image, NaN if
unknown), ``subject`` (str) and ``index`` (int, the row of the frame index).

Alignment runs once per frame: with ``cache=True`` :meth:`AUDataset.prepare` aligns every
frame in parallel (tqdm progress) into one uint8 memory-mapped array in
``<cache>/aligned/<key>/`` (key: dataset root + fingerprint, frames, landmarks, alignment,
size), which DataLoader workers read without copying. Frames with no landmarks (``no face``)
and frames that cannot be decoded (``corrupt file``: :func:`aulib.face.frames.read_frame`
refuses a cut-short JPEG/PNG by its content, the same check as the frame index) are dropped
and listed in ``dataset.ledger`` with a printed count — never silently.

Augmentations (the papers'): similarity alignment to 200 then a random 176 crop and a
horizontal flip for training, centre crop for testing (JAA-Net/ADLD/Shang & Yu/GLEE-Net,
methods.md A.3); FFHQ alignment with no augmentation (FG-Net, fgnet.md §2). Random numbers
come from torch's generator, so a seeded DataLoader gives the same batches every run.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from .. import config
from ..face import align as A
from ..face.frames import read_frame
from ..face.landmark_table import LandmarkTable
from .readers.common import LEDGER_COLUMNS

ALIGNMENTS = ("similarity", "ffhq", "none")


_align_one = A.align_face


def _align_chunk(args):
    return A.align_frames(*args)


class AUDataset(Dataset):
    """Aligned face crops with AU labels (see the module docstring for items and caching).

    Arguments:
        index: a frame index (``aulib.data.frame_index``), possibly a fold's subset.
        aus: AU names to return, matched by column name (default: the dataset's AUs).
        image_size: side of the returned image (default 176 for similarity, 256 for ffhq).
        alignment: ``"similarity"`` | ``"ffhq"`` | ``"none"`` (resize the whole frame).
        landmarks: a LandmarkTable, ``"truth"`` (alias ``"auto"``: the dataset's
            ``landmarks_68.npz`` or dlib, cached), ``"dlib"`` (always dlib, cached; frames
            with no face go to the ledger) or None (only with ``alignment="none"``).
        train: random crop + flip (similarity) instead of the centre crop.
        cache: align once into an on-disk memmap (recommended; required for workers > 0
            to be fast).
        root: dataset root (default ``index.attrs["root"]``).
        aligned_size: size before cropping (default image_size * 200 / 176 for similarity).
        box_enlarge: similarity-alignment margin (JAA-Net 2.9, ADLD 2.8).
        mean, std: per-channel normalisation of the [0, 1] RGB image (papers: 0.5 / 0.5).
        flip_p: probability of a horizontal flip when training (default 0.5 for similarity,
            0 for ffhq/none, as the papers).
    """

    def __init__(self, index: pd.DataFrame, aus=None, image_size: int | None = None,
                 alignment: str = "similarity", landmarks: LandmarkTable | str | None = "auto",
                 train: bool = False, cache: bool = True, root=None,
                 aligned_size: int | None = None, box_enlarge: float = 2.9,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), flip_p: float | None = None,
                 workers: int | None = None, progress: bool = True):
        if alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
        self.root = str(root or index.attrs.get("root") or "")
        if not self.root:
            raise ValueError("dataset root unknown: pass root=... or an index from "
                             "aulib.data.frame_index (its attrs carry the root)")
        aus = list(aus or index.attrs.get("aus") or [])
        lacking = [a for a in aus if a not in index.columns]
        if not aus or lacking:
            raise KeyError(f"AU columns {lacking or aus} not in the frame index; it has "
                           f"{[c for c in index.columns if c.startswith('AU') and '_' not in c]}")
        self.aus = aus
        self.alignment, self.train = alignment, bool(train)
        self.image_size = image_size or (176 if alignment == "similarity" else 256)
        self.aligned_size = aligned_size or (round(self.image_size * 200 / 176)
                                             if alignment == "similarity" else self.image_size)
        self.box_enlarge = box_enlarge
        self.flip_p = (0.5 if alignment == "similarity" else 0.0) if flip_p is None else flip_p
        self.mean, self.std = tuple(map(float, mean)), tuple(map(float, std))
        # (v / 255 - mean) / std as one multiply-add per pixel, in numpy (cheap per item)
        self._scale = (1.0 / (255.0 * np.float32(std))).astype(np.float32).reshape(3, 1, 1)
        self._bias = (-np.float32(mean) / np.float32(std)).astype(np.float32).reshape(3, 1, 1)
        self.workers = workers or min(8, os.cpu_count() or 1)
        self.progress = progress
        if isinstance(landmarks, str):      # "truth" | "dlib" (aulib.face.landmarks.LANDMARK_SOURCES)
            from ..face.landmarks import dataset_landmarks

            landmarks = dataset_landmarks(index, self.root, landmarks, progress=progress)
        if landmarks is None and alignment != "none":
            raise ValueError(f"alignment={alignment!r} needs landmarks: pass landmarks='auto' "
                             "or a LandmarkTable (aulib.face.landmarks.detect_dataset)")
        refs = index["path"].astype(str).tolist()
        lms = np.full((len(refs), 68, 2), np.nan, np.float32)
        led = []
        keep = np.ones(len(refs), bool)
        if landmarks is not None:
            pos = {p: i for i, p in enumerate(landmarks.paths.tolist())}
            for i, r in enumerate(refs):
                j = pos.get(r)
                if j is not None and landmarks.found[j]:
                    lms[i] = landmarks.landmarks[j]
                elif alignment != "none":
                    keep[i] = False
                    why = "no landmarks" if j is None else (str(landmarks.reason[j]) or "no face")
                    led.append((i, why, f"landmark source {landmarks.source}"))
        self.index = index.reset_index(drop=True)
        self.rows = np.flatnonzero(keep)
        self.refs = [refs[i] for i in self.rows]
        self.src_landmarks = lms[self.rows]
        labels = self.index[self.aus].to_numpy(np.float32)[self.rows]
        self.mask = np.isfinite(labels).astype(np.float32)
        self.labels = np.nan_to_num(labels, nan=0.0).astype(np.float32)
        self.subjects = self.index["subject"].astype(str).to_numpy()[self.rows]
        self._ledger_rows = led
        self.cache = cache
        self._mm = None
        self._cache_dir = None
        if cache:
            self.prepare()
        self._report()

    # ---------------------------------------------------------------- bookkeeping
    @property
    def ledger(self) -> pd.DataFrame:
        """Frames this dataset excluded, with the reason (ledger columns)."""
        ix = self.index
        return pd.DataFrame([dict(dataset=ix.dataset.iat[i] if "dataset" in ix else "",
                                  subject=str(ix.subject.iat[i]), video=str(ix.video.iat[i])
                                  if "video" in ix else "", frame=int(ix.frame.iat[i])
                                  if "frame" in ix else 0, path=str(ix.path.iat[i]),
                                  reason=why, action="excluded", detail=det)
                             for i, why, det in self._ledger_rows], columns=LEDGER_COLUMNS)

    def _report(self):
        if self._ledger_rows and self.progress:
            counts = pd.Series([w for _, w, _ in self._ledger_rows]).value_counts().to_dict()
            print(f"AUDataset: kept {len(self.rows)} of {len(self.index)} frames; excluded "
                  + ", ".join(f"{v} ({k})" for k, v in counts.items()) + " — see .ledger")

    def base_rates(self) -> pd.Series:
        """Positive rate per AU over the frames whose label is known."""
        with np.errstate(invalid="ignore"):
            r = (self.labels * self.mask).sum(0) / self.mask.sum(0)
        return pd.Series(r, index=self.aus, name="base_rate")

    # --------------------------------------------------------------------- caching
    def _key(self) -> str:
        h = hashlib.sha256()
        h.update(f"{Path(self.root).resolve()}|{config.fingerprint_path(self.root)}|"
                 f"{self.alignment}|{self.aligned_size}|{self.box_enlarge}|v1{A.CACHE_TAGS.get(self.alignment, '')}".encode())
        h.update("\n".join(self.refs).encode())
        h.update(np.nan_to_num(self.src_landmarks, nan=-1).round(2).tobytes())
        return h.hexdigest()[:20]

    def prepare(self) -> Path:
        """Align every frame once into the on-disk cache (parallel, with progress)."""
        d = config.cache_dir("aligned", self._key())
        done = d / "done"
        n, s = len(self.refs), self.aligned_size
        if not done.is_file():
            from tqdm.auto import tqdm

            imgs = np.lib.format.open_memmap(d / "images.npy", "w+", np.uint8, (n, s, s, 3))
            lms = np.full((n, 68, 2), np.nan, np.float32)
            ok = np.zeros(n, bool)
            step = 64
            jobs = [(self.root, self.refs[a:a + step], self.src_landmarks[a:a + step],
                     self.alignment, s, self.box_enlarge) for a in range(0, n, step)]
            bar = tqdm(total=n, desc=f"align ({self.alignment}, {s}px)", unit="frame",
                       disable=not self.progress)
            if self.workers > 1 and len(jobs) > 1:
                import multiprocessing as mp

                with mp.get_context("spawn").Pool(min(self.workers, len(jobs))) as pool:
                    results = pool.imap(A.align_frames_job, jobs)
                    for a, (im, lm, k) in zip(range(0, n, step), results):
                        imgs[a:a + len(k)], lms[a:a + len(k)], ok[a:a + len(k)] = im, lm, k
                        bar.update(len(k))
            else:
                for a, job in zip(range(0, n, step), jobs):
                    im, lm, k = _align_chunk(job)
                    imgs[a:a + len(k)], lms[a:a + len(k)], ok[a:a + len(k)] = im, lm, k
                    bar.update(len(k))
            bar.close()
            imgs.flush()
            del imgs
            np.save(d / "landmarks.npy", lms)
            np.save(d / "ok.npy", ok)
            done.write_text("ok\n")
        ok = np.load(d / "ok.npy")
        self._cache_dir = d
        self._aligned_lm = np.load(d / "landmarks.npy")
        self._slots = np.flatnonzero(ok)
        for j in np.flatnonzero(~ok):
            self._ledger_rows.append((int(self.rows[j]), "corrupt file",
                                      "could not be decoded when aligning"))
        return d

    def __getstate__(self):
        st = dict(self.__dict__)
        st["_mm"] = None
        return st

    # ------------------------------------------------------------------- items
    def __len__(self) -> int:
        return len(self._slots) if self.cache else len(self.rows)

    def _aligned(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        if self.cache:
            if self._mm is None:
                self._mm = np.load(self._cache_dir / "images.npy", mmap_mode="r")
            j = int(self._slots[i])
            return np.array(self._mm[j]), self._aligned_lm[j], j
        img = read_frame(self.root, self.refs[i])   # raises UnreadableFrame with the path
        im, lm = _align_one(img, self.src_landmarks[i], self.alignment, self.aligned_size,
                            self.box_enlarge)
        return im, lm, i

    def __getitem__(self, i: int) -> dict:
        img, lm, j = self._aligned(i)
        size = self.image_size
        if self.alignment == "similarity" and size < img.shape[0]:
            if self.train:
                x0 = int(torch.randint(0, img.shape[1] - size + 1, ()).item())
                y0 = int(torch.randint(0, img.shape[0] - size + 1, ()).item())
                img, lm = A.crop(img, lm, x0, y0, size)
            else:
                img, lm = A.centre_crop(img, lm, size)
        elif img.shape[0] != size:
            lm = np.asarray(lm, np.float32) * np.float32(size / img.shape[0])
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        if self.train and self.flip_p > 0 and torch.rand(()).item() < self.flip_p:
            img, lm = A.hflip(img, lm)
        x = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)
        x *= self._scale
        x += self._bias
        return {"image": torch.from_numpy(x), "au": torch.from_numpy(self.labels[j]),
                "au_mask": torch.from_numpy(self.mask[j]),
                "landmarks": torch.from_numpy(np.asarray(lm, np.float32)),
                "subject": str(self.subjects[j]), "index": int(self.rows[j])}


def make_loader(ds: Dataset, batch_size: int = 32, train: bool | None = None,
                num_workers: int | None = None, seed: int = 0, device: str = "cpu",
                drop_last: bool | None = None) -> DataLoader:
    """The DataLoader recipe: shuffled and seeded for training, worker processes reading the
    memory-mapped aligned crops (default min(4, cores - 1) workers, kept alive across
    epochs), pinned memory on CUDA. Same seed -> same batches and augmentations."""
    train = getattr(ds, "train", False) if train is None else train
    if num_workers is None:
        num_workers = max(0, min(4, (os.cpu_count() or 1) - 1))
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=train, num_workers=num_workers,
                      persistent_workers=num_workers > 0, pin_memory=str(device).startswith("cuda"),
                      generator=g, drop_last=(train and len(ds) > batch_size)
                      if drop_last is None else drop_last)


class FaceImages(Dataset):
    """Already-aligned face images (e.g. FFHQ / ``synth-ffhq`` thumbnails) with one target each.

    ``table``: rows with ``path`` (relative to ``root``), the ``target`` column and optionally
    ``subject``. Every image is read once, resized to ``size`` (area interpolation) and kept as
    uint8; unreadable files are dropped and listed in ``ledger``. Items: ``image`` (normalised
    like :class:`AUDataset`: (v / 255 - mean) / std), ``<target>`` (int64) and ``subject``.
    """

    def __init__(self, root, table: pd.DataFrame, size: int, target: str = "expression",
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
        from ..face.frames import UnreadableFrame

        self.root, self.size, self.target = Path(root), int(size), target
        images, keep, bad = [], [], []
        for i, rel in enumerate(table["path"].astype(str)):
            try:        # the loader's decode path: cut-short files are refused, not decoded
                img = read_frame(self.root, rel)
            except UnreadableFrame:
                bad.append(rel)
                continue
            images.append(cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA))
            keep.append(i)
        if not images:
            raise ValueError(f"none of the {len(table)} images under {self.root} could be read")
        self.images = np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))
        rows = table.iloc[keep]
        self.targets = rows[target].to_numpy(np.int64)
        self.subjects = rows["subject"].astype(str).to_numpy() if "subject" in rows else rows["path"].astype(str).to_numpy()
        self.ledger = pd.DataFrame({"path": bad, "reason": "corrupt file"})
        self._scale = (1.0 / (255.0 * np.float32(std))).astype(np.float32).reshape(3, 1, 1)
        self._bias = (-np.float32(mean) / np.float32(std)).astype(np.float32).reshape(3, 1, 1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i].astype(np.float32) * self._scale + self._bias
        return {"image": torch.from_numpy(img), self.target: torch.tensor(self.targets[i]),
                "subject": self.subjects[i], "index": int(i)}
