"""Every registered notebook runs end to end at the smoke profile through the runner."""
import json

import papermill as pm
import pytest

from aulib.workbook import registry, runner

NOTEBOOKS = registry.discover()


def test_every_notebook_is_registered_and_declares_the_common_parameters():
    assert not registry.unregistered(), f"notebooks without a sidecar TOML: {registry.unregistered()}"
    assert NOTEBOOKS, "no registered notebooks"
    for nb in NOTEBOOKS:
        for profile in ("smoke", "tiny", "paper"):
            nb.resolve(profile)  # raises on unknown / mistyped profile values


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.id for n in NOTEBOOKS])
def test_parameters_cell_is_readable_by_papermill(nb):
    """papermill drops parameters it cannot parse (e.g. an '=' inside a comment)."""
    theirs = pm.inspect_notebook(str(nb.path))
    assert set(theirs) == set(nb.parameters())


def _as_git_holds(path):
    """The notebook as git stores it (the index; a lab save's outputs stay on disk and
    `make setup`'s nbstripout filter keeps them out of git), or the file when untracked."""
    import subprocess

    shown = subprocess.run(["git", "show", f":./{path.name}"], cwd=path.parent,
                           capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else path.read_text()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.id for n in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(nb):
    cells = json.loads(_as_git_holds(nb.path))["cells"]
    dirty = [i for i, c in enumerate(cells) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, (f"{nb.id}: cells {dirty} carry outputs in git; run `make setup` (installs "
                       "the nbstripout filter), then `git add` the notebook again")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.id for n in NOTEBOOKS])
def test_notebooks_are_valid_nbformat_with_cell_ids(nb):
    """nbformat 4.5 cells need an id (papermill warns on every run, later versions refuse)."""
    import nbformat

    raw = json.loads(nb.path.read_text())
    missing = [i for i, c in enumerate(raw["cells"]) if "id" not in c]
    assert not missing, f"{nb.id}: cells {missing} have no id; add one (nbformat.validator.normalize)"
    nbformat.validate(nbformat.reads(nb.path.read_text(), as_version=4))


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """One results folder per test worker: a notebook's prerequisites (``after``) run once per
    worker and are read back from its manifest afterwards, as in a real run."""
    return tmp_path_factory.mktemp("smoke-results")


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.id for n in NOTEBOOKS])
def test_notebook_runs_at_smoke(nb, smoke_results):
    if nb.after:   # up to date from an earlier test of this worker: "cached", not executed again
        before = {o.id: (o.status, o.error) for o in runner.run("smoke", only=",".join(nb.after),
                                                                 results=smoke_results, quiet=True)}
        assert all(s in ("ok", "cached") for s, _ in before.values()), f"{nb.id}'s prerequisites failed: {before}"
    outcomes = runner.run("smoke", only=nb.id, results=smoke_results, force=True, quiet=True)
    status = {o.id: (o.status, o.error) for o in outcomes}
    assert status[nb.id][0] == "ok", f"{nb.id} failed: {status[nb.id][1]} — see {smoke_results}"
    record = json.loads((smoke_results / "smoke" / nb.paper / f"{nb.stem}.run.json").read_text())
    assert record["artifacts"], f"{nb.id} wrote no table or figure"


@pytest.mark.notebooks
def test_fgnet_paper_profile_without_its_files_fails_fast_naming_what_is_missing(tmp_path):
    """No GPU data here: the paper profile must stop at once with an error that says which
    checkpoint / dataset folder and layout it expected, and keep the failed notebook."""
    empty = tmp_path / "data"
    empty.mkdir()
    res = tmp_path / "results"
    out = {o.id: o for nb in ("fgnet/00_prior", "fgnet/01_within_domain")   # one at a time: 01 would be
           for o in runner.run("paper", only=nb, results=res,              # skipped after 00 failed
                               overrides={"data_root": str(empty)}, quiet=True)}
    prior_err, table1_err = str(out["fgnet/00_prior"].error), str(out["fgnet/01_within_domain"].error)
    assert out["fgnet/00_prior"].status == "failed" and "stylegan_checkpoint" in prior_err
    assert "psp_checkpoint" in prior_err
    assert out["fgnet/01_within_domain"].status == "failed" and "DatasetLayoutError" in table1_err
    assert str(empty / "DISFA") in table1_err and "ActionUnit_Labels" in table1_err and "obtain it" in table1_err
    assert (res / "paper" / "fgnet" / "01_within_domain.failed.ipynb").is_file()
