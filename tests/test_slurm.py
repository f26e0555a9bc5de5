"""``run --executor``: each notebook a submitit job (aulib.workbook.slurm), run end to end with
submitit's local executor on two small notebooks; resources from the sidecars."""
import json
import os

import nbformat
import pytest

from aulib.workbook import registry, runner, slurm

PARAMS = 'profile: str = "tiny"\nseed: int = 0\ndevice: str = "cpu"\noutput_dir: str = ""\nn: int = 3'
OK = ('import pandas as pd\nfrom aulib.workbook import start\n'
      'run = start("demo/00_ok", profile=profile, seed=seed, device=device, output_dir=output_dir, n=n)\n'
      'run.table(pd.DataFrame({"i": list(range(n))}), "numbers")\n'
      'run.claim("n rows are written", holds=n == 3, evidence=f"{n} rows")\nrun.finish()')


def _notebook(folder, stem, code, sidecar):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]}), nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{stem}.ipynb"))
    (folder / f"{stem}.toml").write_text(sidecar)


@pytest.fixture
def demo(tmp_path):
    d = tmp_path / "notebooks" / "demo"
    _notebook(d, "00_ok", OK, 'title = "ok"\n[profiles.smoke]\nn = 3\n'
                               '[slurm]\ncpus = 1\n[slurm.smoke]\ntime_min = 5\nmem_gb = 2\npartition = "short"\n')
    _notebook(d, "01_fails", 'raise ValueError("this notebook fails on purpose")',
              'title = "fails"\nafter = ["demo/00_ok"]\n')
    return tmp_path / "notebooks"


def test_resources_come_from_the_sidecar_per_profile(demo):
    nbs = {nb.id: nb for nb in registry.discover(demo)}
    assert slurm.resources(nbs["demo/00_ok"], "smoke") == dict(slurm.DEFAULTS, cpus=1, time_min=5, mem_gb=2,
                                                               partition="short")
    assert slurm.resources(nbs["demo/00_ok"], "paper") == dict(slurm.DEFAULTS, cpus=1)
    kw = slurm.submitit_parameters(slurm.resources(nbs["demo/00_ok"], "smoke"), "job")
    assert kw["timeout_min"] == 5 and kw["cpus_per_task"] == 1 and kw["slurm_partition"] == "short"


def test_a_bad_slurm_key_is_refused_naming_the_valid_ones(demo):
    side = demo / "demo" / "01_fails.toml"
    side.write_text(side.read_text() + '[slurm.paper]\ngpu = 1\n')
    nb = {nb.id: nb for nb in registry.discover(demo)}["demo/01_fails"]
    with pytest.raises(registry.ParameterError, match=r"unknown key 'gpu' in \[slurm.paper\]; valid keys: .*gpus"):
        slurm.resources(nb, "paper")


def test_slurm_without_sbatch_says_what_to_do(demo, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(registry.ParameterError, match="needs Slurm's sbatch on PATH.*--executor local"):
        slurm.SubmititPool("slurm", "smoke", {}, demo)


def test_local_executor_runs_notebooks_end_to_end(demo, tmp_path):
    outcomes = runner.run("smoke", notebooks_dir=demo, results=tmp_path / "results", quiet=True, executor="local")
    by_id = {o.id: o for o in outcomes}
    assert by_id["demo/00_ok"].status == "ok", by_id["demo/00_ok"].error
    assert by_id["demo/01_fails"].status == "failed"
    assert "this notebook fails on purpose" in by_id["demo/01_fails"].error
    res = tmp_path / "results" / "smoke"
    assert (res / "demo" / "numbers.csv").read_text().splitlines() == ["i", "0", "1", "2"]
    assert (res / "demo" / "01_fails.failed.ipynb").is_file()
    manifest = json.loads((res / "manifest.json").read_text())
    job = manifest["notebooks"]["demo/00_ok"]["job"]
    assert job["executor"] == "local" and job["job_id"].isdigit()
    assert job["resources"]["time_min"] == 5 and job["resources"]["partition"] == "short"
    assert manifest["notebooks"]["demo/01_fails"]["status"] == "failed"
    claims = json.loads((res / "demo" / "claims.json").read_text())
    assert [c["verdict"] for c in claims] == ["holds"]
    # a second run is cached: nothing is submitted
    again = runner.run("smoke", only="demo/00_ok", notebooks_dir=demo, results=tmp_path / "results", quiet=True,
                       executor="local")
    assert [o.status for o in again] == ["cached"]


ENV = ('import os\nimport pandas as pd\nfrom aulib.workbook import start\n'
       'run = start("demo/03_env", profile=profile, seed=seed, device=device, output_dir=output_dir, n=n)\n'
       'run.table(pd.DataFrame({"nproc": [os.environ.get("AULIB_NPROC", "unset")]}), "nproc_03")\nrun.finish()')


def test_a_job_with_several_gpus_trains_each_run_under_torchrun(tmp_path, monkeypatch):
    """``gpus = 2`` in the sidecar: the job's notebook sees ``AULIB_NPROC=2``, so the run cache
    trains each run with torchrun on 2 processes (tests/test_train.py runs that path); one GPU or
    none: 1, one process, whatever the submitting shell exported."""
    monkeypatch.setenv("AULIB_NPROC", "8")        # exported in the submitting shell: the job's resources decide
    assert slurm.job_env({"gpus": 2}) == {"AULIB_NPROC": "2"}
    assert slurm.job_env({"gpus": 1}) == {"AULIB_NPROC": "1"} == slurm.job_env({"gpus": 0})
    d = tmp_path / "notebooks" / "demo"
    _notebook(d, "03_env", ENV, 'title = "env"\n[slurm.smoke]\ngpus = 2\n')
    _notebook(d, "04_env", ENV.replace("03", "04"), 'title = "env"\nafter = ["demo/03_env"]\n')
    outcomes = runner.run("smoke", notebooks_dir=tmp_path / "notebooks", results=tmp_path / "results", quiet=True,
                          executor="debug")       # jobs in this process: the environment is restored after each
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
    res = tmp_path / "results" / "smoke" / "demo"
    assert (res / "nproc_03.csv").read_text().split() == ["nproc", "2"]
    assert (res / "nproc_04.csv").read_text().split() == ["nproc", "1"]
    assert os.environ["AULIB_NPROC"] == "8"


FOLDS = ('import pathlib\nimport pandas as pd\nfrom aulib.workbook import select_folds, start\n'
         'run = start("demo/02_folds", profile=profile, seed=seed, device=device, output_dir=output_dir, n=n)\n'
         'cache = pathlib.Path(cache_dir)\n'
         'for f in select_folds(["f1", "f2", "f3"], n_folds, only_fold):\n'
         '    m = cache / f"{f}.done"\n'
         '    if not m.exists():                 # "training": only the fold jobs may do it\n'
         '        assert only_fold != 0, f"{f} was not trained by its fold job"\n'
         '        m.write_text(str(only_fold))\n'
         'run.table(pd.DataFrame({"fold": sorted(p.stem for p in cache.glob("*.done"))}), "folds_read")\n'
         'run.finish()')


def test_split_by_fold_runs_one_job_per_fold_then_the_notebook(tmp_path):
    """``[slurm] split = "fold"``: the fold jobs fill the shared cache (each its own fold, at once),
    then the notebook runs once and reads all of them back (its own execution trains nothing)."""
    d = tmp_path / "notebooks" / "demo"
    cache = tmp_path / "cache"
    cache.mkdir()
    _notebook(d, "02_folds", FOLDS, 'title = "folds"\n[profiles.smoke]\nn = 3\n[slurm]\nsplit = "fold"\n')
    nb_path = d / "02_folds.ipynb"
    nb = nbformat.read(str(nb_path), 4)
    nb.cells[0].source += f'\nonly_fold: int = 0\nn_folds: int = 3\ncache_dir: str = "{cache}"'
    nbformat.write(nb, str(nb_path))
    (nbk,) = registry.discover(tmp_path / "notebooks")
    assert slurm.fold_jobs(nbk, nbk.resolve("smoke")) == [1, 2, 3]
    assert slurm.fold_jobs(nbk, nbk.resolve("smoke", {"only_fold": 2})) == []      # one fold asked for: one job
    outcomes = runner.run("smoke", notebooks_dir=tmp_path / "notebooks", results=tmp_path / "results", quiet=True,
                          executor="local")
    assert [o.status for o in outcomes] == ["ok"], outcomes[0].error
    assert {p.name: p.read_text() for p in cache.iterdir()} == {"f1.done": "1", "f2.done": "2", "f3.done": "3"}
    res = tmp_path / "results" / "smoke"
    assert (res / "demo" / "folds_read.csv").read_text().split() == ["fold", "f1", "f2", "f3"]
    job = json.loads((res / "manifest.json").read_text())["notebooks"]["demo/02_folds"]["job"]
    assert [j["fold"] for j in job["fold_jobs"]] == [1, 2, 3] and job["job_id"].isdigit()
    assert len({j["job_id"] for j in job["fold_jobs"]} | {job["job_id"]}) == 4


def test_split_needs_the_fold_parameters_and_a_known_kind(demo):
    side = demo / "demo" / "00_ok.toml"
    side.write_text(side.read_text().replace("[slurm]\n", '[slurm]\nsplit = "fold"\n'))
    nb = {nb.id: nb for nb in registry.discover(demo)}["demo/00_ok"]
    with pytest.raises(registry.ParameterError, match=r"needs the notebook to declare the parameters only_fold"):
        slurm.resources(nb, "smoke")
    side.write_text(side.read_text().replace('split = "fold"', 'split = "seed"'))
    with pytest.raises(registry.ParameterError, match=r"split = 'seed'; valid: fold"):
        slurm.resources(nb, "smoke")


def test_select_folds_runs_the_first_n_or_one_named_fold():
    from aulib.workbook import select_folds

    assert select_folds(["a", "b", "c"], 2) == ["a", "b"] and select_folds(["a", "b", "c"], 3, 3) == ["c"]
    with pytest.raises(ValueError, match=r"only_fold: 3 is not a fold run here; valid: 0 \(every fold\) or 1 .. 2"):
        select_folds(["a", "b", "c"], 2, 3)
