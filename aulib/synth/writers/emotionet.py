"""``synth-emotionet``: EmotioNet-like in-the-wild photos (domain ``wild``), datasets.md s.5.

- ``optimization_set/N_<10-digit folder>/N_<10-digit folder>_<5-digit index>.jpg`` - all
  images (folders of at most 1000), named as in ADLD's EmotioNet lists;
- ``EmotioNet_FACS_aws_2020_24600.csv`` - manual FACS labels of the labelled images only
  (validation + test): columns ``URL``, ``URL orig``, then ``'AU 1'``, ``'AU 2'``, ... (quoted
  names with a space, as the 2020 release) for the 11 challenge AUs
  (1, 2, 4, 5, 6, 9, 12, 17, 20, 25, 26); 1 present (intensity >= 1), 0 absent,
  999 not coded (a few, injected). A URL's basename is the image file name.
- ``emotioNet_train_path.txt`` (unlabelled target-domain training images),
  ``emotioNet_val_path.txt``, ``emotioNet_test_path.txt`` - one image path per line,
  relative to the dataset root (ADLD's list names; the 6 AUs of its protocol are
  1, 2, 4, 6, 12, 17).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogue import AUS, EMOTIONET_AUS, au_number
from ..dynamics import occurrence
from ..engine import render_all
from ..identity import identity_seed
from .common import STILLS_CHUNK, finish, inject_failures, sample_stills, stills_sequences

URL_BASE = "http://synthau.invalid/emotionet/"
LABEL_FILE = "EmotioNet_FACS_aws_2020_24600.csv"
CHUNK = STILLS_CHUNK  # rows per render chunk (used to map results back)


def write(root: Path, size: int, n_train: int, n_val: int, n_test: int, seed: int,
          failure_rates: dict, unknown_rate: float = 0.003, **_) -> dict:
    n = n_train + n_val + n_test
    rng = np.random.default_rng(identity_seed("synth-emotionet", seed) % (2**32))
    aus = sample_stills("wild", n, rng)
    names = [f"N_{i // 1000 + 1:010d}_{i % 1000 + 1:05d}.jpg" for i in range(n)]
    paths = [f"optimization_set/{nm[:12]}/{nm}" for nm in names]
    split = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * n_test)
    split = split[rng.permutation(n)]
    fails = inject_failures(rng, n, failure_rates, force=True)
    seqs = stills_sequences("synth-emotionet", paths, aus, fails, seed, size)
    results = render_all(seqs, root, desc="synth-emotionet")
    for s in ("train", "val", "test"):
        sel = [p for p, sp in zip(paths, split) if sp == s]
        (root / f"emotioNet_{s}_path.txt").write_text("".join(p + "\n" for p in sel))
    lab = split != "train"
    occ = occurrence(aus, "wild")
    table = {"URL": [URL_BASE + nm for nm, keep in zip(names, lab) if keep],
             "URL orig": [f"http://example.invalid/orig/{nm}" for nm, keep in zip(names, lab) if keep]}
    for a in EMOTIONET_AUS:
        col = occ[lab, AUS.index(a)].astype(np.int64)
        col[rng.random(len(col)) < unknown_rate] = 999
        table[f"'AU {au_number(a)}'"] = col
    pd.DataFrame(table).to_csv(root / LABEL_FILE, index=False)
    finish(root, "synth-emotionet", seqs, results,
           {"layout": __doc__, "size": size, "domain": "wild", "labels": list(EMOTIONET_AUS),
            "splits": {"train": n_train, "val": n_val, "test": n_test},
            "occurrence_rule": "intensity >= 1"},
           extra_cols=[{"subject": [p.rsplit("/", 1)[-1][:-4] for p in s.paths],
                        "split": split[i * CHUNK:i * CHUNK + len(s.paths)]}
                       for i, s in enumerate(seqs)])
    return {"frames": n}
