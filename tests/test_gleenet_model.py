"""GLEE-Net assembled (aulib.models.gleenet): packing of the 3DMM coefficients, the frozen
identity network, eq. 5 on both predictions, the ablation switches, the embedding file."""
import math

import pytest
import torch

from aulib.models import gleenet as G
from aulib.models.gleenet_local import CROPS, crop_boxes, local_crops

KW = dict(G.TINY_KWARGS, n_exp3d=5)


def test_crops_follow_the_paper():
    assert list(CROPS) == ["L34", "R34", "T34", "B34", "L12", "R12", "T12", "B12", "TL34", "TR34", "TL12",
                           "TR12", "BL34", "BR34", "BL12", "BR12"]
    b = crop_boxes(96)
    assert b["T12"] == (0, 96, 0, 48) and b["BR34"] == (24, 96, 24, 96) and b["L34"] == (0, 72, 0, 96)
    img = torch.zeros(1, 3, 96, 96)
    img[..., :48, :] = 1.0                       # top half bright
    c = local_crops(img, 24)
    assert c.shape == (16, 1, 3, 24, 24)
    assert c[list(CROPS).index("T12")].min() == 1 and c[list(CROPS).index("B12")].max() == 0


def test_pack_and_forward_and_loss():
    torch.manual_seed(0)
    m = G.GLEENet(**KW)
    x = G.pack_inputs(torch.randn(4, 3, 96, 96), torch.arange(20.).view(4, 5))
    assert torch.equal(G.unpack_inputs(x, 5)[1], torch.arange(20.).view(4, 5))
    with pytest.raises(ValueError, match="4 planes"):
        m(torch.randn(2, 3, 96, 96))
    m.train()
    out = m(x)
    assert out.shape == (4, 3) and m._initial is not None
    y = torch.tensor([[1., 0, 0]] * 4)
    mask = torch.ones(4, 3)
    both = m.loss({"au": y, "au_mask": mask}, out)
    from aulib.models.common import weighted_bce
    assert torch.allclose(both, weighted_bce(out, y, None, mask) + weighted_bce(m._initial, y, None, mask))
    both.backward()
    assert all(p.grad is None for p in m.id_net.parameters())       # identity model frozen
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.face_net.parameters())
    m.set_au_weights(torch.tensor([2.0, 1.0, 1.0]))
    mask2 = mask.clone()
    mask2[:, 1:] = 0
    assert torch.allclose(m.loss({"au": y, "au_mask": mask2}, out), 2 * (weighted_bce(out, y, None, mask2)
                          + weighted_bce(m._initial, y, None, mask2)))
    m.train()
    assert not m.id_net.training


def test_balanced_loss_weighs_positives_and_is_off_by_default():
    from aulib.papers import gleenet as gp

    assert "balanced" not in gp.model_kwargs("tiny") and gp.model_kwargs("tiny", balanced=True)["balanced"] is True
    row = {d: gp.deviation_table("tiny", balanced=d).set_index("item").loc["AU loss balance", "this run"] for d in (0, 1)}
    assert row[0] == "as the paper" and "(1 - r) / r" in row[1]
    y = torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])   # base rates 1/4, 0, 0
    batch, logits = {"au": y, "au_mask": torch.ones(4, 3)}, torch.zeros(4, 3)
    plain, bal = G.GLEENet(**KW).train(), G.GLEENet(**KW, balanced=True).train()
    assert set(plain.state_dict()) == set(bal.state_dict())            # the running rate is not saved
    for m in (plain, bal):
        m._initial = torch.zeros(4, 3)                                 # eq. 5 on both predictions
    # at logit 0 every term is log 2; AU1's one positive weighs (1 - 1/4) / (1/4) = 3, the rest 1
    assert plain.loss(batch, logits).item() == pytest.approx(2 * math.log(2), rel=1e-5)
    assert bal.loss(batch, logits).item() == pytest.approx(2 * math.log(2) * (12 + 2) / 12, rel=1e-5)
    assert bal.base_rate.batches == 1                                  # one update per step, not per prediction
    bal.eval()
    bal.loss(batch, logits)
    assert bal.base_rate.batches == 1                                  # evaluation does not move the estimate
    batch.pop("au_mask")                                               # no mask: every label known
    assert torch.isfinite(bal.train().loss(batch, bal(G.pack_inputs(torch.randn(4, 3, 96, 96), torch.randn(4, 5)))))


@pytest.mark.parametrize("switch,check", [
    (dict(n_exp3d=0), lambda m: m.n_exp3d == 0),
    (dict(branches="gb"), lambda m: not hasattr(m, "local")),
    (dict(branches="none"), lambda m: not hasattr(m, "face_net")),
    (dict(branches="resnet"), lambda m: hasattr(m, "resnet")),
    (dict(classifier="mlp"), lambda m: not m.joint_fc),
    (dict(joint_fc=False), lambda m: m.classifier.joint is None),
    (dict(freeze_branches=True), lambda m: not any(p.requires_grad for p in m.branch_parameters())),
])
def test_ablation_switches(switch, check):
    m = G.GLEENet(**dict(KW, **switch)).train()
    assert check(m)
    x = torch.randn(2, 3, 96, 96)
    out = m(G.pack_inputs(x, torch.randn(2, 5)) if m.n_exp3d else x)
    assert out.shape == (2, 3) and torch.isfinite(out).all()


def test_embedding_file_round_trip(tmp_path):
    torch.manual_seed(0)
    a = G.GLEENet(**KW)
    path = tmp_path / "embedding.pt"
    torch.save({"format": G.EMBEDDING_FORMAT, "state_dict": a.embedding_state()}, path)
    b = G.GLEENet(**dict(KW, embedding_weights=path))
    x = torch.randn(2, 3, 96, 96)
    a.eval(), b.eval()
    assert torch.allclose(a.embedding(x), b.embedding(x))
    with pytest.raises(FileNotFoundError, match="00_pretraining"):
        G.GLEENet(**dict(KW, embedding_weights=tmp_path / "none.pt"))
    small = G.GLEENet(**dict(KW, embed_dim=8))
    torch.save({"format": G.EMBEDDING_FORMAT, "state_dict": small.embedding_state()}, path)
    with pytest.raises(ValueError, match="mis-shaped"):
        G.GLEENet(**dict(KW, embedding_weights=path))
