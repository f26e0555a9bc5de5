"""FEC reader: the expression-comparison triplet CSVs (one row per triplet, not per frame).

Facts (datasets.md §6): ``faceexp-comparison-data-{train,test}-public.csv`` without header;
columns 0-14 are three blocks of (image URL, 4 box floats normalised to [0, 1] in the order
left, right, top, bottom); column 15 the triplet type; then (annotator id, answer) pairs,
answer k in {1, 2, 3} = image k is the odd one out. Images are downloaded by the user from
the URLs; they are matched here by the URL's base name anywhere under the root.

Returned columns: ``split``, ``row``, ``url_k``, ``left_k``, ``right_k``, ``top_k``,
``bottom_k``, ``path_k`` (local image or "") for k = 1..3, ``type``, ``answers`` (list of
ints), ``odd_one`` (the most frequent answer; ties -> the smallest, as ``mode``), and
``agreement`` (fraction of annotators who gave it).
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd

from ..catalog import layout_error
from .common import ledger_frame, walk_images

FILES = {"train": "faceexp-comparison-data-train-public.csv",
         "test": "faceexp-comparison-data-test-public.csv"}


def read(root: Path, check_files: bool = True):
    found = {s: root / f for s, f in FILES.items() if (root / f).is_file()}
    if not found:
        raise layout_error("fec", root, f"none of {', '.join(FILES.values())} found")
    images = walk_images(root)
    rows, ledger = [], []
    for split, path in found.items():
        with open(path, newline="") as f:
            for i, tok in enumerate(csv.reader(f)):
                if len(tok) < 17:
                    ledger.append(dict(dataset="fec", subject="", video=split, frame=i, path="",
                                       reason="malformed row", action="excluded",
                                       detail=f"{len(tok)} fields, expected >= 17"))
                    continue
                r = {"split": split, "row": i, "type": tok[15].strip()}
                for k in range(3):
                    url = tok[5 * k].strip()
                    r[f"url_{k + 1}"] = url
                    for j, side in enumerate(("left", "right", "top", "bottom")):
                        r[f"{side}_{k + 1}"] = float(tok[5 * k + 1 + j])
                    r[f"path_{k + 1}"] = images.get(url.rsplit("/", 1)[-1], "")
                answers = [int(a) for a in tok[17::2] if a.strip().isdigit()]
                r["answers"] = answers
                if answers:
                    c = Counter(answers).most_common()
                    best = min(a for a, n in c if n == c[0][1])
                    r["odd_one"], r["agreement"] = best, c[0][1] / len(answers)
                else:
                    r["odd_one"], r["agreement"] = 0, 0.0
                rows.append(r)
    df = pd.DataFrame(rows)
    df["complete"] = (df[["path_1", "path_2", "path_3"]] != "").all(axis=1)
    return df, ledger_frame(ledger)
