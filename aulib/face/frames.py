"""Reading one frame, whether it is an image file or a frame inside a video.

A frame reference (``ref``) is a path relative to a dataset root. For datasets shipped as
videos (DISFA's ``Videos_LeftCamera/LeftVideoSN001_comp.avi``) the reference names the video
and the 0-based frame number after a ``#``: ``Videos_LeftCamera/LeftVideoSN001_comp.avi#17``.
Frame indices, landmark tables and the aligned-crop cache all key frames by this string.

Images are returned as RGB ``uint8`` arrays (H, W, 3); OpenCV decodes (BGR on disk order is
converted here, once). Unreadable files raise :class:`UnreadableFrame` so callers can record
them in the ledger of excluded frames instead of failing or skipping silently.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

VIDEO_SEP = "#"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_EXTS = (".avi", ".mp4", ".mov", ".mkv")
_JPEG_MAGIC = b"\xff\xd8"
_PNG_MAGIC = b"\x89PNG"


class UnreadableFrame(IOError):
    """A frame that exists in the index but cannot be decoded (corrupt or missing file)."""


def video_ref(rel_video: str, frame: int) -> str:
    """Reference of 0-based ``frame`` inside the video at ``rel_video``."""
    return f"{rel_video}{VIDEO_SEP}{int(frame)}"


def split_ref(ref: str) -> tuple[str, int | None]:
    """``"a/b.avi#12"`` -> ``("a/b.avi", 12)``; an image path -> ``(path, None)``."""
    if VIDEO_SEP in ref:
        path, _, frame = ref.rpartition(VIDEO_SEP)
        if frame.isdigit() and path.lower().endswith(VIDEO_EXTS):
            return path, int(frame)
    return ref, None


def looks_intact(path: str | os.PathLike) -> bool:
    """Cheap check without decoding: the file is non-empty and starts with its format's magic.

    Used when building a frame index (decoding 100k frames there would be too slow);
    truncated files that pass are caught when the frame is first decoded.
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    if not head:
        return False
    ext = p.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        return head.startswith(_JPEG_MAGIC)
    if ext == ".png":
        return head.startswith(_PNG_MAGIC)
    return True


class _VideoCache:
    """Keeps the last opened video per process so sequential reads need no seeking."""

    def __init__(self):
        self.path: str | None = None
        self.cap = None
        self.next_frame = 0

    def read(self, path: str, frame: int) -> np.ndarray | None:
        if self.path != path or self.cap is None:
            if self.cap is not None:
                self.cap.release()
            self.cap = cv2.VideoCapture(path)
            self.path, self.next_frame = path, 0
            if not self.cap.isOpened():
                self.cap, self.path = None, None
                return None
        if frame != self.next_frame:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, img = self.cap.read()
        self.next_frame = frame + 1 if ok else -1
        return img if ok else None


_VIDEO = _VideoCache()


def imread_quiet(path: str | os.PathLike, flags: int = cv2.IMREAD_COLOR):
    """``cv2.imread`` without OpenCV's own error log: a corrupt file gives ``None``, which the
    callers report once in their own words (the ledger, a warning) instead of libpng/libjpeg
    lines on the terminal for every frame."""
    from cv2.utils import logging as cv_log

    prev = cv_log.getLogLevel()
    cv_log.setLogLevel(cv_log.LOG_LEVEL_SILENT)
    try:
        return cv2.imread(str(path), flags)
    finally:
        cv_log.setLogLevel(prev)


def read_frame(root: str | os.PathLike, ref: str) -> np.ndarray:
    """Decode frame ``ref`` (relative to ``root``) as RGB uint8 (H, W, 3).

    Raises :class:`UnreadableFrame` naming the file when it is missing or cannot be decoded.
    """
    path, frame = split_ref(str(ref))
    full = os.path.join(str(root), path)
    if frame is None:
        img = imread_quiet(full) if os.path.isfile(full) else None
    else:
        img = _VIDEO.read(full, frame) if os.path.isfile(full) else None
    if img is None or img.size == 0:
        what = "missing" if not os.path.isfile(full) else "cannot be decoded (corrupt?)"
        raise UnreadableFrame(f"frame {ref!r} under {root}: file {full} {what}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def video_frame_count(path: str | os.PathLike) -> int:
    """Number of frames OpenCV reports for a video file (0 when it cannot be opened)."""
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
