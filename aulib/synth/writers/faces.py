"""``synth-faces``: identities for face-recognition pre-training and LFW-style verification
(datasets.md section 7), domain ``wild``.

- ``CASIA-WebFace/<7-digit id>/<3-digit n>.jpg`` - identity folders, images numbered from 001;
- ``lfw/<Name>/<Name>_<4-digit n>.jpg`` - other identities (disjoint from CASIA's), names
  with underscores, images numbered from 0001;
- ``pairs.txt`` - first line ``<folds>\\t<pairs per fold>``, then per fold that many matched
  lines ``name\\ti\\tj`` followed by as many mismatched lines ``name1\\ti\\tname2\\tj``
  (1-based indices);
- ``lfw-names.txt`` - ``name\\tcount`` per person.

Each image of a person varies expression (wild AU statistics), pose, light and background.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine import Sequence, render_all
from ..identity import identity_seed
from .common import finish, inject_failures, sample_stills

_FIRST = ("Ada Bela Cato Dara Emil Fenna Gus Hana Ivo Juna Kai Lina Milo Nora Otto Pia Quin Rosa "
          "Sami Tara Udo Vera Wim Xena Yuri Zora Alba Bram Cleo Dirk").split()
_LAST = ("Quill Marsh Vance Brook Falk Hale Ives Jarre Kemp Lund Moss Nash Orr Pike Rusk Sand "
         "Thorn Ulm Voss Wren Yates Zell Abel Birch Crane Dove Elm Frost Gale Holt").split()


def _name(i: int) -> str:
    a, b = i % len(_FIRST), (i // len(_FIRST)) % len(_LAST)
    k = i // (len(_FIRST) * len(_LAST))
    return f"{_FIRST[a]}_{_LAST[b]}" + (f"_{k + 1}" if k else "")


def write(root: Path, size: int, casia_ids: int, casia_per_id: int, lfw_people: int,
          lfw_folds: int, lfw_pairs: int, seed: int, failure_rates: dict, **_) -> dict:
    rng = np.random.default_rng(identity_seed("synth-faces", seed) % (2**32))
    seqs, extra = [], []
    for k in range(casia_ids):
        pid = f"{k + 1:07d}"
        n = int(np.clip(rng.poisson(casia_per_id), 2, 4 * casia_per_id))
        sid = identity_seed("synth-faces/casia", pid, seed)
        seqs.append(Sequence(key=f"casia/{pid}", paths=[f"CASIA-WebFace/{pid}/{j + 1:03d}.jpg" for j in range(n)],
                             aus=sample_stills("wild", n, rng), identity=sid, domain="wild",
                             size=size, seed=sid % 2**31, mode="stills",
                             failures=inject_failures(rng, n, failure_rates, force=k == 0)))
        extra.append({"subject": pid, "collection": "casia"})
    names, counts = [], []
    for k in range(lfw_people):
        nm = _name(k)
        n = int(1 + rng.geometric(0.45)) if k % 3 else 1
        sid = identity_seed("synth-faces/lfw", nm, seed)
        seqs.append(Sequence(key=f"lfw/{nm}", paths=[f"lfw/{nm}/{nm}_{j + 1:04d}.jpg" for j in range(n)],
                             aus=sample_stills("wild", n, rng), identity=sid, domain="wild",
                             size=size, seed=sid % 2**31, mode="stills"))
        extra.append({"subject": nm, "collection": "lfw"})
        names.append(nm)
        counts.append(n)
    results = render_all(seqs, root, desc="synth-faces")
    counts = np.array(counts)
    multi = np.flatnonzero(counts >= 2)
    lines = [f"{lfw_folds}\t{lfw_pairs}"]
    for _ in range(lfw_folds):
        for _ in range(lfw_pairs):
            p = int(rng.choice(multi))
            i, j = rng.choice(counts[p], 2, replace=False) + 1
            lines.append(f"{names[p]}\t{i}\t{j}")
        for _ in range(lfw_pairs):
            p, q = rng.choice(len(names), 2, replace=False)
            lines.append(f"{names[p]}\t{rng.integers(1, counts[p] + 1)}\t{names[q]}\t{rng.integers(1, counts[q] + 1)}")
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    (root / "lfw-names.txt").write_text("".join(f"{nm}\t{c}\n" for nm, c in zip(names, counts)))
    finish(root, "synth-faces", seqs, results,
           {"layout": __doc__, "size": size, "domain": "wild", "casia_identities": casia_ids,
            "lfw_people": lfw_people, "pairs": {"folds": lfw_folds, "per_fold": lfw_pairs}},
           extra_cols=extra)
    return {"frames": int(sum(len(s.aus) for s in seqs))}
