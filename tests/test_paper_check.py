"""The paper check (aulib.workbook.papercheck): every registered notebook gets the paper profile
plus the generic cut, its [check] table's stand-ins and params; the stand-in weight files have
the published layouts; the paper profile's own input check fails on a stand-ins folder where
something is missing; a paper-only break injected into a copy of a notebook fails the check,
and the copy without it passes."""
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from aulib import config
from aulib.papers import stand_ins
from aulib.workbook import papercheck as pc
from aulib.workbook.registry import ParameterError, discover

REPO_NOTEBOOKS = config.REPO_ROOT / "notebooks"


def _fake_stand_ins(root, notebooks):
    need = pc.needs(notebooks)
    return {"datasets": {d: str(root / d) for d in need["datasets"]},
            "files": {f: str(root / "weights" / f) for f in need["files"]}}


def test_every_registered_notebook_gets_the_paper_profile_cut_and_its_stand_ins(tmp_path):
    nbs = discover(REPO_NOTEBOOKS)
    si = _fake_stand_ins(tmp_path, nbs)
    over = {nb.id: pc.check_overrides(nb, tmp_path, si) for nb in nbs}   # validated for every notebook
    assert set(over) == {nb.id for nb in nbs}
    fg = over["fgnet/01_within_domain"]
    assert {k: fg[k] for k in ("epochs", "max_iters", "batch_size", "max_test_frames", "n_folds")} == \
        {"epochs": 1, "max_iters": 1, "batch_size": 2, "max_test_frames": 4, "n_folds": 1}
    assert fg["data_root"] == str(tmp_path)
    assert fg["stylegan_checkpoint"] == str(tmp_path / "weights" / "stylegan2-ffhq-config-f")
    assert fg["psp_checkpoint"] == str(tmp_path / "weights" / "psp_ffhq_encode")
    params = {nb.id: nb.resolve("paper", over[nb.id]) for nb in nbs}
    # the paper's shapes stay: FG-Net notebooks keep the paper's real-data path and fp32
    assert params["fgnet/01_within_domain"]["use_synth"] is False and params["fgnet/01_within_domain"]["amp"] == "off"
    # the check deletes completed runs' last.pt in every FG-Net notebook that trains; tiny keeps it
    trains = [f"fgnet/0{i}" for i in range(1, 6)]
    assert [params[n]["keep_last"] for n in params if n[:8] in trains] == [False] * 5
    assert all(nb.resolve("tiny")["keep_last"] is True for nb in nbs if nb.id[:8] in trains)
    # synth_profile "paper" -> SynthAU's paper-check size set; other values stay
    assert params["tutorials/04_first_au_detector"]["synth_profile"] == "paper-check"
    assert params["tutorials/04_first_au_detector"]["image_size"] == 224
    assert params["tutorials/03_data_and_protocols"]["synth_profile"] == "tiny"
    assert params["tutorials/02_facs_and_synthau"]["synth_profile"] == "paper-check"


def test_check_tables_name_known_stand_ins_and_the_synth_size_set_exists():
    from aulib.synth.store import CHECK_PROFILE, SIZES

    assert pc.SYNTH_CHECK == CHECK_PROFILE
    need = pc.needs(discover(REPO_NOTEBOOKS))
    assert set(need["datasets"]) <= set(stand_ins.DATASETS)
    assert set(need["files"]) <= set(stand_ins.file_names())
    for name, sizes in SIZES.items():   # each dataset at its paper image size
        assert sizes[CHECK_PROFILE]["size"] == sizes["paper"]["size"], name


def _copy(nb_id, dest):
    for ext in (".ipynb", ".toml"):
        (dest / nb_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_NOTEBOOKS / f"{nb_id}{ext}", dest / f"{nb_id}{ext}")
    return dest / f"{nb_id}.toml"


def test_a_bad_check_table_is_refused_with_what_is_valid(tmp_path):
    toml = _copy("tutorials/01_au_metrics", tmp_path)
    text = toml.read_text()
    toml.write_text(text + "\n[check]\nfile = {}\n")
    (nb,) = discover(tmp_path)
    with pytest.raises(ParameterError, match=r"unknown key\(s\) \['file'\] in \[check\]; valid: datasets, files"):
        pc.check_table(nb)
    toml.write_text(text + "\n[check.files]\nweights = \"resnet18-imagenet\"\n")
    (nb,) = discover(tmp_path)
    with pytest.raises(ParameterError, match="names parameter 'weights', which tutorials/01_au_metrics does not declare"):
        pc.check_table(nb)
    toml.write_text(text + "\n[check.params]\nn_frame = 5\n")
    (nb,) = discover(tmp_path)
    with pytest.raises(ParameterError, match="did you mean 'n_frames'"):
        pc.check_overrides(nb, tmp_path, {"datasets": {}, "files": {}})


def test_stand_in_weights_have_the_published_layouts(tmp_path):
    from fixtures.checkpoints import rosinality_layout

    from aulib.models import weights
    from aulib.models.baselines import resnet18
    from aulib.models.stylegan2 import Generator

    gen = Generator(**weights.FFHQ_GENERATOR)   # what the g_ema stand-in saves, vs the published table
    assert {k: tuple(v.shape) for k, v in gen.state_dict().items()} == rosinality_layout(1024, 512, 8, cap=512)
    path = weights.ensure_stand_in("resnet18-imagenet", tmp_path)
    assert path.name == "resnet18-f37072fd.pth"
    assert "random init" in json.loads(path.with_name(path.name + ".json").read_text())["notice"]
    assert resnet18(weights=str(path)).init == "imagenet:resnet18-f37072fd.pth"   # the real loader
    mtime = path.stat().st_mtime_ns
    assert weights.ensure_stand_in("resnet18-imagenet", tmp_path) == path and path.stat().st_mtime_ns == mtime
    real = tmp_path / "real"
    real.mkdir()
    (real / "resnet18-f37072fd.pth").write_bytes(b"the user's file")
    with pytest.raises(FileExistsError, match="may be the published file"):
        weights.ensure_stand_in("resnet18-imagenet", real)
    with pytest.raises(KeyError, match="known: stylegan2-ffhq-config-f, psp_ffhq_encode"):
        weights.get("stylegan3")


def test_glee_net_stand_ins_load_through_the_real_loaders_strictly(tmp_path):
    import numpy as np

    from aulib.face import morphable
    from aulib.models import facenet, weights

    path = weights.ensure_stand_in("facenet-vggface2", tmp_path)
    assert path.name == "20180402-114759-vggface2.pt"
    assert "random init" in json.loads(path.with_name(path.name + ".json").read_text())["notice"]
    state = facenet.read_state_dict(path)     # the published layout, key for key (716 keys, logits of 8631)
    assert {k: tuple(v.shape) for k, v in state.items()} == facenet.expected_layout(8631) and len(state) == 716
    net = facenet.load_facenet_weights(facenet.InceptionResnetV1(), path)     # the strict loader
    assert net.init == "facenet:20180402-114759-vggface2.pt"
    assert torch_equal(net.last_linear.weight, state["last_linear.weight"])

    mm_path = weights.ensure_stand_in("morphable-68", tmp_path)
    assert mm_path.name == "morphable_model_68.npz" and not list(tmp_path.glob("*.tmp*"))
    meta = json.loads(mm_path.with_name(mm_path.name + ".json").read_text())
    assert "random init" in meta["notice"] and meta["settings"] == {"vertices": 68, "n_shape": 60, "n_expr": 51}
    mm = morphable.load_model(mm_path)     # the real loader (every array checked)
    assert (mm.mean.shape, mm.shape_basis.shape, mm.expr_basis.shape) == ((68, 3), (60, 68, 3), (51, 68, 3))
    assert "random stand-in" in mm.source
    # GLEE-Net's 3D branch fits it to landmarks: the fit runs and gives 51 finite coefficients
    lm = 100 + 40 * mm.mean[None, :, :2] + np.random.default_rng(0).normal(0, 0.5, (2, 68, 2))
    fit = morphable.fit_landmarks(mm, lm, iterations=3)
    assert fit.expr.shape == (2, 51) and np.isfinite(fit.expr).all() and np.isfinite(fit.rms).all()
    mtime = mm_path.stat().st_mtime_ns     # cached while the settings are unchanged
    assert weights.ensure_stand_in("morphable-68", tmp_path) == mm_path and mm_path.stat().st_mtime_ns == mtime


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_glee_net_check_tables_name_the_facenet_and_morphable_stand_ins(tmp_path):
    import re

    from aulib.data.catalog import DATASETS
    from aulib.models import weights
    from aulib.papers import gleenet as gp

    nbs = [nb for nb in discover(REPO_NOTEBOOKS) if nb.id.startswith("gleenet/")]
    assert len(nbs) == 5
    files = {"facenet_weights": str(weights.ensure_stand_in("facenet-vggface2", tmp_path / "weights")),
             "morphable_model": str(weights.ensure_stand_in("morphable-68", tmp_path / "weights"))}
    si = {"datasets": {d: str(tmp_path / d) for d in pc.needs(nbs)["datasets"]},
          "files": {"facenet-vggface2": files["facenet_weights"], "morphable-68": files["morphable_model"]}}
    for nb in nbs:
        table = pc.check_table(nb)     # validated: the notebook declares both parameters
        assert table["files"] == {"facenet_weights": "facenet-vggface2", "morphable_model": "morphable-68"}, nb.id
        params = nb.resolve("paper", pc.check_overrides(nb, tmp_path, si))
        assert params["use_synth"] is False and params["data_root"] == str(tmp_path)
        assert {k: params[k] for k in files} == files
        # the datasets its input check names are catalogue datasets its [check] table links
        source = "".join(c.source for c in nbformat.read(str(nb.path), 4).cells if c.cell_type == "code")
        call = re.search(r"gp\.(?:check_inputs|experiment)\(.*?datasets=\(([^)]*)\)", source, re.S)
        if call:
            named = re.findall(r'"([^"]+)"', call.group(1))
        else:                          # Tables 1-3's set-up checks its inputs inside (gp.within_experiment)
            assert "gp.within_experiment(" in source, nb.id
            named = list(gp.WITHIN_DATASETS)
        assert set(named) <= set(DATASETS) and set(named) <= set(table["datasets"]), (nb.id, named)
        # its input check at the paper profile accepts the two stand-in files (datasets aside)
        gp.check_inputs(nb.id, "paper", use_synth=params["use_synth"], data_root=params["data_root"],
                        facenet_weights=params["facenet_weights"], morphable_model=params["morphable_model"])
    with pytest.raises(gp.MissingInputs, match="parameter morphable_model is not set"):
        gp.check_inputs("gleenet/00_pretraining", "paper", use_synth=True, facenet_weights=files["facenet_weights"])


#: published-file parameters a notebook declares but does not read with its paper defaults
UNREAD_AT_PAPER = {"fgnet/05_heatmaps_qualitative": {"ffhq_expressions"}}   # only for baseline="megraph_pretrain"


def test_every_notebook_that_reads_real_data_or_published_files_at_paper_says_so_in_its_check_table():
    """Picked up from the registry: a notebook whose paper profile reads the real datasets
    (``use_synth`` False) names them in ``[check] datasets``, and every published-file parameter it
    declares (one that some sidecar maps to a stand-in) is mapped in its ``[check.files]`` - else
    the paper check would fail for a missing folder and the paper run's data check would not list it."""
    nbs = discover(REPO_NOTEBOOKS)
    file_params = {p for nb in nbs for p in pc.check_table(nb)["files"]}
    assert {"stylegan_checkpoint", "facenet_weights", "imagenet_efficientnet"} <= file_params
    for nb in nbs:
        table, declared = pc.check_table(nb), nb.parameters()
        if nb.resolve("paper").get("use_synth") is False:
            assert table["datasets"], f"{nb.id} reads real datasets at paper but its sidecar has no [check] datasets"
        unmapped = sorted((set(declared) & file_params) - set(table["files"]) - UNREAD_AT_PAPER.get(nb.id, set()))
        assert not unmapped, f"{nb.id} declares published-file parameter(s) {unmapped} without [check.files]"


def test_piapdf_check_tables_name_what_its_input_checks_read_and_the_efficientnet_stand_in_loads(tmp_path):
    import re

    from aulib.models import create, weights
    from aulib.papers import piapdf as P

    nbs = [nb for nb in discover(REPO_NOTEBOOKS) if nb.id.startswith("piapdf/")]
    assert len(nbs) == 6
    for nb in nbs:
        table = pc.check_table(nb)
        assert table["files"]["imagenet_efficientnet"] == "efficientnet_b1-imagenet", nb.id
        source = "".join(c.source for c in nbformat.read(str(nb.path), 4).cells if c.cell_type == "code")
        call = re.search(r"P\.check_inputs\(profile, \(([^)]*)\)", source)
        needs = re.findall(r'"([^"]+)"', call.group(1)) if call else list(P.Table1Runs.NEEDS)
        assert call or "P.Table1Runs(" in source, nb.id
        named = {d for k in needs for d in (("casia", "lfw") if k == "faces" else (k,))}
        assert named <= set(table["datasets"]), (nb.id, named - set(table["datasets"]))
    path = weights.ensure_stand_in("efficientnet_b1-imagenet", tmp_path)
    assert path.name == "efficientnet_b1_rwightman-bac287d4.pth"
    model = create("piapdf", aus=["AU1", "AU2"], weights=str(path))   # the paper's encoder, the real loader
    assert model.encoder.arch == "efficientnet_b1" and model.encoder.init.startswith("imagenet:efficientnet_b1")


@pytest.mark.notebooks
def test_the_paper_profiles_input_check_fails_on_a_folder_where_something_is_missing(tmp_path, capsys):
    root = tmp_path / "stand-ins"
    stand_ins.prepare(root, ["disfa"], ["resnet50-imagenet"])      # DISFA and the ImageNet file only
    assert (root / "DISFA").is_symlink() and (root / "DISFA" / "img").is_dir()
    (out,) = pc.run_check("fgnet/01_within_domain", notebooks_dir=REPO_NOTEBOOKS, results=tmp_path / "results",
                          root=root, prepare=False)
    shown = capsys.readouterr().err
    assert f"found   dataset disfa  {root / 'DISFA'}" in shown
    assert f"MISSING dataset bp4d  {root / 'BP4D'}" in shown
    assert "MISSING file stylegan_checkpoint=stylegan2-ffhq-config-f" in shown
    assert "5 input(s) missing" in shown
    assert out.status == "failed"
    assert "MissingInputs" in out.error and "dataset bp4d" in out.error and "dataset ffhq" in out.error
    assert "parameter stylegan_checkpoint=" in out.error and "parameter psp_checkpoint=" in out.error
    assert "dataset disfa" not in out.error and "imagenet_resnet" not in out.error
    manifest = json.loads((tmp_path / "results" / "paper" / "manifest.json").read_text())
    assert manifest["paper_check"]["passed"] is False and manifest["paper_check"]["last_success"] is None
    failed = nbformat.read(str(tmp_path / "results" / "paper" / "fgnet" / "01_within_domain.failed.ipynb"), 4)
    assert failed.cells[0].source.startswith("> ⚠ **Paper check")


INJECTED = '''import inspect
import numpy as np
from aulib.face import regions
from aulib.models.fgnet import FGNet, model_kwargs

size = model_kwargs(profile).get("heatmap_size", inspect.signature(FGNet).parameters["heatmap_size"].default)
maps = regions.fgnet_heatmaps(np.full((1, 2, 2), size / 2), np.array([1.0]), size)  # one AU, its two centres
flat = maps.reshape(1, {side} * {side})
run.claim("The ground-truth heatmap of an active AU peaks at +1", holds=bool(flat.max() > 0.99),
          evidence=f"{{size}}-px map, peak {{flat.max():.2f}}")
'''


@pytest.mark.notebooks
def test_a_paper_only_break_fails_the_check_and_the_same_notebook_without_it_passes(tmp_path):
    nbdir, root = tmp_path / "notebooks", tmp_path / "stand-ins"
    _copy("tutorials/01_au_metrics", nbdir)
    path = nbdir / "tutorials" / "01_au_metrics.ipynb"
    original = nbformat.read(str(path), 4)

    def inject(side):
        nb = nbformat.read(str(path), 4)
        nb.cells = original.cells[:-1] + [nbformat.v4.new_code_cell(INJECTED.format(side=side))] + original.cells[-1:]
        nbformat.write(nb, str(path))

    inject("32")     # a claim that assumes the tiny profile's 32-px heatmaps (paper: 128)
    (out,) = pc.run_check(notebooks_dir=nbdir, results=tmp_path / "results", root=root, quiet=True)
    assert out.status == "failed"
    assert "ValueError" in out.error and "cannot reshape array of size 16384 into shape (1,1024)" in out.error
    inject("size")   # the model's own heatmap size
    (out,) = pc.run_check(notebooks_dir=nbdir, results=tmp_path / "results", root=root, quiet=True)
    assert out.status == "ok", out.error
    res = tmp_path / "results" / "paper"
    claims = json.loads((res / "tutorials" / "claims.json").read_text())
    assert any(c["claim"] == "The ground-truth heatmap of an active AU peaks at +1" and "128-px map" in c["evidence"]
               for c in claims)
    executed = nbformat.read(str(res / "tutorials" / "01_au_metrics.ipynb"), 4)
    assert executed.cells[0].source.startswith("> ⚠ **Paper check — the numbers here are meaningless.**")
    assert "the numbers here are meaningless" in (res / "index.md").read_text().splitlines()[2]
    manifest = json.loads((res / "manifest.json").read_text())
    last = manifest["paper_check"]["last_success"]
    assert last["passed"] and last["complete"] and last["notebooks"]["tutorials/01_au_metrics"]["status"] == "ok"
    assert manifest["paper_check"]["by_notebook"]["tutorials/01_au_metrics"]["status"] == "ok"
    assert manifest["notebooks"]["tutorials/01_au_metrics"]["params"]["n_folds"] == 1
    assert manifest["notebooks"]["tutorials/01_au_metrics"]["params"]["profile"] == "paper"


def test_each_notebooks_latest_check_result_is_kept_across_partial_checks():
    """Checking parts of the workbook (FG-Net on a GPU machine, the rest here) still gives one
    ledger: each registered notebook's latest result; cached keeps the earlier entry."""
    from aulib.workbook.runner import Outcome

    reg = ["a/00", "a/01", "b/00"]
    first = pc.merge_by_notebook({}, [Outcome("a/00", "ok", 3.0), Outcome("a/01", "failed", 1.0, "KeyError: x")],
                                 "t1", "c1", reg)
    assert first["a/01"] == {"status": "failed", "seconds": 1.0, "finished": "t1", "git_commit": "c1",
                             "error": "KeyError: x"}
    second = pc.merge_by_notebook(dict(first, gone={"status": "ok"}),
                                  [Outcome("a/00", "cached"), Outcome("a/01", "ok", 2.0), Outcome("b/00", "ok", 5.0)],
                                  "t2", "c2", reg)
    assert list(second) == reg                                   # "gone" is no longer registered
    assert second["a/00"]["finished"] == "t1" and second["a/01"]["status"] == "ok" and second["b/00"]["git_commit"] == "c2"
    # cached with no earlier entry: the execution the check's manifest records
    done = {"a/00": {"status": "ok", "seconds": 4.0, "finished": "t0", "git_commit": "c0", "params": {}}}
    assert pc.merge_by_notebook({}, [Outcome("a/00", "cached")], "t3", "c3", reg, done)["a/00"] == \
        {"status": "ok", "seconds": 4.0, "finished": "t0", "git_commit": "c0"}


def test_the_comparison_gives_each_paper_notebooks_set_up_that_notebooks_own_cut():
    """compare/00 at the check (``check_cut``) trains what the check's paper notebooks train: their
    pre-training stages cut too, and a notebook's own [check.params] over compare's generic cut
    (Shang & Yu's Table 1 needs 2 epochs for ADDA to adapt)."""
    from aulib.papers import compare as C

    nbs = {nb.id: nb for nb in discover()}
    assert nbs["compare/00_side_by_side"].resolve("paper", pc.check_table(nbs["compare/00_side_by_side"])["params"])[
        "check_cut"] is True
    ctx = C.Context("paper", overrides={"epochs": 1, "max_iters": 1, "batch_size": 2, "max_test_frames": 4},
                    check_cut=True)
    sy = ctx.params("shangyu/01_target_source")
    assert sy["epochs"] == 2 and sy["pre_epochs"] == 1 and sy["n_unlabeled"] == 8 and sy["max_frames"] == 8
    pi = ctx.params("piapdf/01_bp4d_table1")
    assert (pi["stage1_epochs"], pi["p_epochs"], pi["df_epochs"], pi["epochs"]) == (1, 1, 1, 1)
    gl = ctx.params("gleenet/01_within_domain")
    assert (gl["identity_epochs"], gl["pretrain_epochs"], gl["max_triplets"]) == (1, 1, 8)
    plain = C.Context("paper", overrides={"epochs": 1}).params("shangyu/01_target_source")
    assert plain["pre_epochs"] == 20 and plain["epochs"] == 1          # without it: only compare's own values
