"""Stand-ins for everything the ``paper`` profile reads, for the paper check.

The paper check (:mod:`aulib.workbook.papercheck`, ``make paper-check``) runs every notebook at
the paper profile's settings and shapes without the licensed datasets and published weights.
This module builds the folder it points the notebooks at (their ``data_root``)::

    <root>/synthau/paper-check/synth-disfa/   SynthAU at the paper's image size, a few frames
    <root>/DISFA -> synthau/paper-check/synth-disfa   each real dataset's folder name (catalogue)
    <root>/weights/stylegan2-ffhq-config-f.pt  random init in the published format (+ .json notice)
    <root>/weights/ffhq_expressions.csv        expression labels of the FFHQ stand-in

SynthAU writes every dataset in the official layout of the real one, so the real readers,
:func:`aulib.data.dataset_root` and the notebooks' input checks run unchanged on it. The weight
files come from :mod:`aulib.models.weights`; the FFHQ expression CSV (``path,expression``, the
format :func:`aulib.data.expressions.read_expression_csv` reads) from
:func:`aulib.data.expressions.synth_expression_labels` on the FFHQ stand-in.

``python -m aulib.papers.stand_ins ROOT --datasets disfa,bp4d --files psp_ffhq_encode`` prepares
them (cached: SynthAU by its fingerprint, weights by their settings) and prints a JSON
``{"datasets": {name: folder}, "files": {name: path}}``; the workbook runs it in a subprocess so
that its own process never imports torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

#: catalogue dataset -> (SynthAU dataset, folder inside it that the reader is pointed at)
DATASETS = {"disfa": ("synth-disfa", ""), "bp4d": ("synth-bp4d", ""), "bp4dplus": ("synth-bp4dplus", ""),
            "emotionet": ("synth-emotionet", ""), "fec": ("synth-fec", ""), "afewva": ("synth-afewva", ""),
            "casia": ("synth-faces", "CASIA-WebFace"), "lfw": ("synth-faces", ""), "ffhq": ("synth-ffhq", "")}
#: stand-in files that are data, not weights: name -> file name under <root>/weights
DATA_FILES = {"ffhq-expressions": "ffhq_expressions.csv"}
WEIGHTS_DIR = "weights"


def file_names() -> list[str]:
    """Every stand-in file name a ``[check.files]`` table may use."""
    from aulib.models.weights import PUBLISHED

    return [*PUBLISHED, *DATA_FILES]


def dataset_stand_in(name: str, root, seed: int = 0) -> Path:
    """``<root>/<catalogue folder>`` of dataset ``name``, a link to its SynthAU stand-in at the
    ``paper-check`` size (written first when missing or out of date).

    Raises:
        KeyError: ``name`` has no stand-in (the known ones are listed).
        FileExistsError: ``<root>/<folder>`` exists and is not a link we made (it may be real data).
    """
    from aulib import synth
    from aulib.data.catalog import info
    from aulib.synth.store import CHECK_PROFILE

    if name not in DATASETS:
        raise KeyError(f"no SynthAU stand-in for dataset {name!r}; known: {', '.join(DATASETS)}")
    synth_name, inner = DATASETS[name]
    root = Path(root)
    folder = synth.ensure(synth_name, CHECK_PROFILE, root=root, seed=seed)
    target = (folder / inner) if inner else folder
    link = root / info(name).subfolder
    rel = os.path.relpath(target, link.parent)
    if link.is_symlink():
        if os.readlink(link) == rel:
            return link
        link.unlink()
    elif link.exists():
        raise FileExistsError(f"{link} exists and is not the paper check's link to {target}: it may be the "
                              "real dataset - the paper check needs a folder of its own (AULIB_PAPER_CHECK_ROOT)")
    link.symlink_to(rel, target_is_directory=True)
    return link


def file_stand_in(name: str, root, seed: int = 0) -> Path:
    """The stand-in file ``name`` under ``<root>/weights`` (see the module docstring)."""
    from aulib.models import weights

    folder = Path(root) / WEIGHTS_DIR
    if name == "ffhq-expressions":
        from aulib.data.expressions import synth_expression_labels

        ffhq = dataset_stand_in("ffhq", root, seed)
        path = folder / DATA_FILES[name]
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        synth_expression_labels(ffhq)[["path", "expression"]].to_csv(tmp, index=False)
        os.replace(tmp, path)
        return path
    if name not in weights.PUBLISHED:
        raise KeyError(f"no stand-in file {name!r}; known: {', '.join(file_names())}")
    return weights.ensure_stand_in(name, folder, seed)


def locate(root, datasets=(), files=()) -> dict:
    """Where :func:`prepare` puts each stand-in, writing nothing: ``{"datasets": {name: folder},
    "files": {name: path}}`` (paths as text). Unknown names raise a KeyError listing the known."""
    from aulib.data.catalog import info
    from aulib.models.weights import PUBLISHED

    root = Path(root)
    out = {"datasets": {}, "files": {}}
    for name in datasets:
        if name not in DATASETS:
            raise KeyError(f"no SynthAU stand-in for dataset {name!r}; known: {', '.join(DATASETS)}")
        out["datasets"][name] = str(root / info(name).subfolder)
    for name in files:
        if name not in PUBLISHED and name not in DATA_FILES:
            raise KeyError(f"no stand-in file {name!r}; known: {', '.join(file_names())}")
        fname = PUBLISHED[name].filename if name in PUBLISHED else DATA_FILES[name]
        out["files"][name] = str(root / WEIGHTS_DIR / fname)
    return out


def prepare(root, datasets=(), files=(), seed: int = 0) -> dict:
    """Write the stand-ins named (datasets first: a data file may derive from one); returns
    ``{"datasets": {name: folder}, "files": {name: path}}`` (paths as text)."""
    locate(root, datasets, files)          # every name known before anything is written
    out = {"datasets": {}, "files": {}}
    for name in datasets:
        out["datasets"][name] = str(dataset_stand_in(name, root, seed))
    for name in files:
        out["files"][name] = str(file_stand_in(name, root, seed))
    return out


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m aulib.papers.stand_ins", description=__doc__.split("\n")[0])
    ap.add_argument("root")
    ap.add_argument("--datasets", default="", help=f"comma list of {', '.join(DATASETS)}")
    ap.add_argument("--files", default="", help="comma list of stand-in files (aulib.models.weights.PUBLISHED, "
                                                + ", ".join(DATA_FILES) + ")")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    print(json.dumps(prepare(a.root, split(a.datasets), split(a.files), a.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
