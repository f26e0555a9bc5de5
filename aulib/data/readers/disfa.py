"""DISFA reader: per-AU intensity label files + left/right camera videos or extracted frames.

Facts (datasets.md §1): labels ``ActionUnit_Labels/SN0XX/SN0XX_au<K>.txt``, one line per
frame ``frameIndex,intensity`` (0-5), 12 coded AUs; videos
``Videos_LeftCamera/LeftVideoSN0XX_comp.avi`` and ``Video_RightCamera/RightVideoSN0XX_comp.avi``
(the right-camera folder is also seen as ``Videos_RightCamera``; both accepted).

Frames: the k-th label line (0-based) is the k-th video frame (ME-GraphAU's
``tool/DISFA_image_label_process.py`` pairs lines with 0-indexed frames the same way). When
frames were extracted, per-subject folders ``<dir>/SN0XX/<n>.jpg|png`` are read, ``<dir>`` one
of :data:`FRAME_DIRS` or the root itself; file numbers are 0-based (JAA-Net, ME-GraphAU) unless
a folder has no frame 0 and starts at 1 (FG-Net's 1-based ``00001.jpg``), then 1-based.

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
from .common import drop_corrupt, finish_index, ledger_frame, list_images, number_of

OCCURRENCE_THRESHOLD = 2
LABEL_DIR = "ActionUnit_Labels"
VIDEO_DIRS = {"left": ("Videos_LeftCamera",), "right": ("Video_RightCamera", "Videos_RightCamera")}
VIDEO_PREFIX = {"left": "LeftVideo", "right": "RightVideo"}
FRAME_DIRS = {"left": ("Frames_LeftCamera", "Images_LeftCamera", "img", ""),
              "right": ("Frames_RightCamera", "Images_RightCamera")}
SUBJECT_RE = re.compile(r"SN\d{3}")


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
    """Where subject ``sn``'s frames are: ("frames"|"video", frame number -> reference)."""
    for d in FRAME_DIRS[camera]:
        folder = root / d / sn if d else root / sn
        imgs = list_images(folder)
        if imgs:
            nums = {number_of(Path(n).stem): n for n in imgs}
            nums.pop(None, None)
            base = 1 if (0 not in nums and 1 in nums) else 0
            prefix = f"{d}/{sn}" if d else sn
            return "frames", {k - base: f"{prefix}/{n}" for k, n in nums.items()}
    for d in VIDEO_DIRS[camera]:
        rel = f"{d}/{VIDEO_PREFIX[camera]}{sn}_comp.avi"
        if (root / rel).is_file():
            n = video_frame_count(root / rel)
            return "video", {k: video_ref(rel, k) for k in range(n)}
    return None


def read(root: Path, camera: str = "left", check_files: bool = True):
    """Frame index and ledger of a DISFA folder (see module docstring)."""
    if camera not in FRAME_DIRS:
        raise ValueError(f"camera must be 'left' or 'right', got {camera!r}")
    lab = root / LABEL_DIR
    if not lab.is_dir():
        raise layout_error("disfa", root, f"label folder {lab} not found")
    subjects = sorted(d.name for d in lab.iterdir() if d.is_dir() and SUBJECT_RE.fullmatch(d.name))
    if not subjects:
        raise layout_error("disfa", root, f"no subject folders SN0XX in {lab}")
    frames, ledger, missing = [], [], []
    for sn in subjects:
        files = label_files(root, sn)
        if not files:
            raise layout_error("disfa", root, f"no label files {sn}_au<K>.txt in {lab / sn}")
        ints = {au: read_label_file(f) for au, f in files.items()}
        n = max(len(v) for v in ints.values())
        src = frame_source(root, sn, camera)
        if src is None:
            missing.append(sn)
            continue
        kind, refs = src
        df = pd.DataFrame({"frame": np.arange(n)})
        for au in sorted(ints, key=lambda a: int(a[2:])):
            v = np.full(n, np.nan, np.float32)
            v[:len(ints[au])] = ints[au]
            df[f"{au}_int"] = v
            df[au] = np.where(np.isnan(v), np.nan, (v >= OCCURRENCE_THRESHOLD).astype(np.float32))
        df["path"] = df["frame"].map(refs)
        df["subject"], df["video"], df["dataset"], df["labeled"] = sn, "", "disfa", True
        no_img = df["path"].isna()
        for f in df.loc[no_img, "frame"]:
            ledger.append(dict(dataset="disfa", subject=sn, video="", frame=int(f), path="",
                               reason="missing image", action="excluded",
                               detail=f"label line {f} has no {kind} frame"))
        df = df[~no_img]
        if check_files and kind == "frames":
            df = drop_corrupt(root, df, ledger, "disfa", subject=sn, video="")
        frames.append(df)
    if missing:
        raise layout_error(
            "disfa", root,
            f"labels exist but no {camera}-camera frames or video for {len(missing)} of "
            f"{len(subjects)} subjects ({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); "
            f"looked for {'/'.join(VIDEO_DIRS[camera])}/{VIDEO_PREFIX[camera]}<SN>_comp.avi and "
            f"frame folders {', '.join(d or '<root>' for d in FRAME_DIRS[camera])}/<SN>/")
    index = finish_index(pd.concat(frames, ignore_index=True), list(DISFA_CODED_AUS))
    return index, ledger_frame(ledger)
