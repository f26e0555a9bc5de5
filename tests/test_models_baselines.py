"""Model tests: every registered model on a tiny batch (shape, finite, backward), and the
baselines' specifics (ImageNet files as data, DRML sizes, ME-GraphAU graph, pre-trained
backbone files)."""
from __future__ import annotations

import pytest
import torch

from aulib.models import common, registry


def _tensors(out):
    if torch.is_tensor(out):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    return []


@pytest.mark.parametrize("name", registry.list_models())
def test_every_registered_model_builds_runs_and_backprops(name):
    entry = registry.get(name)
    torch.manual_seed(0)
    model = registry.create(name, **entry.tiny_kwargs)
    size = int(getattr(model, "input_size", 64))
    x = torch.randn(2, 3, size, size)
    model.train()
    out = model(x)
    tensors = _tensors(out)
    assert tensors, f"{name} forward returned nothing usable: {type(out)}"
    assert all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())
    declared = entry.output.split(")")[0] + ")"          # e.g. "logits (B, n_aus)"
    if declared.endswith("(B, n_aus)"):
        assert torch.is_tensor(out) and out.shape == (2, len(model.aus)), (entry.output, out.shape)
    elif declared.endswith("(B, n_aus, H, W)"):
        assert torch.is_tensor(out) and out.ndim == 4 and out.shape[:2] == (2, len(model.aus))
    if hasattr(model, "decide") and hasattr(model, "aus"):  # what the trainer thresholds
        assert model.decide(out).shape == (2, len(model.aus))
    if entry.output.startswith("probabilities"):
        assert (out >= 0).all() and (out <= 1).all()
    sum(t.float().pow(2).mean() for t in tensors if t.is_floating_point()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert isinstance(getattr(model, "init", "random"), str)


@pytest.mark.parametrize("name", ["drml", "megraph", "dann", "adda"])
def test_own_loss_uses_mask(name):
    entry = registry.get(name)
    torch.manual_seed(0)
    model = registry.create(name, **entry.tiny_kwargs)
    n = len(model.aus)
    x = torch.randn(2, 3, model.input_size, model.input_size)
    model.eval()
    out = model(x)
    mask = torch.ones(2, n)
    mask[0, 0] = 0
    y1 = torch.zeros(2, n)
    y2 = y1.clone()
    y2[0, 0] = 1                     # differs only where the label is unknown
    l1 = model.loss({"au": y1, "au_mask": mask}, out)
    l2 = model.loss({"au": y2, "au_mask": mask}, out)
    assert torch.isfinite(l1) and l1.item() == pytest.approx(l2.item())


def test_imagenet_weights_are_a_loud_user_supplied_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="resnet18-f37072fd.pth"):
        registry.create("resnet18", aus=["AU1"], weights=tmp_path / "nope.pth")
    import torchvision

    torch.manual_seed(1)
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(ref.state_dict(), path)
    m = registry.create("resnet18", aus=["AU1", "AU2"], weights=path)
    assert m.init == "imagenet:resnet18-f37072fd.pth"
    assert torch.equal(m.backbone.body[0].weight, ref.conv1.weight)
    assert torch.equal(m.backbone.body[7][1].conv2.weight, ref.layer4[1].conv2.weight)
    assert registry.create("resnet18", aus=["AU1"]).init == "random"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "wrong.pth")
    with pytest.raises((ValueError, RuntimeError), match="resnet18"):
        registry.create("resnet18", aus=["AU1"], weights=tmp_path / "wrong.pth")


def test_drml_paper_geometry():
    m = registry.create("drml", aus=common.DISFA_AUS)
    assert m.input_size == 170 and len(m.region.blocks) == 64
    assert m.classifier[0].in_features == 27 * 27 * 16          # methods.md F: 27x27x16 before FC
    assert m.classifier[0].out_features == 4096 and m.classifier[3].out_features == 2048
    with pytest.raises(ValueError, match="170x170"):
        m(torch.zeros(1, 3, 160, 160))


def test_region_layer_patches_are_independent():
    from aulib.models.drml import RegionLayer

    torch.manual_seed(0)
    layer = RegionLayer(2, grid=2).eval()
    x = torch.randn(1, 2, 8, 8)
    y = layer(x)
    x2 = x.clone()
    x2[..., :4, :4] += 1.0                       # change only the top-left patch
    y2 = layer(x2)
    assert not torch.allclose(y[..., :4, :4], y2[..., :4, :4])
    assert torch.allclose(y[..., 4:, :], y2[..., 4:, :]) and torch.allclose(y[..., :4, 4:], y2[..., :4, 4:])


def test_megraph_graph_is_topk_and_normalised():
    from aulib.models.megraph import FactorGraphLayer

    layer = FactorGraphLayer(dim=4, n_nodes=5, neighbours=2)
    x = torch.randn(3, 5, 4)
    a = layer.adjacency(x)
    assert a.shape == (3, 5, 5)
    binary = (a > 0).float()
    assert (binary.sum(-1) >= 2).all()                          # each node keeps its top-2
    deg = binary.sum(-1)
    expect = binary / (deg.sqrt().unsqueeze(-1) * deg.sqrt().unsqueeze(-2))
    assert torch.allclose(a, expect)


def test_pretrained_backbone_file_round_trip(tmp_path):
    torch.manual_seed(0)
    pre = registry.create("expression_pretrain", backbone="resnet18", n_outputs=3, input_size=64)
    path = common.save_backbone(pre.backbone, tmp_path / "bb.pt", source="synth-ffhq expressions")
    m = registry.create("megraph", aus=["AU1", "AU2"], backbone="resnet18", backbone_weights=path)
    assert m.init.startswith("pretrained:bb.pt")
    for k, v in pre.backbone.state_dict().items():
        assert torch.equal(m.backbone.state_dict()[k], v)
    with pytest.raises(FileNotFoundError, match="pretrain_backbone"):
        registry.create("megraph", aus=["AU1"], backbone="resnet18", backbone_weights=tmp_path / "x.pt")
    with pytest.raises(ValueError, match="resnet18"):
        registry.create("megraph", aus=["AU1"], backbone="resnet50", backbone_weights=path)


def test_drml_balanced_loss_weights_rare_positives_and_resizes():
    """balanced=True: the positive term of a rare AU weighs (1 - r) / r (running base rate r)."""
    from aulib.models.common import RunningBaseRate

    torch.manual_seed(0)
    rb = RunningBaseRate(2).train()
    y = torch.tensor([[1.0, 1.0], [0, 1], [0, 1], [0, 0]])     # rates 0.25 and 0.75
    w = rb.weights(y, torch.ones_like(y))
    assert torch.allclose(w, torch.tensor([3.0, 1.0]))         # (1 - .25) / .25; clipped at 1
    rb.eval()
    assert torch.allclose(rb.weights(torch.zeros(4, 2), torch.ones(4, 2)), w)   # eval: no update
    # pos_weight: mask None = all known; disabled (a paper loss) gives None and learns nothing
    assert torch.allclose(RunningBaseRate(2).train().pos_weight(y), w)
    off = RunningBaseRate(2, enabled=False).train()
    assert off.pos_weight(y) is None and off.batches == 0 and not off.rate.any()
    half = RunningBaseRate(2).train().pos_weight(y, torch.tensor([[1.0, 1], [0, 1], [0, 1], [0, 1]]))
    assert torch.allclose(half, torch.tensor([1.0, 1.0]))      # AU1 known on one active frame: rate 1
    m = registry.create("drml", aus=["AU1", "AU2"], input_size=80, fc_dims=[16, 8], resize=True, balanced=True)
    plain = registry.create("drml", aus=["AU1", "AU2"], input_size=80, fc_dims=[16, 8], resize=True)
    plain.load_state_dict(m.state_dict())
    x = torch.randn(4, 3, 64, 64)                              # resized to 80 px inside
    m.eval(), plain.eval()
    out = m(x)
    assert out.shape == (4, 2) and torch.equal(out, plain(x))
    m.train()
    batch = {"au": y, "au_mask": torch.ones_like(y)}
    manual = torch.nn.functional.binary_cross_entropy_with_logits(out, y, pos_weight=torch.tensor([3.0, 1.0]))
    assert torch.allclose(m.loss(batch, out), manual, atol=1e-6)
    assert not torch.allclose(plain.loss(batch, out), manual)
    with pytest.raises(ValueError, match="input_size"):
        registry.create("drml", aus=["AU1"], input_size=80, fc_dims=[16, 8])(x)


@pytest.mark.parametrize("name", ["dann", "adda"])
def test_domain_baselines_balanced_au_loss_is_opt_in(name):
    """``balanced=True`` weighs each AU's positives by (1 - r) / r of the running base rate (the
    balancing Shang & Yu's tiny runs use); off by default, where the loss is the plain weighted BCE."""
    import math

    from aulib.train import create_model

    batch = {"au": torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]), "au_mask": torch.ones(4, 3)}
    logits = torch.zeros(4, 3)
    kw = dict(aus=["AU1", "AU2", "AU12"], backbone="resnet18", input_size=32)
    plain, bal = create_model(name, **kw), create_model(name, **kw, balanced=True)
    bal.train()
    assert plain.loss(batch, logits).item() == pytest.approx(math.log(2), rel=1e-5)
    # AU1's single positive of four weighs (1 - 1/4) / (1/4) = 3; the other eleven terms 1
    assert bal.loss(batch, logits).item() == pytest.approx(math.log(2) * 14 / 12, rel=1e-5)
    assert set(plain.state_dict()) == set(bal.state_dict())      # checkpoints keep one layout
