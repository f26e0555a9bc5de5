"""Dataset readers: tiny datasets written in each official layout are read back correctly."""
import numpy as np
import pandas as pd
import pytest

import aulib.data as D
from aulib.data.readers import faces, afewva
from aulib.face.frames import read_frame
from fixtures import layouts as L


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))


def test_disfa_videos_threshold_and_right_camera_spellings(tmp_path):
    root = L.write_disfa(tmp_path / "DISFA", n_frames=6)
    idx = D.frame_index("disfa", root)
    assert len(idx) == 3 * 6 and set(idx.subject) == {"SN001", "SN002", "SN003"}
    sn2 = idx[idx.subject == "SN002"].reset_index(drop=True)
    for k in range(6):       # label line k is video frame k; intensity >= 2 is an occurrence
        assert sn2.AU12_int[k] == L.disfa_intensity(1, 12, k)
        assert sn2.AU12[k] == float(L.disfa_intensity(1, 12, k) >= 2)
    assert sn2.path[3] == "Videos_LeftCamera/LeftVideoSN002_comp.avi#3"
    frame = read_frame(root, sn2.path[3])
    assert frame.shape == (32, 32, 3) and abs(int(frame.mean()) - 30) <= 3
    right = D.frame_index("disfa", root, camera="right")
    assert right.path[0].startswith("Video_RightCamera/RightVideoSN001")
    root2 = L.write_disfa(tmp_path / "D2", subjects=("SN004",), right_dir="Videos_RightCamera")
    assert D.frame_index("disfa", root2, camera="right").path[0].startswith("Videos_RightCamera/")
    assert idx.attrs["aus"] == list(D.DATASETS["disfa"].aus)


def test_disfa_frames_zero_and_one_based_and_corrupt_ledger(tmp_path):
    root = L.write_disfa(tmp_path / "DISFA", mode="frames", n_frames=5)
    L.corrupt(root / "Images_LeftCamera" / "SN001" / "2.jpg")
    idx = D.frame_index("disfa", root)
    assert len(idx) == 3 * 5 - 1
    led = D.ledger("disfa", root)
    assert led[["subject", "frame", "reason", "action"]].values.tolist() == \
        [["SN001", 2, "corrupt file", "excluded"]]
    # FG-Net style 1-based five-digit names: 00001.jpg is frame 0
    r1 = tmp_path / "D1"
    L.write_disfa(r1, subjects=("SN005",), mode="frames", n_frames=3, frames_dir="img")
    for k in (2, 1, 0):
        (r1 / "img" / "SN005" / f"{k}.jpg").rename(r1 / "img" / "SN005" / f"{k + 1:05d}.jpg")
    one = D.frame_index("disfa", r1)
    assert one.path.tolist() == [f"img/SN005/{k:05d}.jpg" for k in (1, 2, 3)]


def test_disfa_missing_frames_error_teaches(tmp_path):
    root = L.write_disfa(tmp_path / "DISFA", mode="frames")
    import shutil
    shutil.rmtree(root / "Images_LeftCamera" / "SN003")
    with pytest.raises(D.DatasetLayoutError) as e:
        D.frame_index("disfa", root)
    msg = str(e.value)
    assert "SN003" in msg and "Videos_LeftCamera" in msg
    # the folder exists: say what inside it is wrong, never "obtain it from ..."
    assert "obtain it" not in msg and "mohammadmahoor" not in msg and "check disfa" in msg
    with pytest.raises(D.DatasetLayoutError) as e:
        D.frame_index("disfa", tmp_path / "nowhere")
    assert "not found" in str(e.value) and "ActionUnit_Labels" in str(e.value)
    assert "mohammadmahoor" in str(e.value)


def test_bp4d_unknown_nine_is_masked_and_uncoded_frames_unlabelled(tmp_path):
    root = L.write_bp4d(tmp_path / "BP4D", base="Sequences(2D+3D)",
                        unknown_cells=((0, "T1", 3, 1), (1, "T2", 4, 1)))
    idx = D.frame_index("bp4d", root)
    assert len(idx) == 3 * 2 * 4 and idx.labeled.all()
    row = idx[(idx.subject == "F001") & (idx.video == "T1") & (idx.frame == 3)].iloc[0]
    assert np.isnan(row.AU1) and row.AU2 == float((0 + 2 + 3) % 2)     # by name, not position
    assert row.path == "Sequences(2D+3D)/F001/T1/0003.jpg"
    assert idx.AU1.isna().sum() == 2
    full = D.frame_index("bp4d", root, labeled_only=False)
    assert len(full) == 3 * 2 * 8 and (~full.labeled).sum() == 3 * 2 * 4
    assert full[~full.labeled][list(D.DATASETS["bp4d"].aus)].isna().all().all()
    led = D.ledger("bp4d", root)
    assert (led.reason == "unknown label").sum() == 2 and set(led.action) == {"masked"}


def test_bp4d_all_unknown_row_is_excluded_and_missing_folder_named(tmp_path):
    root = L.write_bp4d(tmp_path / "BP4D", subjects=("F001",), tasks=("T1",),
                        unknown_cells=tuple((0, "T1", 2, a) for a in L.BP4D_AU_NUMS))
    idx = D.frame_index("bp4d", root)
    assert 2 not in set(idx.frame)
    led = D.ledger("bp4d", root)
    assert led.action.tolist() == ["excluded"] and led.reason.tolist() == ["unknown label"]
    import shutil
    shutil.rmtree(root / "F001" / "T1")
    with pytest.raises(D.DatasetLayoutError, match="F001/T1"):
        D.frame_index("bp4d", root)


def test_emotionet_999_masked_missing_download_ledgered(tmp_path):
    root = L.write_emotionet(tmp_path / "EmotioNet")
    idx = D.frame_index("emotionet", root)
    assert len(idx) == 4 and idx.labeled.all()
    r1 = idx[idx.subject == "N_0000000001_00001"].iloc[0]
    assert np.isnan(r1.AU1) and r1.AU2 == float((1 + 2) % 2)
    full = D.frame_index("emotionet", root, labeled_only=False)
    assert (~full.labeled).sum() == 3
    led = D.ledger("emotionet", root)
    assert set(zip(led.reason, led.action)) == {("missing image", "excluded"),
                                                ("unknown label", "masked")}


def test_fec_triplets(tmp_path):
    df = D.frame_index("fec", L.write_fec(tmp_path / "FEC"))
    assert len(df) == 3 and df.complete.tolist() == [True, False, False]
    assert df.left_1[0] == pytest.approx(0.1) and df.bottom_3[0] == pytest.approx(0.8)
    assert len(df.answers[0]) == 6 and df.odd_one[0] == 2 and df.type[0] == "ONE_CLASS_TRIPLET"


def test_afewva_clips_and_landmarks(tmp_path):
    root = L.write_afewva(tmp_path / "AFEW-VA", grouped=True)
    idx = D.frame_index("afewva", root)
    assert len(idx) == 6 and idx.path[1] == "01/001/00001.png"
    assert idx.valence.tolist()[:3] == [-1, 0, 1]
    table = afewva.landmark_table(root, idx)
    assert table.found.all() and table.get("01/001/00001.png")[0, 0] == pytest.approx(3.0)


def test_identity_collections(tmp_path):
    ca = D.frame_index("casia", L.write_casia(tmp_path / "CASIA-WebFace"))
    assert ca.groupby("subject").size().to_dict() == {"0000045": 3, "0000099": 3}
    # a parent folder holding CASIA-WebFace/ reads the same, with paths relative to the parent
    parent = D.frame_index("casia", tmp_path, refresh=True)
    assert len(parent) == 6 and parent.path.str.startswith("CASIA-WebFace/0000045/").any()
    lroot = L.write_lfw(tmp_path / "LFW")
    lfw = D.frame_index("lfw", lroot)
    assert (lfw.subject == "Abel_Pacheco").sum() == 4
    pairs = faces.lfw_pairs(lroot)
    assert pairs.same.tolist() == [True, False]
    assert set(pairs.path1) | set(pairs.path2) <= set(lfw.path)
    froot = L.write_ffhq(tmp_path / "FFHQ")
    ff = D.frame_index("ffhq", froot)
    assert ff.path[2] == "images1024x1024/00000/00002.png" and ff.category[0] == "validation"
    assert faces.ffhq_landmarks(froot, ff).found.all()


def test_default_root_from_env_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AULIB_DATA", str(tmp_path))
    L.write_casia(tmp_path / "CASIA-maxpy-clean")         # an alias folder name
    a = D.frame_index("casia")
    b = D.frame_index("casia")
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["root"].endswith("CASIA-maxpy-clean")
    with pytest.raises(D.DatasetLayoutError, match="AULIB_DATA"):
        D.frame_index("bp4d")


def test_check_reports_by_expected_path(tmp_path):
    root = L.write_disfa(tmp_path / "DISFA", subjects=("SN001", "SN002"), mode="frames")
    (root / "ActionUnit_Labels" / "SN002" / "SN002_au26.txt").unlink()
    (root / "ActionUnit_Labels" / "SN001" / "SN001_au4.txt").write_text("1,7\n2,1\n")
    rep = D.check("disfa", root, verbose=False)
    st = dict(zip(rep.expected, rep.status))
    assert st["ActionUnit_Labels/SN001/SN001_au1.txt"] == "ok"
    assert st["ActionUnit_Labels/SN002/SN002_au26.txt"] == "missing"
    assert st["ActionUnit_Labels/SN001/SN001_au4.txt"] == "mis-shaped"
    assert st["ActionUnit_Labels/SN016/SN016_au1.txt"] == "missing"    # not written at all
    b = L.write_bp4d(tmp_path / "BP4D", subjects=("F001",), tasks=("T1",))
    (b / "AUCoding/AU_OCC/F001_T1.csv").write_text("frame,1,2\n0,1,0\n")
    rep = D.check("bp4d", b, verbose=False)
    st = dict(zip(rep.expected, rep.status))
    assert st["AUCoding/AU_OCC/F001_T1.csv"] == "mis-shaped"
    assert st["AUCoding/AU_OCC/M018_T8.csv"] == "missing"
    assert D.check("ffhq", tmp_path / "none", verbose=False).status.tolist() == ["missing"]


def test_check_cli_reports_a_missing_folder(tmp_path, capsys):
    from aulib.data.__main__ import main

    assert main(["check", "disfa", str(tmp_path / "nowhere")]) == 1
    out = capsys.readouterr().out
    assert "1 missing" in out and "obtain it" in out
    # and how to point at a copy that lives elsewhere
    assert "python -m aulib.data check disfa /path/to/DISFA" in out and "AULIB_DATA" in out
