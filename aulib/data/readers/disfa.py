"""DISFA reader: per-AU intensity label files + left/right camera videos or extracted frames.

Facts (datasets.md §1): labels ``ActionUnit_Labels/SN0XX/SN0XX_au<K>.txt``, one line per
frame ``frameIndex,intensity`` (0-5), 12 coded AUs; videos
``Videos_LeftCamera/LeftVideoSN0XX_comp.avi`` and ``Video_RightCamera/RightVideoSN0XX_comp.avi``
(the right-camera folder is also seen as ``Videos_RightCamera``; both accepted).

Frames: the k-th label line (0-based) is the k-th video frame (ME-GraphAU's
``tool/DISFA_image_label_process.py`` pairs lines with 0-indexed frames the same way). When
frames were extracted, per-subject folders ``<dir>/SN0XX/<n>.jpg|png`` are read, ``<dir>`` one
of :data:`FRAME_DIRS` or the root itself, ``<n>`` the file name's trailing number. Whether
image 0 (JAA-Net, ME-GraphAU: ``0.png``) or image 1 (ffmpeg's ``%d``, FG-Net's
``00001.jpg``) is label line 1 is decided once for the whole dataset by
:func:`~aulib.data.readers.common.decide_pairing` from every subject's numbers together, or
told with ``frame_base=0|1``; a subject lacking its first frame does not change it (that
frame is listed as a missing image), numberings that disagree or decide nothing are an error
that says so. Images no label line pairs with are listed in the ledger (``no label``).

Occurrence: AU present iff intensity >= :data:`OCCURRENCE_THRESHOLD` (2), the papers'
convention (ME-GraphAU's tool script; GLEE-Net paper 002 §4.1: "{0, 1} absence, {2, 3, 4, 5}
occurrence"; PIAP-DF paper 004 §4.1: "We use 2 as a threshold"). Intensities outside 0-5 are
unknown (NaN).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ...face.frames import video_frame_count, video_ref
from ..catalog import DISFA_CODED_AUS, layout_error
from .common import (Numbered, decide_pairing, drop_corrupt, finish_index, ledger_frame,
                     list_images, number_of, require_pairs)

OCCURRENCE_THRESHOLD = 2
LABEL_DIR = "ActionUnit_Labels"
VIDEO_DIRS = {"left": ("Videos_LeftCamera",), "right": ("Video_RightCamera", "Videos_RightCamera")}
VIDEO_PREFIX = {"left": "LeftVideo", "right": "RightVideo"}
FRAME_DIRS = {"left": ("Frames_LeftCamera", "Images_LeftCamera", "img", ""),
              "right": ("Frames_RightCamera", "Images_RightCamera")}
SUBJECT_RE = re.compile(r"SN\d{3}")
#: frame_base value -> (image number of label line 1, what it means)
FRAME_BASES = {0: (0, "image 0 is label line 1 (JAA-Net, ME-GraphAU: 0.png)"),
               1: (1, "image 1 is label line 1 (ffmpeg's %d, FG-Net's 00001.jpg)")}


def label_files(root: Path, sn: str) -> dict[str, Path]:
    """AU name -> label file of subject ``sn`` (``SN001_au1.txt``; case-insensitive)."""
    folder = root / LABEL_DIR / sn
    out = {}
    for f in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        m = re.fullmatch(rf"{sn}_au(\d+)\.txt", f.name, flags=re.IGNORECASE)
        if m:
            out[f"AU{int(m.group(1))}"] = f
    return out


def read_label_file(path: Path) -> np.ndarray:
    """Intensities in file order (float32, NaN where outside 0-5 or unparsable)."""
    df = pd.read_csv(path, header=None, sep=r"[,\s]+", engine="python")
    if df.shape[1] < 2:
        raise ValueError(f"{path}: expected lines 'frameIndex,intensity', got {df.shape[1]} column(s)")
    v = pd.to_numeric(df.iloc[:, 1], errors="coerce").to_numpy(np.float32)
    v[(v < 0) | (v > 5)] = np.nan
    return v


def frame_source(root: Path, sn: str, camera: str) -> tuple[str, dict[int, str]] | None:
    """Where subject ``sn``'s frames are: ("frames", image number -> path) for a frame folder
    (numbers as in the file names, not yet paired), ("video", frame -> reference) for a
    video, None when neither exists."""
    for d in FRAME_DIRS[camera]:
        folder = root / d / sn if d else root / sn
        imgs = list_images(folder)
        if imgs:
            prefix = f"{d}/{sn}" if d else sn
            nums = {number_of(Path(n).stem): f"{prefix}/{n}" for n in sorted(imgs)}
            nums.pop(None, None)
            return "frames", nums
    for d in VIDEO_DIRS[camera]:
        rel = f"{d}/{VIDEO_PREFIX[camera]}{sn}_comp.avi"
        if (root / rel).is_file():
            n = video_frame_count(root / rel)
            return "video", {k: video_ref(rel, k) for k in range(n)}
    return None


def read(root: Path, camera: str = "left", check_files: bool = True,
         frame_base: int | None = None):
    """Frame index and ledger of a DISFA folder (see module docstring).

    ``frame_base``: 0 or 1, the number of the image that label line 1 pairs with in frame
    folders (default: decided from the data; an error when it cannot be)."""
    if camera not in FRAME_DIRS:
        raise ValueError(f"camera must be 'left' or 'right', got {camera!r}")
    lab = root / LABEL_DIR
    if not lab.is_dir():
        raise layout_error("disfa", root, f"label folder {lab} not found")
    subjects = sorted(d.name for d in lab.iterdir() if d.is_dir() and SUBJECT_RE.fullmatch(d.name))
    if not subjects:
        raise layout_error("disfa", root, f"no subject folders SN0XX in {lab}")
    ints, sources, missing = {}, {}, []
    for sn in subjects:
        files = label_files(root, sn)
        if not files:
            raise layout_error("disfa", root, f"no label files {sn}_au<K>.txt in {lab / sn}")
        ints[sn] = {au: read_label_file(f) for au, f in files.items()}
        sources[sn] = frame_source(root, sn, camera)
        if sources[sn] is None:
            missing.append(sn)
    if missing:
        raise layout_error(
            "disfa", root,
            f"labels exist but no {camera}-camera frames or video for {len(missing)} of "
            f"{len(subjects)} subjects ({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); "
            f"looked for {'/'.join(VIDEO_DIRS[camera])}/{VIDEO_PREFIX[camera]}<SN>_comp.avi and "
            f"frame folders {', '.join(d or '<root>' for d in FRAME_DIRS[camera])}/<SN>/")
    lines = {sn: max(len(v) for v in ints[sn].values()) for sn in subjects}
    numbered = {sn: Numbered(sn, np.arange(lines[sn]), sources[sn][1]) for sn in subjects
                if sources[sn][0] == "frames"}
    pairing = decide_pairing("disfa", root, list(numbered.values()), FRAME_BASES, "frame_base",
                             given=frame_base) if numbered else None
    frames, ledger, n_paired = [], [], 0
    for sn in subjects:
        kind, refs = sources[sn]
        n = lines[sn]
        df = pd.DataFrame({"frame": np.arange(n)})
        for au in sorted(ints[sn], key=lambda a: int(a[2:])):
            v = np.full(n, np.nan, np.float32)
            v[:len(ints[sn][au])] = ints[sn][au]
            df[f"{au}_int"] = v
            df[au] = np.where(np.isnan(v), np.nan, (v >= OCCURRENCE_THRESHOLD).astype(np.float32))
        shift = pairing.shift if kind == "frames" else 0
        df["path"] = (df["frame"] + shift).map(refs)
        df["subject"], df["video"], df["dataset"], df["labeled"] = sn, "", "disfa", True
        no_img = df["path"].isna()
        where = f"image numbered {{}} in the {sn} frame folder" if kind == "frames" else \
            f"frame {{}} in {sn}'s video"
        for f in df.loc[no_img, "frame"]:
            ledger.append(dict(dataset="disfa", subject=sn, video="", frame=int(f), path="",
                               reason="missing image", action="excluded",
                               detail=f"label line {f + 1} has no " + where.format(f + shift)))
        if kind == "frames":
            for k in pairing.unlabelled(numbered[sn]):
                ledger.append(dict(dataset="disfa", subject=sn, video="", frame=k - shift,
                                   path=refs[k], reason="no label", action="excluded",
                                   detail=f"no label line pairs with image {k} ({n} lines, "
                                          f"frame_base={pairing.value})"))
        df = df[~no_img]
        n_paired += len(df)
        if check_files and kind == "frames":
            df = drop_corrupt(root, df, ledger, "disfa", subject=sn, video="")
        frames.append(df)
    require_pairs("disfa", root, n_paired,
                  f"label files of {len(subjects)} subjects ({sum(lines.values())} lines)",
                  f"{sum(len(s[1]) for s in sources.values())} numbered frames or video frames")
    index = finish_index(pd.concat(frames, ignore_index=True), list(DISFA_CODED_AUS))
    return index, ledger_frame(ledger)
