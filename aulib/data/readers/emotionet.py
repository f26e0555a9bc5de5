"""EmotioNet reader: downloaded images + the manual FACS label CSV (999 = not coded).

Facts (datasets.md §5): EmotioNet ships URL lists, not pixels; users download the images.
Manual labels ``EmotioNet_FACS_aws_2020_24600.csv``: columns ``URL``, ``URL orig`` and AU
columns with quoted/spaced names (``'AU 1'``) that loaders strip to ``AU1``; rows are keyed
by the URL's base name; values 1 / 0 / **999 = not coded** (masked here as NaN, never 0).
Challenge lists ``dataFile_NNNN.txt`` (tab separated url, orig_url, AU1..AU60) name images of
the automatically annotated set; their images are read as unlabelled (their labels are the
EmotioNet algorithm's, not manual). ADLD's lists ``emotioNet_{train,val,test}_path.txt``
(``EmotioNet/optimization_set/N_00000000XX/N_..._NNNNN.jpg``), when present in the root or in
SynthAU's ``synthau/`` side folder (they ship with ADLD's code, not with EmotioNet), are
recorded in a ``list_split`` column. An AU column that is 999 in every row (the release does
not code it, e.g. SynthAU's head-movement AUs 51-56) stays NaN but is not reported per frame.

Cells are normalised before use: some mirrors' CSVs put quote characters around the URL
cells (``'http://.../N_0000000001_00000.jpg'``), which are stripped (with spaces and a URL's
``?query``) from every text cell. When no labelled name matches a file on disk the reader
stops with how many there are of each and an example of both (and warns when fewer than half
match while unlabelled images exist); it never reports every image as "not downloaded".

Images may sit anywhere under the root; they are matched by file name. EmotioNet has no
subject ids: each image is its own ``subject`` (so no split can leak a face across parts
unless the same photo appears twice under two names).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from ..catalog import layout_error
from .common import au_name, drop_corrupt, finish_index, ledger_frame, walk_images

UNKNOWN = 999
LABEL_GLOB = "EmotioNet_FACS*.csv"
ADLD_LISTS = {"train": "emotioNet_train_path.txt", "val": "emotioNet_val_path.txt",
              "test": "emotioNet_test_path.txt"}


def clean_cells(df: pd.DataFrame) -> pd.DataFrame:
    """Strip spaces and surrounding quote characters from column names and text cells."""
    df = df.copy()
    df.columns = [str(c).strip().strip("'\"").strip() for c in df.columns]
    for c in df.columns:
        if pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object:
            df[c] = df[c].astype(str).str.strip().str.strip("'\"").str.strip()
    return df


def read_labels(path: Path) -> pd.DataFrame:
    """The manual FACS CSV as [name, url, AU...] with 999 -> NaN (cells normalised by
    :func:`clean_cells`; ``name`` is the URL's base name without a query string)."""
    df = clean_cells(pd.read_csv(path, dtype=str, keep_default_na=False))
    url_col = next((c for c in df.columns if c.replace(" ", "").lower() == "url"), None)
    if url_col is None:
        raise ValueError(f"{path}: no 'URL' column; columns are {list(df.columns)[:8]}")
    aus = {c: au_name(c) for c in df.columns if au_name(c)}
    out = df[list(aus)].rename(columns=aus).apply(pd.to_numeric, errors="coerce")
    out = out.astype("float32").where(out.isin([0, 1]))
    url = df[url_col].str.split("?", n=1).str[0]
    out.insert(0, "url", df[url_col])
    out.insert(0, "name", url.str.rstrip("/").str.rsplit("/", n=1).str[-1])
    return out


def match_report(labelled: pd.Series, urls: pd.Series, images: dict) -> str:
    """How many labelled names and files on disk there are, matched or not, with an example of
    each side (for errors and warnings)."""
    have = labelled.isin(images)
    lab_only = labelled[~have]
    disk_only = sorted(set(images) - set(labelled))
    ex_l = (f"e.g. labelled {lab_only.iloc[0]!r} (URL cell {urls[~have].iloc[0]!r})"
            if len(lab_only) else "")
    ex_d = f"e.g. on disk {images[disk_only[0]]!r}" if disk_only else ""
    return (f"{len(labelled)} labelled names in the FACS CSV, {len(images)} image files on "
            f"disk, {int(have.sum())} match; {len(lab_only)} labelled names have no file "
            f"({ex_l or 'none'}), {len(disk_only)} files have no label ({ex_d or 'none'})")


def read(root: Path, check_files: bool = True):
    """Frame index and ledger of an EmotioNet folder (see module docstring)."""
    csvs = sorted(root.rglob(LABEL_GLOB))
    images = walk_images(root)
    if not csvs and not images:
        raise layout_error("emotionet", root, f"neither images nor a label file {LABEL_GLOB}")
    ledger = []
    labelled = pd.concat([read_labels(c) for c in csvs], ignore_index=True) if csvs else \
        pd.DataFrame(columns=["name"])
    labelled = labelled.drop_duplicates("name")
    have = labelled["name"].isin(images)
    if csvs and len(labelled) and images and not have.any():
        raise layout_error("emotionet", root, "no labelled image matches a file on disk: "
                           + match_report(labelled["name"], labelled["url"], images)
                           + ". Labels are matched by the URL's file name; rename the files "
                           "or fix the CSV's URL cells")
    if have.any() and have.mean() < 0.5 and len(set(images) - set(labelled["name"])):
        warnings.warn("EmotioNet: fewer than half the labelled images were found: "
                      + match_report(labelled["name"], labelled["url"], images), stacklevel=3)
    for name in labelled.loc[~have, "name"]:
        ledger.append(dict(dataset="emotionet", subject=Path(name).stem, video="", frame=0,
                           path="", reason="missing image", action="excluded",
                           detail="labelled in the FACS CSV, image not downloaded"))
    lab = labelled[have].copy()
    lab["labeled"] = True
    rest = sorted(set(images) - set(lab["name"]))
    df = pd.concat([lab, pd.DataFrame({"name": rest, "labeled": False})], ignore_index=True)
    df["path"] = df["name"].map(images)
    df["subject"] = df["name"].map(lambda n: Path(n).stem)
    df["video"], df["frame"], df["dataset"] = "", 0, "emotionet"
    aus = [c for c in df.columns if str(c).startswith("AU")]
    coded = [c for c in aus if df.loc[df.labeled, c].notna().any()]    # columns coded at all
    if coded:
        n_unknown = df.loc[df.labeled, coded].isna().sum(axis=1)
        for i, k in n_unknown[n_unknown > 0].items():
            all_unknown = k == len(coded)
            ledger.append(dict(dataset="emotionet", subject=df.subject[i], video="", frame=0,
                               path=df.path[i], reason="unknown label",
                               action="excluded" if all_unknown else "masked",
                               detail=f"999 (not coded) for {k} AU(s)"))
            if all_unknown:
                df.loc[i, "labeled"] = False
    split = pd.Series("", index=df.index)
    for s, fname in ADLD_LISTS.items():
        f = next((d / fname for d in (root, root / "synthau") if (d / fname).is_file()), None)
        if f is not None:
            names = {Path(line.split()[0]).name for line in f.read_text().splitlines() if line.strip()}
            split[df["name"].isin(names)] = s
    df["list_split"] = split
    if check_files:
        df = drop_corrupt(root, df, ledger, "emotionet", video="")
    df = df.drop(columns=["name", "url"], errors="ignore")
    return finish_index(df, aus), ledger_frame(ledger)
