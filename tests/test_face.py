"""Face pipeline on a real photograph (scikit-image's astronaut): dlib landmarks, alignment,
AU regions; plus the landmark cache and dataset-level detection."""
import cv2
import numpy as np
import pytest
from skimage import data as skdata

from aulib.face import align as A
from aulib.face import landmarks as L
from aulib.face import regions as R
from aulib.face.landmark_table import load_landmark_table, save_landmark_table


@pytest.fixture(scope="module")
def astronaut():
    img = skdata.astronaut()
    return img, L.detect(img)


def test_dlib_finds_the_face_with_68_landmarks_in_place(astronaut):
    img, lm = astronaut
    assert lm is not None and lm.shape == (68, 2)
    box = L.detect_faces(img)[0]
    inside = (lm[:, 0] > box[0] - 10) & (lm[:, 0] < box[2] + 10) & (lm[:, 1] > box[1] - 10) & \
        (lm[:, 1] < box[3] + 25)
    assert inside.all()
    eyes_y = lm[36:48, 1].mean()
    assert eyes_y < lm[30, 1] < lm[48:60, 1].mean()           # eyes above nose above mouth
    eye_l, eye_r = A.eye_centres(lm)
    assert eye_l[0] < lm[30, 0] < eye_r[0]
    assert L.detect(np.zeros((64, 64, 3), np.uint8)) is None


def test_ffhq_alignment_puts_eyes_where_the_template_says(astronaut):
    img, lm = astronaut
    out, alm = A.ffhq_align(img, lm, 256)
    assert out.shape == (256, 256, 3)
    eye_l, eye_r = A.eye_centres(alm)
    mouth = (alm[48] + alm[54]) / 2
    e2m = np.hypot(*(mouth - (eye_l + eye_r) / 2))
    # template: the crop centre is eye midpoint + 0.1 eye_to_mouth, i.e. the image centre
    centre = (eye_l + eye_r) / 2 + 0.1 * (mouth - (eye_l + eye_r) / 2)
    assert np.allclose(centre, [127.5, 127.5], atol=1.0)
    # side = 2 max(2 |eye_to_eye|, 1.8 |eye_to_mouth|)
    side = 2 * max(2 * np.hypot(*(eye_r - eye_l)), 1.8 * e2m)
    assert side == pytest.approx(256, abs=2)
    assert abs(eye_l[1] - eye_r[1]) < 2.0                    # eye line level (pose ~frontal)
    again = L.detect(out)                                    # landmarks follow the image
    assert again is not None and np.abs(again - alm).mean() < 3.0


def test_similarity_alignment_and_crop_flip(astronaut):
    img, lm = astronaut
    out, alm = A.similarity_align(img, lm, 200, box_enlarge=2.9)
    eye_l, eye_r = A.eye_centres(alm)
    assert out.shape == (200, 200, 3) and abs(eye_l[1] - eye_r[1]) < 1e-3     # exactly level
    pts = np.stack([eye_l, eye_r, alm[30], alm[48], alm[54]])
    assert np.allclose((pts.min(0) + pts.max(0)) / 2, [99.5, 99.5], atol=0.01)
    width = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]))
    assert width * 2.9 == pytest.approx(199, abs=0.01)
    c, clm = A.centre_crop(out, alm, 176)
    assert c.shape == (176, 176, 3) and np.allclose(clm, alm - 12)
    f, flm = A.hflip(c, clm)
    assert np.allclose(f[:, ::-1], c)
    fl, fr = A.eye_centres(flm)
    assert fl[0] < fr[0] and np.allclose(fl[0], 175 - A.eye_centres(clm)[1][0], atol=1e-4)
    assert (A.FLIP_68[A.FLIP_68] == np.arange(68)).all()


def test_fgnet_centres_and_heatmaps(astronaut):
    _, lm = astronaut
    c = R.fgnet_roi_centres(lm, "disfa")
    assert c.shape == (8, 2, 2)
    assert np.allclose(c[0], lm[[21, 22]])                           # AU1 = inner brow ends
    iod = np.hypot(*(lm[42] - lm[39]))
    assert np.allclose(c[3, 0], lm[36:42].mean(0) + [0, iod], atol=1e-3)   # AU6 below the eye
    assert c[3, 0, 1] > lm[36:42, 1].mean()
    hc = R.fgnet_roi_centres(np.full((68, 2), 64.0) + np.random.default_rng(0).normal(0, 20, (68, 2)), "bp4d")
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, np.nan])
    h = R.fgnet_heatmaps(hc, labels, size=128, sigma=20.0)
    assert h.shape == (12, 128, 128) and h.min() >= -1 and h.max() <= 1
    assert (h[0] >= 0).all() and h[0].max() == 1.0 and (h[1] <= 0).all() and (h[11] == 0).all()
    assert (R.heatmaps_to_aus(h[:11]) == labels[:11]).all()
    g = R.fgnet_heatmaps(np.array([[[10.0, 10.0], [200.0, 200.0]]]), [1], size=64, sigma=2.0)
    assert g[0, 10, 10] == 1.0 and g[0, 10, 20] == 0.0          # exp(-100/8) < 0.01 -> 0


def test_jaa_attention_and_pi_maps(astronaut):
    img, lm = astronaut
    s, slm = A.similarity_align(img, lm, 200)
    _, clm = A.centre_crop(s, slm, 176)
    att = R.jaa_attention_maps(clm, "bp4d")
    assert att.shape == (12, 52, 52) and att.max() == pytest.approx(1.0) and att.min() == 0.0
    cen = R.jaa_centres(clm, "bp4d") * 52 / 176
    ix, iy = np.round(cen[6, 0]).astype(int)          # AU12 at the mouth corner
    assert att[6, iy, ix] == pytest.approx(1.0)
    assert cen[0, 0, 1] < clm[21, 1] * 52 / 176       # AU1 centre above the brow
    pi = R.pi_maps(slm, size=100, aus="bp4d", image_size=200)
    assert pi.shape == (12, 100, 100) and set(np.unique(pi)) == {0.0, 1.0}
    ys = [np.argwhere(pi[k])[:, 0].mean() for k in range(12)]
    aus = list(R.BP4D_AUS)
    assert ys[aus.index("AU1")] < ys[aus.index("AU6")] < ys[aus.index("AU12")] < ys[aus.index("AU17")]


def test_landmark_table_reason_roundtrip_and_detect_dataset(tmp_path, monkeypatch, astronaut):
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path / "cache"))
    img, lm = astronaut
    root = tmp_path / "ds"
    root.mkdir()
    cv2.imwrite(str(root / "face.jpg"), cv2.cvtColor(img[50:300, 120:330], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "blank.png"), np.zeros((80, 80, 3), np.uint8))
    (root / "bad.jpg").write_bytes(b"\xff\xd8broken")
    t = L.detect_dataset(["face.jpg", "blank.png", "bad.jpg"], root, workers=1, progress=False)
    assert t.found.tolist() == [True, False, False]
    assert t.reason.tolist() == ["", "no face", "corrupt file"]
    assert np.allclose(t.get("face.jpg"), lm - [120, 50], atol=3)
    assert L.landmark_cache_path(["face.jpg", "blank.png", "bad.jpg"], root).is_file()
    p = save_landmark_table(tmp_path / "t.npz", ["a"], np.zeros((1, 68, 2)))
    assert load_landmark_table(p).reason.tolist() == [""]
    assert L.predictor_path().name == "shape_predictor_68_face_landmarks.dat"
