"""Reading one frame, whether it is an image file or a frame inside a video.

A frame reference (``ref``) is a path relative to a dataset root. For datasets shipped as
videos (DISFA's ``Videos_LeftCamera/LeftVideoSN001_comp.avi``) the reference names the video
and the 0-based frame number after a ``#``: ``Videos_LeftCamera/LeftVideoSN001_comp.avi#17``.
Frame indices, landmark tables and the aligned-crop cache all key frames by this string.
An image inside a zip archive (BP4D+ ships ``2D+3D/<Subj>.zip``) is ``<archive>.zip#<member>``.

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


_TAIL = 1024
_JPEG_EOI = b"\xff\xd9"
_PNG_IEND = b"IEND\xaeB`\x82"


def content_fault(head: bytes, tail: bytes, size: int, ext: str) -> str | None:
    """Why an image's bytes cannot be a whole file of its format, or None when they can.

    Decided by the content's signature, no decoding: the format's magic at the start and its
    end marker near the end — a JPEG's EOI marker ``FF D9`` (ITU-T T.81 B.1.1.2; byte
    stuffing keeps it out of the entropy-coded data, so a cut-short file lacks it) and a PNG's
    ``IEND`` chunk (PNG spec 11.2.5), either within the last 1 KiB to allow trailing padding;
    a BMP's header size (bytes 2-5) must not exceed the file. ``head``: the first 8 bytes,
    ``tail``: the last 1 KiB (or the whole file if shorter), ``ext``: ``.jpg``/``.png``/...
    Other formats: only non-empty. The frame index (``aulib.data``) and :func:`read_frame`
    (the loader) both decide with this function.
    """
    if size == 0:
        return "empty file"
    if ext in (".jpg", ".jpeg"):
        if not head.startswith(_JPEG_MAGIC):
            return "not a JPEG (no FF D8 start marker)"
        if _JPEG_EOI not in tail:
            return "JPEG cut short (no FF D9 end marker): a partial copy?"
    elif ext == ".png":
        if not head.startswith(_PNG_MAGIC):
            return "not a PNG (bad signature)"
        if _PNG_IEND not in tail:
            return "PNG cut short (no IEND chunk): a partial copy?"
    elif ext == ".bmp":
        if not head.startswith(b"BM") or len(head) < 6:
            return "not a BMP (no BM header)"
        if int.from_bytes(head[2:6], "little") > size:
            return f"BMP cut short ({size} of {int.from_bytes(head[2:6], 'little')} bytes)"
    return None


def image_fault(path: str | os.PathLike) -> str | None:
    """:func:`content_fault` of the image file at ``path`` ("missing" if it cannot be
    opened); reads 8 bytes at the start and 1 KiB at the end, so it is cheap enough for
    every frame of an index."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(8)
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - _TAIL))
            tail = f.read(_TAIL)
    except OSError:
        return "missing or unreadable file"
    return content_fault(head, tail, size, p.suffix.lower())


def looks_intact(path: str | os.PathLike) -> bool:
    """True when :func:`image_fault` finds nothing wrong with the file at ``path``."""
    return image_fault(path) is None


ZIP_SEP = ".zip#"


def zip_ref(rel_zip: str, member: str) -> str:
    """Reference of image ``member`` inside the zip archive ``rel_zip`` (``a/F001.zip``):
    ``a/F001.zip#F001/T1/0001.jpg`` (BP4D+ ships each subject's frames as one zip)."""
    return f"{rel_zip}#{member}"


class _ZipCache:
    """Open zip archives of this process (at most a few), so reading a member does not parse
    the archive's directory again."""

    def __init__(self, keep: int = 4):
        self.open: dict = {}
        self.keep = keep

    def read(self, path: str, member: str) -> bytes | None:
        import zipfile

        z = self.open.get(path)
        if z is None:
            try:
                z = zipfile.ZipFile(path)
            except (OSError, zipfile.BadZipFile):
                return None
            if len(self.open) >= self.keep:
                self.open.pop(next(iter(self.open))).close()
            self.open[path] = z
        try:
            return z.read(member)
        except (KeyError, OSError, zipfile.BadZipFile, EOFError):
            return None


_ZIP = _ZipCache()


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

    ``ref`` is an image path, a video frame (``x.avi#12``) or a zip member
    (``2D+3D/F001.zip#F001/T1/0001.jpg``). Image bytes are first checked with
    :func:`content_fault` (the same check as the frame index), so a cut-short JPEG, which
    OpenCV would decode with a grey bottom, is refused. Raises :class:`UnreadableFrame`
    naming the file when it is missing, cut short or cannot be decoded.
    """
    ref = str(ref)
    if ZIP_SEP in ref:
        arch, _, member = ref.partition(ZIP_SEP)
        full = os.path.join(str(root), arch + ".zip")
        data = _ZIP.read(full, member)
        if data is None:
            raise UnreadableFrame(f"frame {ref!r} under {root}: member {member!r} of {full} "
                                  "missing or unreadable")
        fault = content_fault(data[:8], data[-_TAIL:], len(data), Path(member).suffix.lower())
        img = None if fault else _imdecode_quiet(data)
        if img is None:
            raise UnreadableFrame(f"frame {ref!r} under {root}: member {member!r} of {full} "
                                  f"{fault or 'cannot be decoded (corrupt?)'}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    path, frame = split_ref(ref)
    full = os.path.join(str(root), path)
    fault = None
    if frame is None:
        fault = image_fault(full) if os.path.isfile(full) else None
        img = imread_quiet(full) if os.path.isfile(full) and not fault else None
    else:
        img = _VIDEO.read(full, frame) if os.path.isfile(full) else None
    if img is None or img.size == 0:
        what = "missing" if not os.path.isfile(full) else \
            (fault or "cannot be decoded (corrupt?)")
        raise UnreadableFrame(f"frame {ref!r} under {root}: file {full} {what}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _imdecode_quiet(data: bytes):
    from cv2.utils import logging as cv_log

    prev = cv_log.getLogLevel()
    cv_log.setLogLevel(cv_log.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    finally:
        cv_log.setLogLevel(prev)


def video_frame_count(path: str | os.PathLike) -> int:
    """Number of frames OpenCV reports for a video file (0 when it cannot be opened)."""
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
