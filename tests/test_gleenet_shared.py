"""Shared pieces GLEE-Net brought (PIAP-DF reuses them): LFW-protocol verification accuracy,
FEC triplet accuracy; and GLEE-Net's notebook helpers (Ave-Var, retrieval, claims, inputs)."""
import numpy as np
import pandas as pd
import pytest
import torch

from aulib.eval.verification import best_threshold, cosine_scores, verification_accuracy
from aulib.papers import gleenet as gp


def test_threshold_is_chosen_on_the_other_folds():
    # fold 0 separable at 0.5, fold 1 separable at 0.8: held-out accuracy uses the other fold's threshold
    s = np.array([0.9, 0.7, 0.3, 0.2, 0.95, 0.85, 0.75, 0.1])
    same = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert best_threshold(s[:4], same[:4]) == pytest.approx(0.5)
    t = verification_accuracy(s, same, folds).set_index("fold")
    assert t.loc["0", "threshold"] == pytest.approx(0.8)     # chosen on fold 1
    assert t.loc["0", "accuracy"] == 75.0                     # 0.7 falls below it
    assert t.loc["1", "accuracy"] == 75.0                     # fold 0's threshold 0.5 lets 0.75 pass
    assert t.loc["mean", "accuracy"] == 75.0 and t.loc["std", "accuracy"] == 0.0
    with pytest.raises(ValueError, match="at least 2 folds"):
        verification_accuracy(s, same, np.zeros(8))
    assert cosine_scores([[1, 0]], [[2, 0]])[0] == pytest.approx(1.0)


def test_triplet_accuracy_counts_the_annotated_pair():
    from aulib.train.triplets import TripletImages, triplet_accuracy

    data = TripletImages.__new__(TripletImages)
    data.images = np.zeros((4, 3, 2, 2), np.uint8)
    data.images[:, 0, 0, 0] = [0, 10, 200, 255]          # 1-d "embedding": the first pixel
    data.ids = np.array([[0, 1, 3], [0, 3, 1], [2, 3, 0]])  # (a, p, n): right, wrong, right
    fn = lambda x: x[:, 0, 0, :1]                          # noqa: E731
    assert triplet_accuracy(fn, data) == pytest.approx(200 / 3)


def test_ave_var_and_retrieval():
    rng = np.random.default_rng(0)
    combo = np.repeat(np.array(["none", "AU12", "AU6+AU12"]), 30)
    centres = {"none": 0.0, "AU12": 5.0, "AU6+AU12": 10.0}
    tight = np.stack([np.array([centres[c], 0.0]) for c in combo]) + rng.normal(0, 0.3, (90, 2))
    loose = np.stack([np.array([centres[c], 0.0]) for c in combo]) + rng.normal(0, 5.0, (90, 2))
    keep = ["none", "AU12", "AU6+AU12"]
    assert gp.ave_var(tight, combo, keep) < gp.ave_var(loose, combo, keep)
    assert gp.ave_var(tight * 100, combo, keep) == pytest.approx(gp.ave_var(tight, combo, keep))  # scale-free
    assert gp.retrieval_score(tight, combo, keep, 5) == 100.0
    assert gp.retrieval_score(loose, combo, keep, 5) < 80.0
    y = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    m = np.array([[1, 1], [1, 1], [1, 1], [1, 0]])
    c, top = gp.combinations(y, m, ["AU6", "AU12"], top=2)
    assert list(c) == ["AU6", "none", "AU6+AU12", ""] and len(top) == 2


def test_claims_use_the_seed_spread():
    rows = {"full": 50.0, "no_3dgb": 49.0, "no_tc": 40.0}
    c = gp.claim_all_below_full(rows, {"full": 2.0, "no_3dgb": 0.5, "no_tc": 1.0}, "t", "s")
    assert c["holds"] is False and "not below" in c["evidence"]
    c = gp.claim_all_below_full(rows, {"full": 0.2, "no_3dgb": 0.5, "no_tc": 1.0}, "t", "s")
    assert c["holds"] is True
    assert gp.claim_all_below_full(rows, {"full": 0.0, "no_3dgb": 0.0, "no_tc": 0.0}, "t", "s")["holds"] is None
    assert gp.claim_beats(60.0, {}, "t", "s")["holds"] is None
    assert gp.claim_beats(60.0, {"DRML": 61.0}, "t", "s")["holds"] is False
    assert gp.claim_lowest({"a": 1.0, "b": 0.5}, "b", "t", "s")["holds"] is True
    assert gp.claim_lowest({"a": 1.0, "b": 0.5}, "b", "t", "s", higher=True)["holds"] is False


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(gp.MissingInputs) as e:
        gp.check_inputs("gleenet/01_within_domain", "paper", use_synth=False, data_root=str(tmp_path),
                        facenet_weights=str(tmp_path / "x.pt"), datasets=("bp4dplus",))
    msg = str(e.value)
    assert "dataset bp4dplus" in msg and "facenet_weights" in msg and "20180402-114759-vggface2.pt" in msg
    assert "morphable_model is not set" in msg
    gp.check_inputs("gleenet/01_within_domain", "tiny")      # SynthAU: nothing needed


def test_deviation_table_and_variants():
    t = gp.deviation_table("tiny", lr=0.01, epochs=4)
    assert {"item", "paper", "this run", "why"} <= set(t.columns) and "3DMM" in set(t["item"])
    parts = {"embedding": "e.pt", "facenet": "f.pt"}
    assert gp.gleenet_variant("full", parts) == {"embedding_weights": "e.pt", "facenet_weights": "f.pt"}
    assert gp.gleenet_variant("no_pretrain", parts) == {"facenet_weights": "f.pt"}
    assert gp.gleenet_variant("resnet", parts) == {"branches": "resnet"}
    assert gp.gleenet_variant("no_gb_lb", parts) == {"branches": "none"}


def test_triplet_pretraining_claim_needs_a_gain_beyond_noise_and_chance():
    # the first tiny run: +0.9 points over the untrained network, still below chance -> noise
    c = gp.claim_triplet_pretraining({"accuracy": 32.8, "accuracy_untrained": 31.9, "n_test": 1500})
    assert c["holds"] is False and "noise bar 3.4" in c["evidence"] and "33.3 % chance" in c["evidence"]
    assert gp.claim_triplet_pretraining({"accuracy": 45.0, "accuracy_untrained": 32.0, "n_test": 1500})["holds"]
    # above the untrained network by far, but not above chance: no embedding
    assert not gp.claim_triplet_pretraining({"accuracy": 34.0, "accuracy_untrained": 20.0, "n_test": 1500})["holds"]
    # the same gain on few triplets is within noise
    assert not gp.claim_triplet_pretraining({"accuracy": 40.0, "accuracy_untrained": 34.0, "n_test": 60})["holds"]
