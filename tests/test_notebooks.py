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


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.id for n in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(nb):
    cells = json.loads(nb.path.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{nb.id}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.id for n in NOTEBOOKS])
def test_notebooks_are_valid_nbformat_with_cell_ids(nb):
    """nbformat 4.5 cells need an id (papermill warns on every run, later versions refuse)."""
    import nbformat

    raw = json.loads(nb.path.read_text())
    missing = [i for i, c in enumerate(raw["cells"]) if "id" not in c]
    assert not missing, f"{nb.id}: cells {missing} have no id; add one (nbformat.validator.normalize)"
    nbformat.validate(nbformat.reads(nb.path.read_text(), as_version=4))


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.id for n in NOTEBOOKS])
def test_notebook_runs_at_smoke(nb, tmp_path):
    outcomes = runner.run("smoke", only=",".join(nb.after + [nb.id]), results=tmp_path, quiet=True)
    status = {o.id: (o.status, o.error) for o in outcomes}
    assert status[nb.id][0] == "ok", f"{nb.id} failed: {status[nb.id][1]} — see {tmp_path}"
    record = json.loads((tmp_path / "smoke" / nb.paper / f"{nb.stem}.run.json").read_text())
    assert record["artifacts"], f"{nb.id} wrote no table or figure"
