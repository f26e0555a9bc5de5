"""FaceNet Inception-ResNet-v1 (aulib.models.facenet): the facenet-pytorch key layout and its
strict loader. Numbers from ../shared/reference/gleenet-facenet.md §2 (counted from the
published architecture), so a wrong module name or shape fails here."""
import pytest
import torch

from aulib.models import facenet as fn


@pytest.fixture(scope="module")
def layout():
    return fn.expected_layout(8631)


def test_layout_matches_facenet_pytorch(layout):
    assert len(layout) == 716
    assert sum(k.endswith("num_batches_tracked") for k in layout) == 112
    numbers = sum(int(torch.tensor(s).prod()) if s else 1 for k, s in layout.items()
                  if not k.endswith("num_batches_tracked"))
    assert numbers == 27_939_927
    assert layout["conv2d_1a.conv.weight"] == (32, 3, 3, 3)
    assert layout["repeat_1.0.conv2d.weight"] == (256, 96, 1, 1)
    assert layout["repeat_2.0.branch1.1.conv.weight"] == (128, 128, 1, 7)
    assert layout["repeat_2.0.branch1.2.conv.weight"] == (128, 128, 7, 1)
    assert layout["mixed_7a.branch0.1.conv.weight"] == (384, 256, 3, 3)
    assert layout["repeat_3.0.branch1.1.conv.weight"] == (192, 192, 1, 3)
    assert layout["block8.conv2d.weight"] == (1792, 384, 1, 1)
    assert layout["last_linear.weight"] == (512, 1792)
    assert layout["logits.weight"] == (8631, 512)
    per_prefix = {}
    for k in layout:
        per_prefix[k.split(".")[0]] = per_prefix.get(k.split(".")[0], 0) + 1
    assert per_prefix["repeat_1"] == 190 and per_prefix["repeat_2"] == 260 and per_prefix["repeat_3"] == 130
    assert per_prefix["mixed_6a"] == 24 and per_prefix["mixed_7a"] == 42 and per_prefix["block8"] == 26


def _published_file(tmp_path, drop=(), reshape=None, extra=None, tracked=True, name="20180402-114759-vggface2.pt"):
    """A state_dict in facenet-pytorch's layout (built key by key from the layout, random values)."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, s in fn.expected_layout(8631).items():
        if k in drop or (not tracked and k.endswith("num_batches_tracked")):
            continue
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            state[k] = torch.rand(s, generator=g) + 0.5
        else:
            state[k] = torch.randn(s, generator=g) * 0.05
    if reshape:
        state[reshape] = torch.zeros(7, 7)
    if extra:
        state[extra] = torch.zeros(3)
    p = tmp_path / name
    torch.save(state, p)
    return p, state


def test_loader_reads_the_published_layout(tmp_path):
    p, state = _published_file(tmp_path, tracked=False)   # num_batches_tracked may be absent
    net = fn.InceptionResnetV1().eval()
    fn.load_facenet_weights(net, p)
    assert net.init == "facenet:20180402-114759-vggface2.pt"
    assert torch.equal(net.state_dict()["repeat_2.3.branch1.1.conv.weight"], state["repeat_2.3.branch1.1.conv.weight"])
    assert not hasattr(net, "logits")
    out = net(torch.randn(2, 3, 160, 160))
    assert out.shape == (2, 512) and torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    with_logits = fn.facenet(num_classes=8631, weights=p)
    assert torch.equal(with_logits.logits.weight, state["logits.weight"])


def test_loader_names_every_fault(tmp_path):
    p, _ = _published_file(tmp_path, drop=("repeat_1.2.branch2.1.bn.weight", "last_bn.running_mean"),
                           reshape="block8.conv2d.weight", extra="head.fc.weight")
    with pytest.raises(ValueError) as e:
        fn.load_facenet_weights(fn.InceptionResnetV1(), p)
    msg = str(e.value)
    assert "2 missing key(s): last_bn.running_mean, repeat_1.2.branch2.1.bn.weight" in msg
    assert "1 unexpected key(s): head.fc.weight" in msg
    assert "block8.conv2d.weight: file (7, 7) vs model (1792, 384, 1, 1)" in msg


def test_loader_refusals(tmp_path):
    with pytest.raises(FileNotFoundError, match="20180402-114759-vggface2.pt"):
        fn.load_facenet_weights(fn.InceptionResnetV1(), tmp_path / "none.pt")
    (tmp_path / "page.pt").write_text("<html>not found</html>")
    with pytest.raises(ValueError, match="not a torch state_dict"):
        fn.load_facenet_weights(fn.InceptionResnetV1(), tmp_path / "page.pt")
    with pytest.raises(ValueError, match="width 0.5"):
        fn.load_facenet_weights(fn.InceptionResnetV1(width=0.5), tmp_path / "page.pt")
    torch.save({"logits.weight": torch.zeros(10, 512)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="10 classes"):
        fn.load_facenet_weights(fn.InceptionResnetV1(), tmp_path / "other.pt")


def test_small_variant_runs():
    net = fn.facenet(**{"width": 0.125, "repeats": (1, 1, 1), "embedding_size": 32, "input_size": 96})
    assert net(torch.randn(2, 3, 96, 96)).shape == (2, 32)
