"""Face-recognition (identity) pre-training on a CASIA-WebFace-style set and LFW-protocol
verification, for any network that maps a face to an embedding (GLEE-Net's FaceNet; the
PIAP-DF identity branch next).

GLEE-Net initialises its global branch with FaceNet trained for face recognition (paper 002
§3.1; at the paper profile the published VGGFace2 file). On CPU profiles the network is trained
here on ``synth-faces``' CASIA-WebFace part with a softmax classifier over identities (as
facenet-pytorch's published files were, with their ``logits`` layer) and checked on the LFW pairs
(:func:`lfw_verification`, :mod:`aulib.eval.verification`).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn


def load_faces(root, paths, size: int, boxes=None) -> np.ndarray:
    """Images ``root/paths`` as uint8 (N, 3, size, size) RGB, each cropped to its box
    (``boxes``: (N, 4) left, right, top, bottom as fractions of the image, FEC's convention) or
    whole, and resized with area interpolation. Unreadable files raise (their path named)."""
    from aulib.face.frames import read_frame

    out = np.empty((len(paths), 3, size, size), np.uint8)
    for i, rel in enumerate(paths):
        img = read_frame(Path(root), str(rel))
        if boxes is not None:
            h, w = img.shape[:2]
            l, r, t, b = boxes[i]
            x0, x1 = int(max(0, np.floor(l * w))), int(min(w, np.ceil(r * w)))
            y0, y1 = int(max(0, np.floor(t * h))), int(min(h, np.ceil(b * h)))
            if x1 - x0 >= 4 and y1 - y0 >= 4:
                img = img[y0:y1, x0:x1]
        out[i] = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
    return out


def to_input(u8: np.ndarray) -> torch.Tensor:
    """uint8 (N, 3, S, S) -> float, normalised as the AU datasets ((v / 255 - 0.5) / 0.5)."""
    return torch.from_numpy(u8).float().div_(127.5).sub_(1.0)


@torch.no_grad()
def embed(fn, images_u8: np.ndarray, batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """``fn(x) -> (B, D)`` over uint8 images in batches (no gradient); returns (N, D) float32."""
    out = []
    for s in range(0, len(images_u8), batch_size):
        out.append(fn(to_input(images_u8[s:s + batch_size]).to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def lfw_verification(net: nn.Module, root, size: int, device: str = "cpu") -> pd.DataFrame:
    """LFW-protocol verification accuracy of ``net`` (eval mode; forward = embedding) on the
    ``pairs.txt`` under ``root`` (:func:`aulib.data.readers.faces.lfw_pairs`, strict protocol):
    cosine similarity, threshold chosen on 9 folds and tested on the 10th
    (:func:`aulib.eval.verification.verification_accuracy`)."""
    from aulib.data.readers.faces import lfw_pairs
    from aulib.eval.verification import cosine_scores, verification_accuracy

    pairs = lfw_pairs(Path(root))
    paths = sorted(set(pairs.path1) | set(pairs.path2))
    pos = {p: i for i, p in enumerate(paths)}
    was = net.training
    net.eval()
    e = embed(net, load_faces(root, paths, size), device=device)
    net.train(was)
    s = cosine_scores(e[[pos[p] for p in pairs.path1]], e[[pos[p] for p in pairs.path2]])
    return verification_accuracy(s, pairs.same.to_numpy(), pairs.fold.to_numpy())


def lock_path(run_dir) -> Path:
    """The inter-process lock file of one identity pre-training run folder (in the cache's locks)."""
    import hashlib

    from aulib import config as aconfig

    key = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]
    return aconfig.cache_dir("locks", "identity") / f"{key}.lock"


def pretrain_identity(net: nn.Module, root, run_dir, size: int, epochs: int = 5, batch_size: int = 32,
                      lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
                      device: str = "cpu", save=None, progress: bool = False) -> dict:
    """Train ``net`` (forward -> (B, D) embedding) to tell the identities of the CASIA-WebFace
    part under ``root`` apart: a linear softmax classifier over identities on the embedding,
    cross-entropy, SGD with momentum and cosine decay, ``epochs`` passes. Afterwards ``save(net,
    path)`` (default: ``torch.save(net.state_dict())``) writes ``run_dir/identity.pt`` and
    ``run_dir/identity.json`` records the history; a run whose files exist is not retrained
    (returns the record). Two processes asking for the same ``run_dir`` at once (two notebooks,
    ``--jobs 2``) take an inter-process lock: one trains, the other waits and reads its record.
    Returns {"file", "history", "n_images", "n_identities"}."""
    from aulib import config as aconfig

    run_dir = Path(run_dir)
    with aconfig.file_lock(lock_path(run_dir)):
        return _pretrain_identity_unlocked(net, root, run_dir, size, epochs, batch_size, lr, momentum,
                                           weight_decay, seed, device, save, progress)


def _pretrain_identity_unlocked(net, root, run_dir: Path, size, epochs, batch_size, lr, momentum, weight_decay,
                                seed, device, save, progress) -> dict:
    from aulib import config as aconfig
    from aulib import data as D

    rec = run_dir / "identity.json"
    if rec.is_file() and (run_dir / "identity.pt").is_file():
        return json.loads(rec.read_text())
    idx = D.frame_index("casia", Path(root))
    ids = sorted(idx.subject.unique())
    y = torch.tensor(idx.subject.map({s: i for i, s in enumerate(ids)}).to_numpy())
    images = load_faces(root, idx.path.tolist(), size)
    aconfig.seed_everything(seed)
    with torch.no_grad():
        dim = net.eval()(to_input(images[:2]).to(device)).shape[1]
    head = nn.Linear(dim, len(ids)).to(device)
    params = [p for p in net.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps = max(1, epochs * (len(images) // batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    history = []
    net.train()
    for ep in range(epochs):
        t0, tot, hit, n = time.time(), 0.0, 0, 0
        order = torch.randperm(len(images), generator=g)
        for s in range(0, len(order) - batch_size + 1, batch_size):
            b = order[s:s + batch_size]
            x, t = to_input(images[b.numpy()]).to(device), y[b].to(device)
            logits = head(nn.functional.normalize(net(x), dim=1) * 16.0)
            loss = nn.functional.cross_entropy(logits, t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot, hit, n = tot + loss.item() * len(b), hit + int((logits.argmax(1) == t).sum()), n + len(b)
        history.append({"epoch": ep + 1, "loss": tot / max(1, n), "train_accuracy": 100 * hit / max(1, n),
                        "seconds": time.time() - t0})
        if progress:
            print(history[-1])
    net.eval()
    run_dir.mkdir(parents=True, exist_ok=True)
    (save or (lambda m, p: torch.save(m.state_dict(), p)))(net, run_dir / "identity.pt")
    out = {"file": str(run_dir / "identity.pt"), "history": history, "n_images": len(images), "n_identities": len(ids)}
    tmp = rec.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, rec)      # the record last and whole: its presence means the run is complete
    return out
