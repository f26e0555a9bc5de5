"""dlib on SynthAU (issue #12): detection rate and NME against ground truth, the landmarks option
("truth" | "dlib") and the ledger of faces dlib does not find."""
import numpy as np
import pytest

import aulib.data as D
from aulib.face import detector_check as DC
from aulib.face.landmarks import LANDMARK_SOURCES, dataset_landmarks, landmark_cache_path, landmark_source
from aulib.synth import ensure
from aulib.synth.face_model import compose, N_ID
from aulib.synth.catalogue import AUS


def _face(scale=20.0, offset=(64.0, 64.0)):
    """The model's mean face as (68, 2) pixels."""
    p = compose(np.zeros(N_ID), np.zeros((1, len(AUS))))[0, :68, :2]
    return (p * scale + np.asarray(offset)).astype(np.float64)


def test_detection_scores_of_a_constructed_case():
    t = _face()
    iod = np.linalg.norm(t[36:42].mean(0) - t[42:48].mean(0))
    assert iod > 5
    truth = np.stack([t, t, t, t])
    det = truth.copy()
    det[0, :, 0] += 0.05 * iod        # every point 0.05 IOD to the right: NME 0.05
    det[1] = np.nan                   # no face found
    det[3, :34, 1] += 0.4 * iod       # half the points 0.4 IOD down: NME 0.2 (a failure)
    nme = DC.landmark_nme(truth, det)
    np.testing.assert_allclose(nme[[0, 2, 3]], [0.05, 0.0, 0.2], atol=1e-9)
    assert np.isnan(nme[1])
    s = DC.detection_scores(truth, det)
    assert (s["frames"], s["found"]) == (4, 3)
    assert s["detection_rate"] == pytest.approx(75.0)
    assert s["nme_mean"] == pytest.approx(0.25 / 3)
    assert s["nme_median"] == pytest.approx(0.05)
    assert s["nme_failure"] == pytest.approx(100 / 3)
    # the normaliser does not depend on the image scale
    assert DC.landmark_nme(truth * 3, det * 3)[0] == pytest.approx(0.05)


def test_detection_scores_refuse_bad_input():
    t = _face()
    with pytest.raises(ValueError, match=r"\(N, 68, 2\)"):
        DC.landmark_nme(t[None], t[None, :49])
    with pytest.raises(ValueError, match="without a face"):
        DC.detection_scores(np.full((1, 68, 2), np.nan), t[None])
    s = DC.detection_scores(t[None], np.full((1, 68, 2), np.nan))
    assert s["detection_rate"] == 0 and np.isnan(s["nme_mean"])


def test_an_invalid_landmarks_value_names_the_valid_ones(tmp_path):
    assert landmark_source("truth") == "truth" and landmark_source("auto") == "truth"
    assert landmark_source("dlib") == "dlib"
    with pytest.raises(ValueError, match=r"landmarks must be one of 'truth', 'dlib', got 'detected'"):
        landmark_source("detected")
    with pytest.raises(ValueError, match="'truth', 'dlib'"):
        dataset_landmarks(["a.jpg"], tmp_path, "openface")
    from aulib.train import TrainConfig, recipes

    with pytest.raises(ValueError, match="'truth', 'dlib', got 'gt'"):    # before any data is read
        recipes.Experiment({"disfa": tmp_path / "nowhere"}, "smoke", TrainConfig(), landmarks="gt")
    assert set(LANDMARK_SOURCES) == {"truth", "dlib"}


@pytest.fixture(scope="module")
def emotionet(tmp_path_factory):
    return ensure("synth-emotionet", "smoke", root=tmp_path_factory.mktemp("data"))


def test_dlib_landmarks_ledger_a_faceless_frame(emotionet, tmp_path, monkeypatch):
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))
    import pandas as pd

    gt = pd.read_csv(emotionet / "synthau_ground_truth.csv.gz", keep_default_na=False)
    idx = D.frame_index("emotionet", emotionet)
    faceless = [p for p in gt.path[gt.failure == "no_face"] if p in set(idx.path)]
    assert faceless, "SynthAU injects face-less frames even at smoke"
    good = [p for p in gt.path[gt.failure == ""] if p in set(idx.path)]
    idx = idx[idx.path.isin(faceless[:1] + good[:4])]
    assert len(idx) == 5
    ds = D.AUDataset(idx, alignment="similarity", landmarks="dlib", workers=1, cache=False, progress=False)
    led = ds.ledger
    row = led[led.path == faceless[0]]
    assert row.reason.tolist() == ["no face"] and "dlib-68" in row.detail.iat[0]
    assert len(ds) + len(led) == 5
    # cached like the landmark cache: the file exists and a second call reads it
    cache = landmark_cache_path(idx.path.astype(str).tolist(), emotionet)
    assert cache.is_file()
    again = dataset_landmarks(idx, emotionet, "dlib", progress=False)
    assert again.source == "dlib-68" and not again.found[list(again.paths).index(faceless[0])]
    # "truth" reads the renderer's table instead (same face-less frame, another source)
    truth = D.AUDataset(idx, alignment="similarity", landmarks="truth", workers=1, cache=False, progress=False)
    assert "synthau-ground-truth" in truth.ledger.detail.iat[0] and len(truth) == 4


def test_synthau_detector_check_reports_each_domain(emotionet, tmp_path, monkeypatch):
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))
    summary, frames = DC.synthau_detector_check({"synth-emotionet": emotionet}, n=12, seed=0)
    assert len(frames) == 12 and set(frames.domain) == {"wild"}
    assert (frames.path.isin(frames.path.unique())).all() and frames.path.is_unique
    row = summary[(summary.domain == "wild") & (summary.faces == "all")].iloc[0]
    assert row.frames == 12 and row.found == frames.found.sum()
    assert row.detection_rate == pytest.approx(100 * frames.found.mean())
    assert row.nme_mean == pytest.approx(frames.nme[frames.found].mean())
    nf = frames[frames.near_frontal]
    assert (nf[["yaw", "pitch", "roll"]].abs() <= 15).all().all()
    # the same sample and numbers again (seeded, cached)
    s2, f2 = DC.synthau_detector_check({"synth-emotionet": emotionet}, n=12, seed=0)
    assert f2.path.tolist() == frames.path.tolist()
    np.testing.assert_allclose(f2.nme.to_numpy(), frames.nme.to_numpy(), equal_nan=True)
    with pytest.raises(FileNotFoundError, match="ground truth"):
        DC.synthau_detector_check([tmp_path], n=3)
