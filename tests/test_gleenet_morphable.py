"""The 3DMM fitter (aulib.face.morphable): recovers known coefficients from the landmarks they
project to, degrades gracefully with landmark noise, and the small model is built from
training landmarks with clear errors otherwise."""
import numpy as np
import pytest
import torch

from aulib.face import morphable as mm


def _synthetic(B=96, seed=0):
    rng = np.random.default_rng(seed)
    ang = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    xy = np.stack([np.cos(ang) * 0.9 + rng.normal(0, .2, 68), np.sin(ang) * 1.1 + rng.normal(0, .2, 68)], 1)
    xy -= xy.mean(0)
    xy /= np.sqrt((xy ** 2).sum(1).mean())
    model = mm.MorphableModel(np.concatenate([xy, mm.template_depth(xy)[:, None]], 1),
                              rng.normal(0, 0.03, (10, 68, 3)), rng.normal(0, 0.05, (8, 68, 3)))
    fs, fe = rng.normal(0, 1, (B, 10)), rng.normal(0, 1, (B, 8))
    R = mm._rodrigues(torch.tensor(rng.uniform(-0.3, 0.3, (B, 3)))).numpy()     # up to ~17 degrees per axis
    t = np.stack([rng.uniform(-.5, .5, B), rng.uniform(-.5, .5, B), rng.uniform(9, 12, B)], 1)
    uv = mm.project(model, fs, fe, R, t).numpy() * 60 + 100                     # a face of ~60 px radius
    return model, fe, uv, rng


@pytest.mark.parametrize("contour", [False, True])
def test_fit_recovers_known_coefficients_and_degrades_gracefully(contour):
    model, fe, uv, rng = _synthetic()
    fit = mm.fit_landmarks(model, uv, contour=contour)
    assert fit.expr.shape == (96, 8) and fit.shape.shape == (96, 10)
    # noise-free: every expression coefficient within 0.05 (coefficients are ~N(0, 1))
    assert np.abs(fit.expr - fe).max() < 0.05
    assert fit.rms.mean() < 0.2                        # pixels
    errs = []
    for sigma in (0.5, 1.0, 2.0):                      # pixel noise on every landmark
        f = mm.fit_landmarks(model, uv + rng.normal(0, sigma, uv.shape), contour=contour)
        errs.append(float(np.sqrt(((f.expr - fe) ** 2).mean())))
        assert abs(f.rms.mean() - sigma) < 0.5 * sigma   # the residual reflects the noise, no blow-up
    # graceful: error grows with the noise, about linearly (no blow-up), and stays small
    assert errs[0] < errs[1] < errs[2] < 0.15
    assert errs[2] < 4 * errs[0] + 0.02


def test_point_to_curve_ignores_sliding_along_the_contour():
    model, fe, uv, _ = _synthetic(B=16)
    moved = uv.copy()
    idx, prv, nxt = mm.curve_points()
    tang = uv[:, nxt] - uv[:, prv]
    moved[:, idx] += 0.3 * tang / 2                   # slide inner contour points along the curve
    a = mm.fit_landmarks(model, moved, contour=True)
    b = mm.fit_landmarks(model, moved, contour=False)
    assert np.abs(a.expr - fe).mean() < 0.5 * np.abs(b.expr - fe).mean()


def test_fit_refuses_bad_input():
    model, _, uv, _ = _synthetic(B=2)
    with pytest.raises(ValueError, match=r"\(B, 68, 2\)"):
        mm.fit_landmarks(model, uv[:, :49])
    bad = uv.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        mm.fit_landmarks(model, bad)


def test_build_from_training_landmarks_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AULIB_CACHE", str(tmp_path))
    model, fe, uv, rng = _synthetic(B=120)
    subjects = np.repeat(np.arange(6), 20)
    neutral = np.zeros(120, bool)
    neutral[::5] = True
    small = mm.build_from_landmarks(uv, subjects, neutral, n_shape=60, n_expr=51)
    assert small.n_shape == 5                          # fewer components than subjects
    assert 1 <= small.n_expr <= 51 and small.mean.shape == (68, 3)
    assert np.allclose(small.expr_basis[..., 2], 0)    # in-plane bases, generic depth
    with pytest.raises(ValueError, match="at least 2 subjects"):
        mm.build_from_landmarks(uv, np.zeros(120), neutral)
    keys = [f"f{i}.jpg" for i in range(120)]
    a = mm.fit_cached(small, keys, uv, "test")
    b = mm.fit_cached(small, keys[::-1], None, "test")  # read back: no landmarks needed
    assert np.allclose(a[::-1], b) and a.shape == (120, small.n_expr)
    path = tmp_path / "m.npz"
    small.save(path)
    assert mm.load_model(path).digest() == small.digest()
    np.savez(tmp_path / "bad.npz", mean=np.zeros((68, 3)), shape_basis=np.zeros((3, 49, 3)))
    with pytest.raises(ValueError, match="lacks expr_basis"):
        mm.load_model(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="mean \\(68, 3\\)"):
        mm.load_model(tmp_path / "none.npz")
