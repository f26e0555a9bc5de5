"""aulib.eval.probe: the linear probe finds linearly coded AUs, not noise, and reports the floor."""
import numpy as np
import pytest

from aulib.eval import metrics, probe


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < [0.3, 0.2, 0.0]).astype(float)      # AU3 never active
    x = rng.normal(size=(n, 10))
    x[:, 0] += 4.0 * y[:, 0]                                       # AU1 coded in feature 0
    return x, y, np.ones_like(y)


def test_probe_reads_a_linearly_coded_au_and_not_noise():
    x, y, m = _data()
    train = np.arange(len(x)) < 250
    out = probe.linear_probe(x, y, m, train, ~train, ["AU1", "AU2", "AU3"])
    assert out.loc["AU1", "f1"] > 90                              # separable: near perfect
    assert out.loc["AU2", "f1"] < out.loc["AU1", "f1"] - 40        # pure noise: far below
    assert np.isnan(out.loc["AU3", "f1"])                          # one class only: not fitted
    floor = metrics.f1_per_au(y[~train], np.ones_like(y[~train]), ["AU1", "AU2", "AU3"])
    assert out["floor"].drop("Avg").tolist() == pytest.approx(floor.drop("Avg").tolist())
    assert out.loc["Avg", "f1"] == pytest.approx(out.loc[["AU1", "AU2"], "f1"].mean())


def test_probe_ignores_unknown_labels_and_takes_index_rows():
    x, y, m = _data()
    m[:50, 0] = 0
    y[:50, 0] = 1 - y[:50, 0]                                      # wrong labels, but masked out
    out = probe.linear_probe(x, y, m, np.arange(0, 250), np.arange(250, 400), ["AU1", "AU2", "AU3"])
    assert out.loc["AU1", "f1"] > 90


def test_probe_needs_both_row_sets():
    x, y, m = _data(n=20)
    with pytest.raises(ValueError, match="training and test rows"):
        probe.linear_probe(x, y, m, np.zeros(20, bool), np.ones(20, bool), ["AU1", "AU2", "AU3"])
    with pytest.raises(ValueError, match="20 entries"):
        probe.linear_probe(x, y, m, np.ones(5, bool), np.ones(20, bool), ["AU1", "AU2", "AU3"])
