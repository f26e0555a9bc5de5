"""Published checkpoints (rosinality StyleGAN2 ``g_ema``, pSp): every malformed file names its fault.

One file per fault kind, built in the published key layout at small sizes
(tests/fixtures/checkpoints.py); each test asserts the error names the key (and the expected /
found shape or architecture).
"""
import gzip
import re
import zipfile

import pytest
import torch

from aulib.models.prior import load_ffhq
from aulib.models.psp import GradualStyleEncoder, load_psp
from aulib.models.stylegan2 import CheckpointMismatch, Generator, load_rosinality
from fixtures.checkpoints import ENC_TINY, g_ema, psp_file, psp_state_dict, rosinality_file

PAPER_LABEL = "FG-Net's paper profile expects the 1024-px FFHQ config-f file"


def _fault(tmp_path, sd, **kw):
    with pytest.raises(CheckpointMismatch) as e:
        load_rosinality(rosinality_file(tmp_path / "g.pt", sd), **kw)
    return str(e.value)


# -- rosinality generator, on the path that infers the architecture from the file ---------------
def test_good_file_loads_with_inferred_architecture(tmp_path):
    sd = g_ema()
    gen = load_rosinality(rosinality_file(tmp_path / "g.pt", sd), expect=dict(size=32, style_dim=16, n_mlp=2))
    assert (gen.size, gen.style_dim, gen.n_mlp, gen.channels[32]) == (32, 16, 2, 8)
    assert all(torch.equal(v, sd[k]) for k, v in gen.state_dict().items())


@pytest.mark.parametrize("key, shape", [
    ("convs.3.activate.bias", (8,)),             # missing key
    ("noises.noise_3", (1, 1, 16, 16)),         # missing noise buffer (was: "inconsistent generator")
    ("noises.noise_6", (1, 1, 32, 32)),         # the last one
    ("to_rgbs.2.bias", (1, 3, 1, 1)),           # missing to_rgbs bias (was: "inconsistent generator")
    ("to_rgbs.0.upsample.kernel", (4, 4)),
    ("style.1.weight", (16, 16)),
    ("input.input", (1, 8, 4, 4)),
])
def test_missing_key_is_named_with_its_expected_shape(tmp_path, key, shape):
    sd = g_ema()
    del sd[key]
    msg = _fault(tmp_path, sd)
    assert f"1 missing key(s): '{key}' (expected shape {shape})" in msg
    assert "32-px generator (style_dim 16, n_mlp 2" in msg       # the layout it was checked against
    assert "so it is damaged or was written by other code" in msg
    assert "unexpected" not in msg and "mis-shaped" not in msg


@pytest.mark.parametrize("key, value", [
    ("conv1.conv.weight_orig", torch.zeros(1, 8, 8, 3, 3)),   # e.g. a spectral-norm copy
    ("noises.noise_7", torch.zeros(1, 1, 64, 64)),            # one noise buffer too many
    ("convs.6.conv.weight", torch.zeros(1, 8, 8, 3, 3)),      # a conv beyond the 32-px layers
])
def test_extra_key_is_named_with_its_shape(tmp_path, key, value):
    sd = g_ema()
    sd[key] = value
    msg = _fault(tmp_path, sd)
    assert f"1 unexpected key(s): '{key}' (shape {tuple(value.shape)})" in msg
    assert "missing" not in msg


def test_misshaped_tensor_is_named_with_expected_and_found_shape(tmp_path):
    sd = g_ema()
    sd["convs.1.conv.weight"] = torch.zeros(1, 8, 8, 1, 1)
    msg = _fault(tmp_path, sd)
    assert "1 mis-shaped key(s): 'convs.1.conv.weight' (expected shape (1, 8, 8, 3, 3), found (1, 8, 8, 1, 1))" in msg


def test_every_fault_is_listed(tmp_path):
    sd = g_ema()
    del sd["noises.noise_0"], sd["to_rgbs.1.bias"]
    sd["style.2.bias"] = torch.zeros(3)
    sd["extra"] = torch.zeros(2)
    msg = _fault(tmp_path, sd)
    assert "2 missing key(s): 'to_rgbs.1.bias' (expected shape (1, 3, 1, 1)); 'noises.noise_0' (expected shape (1, 1, 4, 4))" in msg
    assert "1 unexpected key(s): 'extra' (shape (2,))" in msg
    assert "'style.2.bias' (expected shape (16,), found (3,))" in msg


def test_wrong_resolution_named_where_the_expected_size_is_known(tmp_path):
    path = rosinality_file(tmp_path / "g256.pt", g_ema(size=256))
    with pytest.raises(CheckpointMismatch) as e:
        load_rosinality(path, expect=dict(size=1024), expect_label=PAPER_LABEL)
    assert f"this is a 256-px generator; {PAPER_LABEL}." in str(e.value)
    assert "13 noise buffers 'noises.noise_0..12'" in str(e.value)
    # the paper profile's caller (fgnet/00_prior) passes the expectation itself
    with pytest.raises(CheckpointMismatch) as e:
        load_ffhq(str(path), str(tmp_path / "unused.pt"))
    assert "this is a 256-px generator with 16-d W codes ('style.1.weight' is 16x16; expected 512)" in str(e.value)
    assert ("a 2-layer mapping network ('style.1'..'style.2'; expected 8) and layer widths [8, 8, 8, 8, 8, 8, 8] "
            "at 4..256 px (expected [512, 512, 512, 512, 512, 256, 128])") in str(e.value)
    assert PAPER_LABEL in str(e.value)
    # and loading into a model built for another size says so before any key is listed
    with pytest.raises(CheckpointMismatch, match=r"this is a 256-px generator; the generator it is loaded "
                                                 r"into is a 32-px generator \(style_dim 16, n_mlp 2"):
        load_rosinality(path, generator=Generator(32, 16, 2, channel_max=8))


@pytest.mark.parametrize("kw, expect, text", [
    (dict(n_mlp=3), dict(n_mlp=2), "this is a 32-px generator with a 3-layer mapping network ('style.1'..'style.3'; expected 2)"),
    (dict(style_dim=12), dict(style_dim=16), "this is a 32-px generator with 12-d W codes ('style.1.weight' is 12x12; expected 16)"),
])
def test_wrong_n_mlp_or_style_dim(tmp_path, kw, expect, text):
    path = rosinality_file(tmp_path / "g.pt", g_ema(**kw))
    with pytest.raises(CheckpointMismatch) as e:
        load_rosinality(path, expect=dict(size=32, **expect), expect_label="the notebook expects X")
    assert text + "; the notebook expects X." in str(e.value)
    with pytest.raises(CheckpointMismatch) as e:
        load_rosinality(path, generator=Generator(32, 16, 2, channel_max=8))
    assert text in str(e.value) and "loaded into is a 32-px generator (style_dim 16, n_mlp 2" in str(e.value)


def test_missing_top_level_key(tmp_path):
    torch.save({"g": g_ema(), "latent_avg": torch.zeros(16)}, tmp_path / "g.pt")
    with pytest.raises(CheckpointMismatch, match=r"has no 'g_ema' entry: .*top-level keys found: \['g', 'latent_avg'\]"):
        load_rosinality(tmp_path / "g.pt")
    psp_file(tmp_path / "psp.pt")
    with pytest.raises(CheckpointMismatch, match=r"has no 'g_ema' entry.*looks like a pSp checkpoint"):
        load_rosinality(tmp_path / "psp.pt")
    with pytest.raises(CheckpointMismatch, match=r"has no 'state_dict' entry.*looks like a rosinality StyleGAN2 file"):
        load_psp(rosinality_file(tmp_path / "r.pt"))


def test_latent_avg_of_wrong_shape_is_named(tmp_path):
    torch.save({"g_ema": g_ema(), "latent_avg": torch.zeros(15)}, tmp_path / "g.pt")
    with pytest.raises(CheckpointMismatch, match=r"\['latent_avg'\] is \(15,\); expected a tensor of shape \(16,\)"):
        load_rosinality(tmp_path / "g.pt")


# -- files that are not checkpoints at all ------------------------------------------------------
def _zip_of_images(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images/00000.png", b"\x89PNG....")
    return path


def _zip_with_checkpoint(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("weights/stylegan2-ffhq-config-f.pt", b"...")
    return path


def _truncated(path):
    rosinality_file(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])         # a partial download


@pytest.mark.parametrize("make, text", [
    (lambda p: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\n"),
     "it is a text file, not a PyTorch checkpoint (it starts with 'version https://git-lfs"),
    (lambda p: p.write_text("<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning"),
     "it is an HTML page, not a PyTorch checkpoint"),
    (lambda p: p.write_bytes(b""), "it is empty (0 bytes)"),
    (_zip_of_images, "it is a zip archive of 1 file(s) (first: ['images/00000.png']), not a checkpoint written by torch.save"),
    (_zip_with_checkpoint, "it contains ['weights/stylegan2-ffhq-config-f.pt']: extract it"),
    (lambda p: p.write_bytes(gzip.compress(b"x" * 100)), "it is gzip-compressed"),
    (lambda p: p.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01}q\x02b."),
     "is NVIDIA's official TensorFlow StyleGAN2 pickle"),
    (lambda p: torch.save(torch.zeros(3), p), "holds a Tensor, not a checkpoint dict"),
    (lambda p: _truncated(p), "it starts like a zip archive (as torch.save writes) but cannot be read as one"),
])
def test_not_a_checkpoint(tmp_path, make, text):
    path = tmp_path / "stylegan2-ffhq-config-f.pt"
    make(path)
    for load in (load_rosinality, load_psp):
        with pytest.raises(CheckpointMismatch) as e:
            load(path)
        assert text in str(e.value) and repr(str(path)) in str(e.value)


# -- pSp -----------------------------------------------------------------------------------------
def test_psp_good_file_and_encoder_faults(tmp_path):
    enc, dec, avg, _ = load_psp(psp_file(tmp_path / "psp.pt"))
    assert (enc.n_styles, dec.size, tuple(avg.shape)) == (8, 32, (8, 16))
    sd = psp_state_dict()
    w = sd.pop("encoder.body.1.res_layer.1.weight")
    sd["encoder.latlayer1.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatch) as e:
        load_psp(psp_file(tmp_path / "bad.pt", sd))
    msg = str(e.value)
    assert f"1 missing key(s): 'body.1.res_layer.1.weight' (expected shape {tuple(w.shape)})" in msg
    assert "'latlayer1.weight' (expected shape (24, 16, 1, 1), found (3, 3))" in msg
    assert "pSp encoder ('encoder.*')" in msg


def test_psp_decoder_fault_named(tmp_path):
    sd = psp_state_dict()
    del sd["decoder.noises.noise_2"]
    with pytest.raises(CheckpointMismatch, match=r"(?s)pSp decoder \('decoder.\*'\).*'noises.noise_2' \(expected shape \(1, 1, 8, 8\)\)"):
        load_psp(psp_file(tmp_path / "psp.pt", sd))
    load_psp(tmp_path / "psp.pt", with_decoder=False)      # the decoder is not read then


def test_psp_style_count_mismatch_caught_at_load(tmp_path):
    # the encoder emits 8 codes (a 32-px generator's) but the file's decoder is 64-px (10)
    path = psp_file(tmp_path / "psp.pt", psp_state_dict(n_styles=8, decoder_size=64))
    with pytest.raises(CheckpointMismatch) as e:
        load_psp(path, with_decoder=False)
    assert re.search(r"the pSp encoder in '.*psp.pt' \('encoder.styles.\*'\) emits 8x16 codes \(8 W\+ vectors: "
                     r"those of a 32-px generator, 2\*log2\(32\) - 2, each 16-d\) but its decoder \('decoder.\*', "
                     r"a 64-px generator\) takes 10x16 codes \(10 W\+ vectors: those of a 64-px generator", str(e.value))
    # the paper profile's path: a generator file and a pSp file made for different sizes
    gen = rosinality_file(tmp_path / "g64.pt", g_ema(size=64))
    good = psp_file(tmp_path / "psp32.pt", psp_state_dict(n_styles=8, decoder_size=32))
    with pytest.raises(CheckpointMismatch, match=r"emits 8x16 codes .* but the 64-px generator from '.*g64.pt' "
                                                 r"takes 10x16 codes"):
        load_ffhq(str(gen), str(good), expect=dict(size=64))
    # loading into a given encoder (FGNet(weights=...)) names both counts too
    with pytest.raises(CheckpointMismatch, match=r"emits 8x16 codes .* but the encoder it is loaded into emits 10x16"):
        load_psp(good, encoder=GradualStyleEncoder(10, 16, 32, **ENC_TINY))
    # opts['output_size'] that contradicts the encoder
    with pytest.raises(CheckpointMismatch, match=r"opts\['output_size'\] = 1024 says its generator is 1024-px \(18 W\+ vectors\)"):
        load_psp(psp_file(tmp_path / "o.pt", opts={"output_size": 1024}))


def test_psp_missing_top_level_keys(tmp_path):
    torch.save({"encoder": {}}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointMismatch, match=r"has no 'state_dict' entry.*top-level keys found: \['encoder'\]"):
        load_psp(tmp_path / "odd.pt")
    # latent_avg: required on the paper path (FG-Net adds it) and when opts say it was trained with it
    path = psp_file(tmp_path / "noavg.pt", latent_avg=False, opts={"start_from_latent_avg": True})
    with pytest.raises(CheckpointMismatch, match=r"has no 'latent_avg' entry, but its opts say start_from_latent_avg=True"):
        load_psp(path)
    psp_file(tmp_path / "noavg2.pt", latent_avg=False)
    assert torch.equal(load_psp(tmp_path / "noavg2.pt")[2], torch.zeros(8, 16))   # pSp without it: zeros
    gen = rosinality_file(tmp_path / "g.pt")
    with pytest.raises(CheckpointMismatch, match=r"has no 'latent_avg' entry, but FG-Net adds it to every code"):
        load_ffhq(str(gen), str(tmp_path / "noavg2.pt"), expect=dict(size=32))
    torch.save({**torch.load(psp_file(tmp_path / "p.pt"), weights_only=True), "latent_avg": torch.zeros(7, 16)},
               tmp_path / "bad_avg.pt")
    with pytest.raises(CheckpointMismatch, match=r"'latent_avg' is \(7, 16\) .* expected shape \(8, 16\)"):
        load_psp(tmp_path / "bad_avg.pt")


def test_load_ffhq_good_small_files(tmp_path):
    gen = rosinality_file(tmp_path / "g.pt")
    psp = load_ffhq(str(gen), str(psp_file(tmp_path / "psp.pt")), expect=dict(size=32, style_dim=16, n_mlp=2))
    codes = psp.encode(torch.zeros(1, 3, 32, 32))
    assert codes.shape == (1, 8, 16) and psp(torch.zeros(1, 3, 32, 32))[0].shape == (1, 3, 32, 32)
