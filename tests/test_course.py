"""Course mode (aulib.workbook.course): nbgrader student / teacher versions of the tutorials; the
teacher version runs, nbgrader's autograder gives a student version with the solutions put back
full marks and the unchanged one no marks."""
import json
import shutil

import nbformat
import pytest

from aulib.workbook import course, registry
from aulib.workbook.runner import ensure_kernel


def _tutorials():
    return [nb for nb in registry.discover() if nb.paper == "tutorials"]


@pytest.mark.parametrize("nb", _tutorials(), ids=lambda nb: nb.stem)
def test_every_tutorial_has_an_exercise_nbgrader_can_read(nb):
    ex = course.exercises(nb.path)
    answers = [e["grade_id"] for e in ex if e["role"] == "answer"]
    tests = [e for e in ex if e["role"] == "tests"]
    assert answers and tests, f"{nb.id} has no nbgrader exercise (answer + test cells)"
    assert all(t["points"] > 0 for t in tests)
    assert len({e["grade_id"] for e in ex}) == len(ex), "grade ids are unique per notebook"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("course")
    return out, course.build("smoke", out=out, quiet=True)


def test_course_writes_teacher_and_student_versions_of_every_tutorial(built):
    out, result = built
    assert sorted(result) == sorted(nb.stem for nb in _tutorials())
    for stem, r in result.items():
        teacher = nbformat.read(str(r["teacher"]), as_version=4)
        student = nbformat.read(str(r["student"]), as_version=4)
        params = next(c for c in teacher.cells if "parameters" in c.metadata.get("tags", []))
        assert 'profile: str = \'smoke\'' in params.source          # the course profile's values
        for gid in (e["grade_id"] for e in r["exercises"] if e["role"] == "answer"):
            t = next(c for c in teacher.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
            s = next(c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
            assert course.BEGIN in t.source and course.BEGIN not in s.source
            assert "raise NotImplementedError()" in s.source and "# YOUR CODE HERE" in s.source
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert (out / "nbgrader_config.py").is_file() and (out / "gradebook.db").is_file()


@pytest.fixture(autouse=True)
def _results_elsewhere(tmp_path, monkeypatch):
    # a course notebook run outside the runner writes to <results>/<profile>/_interactive
    monkeypatch.setenv("AULIB_RESULTS", str(tmp_path / "results"))


def test_teacher_version_runs(built, tmp_path):
    import papermill as pm

    _, result = built
    teacher = result["01_au_metrics"]["teacher"]
    executed = tmp_path / "01.ipynb"
    pm.execute_notebook(str(teacher), str(executed), kernel_name=ensure_kernel(), cwd=str(tmp_path),
                        progress_bar=False, execution_timeout=600)
    outs = [o.get("text", "") for c in nbformat.read(str(executed), as_version=4).cells
            if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("F1 63.6 %: correct" in t for t in outs), outs[-5:]


def test_autograder_full_marks_with_solutions_and_none_without(built, tmp_path):
    out, result = built
    r = result["01_au_metrics"]
    solved = tmp_path / "solved.ipynb"
    course.put_back_solutions(r["student"], r["teacher"], solved)
    full = course.autograde(out, "01_au_metrics", solved, "alice")
    assert full["max_score"] == 2.0 and full["score"] == 2.0, full
    none = course.autograde(out, "01_au_metrics", r["student"], "bob")
    assert none["max_score"] == 2.0 and none["score"] == 0.0, none
    assert none["grades"]["f1_by_hand_tests"] == (0.0, 2.0)


def test_an_answer_cell_without_solution_markers_is_refused(tmp_path):
    src = _tutorials()[0].path
    nb = json.loads(src.read_text())
    for c in nb["cells"]:
        if c["metadata"].get("nbgrader", {}).get("solution"):
            c["source"] = "x = 1"
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps(nb))
    with pytest.raises(course.CourseError, match="has no '### BEGIN SOLUTION'"):
        course.exercises(bad)
