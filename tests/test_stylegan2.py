"""StyleGAN2 generator: rosinality key layout, checkpoint loading, maths, feature taps."""

import pytest
import torch
import torch.nn.functional as F

from aulib.models.stylegan2 import (CheckpointMismatch, Generator, generator_kwargs_from_state_dict,
                                    generator_layout, load_rosinality, save_rosinality, upfirdn2d)
from fixtures.checkpoints import rosinality_layout


def test_config_f_layout_matches_rosinality():
    with torch.device("meta"):      # shapes only
        g = Generator(1024, 512, 8, channel_multiplier=2)
    ours = {k: tuple(v.shape) for k, v in g.state_dict().items()}
    assert ours == rosinality_layout(1024, 512, 8)
    assert len(ours) == 171 and g.n_latent == 18 and g.n_blocks == 9
    assert ours["convs.14.conv.weight"] == (1, 32, 64, 3, 3)
    assert generator_kwargs_from_state_dict(g.state_dict())["channel_multiplier"] == 2
    assert generator_layout(1024, 512, 8) == ours


def _official_file(tmp_path, size=32, style_dim=16, n_mlp=2, cap=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {k: torch.randn(*shape, generator=g) for k, shape in
          rosinality_layout(size, style_dim, n_mlp, cap=cap).items()}
    path = tmp_path / "stylegan2-tiny.pt"
    torch.save({"g_ema": sd, "latent_avg": torch.randn(style_dim, generator=g)}, path)
    return path, sd


def test_load_rosinality_file_written_in_official_layout(tmp_path):
    path, sd = _official_file(tmp_path)
    gen = load_rosinality(path)
    assert (gen.size, gen.style_dim, gen.n_mlp) == (32, 16, 2)
    for k, v in gen.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert gen.latent_avg.shape == (16,)
    # and into a given generator of the same architecture
    load_rosinality(path, generator=Generator(32, 16, 2, channel_max=8))


def test_load_rosinality_mismatch_names_keys(tmp_path):
    path, sd = _official_file(tmp_path)
    bad = dict(sd)
    del bad["convs.1.conv.weight"]
    bad["convs.1.conv.weight_orig"] = sd["convs.1.conv.weight"]
    torch.save({"g_ema": bad}, path)
    with pytest.raises(CheckpointMismatch) as e:
        load_rosinality(path, generator=Generator(32, 16, 2, channel_max=8))
    assert "convs.1.conv.weight'" in str(e.value) and "convs.1.conv.weight_orig" in str(e.value)
    with pytest.raises(CheckpointMismatch, match=r"this is a 32-px generator with layer widths \[8, 8, 8, 8\] at 4..32 px "
                                                 r"\(expected \[4, 4, 4, 4\]\); the generator it is loaded into is a 32-px"):
        load_rosinality(_official_file(tmp_path)[0], generator=Generator(32, 16, 2, channel_max=4))
    torch.save({"g": sd}, path)
    with pytest.raises(CheckpointMismatch, match="g_ema"):
        load_rosinality(path)
    with pytest.raises(FileNotFoundError, match="stylegan2-ffhq-config-f"):
        load_rosinality(tmp_path / "absent.pt")


def test_save_load_roundtrip_same_images(tmp_path):
    torch.manual_seed(0)
    g = Generator(32, 16, 2, channel_max=8)
    save_rosinality(g, tmp_path / "g.pt", latent_avg=torch.zeros(16))
    g2 = load_rosinality(tmp_path / "g.pt")
    w = torch.randn(2, g.n_latent, 16)
    assert torch.equal(g(w), g2(w))


def _weight_modulated_conv(m, x, s):
    """StyleGAN2 paper Eq. 1-3: modulate and demodulate the weights per sample, grouped conv."""
    b = x.shape[0]
    st = m.modulation(s).view(b, 1, -1, 1, 1)
    w = m.weight * m.scale * st
    if m.demodulate:
        w = w * torch.rsqrt(w.pow(2).sum((2, 3, 4)) + 1e-8).view(b, -1, 1, 1, 1)
    k = m.kernel_size
    if m.upsample:
        w = w.transpose(1, 2).reshape(b * m.in_channel, m.out_channel, k, k)
        y = F.conv_transpose2d(x.reshape(1, -1, *x.shape[2:]), w, stride=2, groups=b)
        return m.blur(y.view(b, m.out_channel, *y.shape[2:]))
    y = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, m.in_channel, k, k), padding=m.padding, groups=b)
    return y.view(b, m.out_channel, *y.shape[2:])


def test_modulated_conv_equals_weight_modulation():
    torch.manual_seed(1)
    g = Generator(16, 8, 1, channel_max=6)
    for m in (g.conv1.conv, g.convs[0].conv, g.convs[1].conv, g.to_rgbs[0].conv):
        x, s = torch.randn(3, m.in_channel, 5, 5), torch.randn(3, 8)
        torch.testing.assert_close(m(x, s), _weight_modulated_conv(m, x, s), atol=1e-5, rtol=1e-4)


def test_upfirdn2d_upsample_keeps_constants():
    k = torch.tensor([[1., 3, 3, 1]]).T @ torch.tensor([[1., 3, 3, 1]])
    k = k / k.sum() * 4
    y = upfirdn2d(torch.ones(1, 2, 6, 6), k, up=2, pad=(2, 1))
    assert y.shape == (1, 2, 12, 12)
    torch.testing.assert_close(y[..., 2:-2, 2:-2], torch.ones_like(y[..., 2:-2, 2:-2]))


def test_synthesis_features_are_second_adain_outputs():
    torch.manual_seed(0)
    g = Generator(32, 16, 2, channel_max=8)
    w = torch.randn(2, g.n_latent, 16)
    feats = g.synthesis_features(w, k=3)
    assert [f.shape[-1] for f in feats] == [4, 8, 16]
    # f_1 is conv1's output; f_j (j > 1) is the second StyledConv of block j
    seen = {}
    hooks = [g.conv1.register_forward_hook(lambda m, i, o: seen.__setitem__("conv1", o)),
             g.convs[3].register_forward_hook(lambda m, i, o: seen.__setitem__("convs3", o))]
    img = g(w)
    for h in hooks:
        h.remove()
    assert img.shape == (2, 3, 32, 32)
    torch.testing.assert_close(feats[0], seen["conv1"])
    torch.testing.assert_close(feats[2], seen["convs3"])
    with pytest.raises(ValueError, match="k must be"):
        g.synthesis_features(w, k=5)
    with pytest.raises(ValueError, match="W\\+"):
        g(torch.randn(2, 3, 16))
