"""The dataset catalogue: each dataset's expected sub-folder, layout and where to obtain it.

This is the one place that names where a dataset lives: ``config.data_root()/<subfolder>``
(``AULIB_DATA`` or a notebook's ``data_root`` parameter). Layout facts come from
``/work/shared/reference/datasets.md`` (cited per dataset); where that file marks a fact as
unconfirmed, the readers accept the plausible variants listed here and say so when none
matches. :class:`DatasetLayoutError` is the teaching error every reader raises.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import config

DISFA_AUS = ("AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25", "AU26")
DISFA_CODED_AUS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20",
                   "AU25", "AU26")
BP4D_AUS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23",
            "AU24")
EMOTIONET_ADLD_AUS = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU17")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    subfolder: str
    layout: str
    obtain: str
    aus: tuple[str, ...] = ()
    labels: str = "none"            # "intensity" / "occurrence" / "triplets" / "identity" / "none"
    aliases: tuple[str, ...] = field(default_factory=tuple)   # other common folder names
    source: str = ""


DATASETS: dict[str, DatasetInfo] = {d.name: d for d in [
    DatasetInfo(
        "disfa", "DISFA", "DISFA",
        layout=("ActionUnit_Labels/SN0XX/SN0XX_au<K>.txt  (one file per coded AU, lines "
                "'frame,intensity' 0-5)\n"
                "and frames, either videos Videos_LeftCamera/LeftVideoSN0XX_comp.avi "
                "(right camera: Video_RightCamera/ or Videos_RightCamera/, RightVideoSN0XX_comp.avi)\n"
                "or extracted frames <dir>/SN0XX/<n>.jpg|png with <dir> one of "
                "Frames_LeftCamera, Images_LeftCamera, img, or SN0XX/ directly in the root"),
        obtain="request from the DISFA authors at http://mohammadmahoor.com/disfa/ (licence form)",
        aus=DISFA_AUS, labels="intensity", source="datasets.md §1"),
    DatasetInfo(
        "bp4d", "BP4D-Spontaneous", "BP4D",
        layout=("AUCoding/AU_OCC/<Subj>_<Task>.csv (header: frame column '0', then AU numbers; "
                "0/1, 9 = unknown)\n"
                "and frames <Subj>/<Task>/<frame>.jpg (any zero padding), directly in the root or "
                "under 'Sequences(2D+3D)/' or '2D+3D/'"),
        obtain="request from Binghamton University (Lijun Yin) at "
               "http://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html (licence)",
        aus=BP4D_AUS, labels="occurrence", aliases=("BP4D-Spontaneous",),
        source="datasets.md §2"),
    DatasetInfo(
        "bp4dplus", "BP4D+ (MMSE)", "BP4D+",
        layout=("same as BP4D: AUCoding/AU_OCC/<Subj>_<Task>.csv and frames <Subj>/<Task>/<n>.jpg "
                "(root, '2D+3D/' or 'Sequences(2D+3D)/'); only T1, T6, T7, T8 are AU-coded "
                "(unconfirmed, datasets.md §3)"),
        obtain="request from Binghamton University (BP4D+ / MMSE licence)",
        aus=BP4D_AUS, labels="occurrence", aliases=("BP4D+_v0.2", "BP4DPlus"),
        source="datasets.md §3"),
    DatasetInfo(
        "emotionet", "EmotioNet", "EmotioNet",
        layout=("images anywhere under the root (e.g. optimization_set/N_00000000XX/"
                "N_00000000XX_NNNNN.jpg), matched by file name;\n"
                "manual labels EmotioNet_FACS*.csv (columns URL, 'URL orig', 'AU 1', ...; "
                "1/0, 999 = not coded), keyed by the URL's base name;\n"
                "optional challenge lists dataFile_*.txt (tab separated: url, orig_url, 60 AUs) "
                "and ADLD lists emotioNet_{train,val,test}_path.txt"),
        obtain="request the image URL lists and labels from the EmotioNet team "
               "(https://cbcsl.ece.ohio-state.edu/EmotionNetChallenge/), then download the images",
        aus=EMOTIONET_ADLD_AUS, labels="occurrence", source="datasets.md §5"),
    DatasetInfo(
        "fec", "Google Facial Expression Comparison", "FEC",
        layout=("faceexp-comparison-data-{train,test}-public.csv (no header: 3 x (URL, 4 box "
                "floats left,right,top,bottom), triplet type, (annotator, answer) pairs);\n"
                "downloaded images anywhere under the root, matched by the URL's base name"),
        obtain="https://research.google/resources/datasets/google-facial-expression/ "
               "(CSV files; images are downloaded from the listed URLs)",
        labels="triplets", source="datasets.md §6"),
    DatasetInfo(
        "afewva", "AFEW-VA", "AFEW-VA",
        layout=("one folder per clip, 3-digit names (001/, 002/, ...; optionally grouped one "
                "level deeper), each with <clip>.json (frames -> valence, arousal, 68 "
                "landmarks) and frame images <frame>.png|jpg"),
        obtain="https://ibug.doc.ic.ac.uk/resources/afew-va-database/ (licence)",
        labels="none", aliases=("AFEW_VA",), source="datasets.md §9"),
    DatasetInfo(
        "casia", "CASIA-WebFace", "CASIA-WebFace",
        layout="one folder per identity with a 7-digit id (0000045/), images 001.jpg, 002.jpg, ...",
        obtain="CASIA (Institute of Automation, Chinese Academy of Sciences) on request; "
               "commonly redistributed as 'CASIA-maxpy-clean'",
        labels="identity", aliases=("CASIA-maxpy-clean", "casia-webface"),
        source="datasets.md §7"),
    DatasetInfo(
        "lfw", "Labeled Faces in the Wild", "LFW",
        layout=("pairs.txt (header '10<TAB>300', then matched 'name i j' and mismatched "
                "'name1 i name2 j' lines) and an image folder lfw/ (or lfw-deepfunneled/, "
                "lfw_funneled/) with <Name>/<Name>_<NNNN>.jpg"),
        obtain="http://vis-www.cs.umass.edu/lfw/ (lfw.tgz and pairs.txt)",
        labels="identity", aliases=("lfw", "lfw-py"), source="datasets.md §7"),
    DatasetInfo(
        "ffhq", "Flickr-Faces-HQ", "FFHQ",
        layout=("images1024x1024/<NNN00>/<NNNNN>.png (or thumbnails128x128/, or a flat folder of "
                "PNGs); optional ffhq-dataset-v2.json with per-image category and landmarks"),
        obtain="https://github.com/NVlabs/ffhq-dataset (download_ffhq.py)",
        labels="none", aliases=("ffhq-dataset",), source="datasets.md §8"),
]}

_SYNTH_HINT = ("For a synthetic stand-in in the same layout use "
               "aulib.synth.ensure('synth-<name>', profile) and pass its folder as root.")


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder is missing or does not match the layout a reader expects."""


def info(name: str) -> DatasetInfo:
    """The catalogue entry of dataset ``name`` (a clear error lists the known names)."""
    key = name.lower().replace("synth-", "").replace("+", "plus").replace("-", "")
    key = {"emotionnet": "emotionet", "casiawebface": "casia", "afew": "afewva"}.get(key, key)
    if key not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[key]


def listing(path: Path, limit: int = 12) -> str:
    """A short description of what is at ``path`` (for error messages)."""
    if not path.exists():
        return f"{path} does not exist"
    if path.is_file():
        return f"{path} is a file, not a folder"
    names = sorted(os.listdir(path))
    if not names:
        return f"{path} is empty"
    shown = ", ".join(names[:limit]) + (f", ... ({len(names)} entries)" if len(names) > limit else "")
    return f"{path} contains: {shown}"


def layout_error(name: str, root: Path, problem: str) -> DatasetLayoutError:
    """Build the teaching error: what was expected, what was found, what to do.

    Where to obtain the dataset is said only when its folder does not exist; when it does,
    the error says what inside it is wrong and points to the checker instead."""
    d = info(name)
    head = (f"{d.title}: {problem}\n"
            f"  expected layout under {root}:\n    " + d.layout.replace("\n", "\n    ") + "\n"
            f"  found: {listing(root)}\n")
    check = (f"Run python -m aulib.data check {d.name} {root} for a file-by-file report.")
    if Path(root).is_dir():
        return DatasetLayoutError(head + f"  {check}")
    return DatasetLayoutError(
        head + f"  obtain it: {d.obtain}\n"
        f"  then place it at {config.data_root() / d.subfolder} (the default, set AULIB_DATA to "
        f"move the data root) or pass root=... . {check} {_SYNTH_HINT}")


def dataset_root(name: str, root: str | os.PathLike | None = None,
                 data_root: str | os.PathLike | None = None) -> Path:
    """The folder a reader reads: ``root`` (the dataset's own folder) if given, else
    ``<data_root>/<subfolder>`` with ``data_root`` the datasets root (default
    ``config.data_root()``: ``$AULIB_DATA`` or ``<repo>/data``).

    With no ``root``, the catalogue's alias folder names are tried too (e.g.
    ``CASIA-maxpy-clean``). A missing folder raises :class:`DatasetLayoutError`.
    """
    d = info(name)
    if root is not None:
        path = Path(root).expanduser().resolve()
    else:
        base = config.data_root(data_root)
        path = base / d.subfolder
        for alt in d.aliases:
            if not path.exists() and (base / alt).exists():
                path = base / alt
    if not path.is_dir():
        raise layout_error(d.name, path, f"dataset folder {path} not found")
    return path
