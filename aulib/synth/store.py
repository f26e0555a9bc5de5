"""Where SynthAU datasets live on disk and when they are (re)generated: :func:`ensure`.

Folder naming (profiles and seeds never collide)::

    <data_root>/synthau/<profile>/<name>/            seed 0
    <data_root>/synthau/<profile>-seed<k>/<name>/    seed k != 0

``<data_root>`` is ``config.data_root(root)`` (``AULIB_DATA`` or ``<repo>/data``). The dataset
root holds the real dataset's official layout, so the real-data readers are pointed at it
unchanged. A ``.fingerprint`` file (hash of the generator's source code + the parameters)
is written LAST, and the folder is built under a temporary name and renamed into place,
so a half-written dataset is never taken as complete. A different fingerprint (code or
parameters changed) regenerates the dataset. A file lock keeps
two processes from writing the same dataset at once (``.<name>.lock`` beside it).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from .. import config

#: dataset name -> profile -> writer parameters (sizes). ``size`` is the image side in px.
SIZES: dict[str, dict[str, dict]] = {
    "synth-disfa": {"smoke": dict(size=128, n_frames=4), "tiny": dict(size=128, n_frames=120),
                    "paper": dict(size=256, n_frames=4845)},
    "synth-bp4d": {"smoke": dict(size=128, n_coded=1, n_uncoded=1),
                   "tiny": dict(size=128, n_coded=12, n_uncoded=4),
                   "paper": dict(size=256, n_coded=450, n_uncoded=150)},
    "synth-bp4dplus": {"smoke": dict(size=128, n_coded=1, n_uncoded=0, n_uncoded_task=0),
                       "tiny": dict(size=128, n_coded=8, n_uncoded=2, n_uncoded_task=1),
                       "paper": dict(size=256, n_coded=350, n_uncoded=100, n_uncoded_task=50)},
    "synth-emotionet": {"smoke": dict(size=128, n_train=60, n_val=30, n_test=30),
                        "tiny": dict(size=128, n_train=3000, n_val=800, n_test=800),
                        "paper": dict(size=256, n_train=100000, n_val=10544, n_test=10544)},
    "synth-fec": {"smoke": dict(size=128, n_images=60, n_train=40, n_test=20),
                  "tiny": dict(size=128, n_images=2000, n_train=6000, n_test=1500),
                  "paper": dict(size=256, n_images=30000, n_train=150000, n_test=20000)},
    "synth-faces": {"smoke": dict(size=128, casia_ids=6, casia_per_id=4, lfw_people=12,
                                  lfw_folds=2, lfw_pairs=3),
                    "tiny": dict(size=128, casia_ids=200, casia_per_id=15, lfw_people=150,
                                 lfw_folds=10, lfw_pairs=30),
                    "paper": dict(size=256, casia_ids=2000, casia_per_id=40, lfw_people=1680,
                                  lfw_folds=10, lfw_pairs=300)},
    "synth-ffhq": {"smoke": dict(size=128, n_images=50), "tiny": dict(size=128, n_images=3000),
                   "paper": dict(size=256, n_images=70000)},
    "synth-afewva": {"smoke": dict(size=128, n_clips=3, n_frames=5),
                     "tiny": dict(size=128, n_clips=40, n_frames=30),
                     "paper": dict(size=256, n_clips=600, n_frames=60)},
}
NAMES = tuple(SIZES)
#: the paper check's size set (``aulib.workbook.papercheck``, ``make paper-check``): every dataset
#: at its ``paper`` image size with a handful of frames, so that each notebook runs at the paper's
#: shapes in minutes; numbers computed on it mean nothing.
CHECK_PROFILE = "paper-check"
for _name, _sizes in {"synth-disfa": dict(n_frames=4), "synth-bp4d": dict(n_coded=1, n_uncoded=1),
                      "synth-bp4dplus": dict(n_coded=1, n_uncoded=0, n_uncoded_task=0),
                      "synth-emotionet": dict(n_train=30, n_val=10, n_test=10),
                      "synth-fec": dict(n_images=40, n_train=30, n_test=10),
                      "synth-faces": dict(casia_ids=6, casia_per_id=4, lfw_people=12, lfw_folds=2, lfw_pairs=3),
                      "synth-ffhq": dict(n_images=32), "synth-afewva": dict(n_clips=3, n_frames=5)}.items():
    SIZES[_name][CHECK_PROFILE] = dict(size=SIZES[_name]["paper"]["size"], **_sizes)
#: the size sets ``ensure`` takes: the workbook's profiles and the paper check's
SYNTH_PROFILES = (*config.PROFILES, CHECK_PROFILE)
#: injected failure rates (share of frames): truncated files and frames without a face
FAILURE_RATES = {"corrupt": 0.003, "no_face": 0.004}
FINGERPRINT = ".fingerprint"


def dataset_dir(name: str, profile: str = "tiny", root=None, seed: int = 0) -> Path:
    """Where ``ensure`` puts a dataset (see module docstring)."""
    _check_name(name)
    if profile not in SYNTH_PROFILES:
        raise ValueError(f"unknown SynthAU size set {profile!r}; valid: {', '.join(SYNTH_PROFILES)} "
                         f"(the workbook's profiles, and {CHECK_PROFILE!r}: paper image sizes, a few frames)")
    sub = profile if int(seed) == 0 else f"{profile}-seed{int(seed)}"
    return config.data_root(root) / "synthau" / sub / name


def generator_hash() -> str:
    """Hash of every source file of ``aulib.synth``, the landmark-table format and the layout
    facts the writers follow (``aulib/data/layouts.toml``)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    files = sorted(here.rglob("*.py")) + [here.parent / "face" / "landmark_table.py",
                                          here.parent / "data" / "layouts.toml"]
    for f in files:
        h.update(f.relative_to(here.parent).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(name: str, profile: str, seed: int, params: dict | None = None) -> str:
    params = dict(SIZES[name][profile], **(params or {}))
    return json.dumps({"format": 1, "generator": generator_hash(), "dataset": name,
                       "profile": profile, "seed": int(seed), "params": params,
                       "failure_rates": FAILURE_RATES}, sort_keys=True, indent=1)


def is_current(path: Path, expected: str) -> bool:
    f = Path(path) / FINGERPRINT
    return f.is_file() and f.read_text() == expected


def ensure(name: str, profile: str = "tiny", root=None, seed: int = 0, **params) -> Path:
    """Write SynthAU dataset ``name`` at the profile's size unless an identical one exists,
    and return its root (the folder a real-data reader is pointed at).

    ``name``: one of :data:`NAMES`; ``profile``: smoke | tiny | paper | paper-check; ``root``: the data
    root (default ``AULIB_DATA`` or ``<repo>/data``); ``seed``: generation seed; extra
    ``params`` override the profile's sizes (e.g. ``n_frames=30``) and enter the fingerprint.
    """
    from .writers import WRITERS

    path = dataset_dir(name, profile, root, seed)
    expected = fingerprint(name, profile, seed, params)
    if not is_current(path, expected):
        with config.file_lock(path.with_name(f".{name}.lock")):
            # holding the lock, any partial/old folder of this dataset is a killed run's leftover
            for stale in list(path.parent.glob(f".{name}.partial-*")) + \
                    list(path.parent.glob(f".{name}.old-*")):
                shutil.rmtree(stale, ignore_errors=True)
            if not is_current(path, expected):          # another process may have written it
                _generate(WRITERS[name], path, dict(SIZES[name][profile], **params), seed, expected)
    config.note_input(path)
    return path


def _generate(writer, path: Path, params: dict, seed: int, expected: str) -> None:
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.time()
    try:
        writer(tmp, seed=int(seed), failure_rates=FAILURE_RATES, **params)
        info = tmp / "synthau_info.json"
        if info.is_file():
            meta = json.loads(info.read_text())
            meta["seconds"] = round(time.time() - t0, 2)
            info.write_text(json.dumps(meta, indent=2, default=str))
        (tmp / FINGERPRINT).write_text(expected)       # last: marks the dataset complete
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        if not ((path / FINGERPRINT).exists() or (path / "synthau_info.json").exists()
                or not any(path.iterdir())):
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(
                f"{path} exists but is not a SynthAU dataset (no {FINGERPRINT} or "
                "synthau_info.json); refusing to overwrite it - move it away or pass another root")
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp, path)


def status(profile: str = "tiny", root=None, seed: int = 0) -> list[dict]:
    """Which datasets exist, are current, or stale, for one profile."""
    rows = []
    for name in NAMES:
        p = dataset_dir(name, profile, root, seed)
        state = "missing"
        if (p / FINGERPRINT).is_file():
            state = "current" if is_current(p, fingerprint(name, profile, seed)) else "stale"
        rows.append({"name": name, "profile": profile, "state": state, "path": str(p)})
    return rows


def _check_name(name: str) -> None:
    if name not in SIZES:
        raise KeyError(f"unknown SynthAU dataset {name!r}; available: {', '.join(SIZES)}")
