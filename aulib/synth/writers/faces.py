"""``synth-faces``: identities for face-recognition pre-training and LFW-style verification
(datasets.md section 7), domain ``wild``. LFW's layout facts and protocol rules, with their
sources: ``aulib/data/layouts.toml`` [lfw].

- ``CASIA-WebFace/<7-digit id>/<3-digit n>.jpg`` - identity folders, images numbered from 001;
- ``lfw/<Name>/<Name>_<4-digit n>.jpg`` - other identities (disjoint from CASIA's), names
  with underscores, images numbered from 0001;
- ``pairs.txt`` (View 2) - first line ``<folds>\t<pairs per fold>``, then per fold that many
  matched lines ``name\ti\tj`` followed by as many mismatched lines ``name1\ti\tname2\tj``
  (1-based indices). The protocol's rules hold: every person belongs to exactly one fold
  (no identity is in two folds), no pair repeats, matched pairs list the smaller image
  number first, each block is sorted by name (mismatched: ``name1 < name2``). At SynthAU's
  sizes there are fewer folds / pairs per fold than the real 10 x 300 (see ``store.SIZES``);
- ``people.txt`` - the folds' people: first line ``<folds>``, then per fold the number of
  people followed by one ``name\tn_images`` line each (torchvision's ``LFWPeople`` reads it);
- ``lfw-names.txt`` - ``name\tcount`` per person.

Each image of a person varies expression (wild AU statistics), pose, light and background.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine import Sequence, render_all
from ..identity import identity_seed
from .common import LAYOUTS, finish, inject_failures, sample_stills

LFW = LAYOUTS["lfw"]

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
    counts = np.array(counts)               # the protocol first: a size that cannot hold it
    # fails before any rendering
    folds = lfw_folds_of(counts, lfw_folds)
    prng = np.random.default_rng(identity_seed("synth-faces/pairs", seed) % (2**32))
    lines = [LFW["pairs_header"].format(folds=lfw_folds, pairs=lfw_pairs)]
    people = [str(lfw_folds)]
    for k in range(lfw_folds):
        members = sorted(np.flatnonzero(folds == k), key=lambda p: names[p])
        lines += pairs_of_fold(members, names, counts, lfw_pairs, prng, k)
        people += [str(len(members))] + [f"{names[p]}\t{counts[p]}" for p in members]
    results = render_all(seqs, root, desc="synth-faces")
    (root / LFW["pairs_file"]).write_text("\n".join(lines) + "\n")
    (root / LFW["people_file"]).write_text("\n".join(people) + "\n")
    (root / LFW["names_file"]).write_text("".join(f"{nm}\t{c}\n" for nm, c in zip(names, counts)))
    finish(root, "synth-faces", seqs, results,
           {"layout": __doc__, "size": size, "domain": "wild", "casia_identities": casia_ids,
            "lfw_people": lfw_people, "pairs": {"folds": lfw_folds, "per_fold": lfw_pairs,
                                                "rules": LFW["rules"]}},
           extra_cols=extra)
    return {"frames": int(sum(len(s.aus) for s in seqs))}


def lfw_folds_of(counts: np.ndarray, n_folds: int) -> np.ndarray:
    """Fold of each LFW person (disjoint identities): people sorted by how many matched pairs
    they allow (n_images choose 2), dealt round-robin so each fold can form its pairs."""
    combos = counts * (counts - 1) // 2
    order = np.argsort(-combos, kind="stable")
    folds = np.empty(len(counts), np.int64)
    folds[order] = np.arange(len(counts)) % n_folds
    return folds


def pairs_of_fold(members, names, counts, n_pairs: int, rng, fold: int) -> list[str]:
    """``n_pairs`` matched then ``n_pairs`` mismatched ``pairs.txt`` lines drawn from one
    fold's people, without repeats, each block sorted by name. Raises ``ValueError`` when the
    fold's people cannot give that many distinct pairs (make the dataset bigger)."""
    matched = [(p, i, j) for p in members for i in range(1, counts[p] + 1)
               for j in range(i + 1, counts[p] + 1)]
    if len(matched) < n_pairs or len(members) < 2:
        raise ValueError(f"LFW fold {fold}: {len(members)} people allow {len(matched)} distinct "
                         f"matched pairs, {n_pairs} asked; raise lfw_people or lower lfw_pairs")
    pick = sorted((matched[t] for t in rng.choice(len(matched), n_pairs, replace=False)),
                  key=lambda m: (names[m[0]], m[1], m[2]))
    out = [LFW["matched_line"].format(name=names[p], i=i, j=j) for p, i, j in pick]
    seen, mis = set(), []
    for _ in range(100 * n_pairs):
        if len(mis) == n_pairs:
            break
        p, q = sorted(rng.choice(members, 2, replace=False), key=lambda m: names[m])
        key = (p, int(rng.integers(1, counts[p] + 1)), q, int(rng.integers(1, counts[q] + 1)))
        if key not in seen:
            seen.add(key)
            mis.append(key)
    if len(mis) < n_pairs:
        raise ValueError(f"LFW fold {fold}: found {len(mis)} distinct mismatched pairs, "
                         f"{n_pairs} asked; raise lfw_people or lower lfw_pairs")
    mis.sort(key=lambda m: (names[m[0]], m[1], names[m[2]], m[3]))
    return out + [LFW["mismatched_line"].format(name1=names[p], i=i, name2=names[q], j=j)
                  for p, i, q, j in mis]
