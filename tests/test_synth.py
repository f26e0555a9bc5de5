"""SynthAU: AU catalogue, face model, renderer, domains, dynamics (fast unit tests)."""
from __future__ import annotations

import numpy as np
import pytest

from aulib.synth import AU_CATALOGUE, AUS, BP4D_AUS, DISFA_CODED, render_face
from aulib.synth import face_model as fm
from aulib.synth.catalogue import check_aus
from aulib.synth.dynamics import PRESETS, calibrated_rates, simulate

_I = {a: i for i, a in enumerate(AUS)}

# FG-Net's two ROI centres per AU (reference/fgnet.md s.1) as functions of 68 landmarks
def _roi_centres(au, lm):
    iod = np.linalg.norm(lm[42] - lm[39])
    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    down = np.array([0.0, 1.0])
    table = {
        "AU1": (lm[21], lm[22]), "AU2": (lm[17], lm[26]),
        "AU4": (lm[17:22].mean(0), lm[22:27].mean(0)),
        "AU6": (eye_l + down * iod, eye_r + down * iod), "AU7": (lm[38], lm[43]),
        "AU9": (lm[39], lm[42]), "AU10": (lm[50], lm[52]), "AU12": (lm[48], lm[54]),
        "AU14": (lm[48], lm[54]), "AU15": (lm[48], lm[54]),
        "AU17": (lm[56] + down * 0.5 * iod, lm[58] + down * 0.5 * iod),
        "AU23": (lm[51], lm[57]), "AU24": (lm[51], lm[57]), "AU25": (lm[51], lm[57]),
        "AU26": (lm[56], lm[58]),
    }
    if au in table:
        return np.array(table[au])
    pts = lm[list(AU_CATALOGUE[au]["landmarks"])]
    return np.array([pts[pts[:, 0] < lm[27, 0]].mean(0), pts[pts[:, 0] >= lm[27, 0]].mean(0)])


def test_catalogue_is_complete_data():
    assert set(DISFA_CODED) | set(BP4D_AUS) <= set(AUS)
    for name, row in AU_CATALOGUE.items():
        assert row["facs_name"] and len(row["description"]) > 30 and row["landmarks"]
        assert all(0 <= i < 68 for i in row["landmarks"])
    with pytest.raises(KeyError, match="unknown AU"):
        check_aus({"AU99": 1})
    with pytest.raises(ValueError, match="0-5"):
        check_aus({"AU12": 7})


@pytest.mark.parametrize("au", AUS)
def test_each_au_moves_exactly_its_landmarks(au):
    neutral = fm.compose(np.zeros(fm.N_ID), np.zeros((1, len(AUS))))[0, :68]
    vec = np.zeros((1, len(AUS)))
    vec[0, _I[au]] = 5.0
    moved = fm.compose(np.zeros(fm.N_ID), vec)[0, :68]
    d = np.linalg.norm((moved - neutral)[:, :3], axis=1)
    listed = np.array(AU_CATALOGUE[au]["landmarks"])
    others = np.setdiff1d(np.arange(68), listed)
    assert (d[listed] > 0.01).all(), f"{au}: listed landmarks that do not move: {listed[d[listed] <= 0.01]}"
    assert (d[others] < 1e-3).all(), f"{au}: unlisted landmarks that move: {others[d[others] >= 1e-3]}"


def test_au_directions_follow_facs():
    def disp(au, k=5.0):
        v = np.zeros((1, len(AUS)))
        v[0, _I[au]] = k
        return (fm.compose(np.zeros(fm.N_ID), v) - fm.compose(np.zeros(fm.N_ID), 0 * v))[0]

    assert disp("AU1")[[21, 22], 1].max() < -0.1                     # inner brows up
    assert disp("AU2")[[17, 26], 1].max() < -0.1                     # outer brows up
    d4 = disp("AU4")
    assert d4[17:27, 1].min() > 0 and d4[21, 0] > 0 > d4[22, 0]       # lowered, drawn together
    assert disp("AU6")[[40, 41, 46, 47], 1].max() < 0                 # lower lids up
    d12 = disp("AU12")
    assert d12[48, 0] < 0 < d12[54, 0] and d12[[48, 54], 1].max() < 0   # corners up and out
    assert disp("AU15")[[48, 54], 1].min() > 0                        # corners down
    d25 = disp("AU25")
    assert d25[66, 1] - d25[62, 1] > 0.05                              # lips part
    assert disp("AU26")[8, 1] > 0.2                                    # jaw drops
    # intensity is linear on the 0-5 scale
    assert np.allclose(disp("AU1", 2.5)[21], disp("AU1", 5.0)[21] / 2)


def test_render_face_is_deterministic_and_landmarks_sit_on_the_face():
    img, lm = render_face({"AU12": 3}, identity=7, domain="lab-a", size=128, seed=3)
    img2, lm2 = render_face({"AU12": 3}, identity=7, domain="lab-a", size=128, seed=3)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8 and lm.shape == (68, 2)
    assert np.array_equal(img, img2) and np.array_equal(lm, lm2)
    assert (lm > 0).all() and (lm < 128).all()
    eyes_y, nose_y, mouth_y = lm[36:48, 1].mean(), lm[30, 1], lm[48:68, 1].mean()
    assert eyes_y < nose_y < mouth_y
    other, _ = render_face({"AU12": 3}, identity=8, domain="lab-a", size=128, seed=3)
    assert np.abs(other.astype(int) - img).mean() > 3          # another person looks different
    big, lm_big = render_face({"AU12": 3}, identity=7, domain="lab-a", size=256, seed=3)
    assert np.allclose(lm_big / 2, lm, atol=0.5)


@pytest.mark.parametrize("identity", [11, 4])      # a dark and a light skin tone
@pytest.mark.parametrize("au", AUS)
def test_each_au_changes_the_image_near_its_fgnet_roi(au, identity):
    """Appearance changes are localised around the AU's ROI centres (FG-Net s.1)."""
    kw = dict(identity=identity, domain="lab-a", pose=(0, 0, 0), size=128, seed=0)
    base, lm0 = render_face({}, **kw)
    img, lm = render_face({au: 5}, **kw)
    diff = np.abs(img.astype(np.float32) - base).sum(-1)
    iod = np.linalg.norm(lm0[42] - lm0[39])
    ys, xs = np.mgrid[0:128, 0:128]
    near = np.zeros((128, 128), bool)
    for c in np.vstack([_roi_centres(au, lm0), _roi_centres(au, lm)]):
        near |= (xs - c[0]) ** 2 + (ys - c[1]) ** 2 < (0.75 * iod) ** 2
    changed = (diff > 30).sum()          # pixels visibly changed (sum over RGB > 30 levels)
    assert changed >= 25, f"{au}: only {changed} pixels visibly changed at intensity 5"
    assert diff[near].mean() > 2.0, f"{au}: too little change near its ROI ({diff[near].mean():.2f})"
    # AU6/AU9 also act beyond FG-Net's two centres (crow's feet, nasolabial folds), hence 4x
    assert diff[near].mean() > 4 * diff[~near].mean() + 1e-6, f"{au}: change not localised"


def _stats(domain, n=16):
    rows = []
    for i in range(n):
        img, lm = render_face({"AU12": (i % 3) * 2}, identity=i, domain=domain, size=96, seed=i)
        f = img.astype(np.float32)
        corner = np.concatenate([f[:12, :12].reshape(-1, 3), f[:12, -12:].reshape(-1, 3)])
        gx = np.abs(np.diff(f.mean(-1), axis=1)).mean()
        rows.append([f[..., 0].mean() / (f[..., 2].mean() + 1), corner.std(0).mean(),
                     np.abs(np.diff(lm[[0, 16], 1])).item(), gx, f.mean()])
    return np.array(rows)


def test_domain_presets_differ_measurably():
    a, b, w = _stats("lab-a"), _stats("lab-b"), _stats("wild")
    # lab-b is warmer (red/blue ratio) and darker than lab-a
    assert b[:, 0].mean() > a[:, 0].mean() + 0.15
    assert b[:, 4].mean() < a[:, 4].mean() - 10
    # lab-a: one plain background, near-frontal; wild: cluttered backgrounds, tilted heads
    assert a[:, 1].mean() < 2.0 and w[:, 1].mean() > a[:, 1].mean() + 5
    assert w[:, 2].mean() > a[:, 2].mean() + 2


@pytest.mark.parametrize("preset", list(PRESETS))
def test_base_rates_and_cooccurrence_within_configured_ranges(preset):
    p = PRESETS[preset]
    rates = calibrated_rates(preset)
    rng = np.random.default_rng(123)
    x = np.concatenate([simulate(rates, np.arange(0, 400.0, 0.5), rng) for _ in range(8)])
    occ = x >= p.threshold
    for au, target in p.targets.items():
        got = occ[:, _I[au]].mean()
        assert abs(got - target) <= max(p.tolerance * target, 0.03), (au, got, target)

    def cond(a, b):      # P(a | b)
        m = occ[:, _I[b]]
        return occ[m, _I[a]].mean()
    base = occ.mean(0)
    assert cond("AU6", "AU12") > 1.4 * base[_I["AU6"]]
    assert cond("AU2", "AU1") > 2 * base[_I["AU2"]]
    assert cond("AU25", "AU26") > 1.4 * base[_I["AU25"]]
    assert x.min() >= 0 and x.max() <= 5


def test_subject_bias_makes_some_aus_rare():
    rates = calibrated_rates("disfa")
    times = np.arange(0, 2000.0, 0.5)
    bias = np.ones(len(AUS))
    bias[_I["AU12"]] = 0.05
    rare = simulate(rates, times, np.random.default_rng(1), au_rate=bias)[:, _I["AU12"]]
    usual = simulate(rates, times, np.random.default_rng(1))[:, _I["AU12"]]
    assert (rare >= 1.5).mean() < 0.5 * (usual >= 1.5).mean()
