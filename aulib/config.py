"""Configuration shared by every room: profiles, paths, device choice, seeding, input notes.

This module owns
- the three profile names (``smoke``, ``tiny``, ``paper``);
- where things live on disk: the data root (``AULIB_DATA``), the cache (``AULIB_CACHE``) and
  the results folder (``AULIB_RESULTS``), each with a default inside the repository;
- the device choice (``auto`` -> cuda, then mps, then cpu);
- seeding of python, numpy and (when installed) torch, deterministic on CPU;
- a process-wide record of the inputs a notebook read (``note_input``), which the workbook
  runner turns into the data part of a notebook's cache key.

It imports nothing else from ``aulib`` and imports torch only when asked for a device or a
seed, so the workbook CLI starts fast.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
from pathlib import Path

PROFILES = ("smoke", "tiny", "paper")
DEFAULT_PROFILE = "tiny"

REPO_ROOT = Path(__file__).resolve().parent.parent


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise a teaching error."""
    if profile not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r}; valid profiles are {', '.join(PROFILES)} "
            "(smoke: seconds, used by the tests; tiny: CPU + SynthAU, the default; "
            "paper: GPU + real datasets + the paper's hyper-parameters)"
        )
    return profile


def data_root(override: str | os.PathLike | None = None) -> Path:
    """Root folder that holds the datasets (real ones and SynthAU's), one sub-folder each.

    Order: the explicit ``override`` (a notebook's ``data_root`` parameter), then the
    ``AULIB_DATA`` environment variable, then ``<repo>/data``.
    """
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("AULIB_DATA")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data"


def cache_dir(*parts: str) -> Path:
    """Cache folder (``AULIB_CACHE`` or ``<repo>/.cache``), created on demand."""
    env = os.environ.get("AULIB_CACHE")
    root = Path(env).expanduser().resolve() if env else REPO_ROOT / ".cache"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_root() -> Path:
    """Results folder (``AULIB_RESULTS`` or ``<repo>/results``)."""
    env = os.environ.get("AULIB_RESULTS")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "results"


def resolve_device(device: str = "auto") -> str:
    """Map ``auto`` to ``cuda`` when present, then ``mps``, then ``cpu``; validate others."""
    valid = ("auto", "cpu", "cuda", "mps")
    base = device.split(":")[0]
    if base not in valid:
        raise ValueError(f"unknown device {device!r}; valid values are {', '.join(valid)} "
                         "(optionally cuda:N)")
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if base == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available here; "
                           "use device='auto' or 'cpu'")
    return device


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (if installed); make CPU kernels deterministic."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch
    except ImportError:  # the workbook CLI runs without torch
        return
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if hasattr(torch.backends, "cudnn"):
            torch.backends.cudnn.benchmark = False


@contextlib.contextmanager
def environ(env: dict):
    """Set the environment variables ``env`` inside the block (child processes - a notebook's
    kernel, a job - inherit them) and restore the earlier values, or their absence, after it."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def file_lock(path: str | os.PathLike):
    """Exclusive inter-process lock on ``path`` (created if missing), released on exit.

    Used wherever two notebooks or workers could build the same cached artifact at once
    (SynthAU datasets, the FG-Net prior)."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------
# Inputs a notebook read: recorded here by the data readers / SynthAU writers, saved by the
# notebook's run record, and fingerprinted again by the runner to decide whether a cached
# result is still valid.
_INPUTS: dict[str, str] = {}


def note_input(path: str | os.PathLike, fingerprint: str | None = None) -> None:
    """Record that the current process read ``path`` (a dataset root or file)."""
    p = str(Path(path).resolve())
    _INPUTS[p] = fingerprint or fingerprint_path(p)


def noted_inputs() -> dict[str, str]:
    """Paths recorded by :func:`note_input` with their fingerprints."""
    return dict(_INPUTS)


def fingerprint_path(path: str | os.PathLike) -> str:
    """Cheap fingerprint of a file or folder tree: names, sizes and modification times.

    A folder that holds a ``.fingerprint`` file (written by the SynthAU writers and the
    frame-index cache) is fingerprinted by that file's content alone, so huge real datasets
    are not re-listed on every cache check.
    """
    p = Path(path)
    h = hashlib.sha256()
    if not p.exists():
        return "missing"
    if p.is_file():
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]
    stamp = p / ".fingerprint"
    if stamp.is_file():
        return hashlib.sha256(stamp.read_bytes()).hexdigest()[:16]
    for root, dirs, files in os.walk(p):
        dirs.sort()
        for name in sorted(files):
            f = Path(root) / name
            st = f.stat()
            h.update(f"{f.relative_to(p)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------
# Code digests and the trained runs a notebook read back: the run cache (``aulib.train.
# recipes.cached_fit``) notes every run it hands out here; the notebook's run record saves
# them and the workbook runner (which never imports torch) re-digests their code to mark a
# notebook whose runs were trained by older code as stale.
_RUNS: dict[str, dict] = {}
# set by ``python -m aulib.workbook run --retrain-stale``: the run cache retrains stale runs
RETRAIN_STALE_ENV = "AULIB_RETRAIN_STALE"
#: training processes per run of the run cache (one per GPU, under torchrun; aulib.train.launch)
NPROC_ENV = "AULIB_NPROC"


def code_digest(source: str) -> str:
    """A 16-hex digest of Python source that ignores comments, docstrings and layout: it
    hashes the syntax tree with module, class and function docstrings removed, so only edits
    to what the code does change it. Raises SyntaxError for source that does not parse."""
    import ast

    # CPython 3.11's AST conversion keeps its recursion depth in interpreter-wide state, so two
    # threads parsing at once (the runner's status line and its main loop) can fail with
    # "SystemError: AST constructor recursion depth mismatch": parse one at a time.
    with _AST_LOCK:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                    and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


_AST_LOCK = threading.Lock()


def code_name(path: str | os.PathLike) -> str:
    """How a source file is named in run records: relative to the repository
    (``aulib/models/fgnet.py``) when inside it, else its absolute path."""
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)


def code_digests(names) -> dict[str, str]:
    """{name: :func:`code_digest` of that file now} for names as :func:`code_name` writes
    them; a file that is gone is ``"missing"``, one that no longer parses ``"unparsable"``."""
    out = {}
    for name in names:
        p = Path(name) if os.path.isabs(name) else REPO_ROOT / name
        try:
            out[name] = code_digest(p.read_text())
        except FileNotFoundError:
            out[name] = "missing"
        except SyntaxError:
            out[name] = "unparsable"
    return out


def changed_code(then: dict[str, str]) -> list[str]:
    """The files of ``then`` ({name: digest when a run was trained}) whose code differs now."""
    now = code_digests(then)
    return [name for name in then if now[name] != then[name]]


def note_run(run_dir: str | os.PathLike, info: dict) -> None:
    """Record that the current process read back (or trained) the cached run ``run_dir``;
    ``info`` holds its key, model, when it was trained and its ``code`` digests then."""
    _RUNS[str(Path(run_dir).resolve())] = dict(info, run=str(Path(run_dir).resolve()))


def noted_runs() -> list[dict]:
    """The runs recorded by :func:`note_run`, in the order first read."""
    return [dict(r) for r in _RUNS.values()]
