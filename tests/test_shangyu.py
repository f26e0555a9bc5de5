"""Shang & Yu (paper 003): the landmark branch, the one model with switches, its losses and
loss trace, and the claims' computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aulib.models import registry
from aulib.models.landmark_branch import CBAM, LandmarkBranch, interocular, landmark_loss, nme
from aulib.models.shangyu import PAPER_LAMBDAS, TERMS, ShangYu, attention, landmark_targets
from aulib.papers import shangyu as sy

KW = dict(aus=["AU1", "AU2", "AU12"], input_size=64, widths=(8, 16, 16, 16, 16), hidden=16)


def _face_landmarks(b: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 68, 2, generator=g) * size * 0.6 + size * 0.2


def _batch(b: int = 4, n_aus: int = 3):
    g = torch.Generator().manual_seed(1)
    return {"image": torch.randn(b, 3, 64, 64, generator=g), "target_image": torch.randn(b, 3, 64, 64, generator=g),
            "landmarks": _face_landmarks(b, seed=2), "target_landmarks": _face_landmarks(b, seed=3),
            "au": (torch.rand(b, n_aus, generator=g) > 0.5).float(), "au_mask": torch.ones(b, n_aus)}


def test_landmark_loss_is_eq1_with_the_interocular_distance():
    y68 = _face_landmarks(2)
    from aulib.face.align import LM68_TO_49

    y49 = y68[:, LM68_TO_49]
    pred = y49 + 1.0                       # every coordinate off by one pixel
    d = interocular(y49)
    expected = (49 * 2 * 1.0 / (2 * d ** 2)).mean()
    assert landmark_loss(pred, y68).item() == pytest.approx(expected.item(), rel=1e-5)
    assert landmark_loss(y49, y68).item() == pytest.approx(0.0, abs=1e-9)
    # NME: a 1-px shift in x and y is sqrt(2) px per point
    assert nme(pred, y68) == pytest.approx((math.sqrt(2) / d).numpy(), rel=1e-5)
    unknown = y68.clone()
    unknown[0, 30] = float("nan")          # a face without landmarks is left out
    assert landmark_loss(pred, unknown).item() == pytest.approx((49 / d[1] ** 2).item(), rel=1e-5)


def test_branch_has_five_parts_cbam_and_two_fc_takes_the_papers_176_and_refuses_bad_sizes():
    b = LandmarkBranch(64, (8, 16, 16, 16, 16), 16)
    assert len(b.parts) == 3 and isinstance(b.cbam, CBAM)
    assert sum(isinstance(m, torch.nn.Linear) for m in b.fc) == 2
    out = b(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 49, 2)
    assert torch.allclose(out, torch.full_like(out, 32.0))   # last layer zero-init: the crop centre
    paper = LandmarkBranch(176, (4, 4, 4, 4, 8), 16)   # the paper's 176: pooled 88, 44, 22, 11, 5 (floored)
    assert paper.fc[1].in_features == 8 * 5 * 5 and paper(torch.randn(2, 3, 176, 176)).shape == (2, 49, 2)
    with pytest.raises(ValueError, match="at least 32"):
        LandmarkBranch(16)
    with pytest.raises(ValueError, match="five parts"):
        LandmarkBranch(64, (8, 16, 16))


def test_switches_build_the_ablation_models():
    a, b, c = (ShangYu(**KW, **sw) for _, sw in sy.ABLATION.values())
    assert not hasattr(a, "branch") and not hasattr(a, "projectors")
    assert hasattr(b, "branch") and not hasattr(b, "projectors")
    assert b.stem is b.branch.stem         # E_f is shared with the landmark branch
    assert set(c.projectors) == {"s", "t", "sl", "sb", "tl", "tb"}   # two pairs + four intermediate supervisors
    assert registry.create("adld", **{k: v for k, v in KW.items()}).landmark_branch is False
    assert c.lambdas == PAPER_LAMBDAS == {"c": 100.0, "l": 0.6, "adf": 1.2, "adl": 400.0, "au": 1.0, "fl": 0.1}
    with pytest.raises(ValueError, match="separation=True"):
        ShangYu(**KW, separation=False, contrastive=True)
    with pytest.raises(ValueError, match="unknown loss weights"):
        ShangYu(**KW, lambdas={"cycle": 1.0})


@pytest.mark.parametrize("model", list(sy.ABLATION))
def test_training_step_records_every_term_and_only_its_own(model):
    torch.manual_seed(0)
    m = ShangYu(**KW, **sy.ABLATION[model][1])
    m.train()
    batch = _batch()
    out = m(batch["image"], batch["target_image"], batch["landmarks"], batch["target_landmarks"])
    loss = m.loss(batch, out)
    loss.backward()
    assert torch.isfinite(loss)
    row = dict(zip(TERMS, m.loss_trace[-1].tolist()))
    assert m.loss_trace.shape == (1, len(TERMS))
    assert row["total"] == pytest.approx(loss.item(), rel=1e-5)
    on = {"au", "land", "adl", "adf", "disc_land", "disc_feat"}
    on |= {"contrast"} if model == "C" else {"cycle", "self"}
    on |= {"fl"} if model in "BC" else set()
    assert {k for k, v in row.items() if k != "total" and v != 0} == on
    # the landmark branch (ML) trains E_f through L_fl; A has no branch
    if model in "BC":
        assert m.branch.fc[-1].weight.grad.abs().sum() > 0


def test_discriminators_and_generators_play_their_own_sides():
    torch.manual_seed(0)
    m = ShangYu(**KW)
    batch = _batch()
    out = m(batch["image"], batch["target_image"], batch["landmarks"], batch["target_landmarks"])
    t = m.terms(batch, out)
    # the generator's adversarial term does not move the discriminator ...
    t["adl"].backward(retain_graph=True)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in m.land_disc.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.back_gen.parameters())
    m.zero_grad()
    # ... and the discriminator's own loss does not move the background generator
    t["disc_land"].backward(retain_graph=True)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.land_disc.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in m.back_gen.parameters())


def test_loss_trace_survives_a_checkpoint_round_trip():
    m = ShangYu(**KW)
    batch = _batch()
    for _ in range(2):
        m.loss(batch, m(batch["image"], batch["target_image"], batch["landmarks"], batch["target_landmarks"]))
    fresh = ShangYu(**KW)
    fresh.load_state_dict(m.state_dict())
    assert torch.equal(fresh.loss_trace, m.loss_trace) and fresh.loss_trace.shape[0] == 2


def test_landmark_targets_and_attention():
    lm = torch.zeros(1, 68, 2)
    lm[0, :, 0], lm[0, :, 1] = 10.0, 21.0          # x = 10 px, y = 21 px on a 64-px crop -> 16 x 16 map
    idx, ok = landmark_targets(lm, 64, 16)
    assert ok.all() and (idx == 5 * 16 + round(10 / 4)).all()
    lm[0, 17] = float("nan")
    assert not landmark_targets(lm, 64, 16)[1][0, 0]
    a = attention(torch.randn(2, 49, 8, 8))
    assert a.shape == (2, 1, 8, 8) and torch.allclose(a.sum((1, 2, 3)), torch.full((2,), 49.0))


def test_branch_weights_initialise_the_shared_extractor(tmp_path):
    from aulib.train import checkpoint as ck

    branch = ck.create_model("shangyu_landmarks", input_size=64, widths=(8, 16, 16, 16, 16), hidden=16)
    with torch.no_grad():
        branch.stem.part1[0].weight.fill_(0.25)
    ck.atomic_save(ck.model_record(branch), tmp_path / "best.pt")
    m = ShangYu(**KW, branch_weights=tmp_path / "best.pt")
    assert torch.all(m.stem.part1[0].weight == 0.25) and m.init.startswith("pretrained:")
    with pytest.raises(ValueError, match="does not fit"):
        ShangYu(**dict(KW, widths=(8, 32, 16, 16, 16)), branch_weights=tmp_path / "best.pt")
    with pytest.raises(FileNotFoundError, match="pre-train it first"):
        ShangYu(**KW, branch_weights=tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="landmark_branch=True"):
        ShangYu(**KW, landmark_branch=False, contrastive=False, branch_weights=tmp_path / "best.pt")


def test_claims_judge_differences_against_the_seed_spread():
    c = sy.claim_ml_adds([30.0, 31.0], [29.0, 30.0])          # +1.0, spread 0.71
    assert c["holds"] is True and "exceeds the seed spread" in c["evidence"]
    c = sy.claim_as_adds([30.0, 34.0], [29.0, 33.0])          # +1.0, spread 2.83
    assert c["holds"] is False and "within the seed spread" in c["evidence"]
    c = sy.claim_as_adds([21.0, 22.4], [29.0, 33.6])          # -9.6, spread 2.3: lower beyond the spread
    assert c["holds"] is False and "lower, by more than the seed spread" in c["evidence"]
    c = sy.claim_beats_adld([30.0], [31.0])                   # one seed: the sign decides
    assert c["holds"] is False and "one seed" in c["evidence"]
    c = sy.claim_invariant_lose({"DANN": 20.0, "ADDA": 25.0}, {"ADLD": 24.0, "ours": 30.0})
    assert c["holds"] is False and "ADDA 25.0" in c["evidence"]
    assert sy.claim_invariant_lose({}, {"ADLD": 1.0})["holds"] is None
    g = sy.claim_domain_gap(40.0, 30.0, 70.0, 60.0, 30.0, 25.0)   # AUC falls, margin 10 -> 5
    assert g["holds"] is True and g["auc_drop"] == pytest.approx(10.0)
    assert sy.claim_domain_gap(40.0, 45.0, 70.0, 72.0, 30.0, 25.0)["holds"] is False
    # a source-only model near chance has nothing to lose: untestable, whatever the drop (first tiny run)
    near_chance = sy.claim_domain_gap(33.9, 19.5, 53.4, 51.0, 37.2, 25.4)
    assert near_chance["holds"] is None and "did not learn on the source" in near_chance["evidence"]
    assert sy.claim_domain_gap(36.0, 20.0, 75.0, 60.0, 37.2, 25.4)["holds"] is None   # F1 not above the floor


def test_widths_parameter_is_checked():
    assert sy.widths_of("8,16,16,16,16") == (8, 16, 16, 16, 16)
    with pytest.raises(ValueError, match="five positive integers"):
        sy.widths_of("8,16")


def test_lambda_c_parameter_and_the_smaller_lambda_c_verdict():
    import pandas as pd

    assert sy.lambda_c_values("") == [] and sy.lambda_c_values("1, 10") == [1.0, 10.0]
    for bad in ("0", "ten", "1,-3"):
        with pytest.raises(ValueError, match="positive numbers"):
            sy.lambda_c_values(bad)
    sweep = pd.DataFrame({"lambda_c": [100.0, 1.0, 10.0], "target F1": [21.7, 30.1, 33.0]})
    c = sy.claim_smaller_lambda_c(sweep, bl_f1=32.4)
    assert c["holds"] is True and "lambda_c 10 33.0" in c["evidence"] and "at 100 21.7" in c["evidence"]
    assert sy.claim_smaller_lambda_c(sweep.assign(**{"target F1": [21.7, 30.1, 31.0]}), 32.4)["holds"] is False
    assert sy.claim_smaller_lambda_c(sweep[sweep.lambda_c == 100.0], 32.4)["holds"] is None


def test_missing_real_datasets_fail_with_the_data_layers_error(tmp_path):
    with pytest.raises(sy.MissingInputs, match="DatasetLayoutError") as e:
        sy.check_inputs("shangyu/01_target_source", "paper", use_synth=False, data_root=str(tmp_path))
    assert "bp4d" in str(e.value) and "emotionet" in str(e.value)


def test_paired_items_carry_target_images_and_landmarks():
    class Items(torch.utils.data.Dataset):
        def __init__(self, n, off):
            self.n, self.off, self.aus = n, off, ["AU1"]
            self.subjects = np.array([f"S{i}" for i in range(n)])
            self.labels, self.mask = np.zeros((n, 1), np.float32), np.ones((n, 1), np.float32)

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return {"image": torch.full((3, 4, 4), float(i + self.off)), "landmarks": torch.full((68, 2), float(i + self.off)),
                    "au": torch.zeros(1), "au_mask": torch.ones(1), "subject": f"S{i}", "index": i}

    p = sy.PairedWithLandmarks(Items(5, 0), Items(3, 100), seed=0)
    it = p[4]
    assert it["image"][0, 0, 0] == 4 and 100 <= it["target_image"][0, 0, 0] < 103
    assert torch.equal(it["target_landmarks"][0], it["target_image"][0, 0, :2])
    assert list(p.subjects) == [f"S{i}" for i in range(5)]


def test_source_only_trains_without_a_target_batch():
    m = ShangYu(**KW, separation=False, contrastive=False)
    assert m.train_inputs == ("image", "landmarks")
    batch = _batch()
    out = m(*[batch[k] for k in m.train_inputs])
    loss = m.loss(batch, out)
    row = dict(zip(TERMS, m.loss_trace[-1].tolist()))
    assert {k for k, v in row.items() if v != 0} == {"total", "au", "fl"}   # the landmark branch is on by default
    assert loss.item() == pytest.approx(row["au"] + 0.1 * row["fl"], rel=1e-5)


def test_mean_shape_is_the_branchs_first_prediction():
    mean = torch.rand(49, 2) * 40 + 12
    b = LandmarkBranch(64, (8, 16, 16, 16, 16), 16, mean_shape=mean.tolist())
    assert torch.allclose(b(torch.randn(3, 3, 64, 64)), mean.expand(3, 49, 2), atol=1e-4)
    with pytest.raises(ValueError, match="mean_shape"):
        LandmarkBranch(64, (8, 16, 16, 16, 16), 16, mean_shape=[[1.0, 2.0]])


def test_balanced_au_loss_weighs_positives_and_is_off_by_default():
    batch = _batch()
    batch["au"] = torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])   # base rates 1/4, 0, 0
    logits = torch.zeros(4, 3)
    plain = ShangYu(**KW, separation=False, contrastive=False)
    bal = ShangYu(**KW, separation=False, contrastive=False, balanced=True)
    assert "balanced" not in sy.model_kwargs((8, 16, 16, 16, 16), 16, 64) and sy.model_kwargs(
        (8, 16, 16, 16, 16), 16, 64, balanced=True)["balanced"] is True
    bal.train()
    lb, lp = bal.loss(batch, logits).item(), plain.loss(batch, logits).item()
    # at logit 0 every term is log 2; AU1's one positive weighs (1 - 1/4) / (1/4) = 3, the rest 1
    assert lp == pytest.approx(math.log(2), rel=1e-5)
    assert lb == pytest.approx(math.log(2) * (12 + 2) / 12, rel=1e-5)
    out = bal(*[batch[k] for k in bal.train_inputs])
    assert torch.isfinite(bal.loss(batch, out))
