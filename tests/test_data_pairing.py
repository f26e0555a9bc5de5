"""Frame <-> label pairing is decided once per dataset, never guessed per folder (issue 12).

Each case is a tiny dataset in the official (or a research codebase's) layout whose right
pairing is known, so the labels, ledger lines and error texts are asserted exactly.
"""
import pytest

import aulib.data as D
from aulib.face.frames import read_frame
from fixtures import layouts as L


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))


def _labels_follow_images(idx, subjects, first):
    """Every row's image is the one written for its label line (image k+first <-> line k+1)."""
    for si, sn in enumerate(subjects):
        rows = idx[idx.subject == sn]
        assert len(rows)
        for r in rows.itertuples():
            assert r.path.endswith(f"/{sn}/{r.frame + first}.png")
            assert r.AU12_int == L.disfa_intensity(si, 12, r.frame)


def test_disfa_subject_missing_its_first_frame_keeps_its_labels(tmp_path):
    """ME-GraphAU's img/SN001/<n>.png (0-based): SN001 lost 0.png (the aligner dropped it).
    The dataset is 0-based (SN002, SN003 decide it); SN001's 1.png keeps label line 2."""
    subs = ("SN001", "SN002", "SN003")
    root = L.write_disfa(tmp_path / "DISFA", subjects=subs, mode="frames", frames_dir="img",
                         ext=".png", n_frames=6)
    (root / "img" / "SN001" / "0.png").unlink()
    idx = D.frame_index("disfa", root)
    assert len(idx) == 3 * 6 - 1
    _labels_follow_images(idx, subs, first=0)
    sn1 = idx[idx.subject == "SN001"]
    assert sn1.frame.tolist() == [1, 2, 3, 4, 5] and sn1.path.iloc[0] == "img/SN001/1.png"
    led = D.ledger("disfa", root)
    assert led[["subject", "frame", "reason", "action"]].values.tolist() == \
        [["SN001", 0, "missing image", "excluded"]]
    assert led.detail[0] == "label line 1 has no image numbered 0 in the SN001 frame folder"


def test_disfa_one_based_dataset_pairs_from_one(tmp_path):
    """ffmpeg's %d numbers frames from 1: 1.png is label line 1, in every subject, also in
    one that lost its first frame (1.png)."""
    subs = ("SN001", "SN002")
    root = L.write_disfa(tmp_path / "DISFA", subjects=subs, mode="frames", frames_dir="img",
                         ext=".png", n_frames=5, first=1)
    (root / "img" / "SN002" / "1.png").unlink()
    idx = D.frame_index("disfa", root)
    _labels_follow_images(idx, subs, first=1)
    assert idx[idx.subject == "SN001"].path.tolist() == [f"img/SN001/{k}.png" for k in range(1, 6)]
    led = D.ledger("disfa", root)
    assert led[["subject", "frame", "reason"]].values.tolist() == [["SN002", 0, "missing image"]]
    assert "image numbered 1" in led.detail[0]
    frame = read_frame(root, idx.path.iloc[2])           # line 3 -> 3.png, drawn with 10 * 2
    assert abs(int(frame[12:, :, 0].mean()) - 20) <= 3


def test_disfa_undecidable_pairing_is_an_error_that_says_how_to_tell_it(tmp_path):
    root = L.write_disfa(tmp_path / "DISFA", subjects=("SN001",), mode="frames",
                         frames_dir="img", ext=".png", n_frames=6)
    for k in (0, 5):                         # lacks both ends: 0-based and 1-based both fit
        (root / "img" / "SN001" / f"{k}.png").unlink()
    with pytest.raises(D.DatasetLayoutError) as e:
        D.frame_index("disfa", root)
    msg = str(e.value)
    assert "cannot tell how image numbers pair with label numbers" in msg
    assert "SN001: labels 0..5 (6), images numbered 1..4 (4)" in msg
    assert "frame_base=0: image 0 is label line 1" in msg and "frame_base=1: image 1" in msg
    assert "obtain it" not in msg
    told = D.frame_index("disfa", root, frame_base=1)
    assert told.path.tolist() == [f"img/SN001/{k}.png" for k in (1, 2, 3, 4)]
    assert told.frame.tolist() == [0, 1, 2, 3]
    assert told.AU12_int.tolist() == [L.disfa_intensity(0, 12, k) for k in range(4)]


def test_disfa_folders_numbered_both_ways_error_then_option_reports_misfit(tmp_path):
    root = L.write_disfa(tmp_path / "DISFA", subjects=("SN001", "SN002"), mode="frames",
                         frames_dir="img", ext=".png", n_frames=4)
    L.write_disfa(tmp_path / "DISFA", subjects=("SN003",), mode="frames", frames_dir="img",
                  ext=".png", n_frames=4, first=1)
    with pytest.raises(D.DatasetLayoutError) as e:
        D.frame_index("disfa", root)
    msg = str(e.value)
    assert "numbered in different ways" in msg
    assert "2 folder(s) fit frame_base=0 only: SN001" in msg
    assert "1 folder(s) fit frame_base=1 only: SN003: labels 0..3 (4), images numbered 1..4" in msg
    with pytest.warns(UserWarning, match="SN003: its numbering points to frame_base=1"):
        idx = D.frame_index("disfa", root, frame_base=0)
    led = D.ledger("disfa", root, frame_base=0)
    assert led[["subject", "frame", "path", "reason"]].values.tolist() == [
        ["SN003", 0, "", "missing image"], ["SN003", 4, "img/SN003/4.png", "no label"]]
    assert len(idx) == 4 + 4 + 3


def test_bp4dplus_offset_decided_from_all_sequences(tmp_path):
    """CSV frame f is image f-1 (reported for BP4D+): the CSVs code frames 1..8 while the
    images are 0..7, so offset 1 is decided from the data; image 0 gets CSV frame 1's row."""
    root = L.write_bp4d(tmp_path / "BP4D+", subjects=("F001", "M001"), tasks=("T1",),
                        n_frames=8, coded=(0, 8), base="2D+3D", unknown_cells=(), csv_offset=1)
    idx = D.frame_index("bp4dplus", root)
    assert len(idx) == 2 * 8 and D.ledger("bp4dplus", root).empty
    for r in idx.itertuples():
        si = 0 if r.subject == "F001" else 1
        assert r.path == f"2D+3D/{r.subject}/T1/{r.frame:04d}.jpg"
        assert r.AU2 == (si + 2 + r.frame) % 2 and r.AU7 == (si + 7 + r.frame) % 2
    with pytest.warns(UserWarning, match="F001/T1: its numbering points to label_offset=1"):
        D.frame_index("bp4dplus", root, label_offset=0)
    led = D.ledger("bp4dplus", root, label_offset=0)
    assert led[["subject", "frame", "reason"]].values.tolist() == [
        ["F001", 8, "missing image"], ["M001", 8, "missing image"]]
    assert led.detail[0] == "F001_T1.csv codes frame 8, no image numbered 8 (label_offset=0)"


def test_bp4d_undecided_offset_uses_the_documented_zero(tmp_path):
    """Coded segments inside the image range decide nothing: CSV frame f is image f."""
    root = L.write_bp4d(tmp_path / "BP4D", subjects=("F001",), tasks=("T1",), unknown_cells=())
    idx = D.frame_index("bp4d", root)
    assert idx.frame.tolist() == [2, 3, 4, 5]
    assert idx.AU1.tolist() == [float((0 + 1 + k) % 2) for k in (2, 3, 4, 5)]


def test_zero_pairs_is_an_error_naming_both_sides(tmp_path, capsys):
    """Labels and images found, nothing paired: never '0 frames' with exit 0."""
    from aulib.data.__main__ import main

    root = L.write_bp4d(tmp_path / "BP4D", subjects=("F001",), tasks=("T1",), unknown_cells=(),
                        csv_offset=2440)
    with pytest.raises(D.DatasetLayoutError) as e:
        D.frame_index("bp4d", root)
    msg = str(e.value)
    assert "found 1 AU_OCC CSVs coding 4 frames and 8 numbered images, but no image pairs " \
           "with a label (CSV frames e.g. F001/T1: [2442, 2443, 2444], images [0, 1, 2])" in msg
    assert main(["index", "bp4d", str(root)]) == 2
    assert "no image pairs with a label" in capsys.readouterr().err


def test_afewva_pairs_frame_names_with_image_numbers(tmp_path):
    root = L.write_afewva(tmp_path / "AFEW-VA", clips=("001",), n_frames=3)
    for k in (0, 1, 2):                     # re-saved without zero padding: 00001 <-> 1.png
        (root / "001" / f"{k:05d}.png").rename(root / "001" / f"{k}.png")
    idx = D.frame_index("afewva", root)
    assert idx.path.tolist() == ["001/0.png", "001/1.png", "001/2.png"]
    assert idx.valence.tolist() == [-1, 0, 1]
    from aulib.data.readers import afewva

    assert afewva.landmark_table(root, idx).get("001/1.png")[0, 0] == pytest.approx(3.0)
