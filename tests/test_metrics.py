"""Metric correctness against scikit-learn, and the documented conventions."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from aulib.eval import metrics


@pytest.mark.parametrize("seed", range(20))
def test_f1_matches_sklearn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(20, 400), rng.integers(1, 13)
    rates = rng.uniform(0.02, 0.7, k)
    y = (rng.random((n, k)) < rates).astype(int)
    p = (rng.random((n, k)) < rng.uniform(0.02, 0.7, k)).astype(int)
    aus = [f"AU{i + 1}" for i in range(k)]
    ours = metrics.f1_per_au(y, p, aus)
    ref = [100 * f1_score(y[:, j], p[:, j], zero_division=0) for j in range(k)]
    np.testing.assert_allclose(ours[aus].values, ref, atol=1e-9)
    assert ours["Avg"] == pytest.approx(np.mean(ref))
    acc = metrics.accuracy_per_au(y, p, aus)
    np.testing.assert_allclose(acc[aus].values, [100 * accuracy_score(y[:, j], p[:, j]) for j in range(k)])


def test_au_without_positives_follows_documented_convention():
    y = np.array([[0, 1], [0, 0], [0, 1]])
    p = np.array([[0, 1], [0, 0], [0, 0]])
    f1 = metrics.f1_per_au(y, p, ["AU1", "AU2"])
    assert f1["AU1"] == 0.0  # 0/0 -> 0 like sklearn's zero_division=0
    assert f1["AU2"] == pytest.approx(100 * 2 / 3)
    assert f1["Avg"] == pytest.approx(100 / 3)
    f1_nan = metrics.f1_per_au(y, p, ["AU1", "AU2"], zero_division=float("nan"))
    assert np.isnan(f1_nan["AU1"]) and f1_nan["Avg"] == pytest.approx(100 * 2 / 3)
    # positives present but never predicted: F1 is 0 under both conventions
    assert metrics.f1_per_au([[1], [0]], [[0], [0]], ["AU4"], zero_division=float("nan"))["AU4"] == 0


def test_mask_excludes_unknown_labels_instead_of_counting_them_negative():
    y = np.array([[1], [0], [0], [1]])
    p = np.array([[1], [1], [0], [1]])
    mask = np.array([[1], [0], [1], [1]])  # frame 2's label unknown -> its false alarm is not counted
    assert metrics.f1_per_au(y, p, ["AU1"], mask=mask)["AU1"] == pytest.approx(100.0)
    assert metrics.f1_per_au(y, p, ["AU1"])["AU1"] < 100.0


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="same shape"):
        metrics.f1_per_au(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="threshold scores first"):
        metrics.f1_per_au(np.zeros((3, 1)), np.full((3, 1), 0.7), ["AU1"])
    with pytest.raises(ValueError, match="AU names"):
        metrics.f1_per_au(np.zeros((3, 2)), np.zeros((3, 2)), ["AU1"])
    assert metrics.au_name("au 12") == "AU12" and metrics.au_name(4) == "AU4"


def test_fold_summary_means_over_folds():
    tidy = pd.DataFrame({"fold": ["a", "a", "b", "b"], "au": ["AU1", "AU2"] * 2, "f1": [10, 20, 30, 40]})
    s = metrics.fold_summary(tidy)
    assert s.loc["mean", "AU1"] == 20 and s.loc["mean", "AU2"] == 30
    assert s.loc["a", "Avg"] == 15 and s.loc["mean", "Avg"] == 25


def test_auc_per_au_matches_sklearn_and_ignores_unknown_labels():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = (rng.random((200, 3)) < [0.2, 0.5, 0.0]).astype(float)
    s = y * rng.normal(1.0, 1.0, y.shape) + rng.normal(0, 1.0, y.shape)
    m = np.ones_like(y)
    m[:40, 0] = 0
    out = metrics.auc_per_au(y, s, ["AU1", "AU2", "AU4"], mask=m)
    assert out["AU1"] == pytest.approx(100 * roc_auc_score(y[40:, 0], s[40:, 0]))
    assert out["AU2"] == pytest.approx(100 * roc_auc_score(y[:, 1], s[:, 1]))
    assert np.isnan(out["AU4"])                                    # one class: undefined
    assert out["Avg"] == pytest.approx((out["AU1"] + out["AU2"]) / 2)
    # the base rate does not move it: doubling every negative of AU2 keeps its AUC, lowers its F1
    neg = y[:, 1] == 0
    y2, s2 = np.vstack([y, y[neg]]), np.vstack([s, s[neg]])
    names = ["AU1", "AU2", "AU4"]
    assert metrics.auc_per_au(y2, s2, names)["AU2"] == pytest.approx(metrics.auc_per_au(y, s, names)["AU2"])
    assert metrics.f1_per_au(y2, s2 > 0.5, names)["AU2"] < metrics.f1_per_au(y, s > 0.5, names)["AU2"]
    with pytest.raises(ValueError, match="one shape"):
        metrics.auc_per_au(y, s[:, :2])
