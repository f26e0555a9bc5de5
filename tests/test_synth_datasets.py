"""SynthAU writers: official layouts (read back by the real-data readers), side files,
failure injection, determinism, fingerprint caching, CLI. Smoke-sized datasets."""
from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pandas as pd
import pytest

from aulib.face.landmark_table import load_landmark_table
from aulib.synth import BP4D_AUS, DISFA_CODED, NAMES, ensure
from aulib.synth.__main__ import main as cli
from aulib.synth.store import FINGERPRINT, dataset_dir

GT = "synthau_ground_truth.csv.gz"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthau")
    return root, {name: ensure(name, "smoke", root=root) for name in NAMES}


def test_folders_are_named_by_profile_and_seed(smoke, tmp_path):
    root, paths = smoke
    assert paths["synth-disfa"] == root.resolve() / "synthau" / "smoke" / "synth-disfa"
    assert dataset_dir("synth-disfa", "tiny", tmp_path, seed=3).parts[-2:] == ("tiny-seed3", "synth-disfa")
    for p in paths.values():
        assert (p / FINGERPRINT).is_file() and (p / "landmarks_68.npz").is_file()
    with pytest.raises(KeyError, match="available"):
        ensure("synth-nope", "smoke", root=tmp_path)


def test_disfa_layout(smoke):
    root = smoke[1]["synth-disfa"]
    subjects = sorted(p.name for p in (root / "ActionUnit_Labels").iterdir())
    assert len(subjects) == 27 and "SN014" not in subjects and "SN032" in subjects
    for sn in subjects:
        assert (root / "Videos_LeftCamera" / f"LeftVideo{sn}_comp.avi").is_file()
        files = sorted(f.name for f in (root / "ActionUnit_Labels" / sn).iterdir())
        assert files == sorted(f"{sn}_au{a[2:]}.txt" for a in DISFA_CODED)
    lines = (root / "ActionUnit_Labels/SN001/SN001_au12.txt").read_text().splitlines()
    assert all(re.fullmatch(r"\d+,[0-5]", ln) for ln in lines)
    assert [int(ln.split(",")[0]) for ln in lines] == list(range(1, len(lines) + 1))
    cap = cv2.VideoCapture(str(root / "Videos_LeftCamera/LeftVideoSN001_comp.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(lines)
    ok, frame = cap.read()
    assert ok and frame.shape == (128, 128, 3)
    # labels equal the ground truth side file
    gt = pd.read_csv(root / GT)
    sn1 = gt[gt.subject == "SN001"].sort_values("frame")
    assert [int(ln.split(",")[1]) for ln in lines] == sn1["AU12_int"].tolist()


def test_bp4d_layouts(smoke):
    for name, frames, subjects, coded in (("synth-bp4d", "Sequences(2D+3D)", 41, 8),
                                           ("synth-bp4dplus", "2D+3D", 140, 4)):
        root = smoke[1][name]
        assert len(list((root / frames).iterdir())) == subjects
        csvs = list((root / "AUCoding" / "AU_OCC").glob("*.csv"))
        assert len(csvs) == subjects * coded
        assert all(re.fullmatch(r"[FM]\d{3}_T\d+", c.stem) for c in csvs)
        df = pd.read_csv(csvs[0], header=0, index_col=0)
        assert df.index.name == "0"
        assert set(df.columns) >= {str(a[2:]) for a in BP4D_AUS}
        assert set(np.unique(df.values)) <= {0, 1, 9}
        assert (df["3"] == 9).all()                        # uncoded AUs are 9
        subj, task = csvs[0].stem.split("_")
        for f in df.index:
            assert (root / frames / subj / task / f"{f:04d}.jpg").is_file()
    if True:   # BP4D writes unlabelled frames outside the coded segment
        gt = pd.read_csv(smoke[1]["synth-bp4d"] / GT)
        assert (~gt["coded"]).sum() > 0 and gt["coded"].sum() == 41 * 8


def test_other_layouts(smoke):
    p = smoke[1]
    emo = p["synth-emotionet"]
    lab = pd.read_csv(emo / "EmotioNet_FACS_aws_2020_24600.csv")
    assert list(lab.columns[:3]) == ["URL", "URL orig", "'AU 1'"]
    val = (emo / "emotioNet_val_path.txt").read_text().split()
    test = (emo / "emotioNet_test_path.txt").read_text().split()
    train = (emo / "emotioNet_train_path.txt").read_text().split()
    assert len(lab) == len(val) + len(test) and not set(train) & set(val + test)
    assert all(re.fullmatch(r"optimization_set/N_\d{10}/N_\d{10}_\d{5}\.jpg", x) for x in train)
    fec = pd.read_csv(p["synth-fec"] / "faceexp-comparison-data-train-public.csv", header=None)
    assert fec.shape[1] == 28 and set(fec[15]) <= {"ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET",
                                                    "THREE_CLASS_TRIPLET"}
    assert set(fec[17]) <= {1, 2, 3} and fec[[1, 2, 3, 4]].to_numpy().max() <= 1
    faces = p["synth-faces"]
    first = (faces / "pairs.txt").read_text().splitlines()
    folds, per = map(int, first[0].split("\t"))
    assert len(first) == 1 + 2 * folds * per
    assert re.fullmatch(r"\d{7}", next((faces / "CASIA-WebFace").iterdir()).name)
    name = first[1].split("\t")[0]
    assert (faces / "lfw" / name / f"{name}_0001.jpg").is_file()
    meta = json.loads((p["synth-ffhq"] / "ffhq-dataset-v2.json").read_text())
    assert (p["synth-ffhq"] / meta["0"]["thumbnail"]["file_path"]).is_file()
    clip = json.loads((p["synth-afewva"] / "001" / "001.json").read_text())
    fr = next(iter(clip["frames"].values()))
    assert clip["video_id"] == "001" and len(fr["landmarks"]) == 68 and -10 <= fr["valence"] <= 10


def test_failures_are_injected_and_recorded(smoke):
    root = smoke[1]["synth-disfa"]
    gt = pd.read_csv(root / GT, keep_default_na=False)
    table = load_landmark_table(root / "landmarks_68.npz")
    assert table.source == "synthau-ground-truth"
    corrupt = gt[gt.failure == "corrupt"].path.tolist()
    noface = gt[gt.failure == "no_face"].path.tolist()
    assert corrupt and noface
    for rel in corrupt:
        assert cv2.imread(str(root / rel)) is None         # not decodable
        assert table.get(rel) is None
    for rel in noface:
        assert cv2.imread(str(root / rel)) is not None and table.get(rel) is None
    if getattr(table, "reason", None) is not None:       # the ledger's reason per frame
        reason = dict(zip(table.paths.tolist(), table.reason.tolist()))
        assert {reason[r] for r in corrupt} == {"corrupt file"}
        assert {reason[r] for r in noface} == {"no face"}
    ok = gt[gt.failure == ""].path.iloc[0]
    lm = table.get(ok)
    assert lm.shape == (68, 2) and np.isfinite(lm).all()
    assert table.get("Videos_LeftCamera/LeftVideoSN002_comp.avi#0") is not None


def test_real_readers_read_the_synthetic_layouts(smoke):
    data = pytest.importorskip("aulib.data")
    p = smoke[1]
    d = data.frame_index("disfa", root=p["synth-disfa"], refresh=True)
    assert d.subject.nunique() == 27 and {"AU1", "AU26"} <= set(d.columns)
    gt = pd.read_csv(p["synth-disfa"] / GT)
    merged = d[["path", "AU12"]].merge(gt[["path", "AU12_int"]], on="path")
    assert len(merged) == len(d)
    assert (merged["AU12"] == (merged["AU12_int"] >= 2)).all()   # threshold 2 on our intensities
    b = data.frame_index("bp4d", root=p["synth-bp4d"], refresh=True)
    assert b.subject.nunique() == 41 and b["AU7"].notna().any()
    assert b["AU3"].isna().all() if "AU3" in b else True            # 9 -> unknown, not 0
    assert data.frame_index("bp4dplus", root=p["synth-bp4dplus"], refresh=True).subject.nunique() == 140
    assert len(data.frame_index("emotionet", root=p["synth-emotionet"], refresh=True)) > 0
    assert len(data.frame_index("fec", root=p["synth-fec"], refresh=True)) == 60
    assert len(data.frame_index("afewva", root=p["synth-afewva"], refresh=True)) > 0
    assert len(data.frame_index("lfw", root=p["synth-faces"], refresh=True)) > 0
    assert len(data.frame_index("casia", root=p["synth-faces"] / "CASIA-WebFace", refresh=True)) > 0
    assert len(data.frame_index("ffhq", root=p["synth-ffhq"], refresh=True)) == 50


def test_deterministic_and_cached_by_fingerprint(smoke, tmp_path):
    root, paths = smoke
    a = paths["synth-afewva"]
    stamp = (a / FINGERPRINT).stat().st_mtime_ns
    assert ensure("synth-afewva", "smoke", root=root) == a
    assert (a / FINGERPRINT).stat().st_mtime_ns == stamp           # cached, not rewritten
    b = ensure("synth-afewva", "smoke", root=tmp_path)              # elsewhere: same bytes
    for rel in ("001/00000.png", "002/002.json", "landmarks_68.npz"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert pd.read_csv(a / GT).equals(pd.read_csv(b / GT))
    c = ensure("synth-afewva", "smoke", root=tmp_path, n_clips=2)    # parameters changed
    assert c == b and not (c / "003").exists() and (c / "002" / "002.json").is_file()
    (c.parent / ".synth-afewva.partial-999999").mkdir()               # a killed run's leftover
    (c / FINGERPRINT).unlink()                                      # incomplete -> rebuilt
    assert (ensure("synth-afewva", "smoke", root=tmp_path) / "003").is_dir()
    assert not list(c.parent.glob(".synth-afewva.partial-*"))
    other = ensure("synth-afewva", "smoke", root=tmp_path, seed=1)
    assert other != b and (other / "001/00000.png").read_bytes() != (b / "001/00000.png").read_bytes()


def test_refuses_to_overwrite_foreign_folders(tmp_path):
    target = dataset_dir("synth-afewva", "smoke", tmp_path)
    target.mkdir(parents=True)
    (target / "precious.txt").write_text("not synthau")
    with pytest.raises(FileExistsError, match="not a SynthAU dataset"):
        ensure("synth-afewva", "smoke", root=tmp_path)
    assert (target / "precious.txt").is_file()


def test_cli_list(smoke, capsys):
    root, _ = smoke
    assert cli(["list", "--profile", "smoke", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count("current") == len(NAMES)
    assert cli(["prepare", "synth-nope", "--root", str(root)]) == 2


def test_parallel_rendering_after_the_caller_used_opencv_threads(tmp_path):
    """Regression: a notebook kernel that already ran OpenCV's thread pool, then forked the
    render workers, left them waiting forever on a lock. Run in a subprocess with a timeout."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import cv2, numpy as np
        from aulib.synth import render_face
        from aulib.synth.catalogue import AUS
        from aulib.synth.engine import Sequence, render_all
        cv2.setNumThreads(4)
        for i in range(3):
            render_face({{"AU12": 3}}, identity=i, size=256)
        seqs = [Sequence(key=f"s{{k}}", paths=[f"s{{k}}/{{i}}.jpg" for i in range(310)],
                         aus=np.zeros((310, len(AUS))), identity=k, domain="lab-a", size=64, seed=k)
                for k in range(2)]
        res = render_all(seqs, {str(tmp_path)!r}, workers=2)
        print("rendered", sum(len(r["landmarks"]) for r in res), cv2.getNumThreads())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rendered 620 4" in out.stdout
