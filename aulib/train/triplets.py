"""Expression-embedding pre-training on FEC triplets (GLEE-Net eq. 4) and FEC's triplet
prediction accuracy, for any network with an embedding.

Facts: FEC (Vemulapalli & Agarwala, CVPR 2019) annotates triplets by the odd one out: the two
other faces are the more similar pair; its standard metric is the triplet prediction accuracy,
the fraction of triplets whose most similar pair in the embedding (smallest distance) is the
annotated one. GLEE-Net pre-trains its global and local branches on FEC with the two-sided
triplet loss of eq. 4 on L2-normalised embeddings (A, P = the similar pair, N = the odd one),
SGD momentum 0.9, lr 2e-4, batch 30, 10 epochs (paper 002 §3.5, §4.2). The margin ``m`` is not
printed in the paper; 0.1 here (the FEC paper's margin for its 16-d embedding is 0.1).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .identity import embed, load_faces, to_input

MARGIN = 0.1


def fec_triplets(root, split: str, max_triplets: int = 0, seed: int = 0) -> pd.DataFrame:
    """The complete triplets of FEC's ``split`` under ``root``, as columns ``a``, ``p``, ``n``
    (image paths: the similar pair and the odd one) with ``box_a``... (left, right, top, bottom)
    and ``agreement``; a seeded subset of ``max_triplets`` when given. Raises ValueError when
    the split has no triplet whose three images are all present."""
    from aulib import data as D

    df = D.frame_index("fec", Path(root))
    df = df[(df.split == split) & df.complete & df.odd_one.isin([1, 2, 3])]
    if df.empty:
        raise ValueError(f"FEC under {root} has no complete {split} triplet (images present, answers given)")
    rows = []
    for r in df.itertuples():
        ks = [k for k in (1, 2, 3) if k != r.odd_one] + [r.odd_one]
        rows.append({**{f"{n}": getattr(r, f"path_{k}") for n, k in zip("apn", ks)},
                     **{f"box_{n}": tuple(getattr(r, f"{s}_{k}") for s in ("left", "right", "top", "bottom"))
                        for n, k in zip("apn", ks)}, "agreement": r.agreement})
    out = pd.DataFrame(rows)
    if max_triplets and len(out) > max_triplets:
        out = out.sample(max_triplets, random_state=seed).reset_index(drop=True)
    return out


class TripletImages:
    """The face crops of a triplet table, each distinct (path, box) read once: ``images``
    uint8 (M, 3, S, S) and ``ids`` (N, 3) rows into it (a, p, n)."""

    def __init__(self, root, table: pd.DataFrame, size: int):
        keys, pos, boxes = [], {}, []
        ids = np.empty((len(table), 3), np.int64)
        for i, r in enumerate(table.itertuples()):
            for j, n in enumerate("apn"):
                k = (getattr(r, n), getattr(r, f"box_{n}"))
                if k not in pos:
                    pos[k] = len(keys)
                    keys.append(k)
                    boxes.append(k[1])
                ids[i, j] = pos[k]
        self.images = load_faces(root, [k[0] for k in keys], size, boxes=np.asarray(boxes))
        self.ids = ids


def triplet_accuracy(fn, data: TripletImages, device: str = "cpu") -> float:
    """FEC's triplet prediction accuracy (percent) of the embedding ``fn(x) -> (B, D)``."""
    e = embed(fn, data.images, device=device)
    a, p, n = (e[data.ids[:, j]] for j in range(3))
    d = lambda u, v: ((u - v) ** 2).sum(1)  # noqa: E731
    return 100.0 * float(((d(a, p) < d(a, n)) & (d(a, p) < d(p, n))).mean())


def pretrain_embedding(model, embed_fn, root, run_dir, size: int, save, epochs: int = 10, batch_size: int = 30,
                       lr: float = 2e-4, momentum: float = 0.9, margin: float = MARGIN, max_triplets: int = 0,
                       max_test: int = 0, seed: int = 0, device: str = "cpu", progress: bool = False) -> dict:
    """Train ``embed_fn(model, x) -> (B, D)`` with eq. 4 on FEC's training triplets under ``root``
    (SGD, momentum; GLEE-Net §4.2's settings by default) and measure the triplet accuracy on the
    held-out ``test`` triplets before and after. ``save(model, path)`` writes
    ``run_dir/embedding.pt``; ``run_dir/embedding.json`` records the run; a finished run is read
    back, not retrained. Returns {"file", "history", "accuracy_untrained", "accuracy",
    "n_train", "n_test"}."""
    from aulib import config as aconfig
    from aulib.models.common import triplet_loss

    run_dir = Path(run_dir)
    rec = run_dir / "embedding.json"
    if rec.is_file() and (run_dir / "embedding.pt").is_file():
        return json.loads(rec.read_text())
    aconfig.seed_everything(seed)
    train = TripletImages(root, fec_triplets(root, "train", max_triplets, seed), size)
    test = TripletImages(root, fec_triplets(root, "test", max_test, seed), size)
    fn = lambda x: embed_fn(model, x)  # noqa: E731
    model.to(device).eval()
    before = triplet_accuracy(fn, test, device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    g = torch.Generator().manual_seed(seed)
    history = []
    for ep in range(epochs):
        model.train()
        t0, tot, n = time.time(), 0.0, 0
        order = torch.randperm(len(train.ids), generator=g).numpy()
        for s in range(0, len(order) - batch_size + 1, batch_size):
            ids = train.ids[order[s:s + batch_size]]
            x = to_input(train.images[ids.reshape(-1)]).to(device)
            e = embed_fn(model, x).view(len(ids), 3, -1)
            loss = triplet_loss(e[:, 0], e[:, 1], e[:, 2], margin=margin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot, n = tot + loss.item() * len(ids), n + len(ids)
        model.eval()
        history.append({"epoch": ep + 1, "loss": tot / max(1, n), "test_accuracy": triplet_accuracy(fn, test, device),
                        "seconds": time.time() - t0})
        if progress:
            print(history[-1])
    run_dir.mkdir(parents=True, exist_ok=True)
    save(model, run_dir / "embedding.pt")
    out = {"file": str(run_dir / "embedding.pt"), "history": history, "accuracy_untrained": before,
           "accuracy": history[-1]["test_accuracy"] if history else before, "n_train": len(train.ids),
           "n_test": len(test.ids), "margin": margin}
    rec.write_text(json.dumps(out, indent=1))
    return out
