"""Course mode (``make course``): the tutorials as nbgrader assignments, student and teacher versions.

    python -m aulib.workbook.course [--profile tiny] [--only '01_*'] [--out results/course]

A tutorial's exercises are marked nbgrader's way in the notebook itself (facts:
``../shared/reference/book-course-cluster.md`` §1, from nbgrader's ``nbgraderformat/v3``):

- an **autograded answer**: a code cell with ``metadata.nbgrader`` ``{"solution": true, "grade":
  false, "locked": false, "grade_id": ..., "schema_version": 3}``, whose answer sits between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines;
- its **autograder tests**: a code cell ``{"grade": true, "locked": true, "solution": false,
  "points": n, "grade_id": ...}`` of plain ``assert`` statements.

:func:`exercise_cells` makes such a pair (and the task's Markdown cell), :func:`add_exercise`
inserts it into a notebook after a given cell. The teacher versions are the tutorials with
their solutions, the parameters cell filled in with a profile's values (so a notebook runs on
its own, outside the runner); the student versions are what ``nbgrader generate_assignment``
makes of them (each solution replaced by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``,
outputs cleared, test cells locked and checksummed). ``results/course/`` is an nbgrader course
folder: ``source/<assignment>/`` (teacher), ``release/<assignment>/`` (student),
``nbgrader_config.py`` and ``gradebook.db`` — so ``nbgrader autograde`` works there as in any
course. One assignment per tutorial (its stem, e.g. ``01_au_metrics``). Tutorials come from the
registry (:func:`.registry.discover`, paper ``tutorials``); one without exercises is skipped
with a note.

nbgrader runs ``alembic`` through ``PATH`` when it creates the gradebook (reference §1), so
this module puts the interpreter's ``bin/`` first on ``PATH`` for its calls.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from .. import config
from .registry import Notebook, discover

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SCHEMA = 3
COURSE_ID = "au-workbench"
PAPER = "tutorials"


class CourseError(RuntimeError):
    """nbgrader failed, or a tutorial's exercises are malformed."""


# ----------------------------------------------------------------------------------------
# authoring
def _meta(grade_id: str, solution: bool = False, grade: bool = False, locked: bool = False,
          points: float | None = None) -> dict:
    m = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA, "solution": solution}
    if grade:
        m["points"] = points
    return {"nbgrader": m}


def exercise_cells(grade_id: str, task: str, given: str, solution: str, tests: str, points: float = 1):
    """The three cells of one exercise: the task (Markdown, read-only), the answer cell
    (``given`` code kept for the student, then ``solution`` between the solution markers) and the
    test cell (``tests``, locked, worth ``points``). Returns nbformat cells."""
    import nbformat

    answer = (given.rstrip() + "\n" if given.strip() else "") + f"{BEGIN}\n{solution.strip()}\n{END}"
    return [nbformat.v4.new_markdown_cell(task, metadata=_meta(f"{grade_id}_task", locked=True)),
            nbformat.v4.new_code_cell(answer, metadata=_meta(grade_id, solution=True)),
            nbformat.v4.new_code_cell(tests.strip(), metadata=_meta(f"{grade_id}_tests", grade=True,
                                                                    locked=True, points=points))]


def add_exercise(path: Path, after_cell_id: str, cells) -> None:
    """Insert ``cells`` after the cell with id ``after_cell_id`` of the notebook at ``path``
    (no outputs; other cells untouched). Raises CourseError when the id is not found or the
    exercise's grade ids are already in the notebook."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    ids = [c.get("id") for c in nb.cells]
    if after_cell_id not in ids:
        raise CourseError(f"{path}: no cell with id {after_cell_id!r}")
    have = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    new = {c.metadata["nbgrader"]["grade_id"] for c in cells}
    if have & new:
        raise CourseError(f"{path}: grade id(s) {sorted(have & new)} already present")
    i = ids.index(after_cell_id) + 1
    nb.cells[i:i] = cells
    nbformat.write(nb, str(path))


def exercises(path: Path) -> list[dict]:
    """The nbgrader cells of a notebook: ``[{grade_id, role, points}]`` with role ``answer``,
    ``tests`` or ``task``. Raises CourseError when an answer cell lacks its solution markers."""
    nb = json.loads(Path(path).read_text())
    out = []
    for c in nb["cells"]:
        m = c.get("metadata", {}).get("nbgrader")
        if not m:
            continue
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        role = "answer" if m.get("solution") else "tests" if m.get("grade") else "task"
        if role == "answer" and c["cell_type"] == "code" and (BEGIN not in src or END not in src):
            raise CourseError(f"{path}: answer cell {m.get('grade_id')!r} has no {BEGIN!r} ... {END!r} region")
        out.append({"grade_id": m.get("grade_id"), "role": role, "points": m.get("points", 0)})
    return out


# ----------------------------------------------------------------------------------------
# building
def _env() -> dict:
    """This interpreter's bin/ first on PATH (nbgrader runs `alembic` by name)."""
    bindir = str(Path(sys.executable).parent)
    return {"PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


class _Env:
    def __init__(self, env: dict):
        self.env, self.before = env, {}

    def __enter__(self):
        self.before = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)

    def __exit__(self, *exc):
        for k, v in self.before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _api(root: Path):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.Execute.timeout = 1800
    return NbGraderAPI(config=c)


def teacher_version(nb: Notebook, profile: str, dst: Path) -> None:
    """The tutorial with its solutions and its parameters cell set to ``profile``'s values
    (from the registry: defaults, then the sidecar's profile table), written to ``dst``."""
    import nbformat

    params = nb.resolve(profile)
    declared = nb.parameters()
    doc = nbformat.read(str(nb.path), as_version=4)
    cell = next(c for c in doc.cells if "parameters" in c.metadata.get("tags", []))
    lines = [f"{k}: {declared[k]['type']} = {params[k]!r}  # {declared[k]['help']}" for k in declared]
    cell.source = "\n".join(lines)
    for c in doc.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(doc, str(dst))


def build(profile: str = config.DEFAULT_PROFILE, out: Path | None = None, only: str | None = None,
          notebooks_dir: Path | None = None, quiet: bool = False) -> dict[str, dict]:
    """Write the course (module docstring) to ``out`` (default ``results/course``).

    Returns ``{assignment: {"teacher": path, "student": path, "exercises": [...]}}``.

    Raises:
        CourseError: no tutorial has exercises, or nbgrader's generate_assignment failed (its log).
    """
    from .runner import select

    config.check_profile(profile)
    out = Path(out or config.results_root() / "course").resolve()
    tutorials = [nb for nb in select(discover(notebooks_dir), only) if nb.paper == PAPER]
    chosen = {}
    for nb in tutorials:
        ex = exercises(nb.path)
        if any(e["role"] == "tests" for e in ex):
            chosen[nb.stem] = (nb, ex)
        elif not quiet:
            print(f"course: {nb.id} has no exercises (no nbgrader test cell): skipped", file=sys.stderr)
    if not chosen:
        raise CourseError(f"no tutorial with nbgrader exercises among {[nb.id for nb in tutorials]}")
    for sub in ("source", "release", "submitted", "autograded", "feedback"):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "gradebook.db").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821 - written by aulib.workbook.course\n"
        f"c.CourseDirectory.root = {str(out)!r}\nc.CourseDirectory.course_id = {COURSE_ID!r}\n")
    result = {}
    with _Env(_env()):
        api = _api(out)
        for stem, (nb, ex) in chosen.items():
            teacher = out / "source" / stem / f"{stem}.ipynb"
            teacher_version(nb, profile, teacher)
            res = api.generate_assignment(stem, force=True, create=True)
            student = out / "release" / stem / f"{stem}.ipynb"
            if not res.get("success") or not student.is_file():
                raise CourseError(f"nbgrader generate_assignment {stem} failed: {res.get('error') or ''}\n"
                                  + str(res.get("log", ""))[-3000:])
            result[stem] = {"teacher": teacher, "student": student, "exercises": ex}
            if not quiet:
                pts = sum(e["points"] for e in ex if e["role"] == "tests")
                print(f"course: {stem}: {sum(e['role'] == 'tests' for e in ex)} exercise(s), {pts:g} point(s) "
                      f"— teacher {teacher.relative_to(out)}, student {student.relative_to(out)}")
    return result


# ----------------------------------------------------------------------------------------
# grading
def put_back_solutions(student: Path, teacher: Path, dst: Path) -> None:
    """The student version with every answer cell's source replaced by the teacher's (matched by
    grade id), written to ``dst`` — a submission that should score full marks."""
    import nbformat

    t = {c.metadata["nbgrader"]["grade_id"]: c.source
         for c in nbformat.read(str(teacher), as_version=4).cells if c.metadata.get("nbgrader", {}).get("solution")}
    s = nbformat.read(str(student), as_version=4)
    for c in s.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if c.metadata.get("nbgrader", {}).get("solution"):
            if gid not in t:
                raise CourseError(f"{student}: answer cell {gid!r} is not in the teacher version {teacher}")
            c.source = t[gid]
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(s, str(dst))


def autograde(course: Path, assignment: str, submission: Path, student: str) -> dict:
    """Grade ``submission`` (a notebook) as ``student``'s work on ``assignment`` with nbgrader's
    autograder (it executes the notebook and restores the test cells from the gradebook).

    Returns ``{"score": float, "max_score": float, "grades": {grade_id: (score, max)}}``.
    Raises CourseError when nbgrader fails (its log in the message)."""
    from nbgrader.api import Gradebook

    course = Path(course).resolve()
    dst = course / "submitted" / student / assignment / f"{assignment}.ipynb"
    shutil.rmtree(dst.parent, ignore_errors=True)
    dst.parent.mkdir(parents=True)
    shutil.copyfile(submission, dst)
    with _Env(_env()):
        res = _api(course).autograde(assignment, student, force=True, create=True)
    if not res.get("success"):
        raise CourseError(f"nbgrader autograde {assignment} for {student} failed: {res.get('error') or ''}\n"
                          + str(res.get("log", ""))[-3000:])
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        sub = gb.find_submission(assignment, student)
        nbsub = gb.find_submission_notebook(assignment, assignment, student)
        grades = {g.name: (g.score, g.max_score) for g in nbsub.grades}
        return {"score": float(sub.score), "max_score": float(sub.max_score), "grades": grades}


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m aulib.workbook.course", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=config.DEFAULT_PROFILE, choices=config.PROFILES,
                    help="the profile whose parameter values the course notebooks carry")
    ap.add_argument("--only", help="glob(s) over tutorial ids, e.g. 'tutorials/01_*'")
    ap.add_argument("--out", default=None, help="course folder (default results/course)")
    args = ap.parse_args(argv)
    try:
        build(args.profile, Path(args.out) if args.out else None, args.only)
    except CourseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
