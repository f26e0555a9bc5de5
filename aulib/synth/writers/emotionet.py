"""``synth-emotionet``: EmotioNet-like in-the-wild photos (domain ``wild``), datasets.md s.5;
layout facts and sources in ``aulib/data/layouts.toml`` [emotionet].

- ``optimization_set/N_<10-digit folder>/N_<10-digit folder>_<5-digit index>.jpg`` - all
  images (folders of at most 1000), named as in ADLD's EmotioNet lists;
- ``EmotioNet_FACS_aws_2020_24600.csv`` - manual FACS labels of the labelled images only
  (validation + test): columns ``URL``, ``URL orig``, then ``'AU 1'``, ``'AU 2'``, ... (quoted
  names with a space) for the 2020 release's 23 AUs in its order (1, 2, 4, 5, 6, 9, 10, 12,
  15, 17, 18, 20, 24, 25, 26, 28, 43, 51-56). A URL's basename is the image file name.
  Values: 1 present (intensity >= 1), 0 absent, 999 not coded. AUs the renderer animates are
  coded from the rendered face (a few 999s injected); AU 18, 28 and 43, which it never shows,
  are 0; the head-movement AUs 51-56 are 999 (not coded: SynthAU's head pose varies but is
  not FACS-coded; the pose is in ``synthau_ground_truth.csv.gz``).
- ``synthau/emotioNet_{train,val,test}_path.txt`` - ADLD's list names (unlabelled training
  images; validation; test), one path per line relative to the dataset root. In the real
  world these lists ship with ADLD's code, not with EmotioNet, so SynthAU keeps them in its
  ``synthau/`` side folder where they cannot be taken for the dataset's own files (the 6
  AUs of ADLD's protocol are 1, 2, 4, 6, 12, 17).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogue import AUS, EMOTIONET_AUS
from ..dynamics import occurrence
from ..engine import render_all
from ..identity import identity_seed
from .common import (LAYOUTS, SIDE_DIR, STILLS_CHUNK, finish, inject_failures, sample_stills,
                     stills_sequences)

URL_BASE = "http://synthau.invalid/emotionet/"
LAYOUT = LAYOUTS["emotionet"]
LABEL_FILE = LAYOUT["label_file"]
NOT_CODED = (51, 52, 53, 54, 55, 56)      # head movement: rendered (pose) but not FACS-coded
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
    (root / SIDE_DIR).mkdir(exist_ok=True)
    for s, fname in zip(("train", "val", "test"), LAYOUT["adld_lists"]):
        sel = [p for p, sp in zip(paths, split) if sp == s]
        (root / SIDE_DIR / fname).write_text("".join(p + "\n" for p in sel))
    lab = split != "train"
    occ = occurrence(aus, "wild")
    url, orig = LAYOUT["first_columns"]
    table = {url: [URL_BASE + nm for nm, keep in zip(names, lab) if keep],
             orig: [f"http://example.invalid/orig/{nm}" for nm, keep in zip(names, lab) if keep]}
    n_lab = int(lab.sum())
    for num in LAYOUT["aus"]:
        a = f"AU{num}"
        if num in NOT_CODED:
            col = np.full(n_lab, LAYOUT["unknown"], np.int64)
        elif a in AUS:
            col = occ[lab, AUS.index(a)].astype(np.int64)
            if a in EMOTIONET_AUS:          # a few 999s in the 11 challenge AUs
                col[rng.random(len(col)) < unknown_rate] = LAYOUT["unknown"]
        else:
            col = np.full(n_lab, LAYOUT["absent"], np.int64)
        table[LAYOUT["au_header"].format(au=num)] = col
    pd.DataFrame(table).to_csv(root / LABEL_FILE, index=False)
    finish(root, "synth-emotionet", seqs, results,
           {"layout": __doc__, "size": size, "domain": "wild", "labels": list(EMOTIONET_AUS),
            "csv_au_columns": [LAYOUT["au_header"].format(au=a) for a in LAYOUT["aus"]],
            "never_animated_aus_written_as": 0,
            "not_coded_aus": [f"AU{a}" for a in NOT_CODED],
            "adld_lists": [f"{SIDE_DIR}/{f}" for f in LAYOUT["adld_lists"]],
            "splits": {"train": n_train, "val": n_val, "test": n_test},
            "occurrence_rule": "intensity >= 1"},
           extra_cols=[{"subject": [p.rsplit("/", 1)[-1][:-4] for p in s.paths],
                        "split": split[i * CHUNK:i * CHUNK + len(s.paths)]}
                       for i, s in enumerate(seqs)])
    return {"frames": n}
