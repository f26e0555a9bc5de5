"""Batch rendering: sequences of frames rendered in parallel and written to disk.

A :class:`Sequence` is the unit of work: one subject's video/task (a session with one
camera, light and background and a slowly moving head) or a batch of independent stills
(a capture each, possibly one identity each). Writers build sequences (AU intensities and
paths decided in the parent process, so the output is deterministic whatever the number
of workers); :func:`render_all` renders them with a pool of processes, writes images
(JPEG/PNG by extension, BGR on disk via OpenCV), optional AVI videos (MJPG), and returns
the ground truth per frame (68 landmarks, pose, failure kind). Workers are forked
(``AULIB_SYNTH_WORKERS`` sets how many, default 2) after OpenCV's thread pool of the caller
is shrunk to one thread, so that calling from a notebook kernel cannot deadlock; each
worker renders one image at a time on one core.

Failure injection (user-asks.md #1): frames marked ``corrupt`` are written with a valid
magic number and a zeroed body (not decodable); frames marked ``no_face`` show only the
background. Both are recorded in the ground-truth side file and have ``found = False`` in
``landmarks_68.npz``.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import face_model as fm
from .domains import Capture, jitter_capture, sample_capture
from .dynamics import pose_walk
from .identity import make_identity
from .render import draw, place

FAIL_NONE, FAIL_CORRUPT, FAIL_NOFACE = "", "corrupt", "no_face"


@dataclass
class Sequence:
    key: str                                  # e.g. "SN001" or "F001/T1"
    paths: list                               # relative image paths (None: not written as image)
    aus: np.ndarray                           # (n, n_AU) intensities 0-5
    identity: int | np.ndarray                # one seed, or one per frame (stills)
    domain: str
    size: int
    seed: int
    mode: str = "video"                       # "video" (session) | "stills" (independent)
    times: np.ndarray | None = None           # seconds, for the head movement of videos
    sex: str | None = None
    failures: list | None = None              # per frame: "", "corrupt", "no_face"
    video: str | None = None                  # relative AVI path (all frames, in order)
    fps: float = 20.0
    align: str | None = None                  # "ffhq": FFHQ-aligned crops (synth-ffhq)
    jpeg: int | None = None                   # fixed JPEG quality (None: the capture's)
    meta: dict = field(default_factory=dict)


def _ffhq_transform(lm: np.ndarray, size: int) -> np.ndarray:
    """2x3 similarity mapping the FFHQ crop quad of 68 landmarks (``face.align.ffhq_quad``)
    onto a size x size image."""
    from ..face.align import ffhq_quad

    quad, _ = ffhq_quad(lm)
    src = np.asarray(quad[:3], np.float32)
    dst = np.array([[0, 0], [0, size], [size, size]], np.float32)
    return cv2.getAffineTransform(src, dst)


def _captures(seq: Sequence, rng: np.random.Generator) -> list[Capture]:
    n = len(seq.aus)
    if seq.mode == "video":
        session = sample_capture(seq.domain, rng)
        times = seq.times if seq.times is not None else np.arange(n) / seq.fps
        walk = pose_walk(times, rng)
        return [jitter_capture(session, rng, seq.domain, tuple(walk[i])) for i in range(n)]
    return [sample_capture(seq.domain, rng) for _ in range(n)]


def render_sequence(seq: Sequence, root: str | None = None) -> dict:
    """Render (and, with ``root``, write) one sequence. Returns ground truth arrays:
    ``landmarks`` (n, 68, 2) float32, ``pose`` (n, 3), ``images`` (only without root); for
    aligned sequences also ``landmarks_src`` (n, 68, 2), the landmarks in the unaligned
    render of ``src_size`` px a side."""
    if cv2.getNumThreads() != 1:     # one image per core; never resize a pool after a fork
        cv2.setNumThreads(1)
    rng = np.random.default_rng([seq.seed, 99])
    n = len(seq.aus)
    fails = seq.failures or [FAIL_NONE] * n
    ids = np.broadcast_to(np.asarray(seq.identity, dtype=object), (n,))
    cache = {}

    def ident_of(s):
        if s not in cache:
            cache[s] = make_identity(int(s), seq.sex)
        return cache[s]

    caps = _captures(seq, rng)
    render_size = seq.size if seq.align is None else int(seq.size * 1.25)
    if np.ndim(seq.identity) == 0:                   # one person: all frames in one go
        ident = ident_of(seq.identity)
        shapes = fm.compose(ident.coeffs, seq.aus, rest_offsets=ident.rest)
    else:
        shapes = np.stack([fm.compose(ident_of(ids[i]).coeffs, seq.aus[i:i + 1],
                                      rest_offsets=ident_of(ids[i]).rest)[0] for i in range(n)])
    pts = place(shapes, caps, render_size)
    lms = np.empty((n, 68, 2), np.float32)
    lms_src = np.empty((n, 68, 2), np.float32) if seq.align else None   # before alignment
    images = [] if root is None else None
    writer = None
    if root is not None and seq.video:
        vp = Path(root, seq.video)
        vp.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(vp), cv2.VideoWriter_fourcc(*"MJPG"), seq.fps,
                                 (seq.size, seq.size))
    made_dirs = set()
    for i in range(n):
        cap = caps[i]
        if fails[i] == FAIL_NOFACE:
            cap.no_face = True
        ident = ident_of(ids[i])
        img = draw(pts[i], ident, seq.aus[i], cap, render_size, rest=ident.rest)
        lm = pts[i, :68]
        if seq.align == "ffhq":
            lms_src[i] = lm
            M = _ffhq_transform(lm, seq.size)
            img = cv2.warpAffine(img, M, (seq.size, seq.size), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
            lm = lm @ M[:, :2].T + M[:, 2]
        lms[i] = lm
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        if writer is not None:
            writer.write(bgr)
        if images is not None:
            images.append(img)
            continue
        rel = seq.paths[i] if seq.paths is not None else None
        if rel is None:
            continue
        out = os.path.join(root, rel)
        parent = os.path.dirname(out)
        if parent not in made_dirs:
            os.makedirs(parent, exist_ok=True)
            made_dirs.add(parent)
        ext = os.path.splitext(out)[1].lower()
        if ext == ".png":
            ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        else:
            q = seq.jpeg if seq.jpeg is not None else cap.jpeg
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        data = buf
        if fails[i] == FAIL_CORRUPT:
            # keeps the format's magic bytes, then zeros: passes a magic check, fails decoding
            data = buf[:8].tobytes() + bytes(max(16, len(buf) // 3))
        with open(out, "wb") as f:
            f.write(data)
    if writer is not None:
        writer.release()
    pose = np.array([(c.yaw, c.pitch, c.roll) for c in caps], np.float32)
    res = {"landmarks": lms, "pose": pose, "failures": list(fails)}
    if lms_src is not None:           # the unaligned ("in-the-wild") frame: landmarks, side px
        res["landmarks_src"], res["src_size"] = lms_src, render_size
    if images is not None:
        res["images"] = images
    return res


def _mp_context():
    """Fork where available (no re-import of the caller's ``__main__``, cheap), else spawn."""
    import multiprocessing as mp

    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _work(args):
    seq, root = args
    return render_sequence(seq, root)


def render_all(seqs: list[Sequence], root: str | os.PathLike, workers: int | None = None,
               desc: str = "rendering") -> list[dict]:
    """Render and write every sequence under ``root``; parallel over ``workers`` processes
    (default: 2, or ``AULIB_SYNTH_WORKERS``) when there is enough work to pay for them."""
    from tqdm.auto import tqdm

    root = str(root)
    total = sum(len(s.aus) for s in seqs)
    workers = int(os.environ.get("AULIB_SYNTH_WORKERS", workers or 2))
    bar = tqdm(total=total, desc=desc, unit="img", leave=False, disable=total < 2000)
    results = []
    if workers <= 1 or total < 600 or len(seqs) < 2:
        for s in seqs:
            results.append(render_sequence(s, root))
            bar.update(len(s.aus))
    else:
        # OpenCV's thread pool must be idle and shrunk BEFORE forking: a child that inherits
        # a running pool (e.g. from a notebook kernel that drew galleries) and then resizes
        # it waits forever on locks owned by threads that do not exist in the child.
        prev = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as ex:
                for s, r in zip(seqs, ex.map(_work, [(s, root) for s in seqs], chunksize=1)):
                    results.append(r)
                    bar.update(len(s.aus))
        finally:
            cv2.setNumThreads(prev)
    bar.close()
    return results
