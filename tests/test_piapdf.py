"""PIAP-DF (paper 004): DW-UNet cost, the piapdf switches, AP loss, DF feedback and step,
fine-tuning with a new head, claims on the paper's own numbers, input checks."""
import math

import numpy as np
import pytest
import torch

from aulib.models import create
from aulib.models.common import Backbone, save_backbone
from aulib.models.dwunet import DWUNet, conv3x3, unet_cost
from aulib.models.piapdf import (PIAPDF, ap_loss, export_generator, feedback_value, load_generator)
from aulib.papers import piapdf as P

AUS = ["AU1", "AU2", "AU12"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("piap")
    torch.manual_seed(0)
    g = DWUNet(aus=["AU1", "AU2", "AU4", "AU6"], base=4, depth=2, input_size=32)
    gen = export_generator(g, d / "gen.pt", "test")
    enc = save_backbone(Backbone("efficientnet_b1"), d / "p.pt", "test")
    return {"gen": gen, "enc_p": enc, "dir": d}


def batch(n=2, size=32):
    g = torch.Generator().manual_seed(1)
    return {"image": torch.randn(n, 3, size, size, generator=g), "target_image": torch.randn(n, 3, size, size, generator=g),
            "au": torch.tensor([[1.0, 0, 1], [0, 1, 0]])[:n], "au_mask": torch.ones(n, 3)}


def test_depthwise_conv_parameter_count():
    dw, plain = conv3x3(16, 32, True), conv3x3(16, 32, False)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(dw) == 16 * 9 + 16 * 32 + 2 * 32          # depthwise 3x3 + pointwise 1x1 + BN
    assert n(plain) == 16 * 32 * 9 + 2 * 32


def test_dwunet_saving_near_paper():
    c = unet_cost(64, 4, 64)
    assert 85 < c["param_saving_pct"] < 92 and 85 < c["flop_saving_pct"] < 92
    assert c["params_dw"] < c["params_plain"] and c["flops_dw"] < c["flops_plain"]
    claim = P.claim_dwunet_saving(c)
    assert claim["holds"] is True and "saved" in claim["evidence"]


def test_dwunet_shape_and_size_error():
    g = DWUNet(aus=AUS, base=4, depth=2)
    assert g(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth = 4"):
        g(torch.zeros(1, 3, 30, 30))


def test_generator_file_round_trip_and_wrong_file(files, tmp_path):
    g, src = load_generator(files["gen"])
    assert g.aus == ["AU1", "AU2", "AU4", "AU6"] and src == "test" and g.base == 4
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a PI generator file"):
        load_generator(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="stage 1"):
        load_generator(tmp_path / "missing.pt")


def test_switches_need_their_files():
    with pytest.raises(ValueError, match="needs generator_weights"):
        create("piapdf", aus=AUS, pi="pi3", input_size=32)
    with pytest.raises(ValueError, match="needs encoder_p_weights"):
        create("piapdf", aus=AUS, ap=True, input_size=32)
    with pytest.raises(ValueError, match="pi must be one of"):
        create("piapdf", aus=AUS, pi="pi4", input_size=32)


@pytest.mark.parametrize("kw", [dict(), dict(pi="pi2"), dict(pi="pi3"), dict(ap=True), dict(pi="pi3", ap=True)])
def test_piap_rows_train_and_infer(files, kw):
    torch.manual_seed(0)
    m = create("piapdf", aus=AUS, input_size=32, generator_weights=str(files["gen"]),
               encoder_p_weights=str(files["enc_p"]), **kw)
    b = batch()
    out = m.train()(b["image"])
    loss = m.loss(b, out)
    assert torch.isfinite(loss)
    loss.backward()
    assert m.head.weight.grad is not None
    assert m.eval()(b["image"]).shape == (2, 3)
    if kw.get("pi") == "pi2":   # 4 generator maps x grey -> a 4-channel first convolution
        first = next(c for c in m.encoder.modules() if isinstance(c, torch.nn.Conv2d))
        assert first.in_channels == 4 and m.generator.inc[0][0].weight.grad is not None
    if kw.get("pi") == "pi3":   # generator fixed, decoder trained, weights alpha = 0.8
        assert all(not p.requires_grad for p in m.generator.parameters())
        assert m.w_au == pytest.approx(0.8 if not kw.get("ap") else 0.6)
        assert m.decoder.out.weight.grad is not None
    if kw.get("ap"):
        assert all(not p.requires_grad for p in m.encoder_p.parameters())
    if kw == dict(pi="pi3", ap=True):
        assert (m.w_au, m.w_pi, m.w_ap) == pytest.approx((0.6, 0.2, 0.2))


def test_ap_loss_values():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert float(ap_loss(a, torch.tensor([[0.0, 2.0], [0.0, -3.0]]))) == pytest.approx(0.0, abs=1e-6)
    b = torch.tensor([[1.0, math.sqrt(3)], [-1.0, -math.sqrt(3)]])      # |cos| = 0.5
    assert float(ap_loss(a, b)) == pytest.approx(math.log(2), rel=1e-5)
    assert float(ap_loss(a, a)) > 13   # parallel: -log(eps)


def test_feedback_values():
    assert feedback_value(3.2, "discrete", 0.1, True) == 1.0
    assert feedback_value(-3.2, "discrete", 0.1, True) == -0.1
    assert feedback_value(0.0, "discrete", 0.1, True) == -0.1          # h(z) = -0.1 for z <= 0 (eq. 10)
    assert feedback_value(3.2, "discrete", 0.1, False) == 0.0         # sigma = 0
    assert feedback_value(-3.0, "mpl", 0.1, True) == pytest.approx(-0.3)
    with pytest.raises(ValueError, match="'discrete' or 'mpl'"):
        feedback_value(1.0, "soft", 0.1, True)


def _trained_piap(files, tmp_path, aus=AUS):
    """A PIAP checkpoint in aulib's format (as cached_fit writes best.pt)."""
    from aulib.train import checkpoint as ck

    torch.manual_seed(0)
    m = ck.create_model("piapdf", aus=aus, input_size=32, pi="pi3", ap=True, generator_weights=str(files["gen"]),
                        encoder_p_weights=str(files["enc_p"]))
    path = tmp_path / "best.pt"
    ck.atomic_save(ck.model_record(m, ["S1"]), path)
    return m, path


def test_df_step_updates_student_by_sgd_and_counts_feedback(files, tmp_path):
    base, best = _trained_piap(files, tmp_path)
    torch.manual_seed(0)
    m = create("piapdf", aus=AUS, input_size=32, pi="pi3", ap=True, df="discrete", student_lr=0.05,
               generator_weights=str(files["gen"]), encoder_p_weights=str(files["enc_p"]), init_weights=str(best))
    assert isinstance(m, PIAPDF)
    assert torch.equal(m.teacher.head.weight, base.head.weight) and torch.equal(m.student.head.weight, base.head.weight)
    assert m.student.generator is m.teacher.generator          # fixed parts shared
    m.train()
    b = batch()
    before_s = m.student.head.weight.detach().clone()
    before_t = m.teacher.head.weight.detach().clone()
    loss = m.loss(b, m(b["image"], b["target_image"]))
    assert not torch.equal(m.student.head.weight, before_s)      # eq. 8 done inside the step
    assert torch.equal(m.teacher.head.weight, before_t)          # the teacher moves by the trainer's optimiser
    loss.backward()
    assert m.teacher.head.weight.grad is not None and m.student.head.weight.grad is None
    st = m.feedback_stats()
    assert st["steps"] == 1 and st["positive_rate"] in (0.0, 1.0) and st["disabled_rate"] in (0.0, 1.0)
    assert (st["positive_rate"] == 1.0) == (st["mean_dot"] > 0)
    assert m.eval()(b["image"]).shape == (2, 3)
    from aulib.train import checkpoint as ck   # the notebook reads the counts back from the run's file

    ck.atomic_save(ck.model_record(m), tmp_path / "best.pt")
    back = P.feedback_stats(tmp_path)
    assert back["steps"] == 1 and back["counted_in"] == "best.pt"
    assert back["positive_rate"] == 100.0 * st["positive_rate"]


def test_finetune_new_head_keeps_encoder(files, tmp_path):
    base, best = _trained_piap(files, tmp_path)
    m = create("piapdf", aus=["AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25", "AU26"], input_size=32, pi="pi3",
               ap=True, generator_weights=str(files["gen"]), encoder_p_weights=str(files["enc_p"]), init_weights=str(best))
    assert m.head.weight.shape == (8, base.head.weight.shape[1])
    k = next(iter(base.encoder.state_dict()))
    assert torch.equal(m.encoder.state_dict()[k], base.encoder.state_dict()[k])
    assert "new AU head" in m.init
    with pytest.raises(ValueError, match="does not fit this PIAP model"):
        create("piapdf", aus=AUS, input_size=32, init_weights=str(best))   # switches differ (no decoder)


# the paper's own Table 3 averages (paper 004), one "seed" each
PAPER_T3 = {"baseline": [57.7], "pi2": [60.5], "pi3": [63.9], "ap": [61.9], "df": [59.4], "piap": [64.1], "piapdf": [64.4]}


def test_claims_on_the_papers_numbers():
    assert P.claim_each_improves(PAPER_T3)["holds"] is True
    best = P.claim_best_row(PAPER_T3)
    assert best["holds"] is True and best["best"] == "PIAP-DF"
    worse = dict(PAPER_T3, df=[57.0])
    c = P.claim_each_improves(worse)
    assert c["holds"] is False and "DF 57.0" in c["evidence"]
    assert P.claim_best_row(dict(PAPER_T3, pi3=[65.0]))["holds"] is False


def test_claim_improvement_must_exceed_seed_spread():
    s = {"baseline": [50.0, 52.0], "pi2": [52.0, 53.0], "pi3": [60, 61], "ap": [60, 61], "df": [60, 61]}
    c = P.claim_each_improves(s)      # PI-2 +1.5 with spreads 1.0 / 0.5: not above the spread? 1.5 > 1.0 -> holds
    assert c["holds"] is True
    s["pi2"] = [51.0, 53.0]            # +1.0, spread 1.0: not more than the spread
    assert P.claim_each_improves(s)["holds"] is False


def test_claim_discrete_vs_mpl_and_landmarks():
    c = P.claim_discrete_beats_mpl({"df": [60, 61], "df_mpl": [55, 56], "piapdf": [64, 64], "piap_mpl": [63, 62]},
                                   {"df": 55.0, "piapdf": 60.0})
    assert c["holds"] is True and c["difference"] == pytest.approx(3.25) and "positive feedback DF 55 %" in c["evidence"]
    assert P.claim_discrete_beats_mpl({"df": [55], "df_mpl": [56]}, {})["holds"] is False
    assert P.claim_discrete_beats_mpl({"df": [55]}, {})["holds"] is None
    assert P.claim_not_person_specific(58.0, 96.2)["holds"] is True        # the paper's numbers
    assert P.claim_not_person_specific(80.0, 96.2)["holds"] is False
    assert P.claim_not_person_specific(60.0, 55.0)["holds"] is False


def test_check_inputs_lists_every_missing_input(tmp_path):
    with pytest.raises(P.MissingInputs) as e:
        P.check_inputs("paper", ("bp4d", "faces"), use_synth=False, data_root=str(tmp_path),
                       imagenet_efficientnet=str(tmp_path / "effnet.pth"))
    msg = str(e.value)
    assert "BP4D: folder" in msg and "CASIA-WebFace + LFW: folder" in msg and msg.count("CASIA-WebFace + LFW") == 2
    assert "imagenet_efficientnet: file" in msg and "effnet.pth" in msg
    P.check_inputs("tiny", ("bp4d",), use_synth=True, imagenet_efficientnet="")   # SynthAU: nothing to check


def test_deviation_table_names_open_choices():
    d = P.deviation_table("tiny", image_size=64, n_folds=1, seeds="0,1", pi_weight=0.2, ap_weight=0.2)
    items = set(d["item"])
    assert {"DW-UNet", "loss weights", "DF start", "MPL variant", "folds", "seeds", "predefined PI maps"} <= items
    assert "1 of the 3 folds" in d.set_index("item").loc["folds"].iloc[1]


def test_map_scores():
    t = np.zeros((1, 2, 4, 4)); t[0, 0, :2] = 1; t[0, 1, :, :2] = 1
    p = t.copy(); p[0, 1, :, 2] = 1
    s = P.map_scores(p, t, ["AU1", "AU2"])
    assert s["iou_per_au"]["AU1"] == 100.0 and s["iou_per_au"]["AU2"] == pytest.approx(100 * 8 / 12)


def test_every_pi_region_has_its_facs_rationale():
    from aulib.face import regions

    assert set(regions.PI_RATIONALE) == set(regions.PI_REGIONS)
    maps = regions.pi_maps(np.array(_mean_face()), 64)
    assert maps.shape == (12, 64, 64) and all(maps[k].sum() > 0 for k in range(12))


def _mean_face():
    """A plain 68-point layout: iBUG order laid on a 64-px face (jaw, brows, nose, eyes, mouth)."""
    t = np.linspace(0, np.pi, 17)
    jaw = np.c_[32 - 26 * np.cos(t), 30 + 26 * np.sin(t)]
    brows = np.c_[np.r_[np.linspace(10, 28, 5), np.linspace(36, 54, 5)], np.full(10, 18.0)]
    nose = np.r_[np.c_[np.full(4, 32.0), np.linspace(22, 34, 4)], np.c_[np.linspace(27, 37, 5), np.full(5, 37.0)]]
    eye = lambda cx: np.c_[cx + np.array([-5, -2.5, 2.5, 5, 2.5, -2.5]), 25 + np.array([0, -2, -2, 0, 2, 2])]  # noqa: E731
    mouth_o = np.c_[32 + 10 * np.cos(np.linspace(np.pi, -np.pi, 13)[:12]), 46 + 4 * np.sin(np.linspace(np.pi, -np.pi, 13)[:12])]
    mouth_i = np.c_[32 + 6 * np.cos(np.linspace(np.pi, -np.pi, 9)[:8]), 46 + 1.5 * np.sin(np.linspace(np.pi, -np.pi, 9)[:8])]
    return np.r_[jaw, brows, nose, eye(20), eye(44), mouth_o, mouth_i]


def test_claim_generator_must_beat_the_mean_map():
    s = {"iou": 5.7, "mean_map_iou": 55.5, "bce": 0.13, "n_test": 257}
    c = P.claim_generator_draws_maps(s)
    assert c["holds"] is False and "5.7 % vs 55.5 %" in c["evidence"]
    assert P.claim_generator_draws_maps(dict(s, iou=60.0))["holds"] is True


def test_balanced_au_loss_weighs_positives_and_is_off_by_default(files, tmp_path):
    b = batch(4)
    b["au"] = torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])   # base rates 1/4, 0, 0
    b["au_mask"] = torch.ones(4, 3)
    out = {"logits": torch.zeros(4, 3)}
    plain = create("piapdf", aus=AUS, input_size=32)
    bal = create("piapdf", aus=AUS, input_size=32, balanced=True)
    assert plain.balanced is False and bal.balanced is True
    # the running rate is not in checkpoints: balanced and plain runs keep one layout
    assert set(bal.state_dict()) == set(plain.state_dict())
    bal.train()
    lb, lp = bal.loss(b, out).item(), plain.train().loss(b, out).item()
    # at logit 0 every term is log 2; AU1's one positive weighs (1 - 1/4) / (1/4) = 3, the rest 1
    assert lp == pytest.approx(math.log(2), rel=1e-5)
    assert lb == pytest.approx(math.log(2) * (12 + 2) / 12, rel=1e-5)
    # the papers module passes it only when true (paper-loss runs keep their keys)
    assert "balanced" not in P.common_kwargs(32) and P.common_kwargs(32, balanced=True)["balanced"] is True
    kw = P.row_kwargs("baseline", None, None, None, **P.common_kwargs(32, balanced=True))
    assert create("piapdf", aus=AUS, **kw).balanced is True
    dev = P.deviation_table("tiny", balanced=True).set_index("item")
    assert "(1 - r) / r" in dev.loc["L_AU balance", "this run (tiny)"]
    assert P.deviation_table("tiny").set_index("item").loc["L_AU balance", "this run (tiny)"] == "as the paper"
    # DF: every L_AU term of the step uses the teacher's weights, updated once per step
    _, best = _trained_piap(files, tmp_path)
    m = create("piapdf", aus=AUS, input_size=32, pi="pi3", ap=True, df="discrete", balanced=True,
               generator_weights=str(files["gen"]), encoder_p_weights=str(files["enc_p"]), init_weights=str(best))
    m.train()
    d = batch()
    loss = m.loss(d, m(d["image"], d["target_image"]))
    assert torch.isfinite(loss) and m.teacher.base_rate.batches == 1 and m.student.base_rate.batches == 0


def test_arch_is_passed_only_when_not_the_papers():
    assert "arch" not in P.common_kwargs(32) and P.common_kwargs(32, arch="resnet18")["arch"] == "resnet18"
    kw = P.row_kwargs("baseline", None, None, None, **P.common_kwargs(32, arch="resnet18"))
    assert create("piapdf", aus=AUS, **kw).encoder.arch == "resnet18"
    row = P.deviation_table("tiny", arch="resnet18").set_index("item").loc["AU encoder", "this run (tiny)"]
    assert row.startswith("ResNet-18") and "EfficientNet-B1" in P.deviation_table("paper").set_index("item").loc[
        "AU encoder", "this run (paper)"]


def test_deviation_rows_name_the_encoder_the_run_used():
    """At tiny the AU encoder and Encoder P are ResNet-18 (arch parameter): the rows say so, with
    its 512-d pooled features; the paper's EfficientNet-B1 has 1280-d."""
    for arch, label, dim in (("resnet18", "ResNet-18", "512-d"), ("efficientnet_b1", "EfficientNet-B1", "1280-d")):
        d = P.deviation_table("tiny", arch=arch)
        d = d.set_index("item")[d.columns[2]]
        assert d["Encoder P"].startswith(label) and dim in d["v_AU, v_P"], arch
