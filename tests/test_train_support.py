"""Helpers for the trainer tests (no tests here): a small in-memory Dataset that follows the
Dataset-item contract, with a learnable label (a bright square at a fixed spot per AU), and
a small CNN. Also used by the subprocess scripts of the resume and DDP tests."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

AUS = ["AU1", "AU2", "AU12"]
SPOTS = [(2, 2), (2, 20), (20, 11)]   # top-left corner of each AU's square, 32x32 images


class SquaresDataset(torch.utils.data.Dataset):
    """``n`` items; AU k present -> bright 8x8 square at SPOTS[k]; subjects cycle through
    ``subjects``; one label per (item, AU) is unknown (mask 0) with probability ``p_unknown``."""

    aus = AUS

    def __init__(self, n=48, subjects=("s1", "s2", "s3"), seed=0, size=32, sleep=0.0, p_unknown=0.05):
        rng = np.random.default_rng(seed)
        self.labels_ = (rng.random((n, len(AUS))) < 0.4).astype(np.float32)
        self.mask_ = (rng.random((n, len(AUS))) >= p_unknown).astype(np.float32)
        self.subjects = [subjects[i % len(subjects)] for i in range(n)]
        self.noise = rng.normal(0, 0.3, (n, 3, size, size)).astype(np.float32)
        self.sleep = sleep

    @property
    def au_labels(self):
        return np.where(self.mask_ > 0, self.labels_, np.nan)

    def __len__(self):
        return len(self.labels_)

    def __getitem__(self, i):
        if self.sleep:
            time.sleep(self.sleep)
        img = self.noise[i].copy()
        for k, (r, c) in enumerate(SPOTS):
            if self.labels_[i, k]:
                img[:, r:r + 8, c:c + 8] += 2.0
        return {"image": torch.from_numpy(img), "au": torch.from_numpy(self.labels_[i] * self.mask_[i]),
                "au_mask": torch.from_numpy(self.mask_[i]),
                "landmarks": torch.full((68, 2), float("nan")), "subject": self.subjects[i], "index": i}


class TinyNet(nn.Module):
    """Two strided convs with BatchNorm and dropout, then one logit per AU."""

    def __init__(self, aus=AUS):
        super().__init__()
        self.aus = list(aus)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                                  nn.Flatten(), nn.Dropout(0.2))
        self.head = nn.Linear(256, len(self.aus))

    def forward(self, x):
        return self.head(self.body(x))


def splits(n_train=48, sleep=0.0):
    """Subject-exclusive train / val / test sets."""
    return (SquaresDataset(n_train, ("s1", "s2", "s3"), seed=1, sleep=sleep),
            SquaresDataset(24, ("v1", "v2"), seed=2),
            SquaresDataset(24, ("t1", "t2"), seed=3))


def test_identity_pretraining_waits_for_a_run_another_process_is_training(tmp_path, monkeypatch):
    """Two notebooks asking for one identity run: the second waits on the run's lock and then
    reads the first one's record instead of training again (the faces folder here does not even
    exist, so training would fail)."""
    import json
    import threading

    from aulib import config
    from aulib.train import identity

    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    result = {}
    with config.file_lock(identity.lock_path(run_dir)):
        t = threading.Thread(target=lambda: result.update(out=identity.pretrain_identity(
            torch.nn.Identity(), tmp_path / "no-faces", run_dir, size=8)))
        t.start()
        t.join(0.5)
        assert t.is_alive()                      # blocked on the lock held "by the other notebook"
        run_dir.mkdir()
        (run_dir / "identity.pt").write_bytes(b"weights")
        (run_dir / "identity.json").write_text(json.dumps({"file": "theirs", "n_identities": 3}))
    t.join(30)
    assert result["out"] == {"file": "theirs", "n_identities": 3}
