"""AUDataset items follow the contract; alignment cached once; exclusions ledgered; seeded."""
import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

import aulib.data as D
from aulib.face.landmark_table import save_landmark_table, load_landmark_table
from fixtures import layouts as L

# dlib's landmarks of the astronaut face in the 256-px crop written below (offset 120, 40)
_CROP = (40, 296, 120, 376)


@pytest.fixture()
def bp4d_faces(tmp_path, monkeypatch):
    """A tiny BP4D whose frames are the astronaut photo, with a landmark table beside it."""
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))
    from aulib.face.landmarks import detect

    face = skdata.astronaut()[_CROP[0]:_CROP[1], _CROP[2]:_CROP[3]]
    lm = detect(face)
    root = L.write_bp4d(tmp_path / "BP4D", subjects=("F001", "M001"), tasks=("T1",), n_frames=6,
                        coded=(0, 6), unknown_cells=((0, "T1", 1, 2),))
    idx = D.frame_index("bp4d", root)
    for p in idx.path:
        cv2.imwrite(str(root / p), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    L.corrupt(root / "M001" / "T1" / "0005.jpg")          # caught by the header check
    idx = D.frame_index("bp4d", root, refresh=True)
    lms = np.repeat(lm[None], len(idx), 0)
    found = np.ones(len(idx), bool)
    found[idx.index[(idx.subject == "M001") & (idx.frame == 0)]] = False   # "no face"
    lms[~found] = np.nan
    save_landmark_table(root / "landmarks_68.npz", idx.path, lms, found, source="test")
    return root, idx, lm


def test_items_follow_the_contract(bp4d_faces):
    root, idx, lm = bp4d_faces
    assert len(idx) == 11                                  # the corrupt jpg left at indexing
    ds = D.AUDataset(idx, alignment="similarity", landmarks="auto", train=False, workers=1,
                     progress=False)
    assert len(ds) == 10 and ds.ledger.reason.tolist() == ["no face"]
    it = ds[0]
    assert set(it) == {"image", "au", "au_mask", "landmarks", "subject", "index"}
    assert it["image"].shape == (3, 176, 176) and it["image"].dtype == torch.float32
    assert -1.0 <= it["image"].min() and it["image"].max() <= 1.0
    assert it["landmarks"].shape == (68, 2) and it["subject"] == "F001"
    row = idx.iloc[it["index"]]
    assert it["au"].tolist() == [float(row[a]) for a in D.DATASETS["bp4d"].aus]
    j = [k for k in range(len(ds)) if ds[k]["index"] == int(idx.index[(idx.subject == "F001") & (idx.frame == 1)][0])][0]
    unknown = ds[j]
    assert unknown["au_mask"][1] == 0 and unknown["au"][1] == 0 and unknown["au_mask"].sum() == 11
    el, er = unknown["landmarks"][36:42].mean(0), unknown["landmarks"][42:48].mean(0)
    assert abs(float(el[1] - er[1])) < 1e-3 and float(el[0]) < float(er[0])


def test_cache_runs_alignment_once_and_seeded_loader(bp4d_faces, monkeypatch):
    root, idx, _ = bp4d_faces
    table = load_landmark_table(root / "landmarks_68.npz")
    ds = D.AUDataset(idx, alignment="ffhq", image_size=64, landmarks=table, train=True,
                     workers=1, progress=False)
    from aulib.data import torch_dataset as T

    monkeypatch.setattr(T, "_align_chunk", lambda *a: (_ for _ in ()).throw(AssertionError("realigned")))
    ds2 = D.AUDataset(idx, alignment="ffhq", image_size=64, landmarks=table, train=True,
                      workers=1, progress=False)
    assert ds2[3]["image"].shape == (3, 64, 64) and len(ds2) == len(ds)
    batches = []
    for _ in range(2):
        torch.manual_seed(0)
        dl = D.make_loader(ds2, batch_size=4, seed=5, num_workers=0)
        batches.append(next(iter(dl)))
    assert torch.equal(batches[0]["image"], batches[1]["image"])
    assert batches[0]["index"].tolist() == batches[1]["index"].tolist()


def test_corrupt_frame_found_when_aligning_is_ledgered(bp4d_faces):
    root, idx, _ = bp4d_faces
    (root / "F001" / "T1" / "0003.jpg").write_bytes(b"\xff\xd8\xff truncated")
    ds = D.AUDataset(idx, alignment="similarity", landmarks="auto", train=True, workers=1,
                     progress=False)
    assert sorted(ds.ledger.reason) == ["corrupt file", "no face"] and len(ds) == 9
    flips = [ds[0]["landmarks"][36, 0] for _ in range(12)]     # random crop/flip varies
    assert len({round(float(f), 3) for f in flips}) > 1


def test_landmarks_required_for_alignment(bp4d_faces):
    _, idx, _ = bp4d_faces
    with pytest.raises(ValueError, match="needs landmarks"):
        D.AUDataset(idx, alignment="similarity", landmarks=None)
    with pytest.raises(KeyError, match="AU99"):
        D.AUDataset(idx, aus=["AU99"], alignment="none", landmarks=None)
