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
    assert manifest["notebooks"]["tutorials/01_au_metrics"]["params"]["n_folds"] == 1
    assert manifest["notebooks"]["tutorials/01_au_metrics"]["params"]["profile"] == "paper"
