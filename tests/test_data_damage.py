"""Real data as users have it (issue 12): cut-short images, label files as mirrors ship them,
BP4D+ frames inside per-subject zip archives, layout errors that say what is wrong inside."""
import zipfile

import numpy as np
import pytest

import aulib.data as D
from aulib.face.frames import UnreadableFrame, image_fault, read_frame
from fixtures import layouts as L


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))


def test_cut_short_jpeg_and_png_are_caught_by_content(tmp_path):
    """OpenCV decodes a cut-short JPEG with a grey bottom; the content check refuses it."""
    jpg = L.noisy_img(tmp_path / "a.jpg")
    png = L.noisy_img(tmp_path / "a.png")
    assert image_fault(jpg) is None and image_fault(png) is None
    L.truncate(jpg)
    L.truncate(png)
    assert image_fault(jpg) == "JPEG cut short (no FF D9 end marker): a partial copy?"
    assert image_fault(png) == "PNG cut short (no IEND chunk): a partial copy?"
    for name in ("a.jpg", "a.png"):
        with pytest.raises(UnreadableFrame, match="cut short"):
            read_frame(tmp_path, name)
    padded = L.noisy_img(tmp_path / "b.jpg")         # bytes after the end marker are fine
    padded.write_bytes(padded.read_bytes() + b"\0" * 100)
    assert image_fault(padded) is None and read_frame(tmp_path, "b.jpg").shape == (48, 48, 3)


def test_cut_short_bp4d_frame_lands_in_ledger_and_check_counts_it(tmp_path, capsys):
    from aulib.data.__main__ import main

    root = L.write_bp4d(tmp_path / "BP4D", subjects=("F001",), tasks=("T1",), unknown_cells=())
    L.noisy_img(root / "F001" / "T1" / "0003.jpg", seed=3)
    L.truncate(root / "F001" / "T1" / "0003.jpg")
    idx = D.frame_index("bp4d", root)
    assert idx.frame.tolist() == [2, 4, 5]
    led = D.ledger("bp4d", root)
    assert led[["subject", "video", "frame", "path", "reason", "action", "detail"]].values.tolist() == [
        ["F001", "T1", 3, "F001/T1/0003.jpg", "corrupt file", "excluded",
         "JPEG cut short (no FF D9 end marker): a partial copy?"]]
    rep = D.check("bp4d", root, verbose=False)
    row = rep[rep.expected == "ledger: corrupt file"].iloc[0]
    assert row.status == "mis-shaped" and row.found == "1 corrupt files (cut short or undecodable)"
    assert rep[rep.expected == "frame index"].found.tolist() == ["7 frames"]
    assert main(["check", "bp4d", str(root)]) == 1
    assert "1 corrupt files" in capsys.readouterr().out


def test_cut_short_png_in_megraphau_disfa_layout(tmp_path):
    root = L.write_disfa(tmp_path / "DISFA", subjects=("SN001", "SN002"), mode="frames",
                         frames_dir="img", ext=".png", n_frames=4)
    L.noisy_img(root / "img" / "SN002" / "2.png")
    L.truncate(root / "img" / "SN002" / "2.png", keep=0.9)
    assert len(D.frame_index("disfa", root)) == 7
    led = D.ledger("disfa", root)
    assert led[["subject", "frame", "reason"]].values.tolist() == [["SN002", 2, "corrupt file"]]


def test_emotionet_quoted_url_cells_are_normalised(tmp_path):
    root = L.write_emotionet(tmp_path / "EmotioNet", quote_urls=True)
    idx = D.frame_index("emotionet", root)
    assert len(idx) == 4 and idx.labeled.all()
    assert idx.subject.tolist() == [f"N_0000000001_{i:05d}" for i in range(4)]
    r1 = idx[idx.subject == "N_0000000001_00001"].iloc[0]
    assert np.isnan(r1.AU1) and r1.AU2 == float((1 + 2) % 2)
    led = D.ledger("emotionet", root)
    assert led[led.reason == "missing image"].subject.tolist() == ["N_0000000001_00004"]


def test_emotionet_names_that_match_no_file_say_how_many_of_each(tmp_path):
    root = L.write_emotionet(tmp_path / "EmotioNet", n_unlabelled=0)
    folder = root / "optimization_set" / "N_0000000001"
    for f in sorted(folder.iterdir()):            # renamed on download: img_<n>.jpg
        f.rename(folder / f"img_{f.stem[-1]}.jpg")
    with pytest.raises(D.DatasetLayoutError) as e:
        D.frame_index("emotionet", root)
    msg = str(e.value)
    assert ("no labelled image matches a file on disk: 5 labelled names in the FACS CSV, 4 "
            "image files on disk, 0 match; 5 labelled names have no file (e.g. labelled "
            "'N_0000000001_00000.jpg' (URL cell 'http://x.org/em/N_0000000001_00000.jpg')), "
            "4 files have no label (e.g. on disk 'optimization_set/N_0000000001/img_0.jpg')") in msg
    assert "not downloaded" not in msg and "obtain it" not in msg


def _bp4dplus_zipped(tmp_path):
    root = L.write_bp4d(tmp_path / "BP4D+", subjects=("F001", "M001"), tasks=("T1", "T6"),
                        n_frames=6, coded=(1, 5), base="2D+3D", unknown_cells=())
    for s in ("F001", "M001"):
        L.zip_subject(root, s)
    return root


def test_bp4dplus_frames_read_from_the_per_subject_zip(tmp_path):
    root = _bp4dplus_zipped(tmp_path)
    idx = D.frame_index("bp4dplus", root)
    assert len(idx) == 2 * 2 * 4 and D.ledger("bp4dplus", root).empty
    row = idx[(idx.subject == "M001") & (idx.video == "T6") & (idx.frame == 3)].iloc[0]
    assert row.path == "2D+3D/M001.zip#M001/T6/0003.jpg"
    assert row.AU4 == float((1 + 4 + 3) % 2)
    img = read_frame(root, row.path)                      # written with value 20 * 3 + 1
    assert img.shape == (16, 16, 3) and abs(int(img[8:, :, 0].mean()) - 61) <= 3
    full = D.frame_index("bp4dplus", root, labeled_only=False)
    assert len(full) == 2 * 2 * 6
    rep = D.check("bp4dplus", root, verbose=False)
    assert (rep.status == "ok").all(), rep[rep.status != "ok"]


def test_bp4dplus_cut_short_zip_member_refused_at_first_decode(tmp_path):
    root = L.write_bp4d(tmp_path / "BP4D+", subjects=("F001",), tasks=("T1",), n_frames=3,
                        coded=(0, 3), base="2D+3D", unknown_cells=())
    L.noisy_img(root / "2D+3D" / "F001" / "T1" / "0001.jpg")
    L.truncate(root / "2D+3D" / "F001" / "T1" / "0001.jpg")
    L.zip_subject(root, "F001")
    with pytest.raises(UnreadableFrame, match="member 'F001/T1/0001.jpg' .* JPEG cut short"):
        read_frame(root, "2D+3D/F001.zip#F001/T1/0001.jpg")


def test_bp4dplus_layout_errors_say_what_inside_is_wrong(tmp_path):
    root = _bp4dplus_zipped(tmp_path)
    (root / "AUCoding" / "AU_OCC" / "F001_T8.csv").write_text("0,1,2\n0,1,0\n")
    with pytest.raises(D.DatasetLayoutError) as e:
        D.frame_index("bp4dplus", root)
    msg = str(e.value)
    assert "no frames for 1 of 5 sequences (F001/T8)" in msg
    assert "2D+3D/F001.zip has no F001/<Task>/<n>.jpg members for T8 (tasks in it: T1, T6)" in msg
    assert "obtain it" not in msg and "request from" not in msg
    (root / "AUCoding" / "AU_OCC" / "F001_T8.csv").unlink()
    (root / "2D+3D" / "M001.zip").rename(root / "2D+3D" / "M001.7z")
    with pytest.raises(D.DatasetLayoutError) as e:
        D.frame_index("bp4dplus", root, refresh=True)
    assert ("2D+3D/M001.7z is an archive this reader cannot open: extract it so that "
            "2D+3D/M001/<Task>/<n>.jpg exist, or repack it as 2D+3D/M001.zip") in str(e.value)
    (root / "2D+3D" / "M001.7z").rename(root / "2D+3D" / "M001.zip")
    data = (root / "2D+3D" / "M001.zip").read_bytes()
    (root / "2D+3D" / "M001.zip").write_bytes(data[: len(data) // 2])    # a partial download
    with pytest.raises(D.DatasetLayoutError, match=r"2D\+3D/M001.zip is not a readable zip"):
        D.frame_index("bp4dplus", root, refresh=True)
    assert not zipfile.is_zipfile(root / "2D+3D" / "M001.zip")
