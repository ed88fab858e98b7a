"""The teacher kit: ``ffnn course release`` (student versions) and ``ffnn course grade``.

The grading tests run real kernels on small notebooks made here: a correct submission, a partly
wrong one, one that raises, one that loops, one that writes files and starts a background
process, one that ignores interrupts, one whose kernel dies, and a single-notebook one.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402

from ffnn import cli, course  # noqa: E402
from ffnn.course import MarkerError, lesson_exercises, release, release_notebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

IMPORTS = "import numpy as np\nimport ffnn.exercises"
DENSE = '''\
def dense_forward(X, W, b):
    """Z = X W + b."""
    ### BEGIN SOLUTION
    return X @ W + b
    ### END SOLUTION
'''
RELU = '''\
def relu_forward(Z):
    ### BEGIN SOLUTION
    return np.maximum(Z, 0)
    ### END SOLUTION


def relu_backward(dA, Z):
    ### BEGIN SOLUTION
    dZ = dA * (Z > 0)
    return dZ
    ### END SOLUTION
'''
CHECK_DENSE = 'ffnn.exercises.check("dense_forward", dense_forward)'
CHECK_RELU = ('ffnn.exercises.check("relu_forward", relu_forward)\n'
              'ffnn.exercises.check("relu_backward", relu_backward)')
RELU_BACKWARD_WRONG = "def relu_backward(dA, Z):\n    return dA * (Z >= 0)\n"
RELU_FORWARD_STUB = "def relu_forward(Z):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
RELU_BACKWARD_OK = "def relu_backward(dA, Z):\n    return dA * (Z > 0)\n"


def _function(source: str, name: str):
    """The function a cell of these test notebooks defines (the checker never runs text)."""
    namespace: dict = {}
    exec(source, namespace)  # the test's own fixed strings
    return namespace[name]


def notebook(*cells) -> nbformat.NotebookNode:
    """A notebook of code cells (strings) and Markdown cells (``("md", text)``)."""
    nb = new_notebook(cells=[new_markdown_cell(c[1]) if isinstance(c, tuple) else
                             new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def solution() -> nbformat.NotebookNode:
    return notebook(("md", "# Lesson 1\n\nWhy X·W?\n<!-- BEGIN SOLUTION -->\nBatches are "
                     "rows.\n<!-- END SOLUTION -->"),
                    IMPORTS, DENSE, CHECK_DENSE, RELU, CHECK_RELU,
                    "def helper(x):\n    return 2 * x\n")


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ================================================================================== release
def test_solution_regions_become_the_stub_at_their_indentation():
    nb = notebook(
        "class Layer:\n"
        "    def forward(self, X):\n"
        "        ### BEGIN SOLUTION\n"
        "        return X @ self.W\n"
        "        ### END SOLUTION\n",
        RELU,
        "x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\nprint(x)")
    out = release_notebook(nb)
    assert out.cells[0].source == ("class Layer:\n    def forward(self, X):\n"
                                   "        # YOUR CODE HERE\n"
                                   "        raise NotImplementedError()\n")
    assert out.cells[1].source == (
        "def relu_forward(Z):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n\n"
        "def relu_backward(dA, Z):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    assert out.cells[2].source == ("x = 1\n# YOUR CODE HERE\nraise NotImplementedError()\n"
                                   "print(x)")
    assert "np.maximum" in nb.cells[1].source, "the input notebook must not change"


def test_markdown_regions_become_your_answer_here():
    nb = notebook(("md", "Question?\n<!-- BEGIN SOLUTION -->\nsecret\n<!-- END SOLUTION -->\n"
                   "End."),
                  ("md", "**Answer:** <!-- BEGIN SOLUTION -->42<!-- END SOLUTION --> units, "
                   "and <!--BEGIN SOLUTION-->more<!--END SOLUTION-->."),
                  ("md", "The marker in code is `### BEGIN SOLUTION` (left as it is)."))
    out = release_notebook(nb)
    assert out.cells[0].source == "Question?\nYOUR ANSWER HERE\nEnd."
    assert out.cells[1].source == "**Answer:** YOUR ANSWER HERE units, and YOUR ANSWER HERE."
    assert out.cells[2].source == nb.cells[2].source


def test_outputs_counts_and_hidden_tests_are_cleared():
    nb = notebook(DENSE, "assert dense_forward(1, 2, 3) == 5\n### BEGIN HIDDEN TESTS\n"
                  "assert dense_forward(0, 0, 1) == 1\n### END HIDDEN TESTS\n")
    for i, cell in enumerate(nb.cells):
        cell.execution_count = i + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="secret 42\n")]
        cell.metadata["execution"] = {"iopub.status.busy": "2024-01-01T00:00:00Z"}
    out = release_notebook(nb)
    for cell in out.cells:
        assert cell.outputs == [] and cell.execution_count is None
        assert "execution" not in cell.metadata
    assert out.cells[1].source == "assert dense_forward(1, 2, 3) == 5\n"
    nbformat.validate(out)


def test_released_code_compiles_and_raises_not_implemented_only_in_the_exercises():
    out = release_notebook(solution())
    sources = [c.source for c in out.cells if c.cell_type == "code"]
    assert not any("np.maximum" in s or "X @ W" in s for s in sources)
    assert "Batches are rows" not in out.cells[0].source
    space: dict = {}
    for s in sources:
        exec(compile(s, "<cell>", "exec"), space)  # no cell raises at the top level
    X = np.ones((2, 3))
    for name, args in [("dense_forward", (X, np.ones((3, 4)), np.zeros(4))),
                       ("relu_forward", (X,)), ("relu_backward", (X, X))]:
        with pytest.raises(NotImplementedError):
            space[name](*args)
    assert space["helper"](2) == 4


@pytest.mark.parametrize("source, cell_line, words", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", 2, "has no END SOLUTION"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", 3, "without a BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\nx = 1\n### BEGIN SOLUTION\n### END SOLUTION\n", 3, "nested"),
    ("x = 1  # BEGIN SOLUTION\n", 1, "comment on its own line"),
    ("### BEGIN SOLUTION\nx = 1\n### END HIDDEN TESTS\n", 3, "closes the solution region"),
])
def test_marker_errors_name_the_notebook_cell_and_line(source, cell_line, words):
    nb = notebook(IMPORTS, source)
    with pytest.raises(MarkerError) as info:
        release_notebook(nb, name="lesson7.ipynb")
    msg = str(info.value)
    assert msg.startswith(f"lesson7.ipynb, cell 2, line {cell_line}: "), msg
    assert words in msg
    assert (info.value.cell, info.value.line) == (2, cell_line)


def test_markdown_marker_errors():
    nb = notebook(("md", "a\n<!-- BEGIN SOLUTION -->\nb"))
    with pytest.raises(MarkerError, match=r"^x\.ipynb, cell 1, line 2: .*no <!-- END"):
        release_notebook(nb, name="x.ipynb")


def test_lesson_exercises_are_the_checker_functions_of_marked_cells():
    nb = solution()
    nb.cells.append(new_code_cell("def softmax(Z):\n    return Z\n"))  # not a marked cell
    nb.cells.append(new_code_cell("%%time\ndef mse(a, b):\n    ### BEGIN SOLUTION\n"
                                  "    return 0\n    ### END SOLUTION\n"))
    assert lesson_exercises(nb) == ["dense_forward", "relu_forward", "relu_backward", "mse"]
    assert lesson_exercises(nb, known=["relu_backward"]) == ["relu_backward"]


def test_release_folder_keeps_paths_copies_files_and_needs_force(tmp_path):
    src, dst = tmp_path / "lessons", tmp_path / "student"
    write(solution(), src / "lesson1.ipynb")
    write(notebook(DENSE), src / "part2" / "lesson2.ipynb")
    (src / "data").mkdir()
    (src / "data" / "points.csv").write_text("x,y\n1,2\n")
    png = bytes(range(256)) * 4
    (src / "part2" / "figure.png").write_bytes(png)
    write(solution(), src / ".ipynb_checkpoints" / "lesson1-checkpoint.ipynb")
    written = release(src, dst)
    rel = sorted(p.relative_to(dst).as_posix() for p in written)
    assert rel == ["data/points.csv", "lesson1.ipynb", "part2/figure.png",
                   "part2/lesson2.ipynb"]
    assert (dst / "data" / "points.csv").read_text() == "x,y\n1,2\n"
    assert (dst / "part2" / "figure.png").read_bytes() == png
    assert not (dst / ".ipynb_checkpoints").exists()
    text = (dst / "part2" / "lesson2.ipynb").read_text()
    assert "raise NotImplementedError()" in text and "X @ W + b" not in text
    released = nbformat.read(str(dst / "lesson1.ipynb"), as_version=4)
    assert released.cells[2].source == release_notebook(solution()).cells[2].source

    with pytest.raises(course.CourseError, match="already exist: use --force"):
        release(src, dst)
    (dst / "lesson1.ipynb").write_text("old")
    assert len(release(src, dst, force=True)) == 4
    assert "YOUR CODE HERE" in (dst / "lesson1.ipynb").read_text()
    # a single notebook
    assert release(src / "lesson1.ipynb", tmp_path / "one") == [tmp_path / "one" /
                                                               "lesson1.ipynb"]


def test_release_refuses_bad_paths_and_writes_nothing_on_marker_errors(tmp_path):
    src = tmp_path / "lessons"
    write(solution(), src / "lesson1.ipynb")
    with pytest.raises(course.CourseError, match="inside the source folder"):
        release(src, src / "student")
    with pytest.raises(course.CourseError, match="inside the source folder"):
        release(src, src)
    with pytest.raises(course.CourseError, match="source not found"):
        release(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(course.CourseError, match="neither a notebook"):
        release(tmp_path / "notes.txt", tmp_path / "out")
    with pytest.raises(course.CourseError, match="would overwrite the source"):
        release(src / "lesson1.ipynb", src)
    write(notebook("### BEGIN SOLUTION\nx = 1\n"), src / "z_broken.ipynb")
    with pytest.raises(MarkerError, match=r"z_broken\.ipynb, cell 1, line 1"):
        release(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_course_lessons_release_cleanly():
    """Whatever lessons course/ holds: their student versions compile and keep no solution."""
    pytest.importorskip("IPython")  # comes with ipykernel; turns %magics into Python
    from IPython.core.inputtransformer2 import TransformerManager

    for path in sorted((ROOT / "course").glob("**/*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(str(path), as_version=4)
        out = release_notebook(nb, name=path.name)
        names = lesson_exercises(nb)
        for before, after in zip(nb.cells, out.cells, strict=True):
            if after.cell_type != "code" or "BEGIN SOLUTION" not in before.source:
                continue
            assert "raise NotImplementedError()" in after.source, path.name
            compile(TransformerManager().transform_cell(after.source), path.name, "exec")
        assert all(f"def {n}(" in "".join(c.source for c in out.cells) for n in names)


# ================================================================================== the CLI
def test_course_help(capsys):
    for argv in (["course", "--help"], ["course", "release", "--help"],
                 ["course", "grade", "--help"]):
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("release", "grade", "--force", "--submissions", "--timeout", "--jobs"):
        assert word in out


def test_cli_release(tmp_path, capsys):
    write(solution(), tmp_path / "src" / "lesson1.ipynb")
    code, out, err = run_cli(capsys, "course", "release", str(tmp_path / "src"),
                             str(tmp_path / "dst"))
    assert code == 0 and "1 student notebooks" in out and err == ""
    code, out, err = run_cli(capsys, "course", "release", str(tmp_path / "src"),
                             str(tmp_path / "dst"))
    assert code == 1 and "--force" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "course", "release", str(tmp_path / "src"),
                             str(tmp_path / "dst"), "--force")
    assert code == 0


@pytest.mark.parametrize("args, words", [
    (["release", "{tmp}/missing", "{tmp}/out"], "source not found"),
    (["release", "{tmp}/src", "{tmp}/src/out"], "inside the source folder"),
    (["release", "{tmp}/src/bad.ipynb", "{tmp}/out"], "not a readable notebook"),
    (["release", "{tmp}/src/marks/broken.ipynb", "{tmp}/out"], "broken.ipynb, cell 1, line 1"),
    (["grade", "--source", "{tmp}/missing", "--submissions", "{tmp}/subs", "--out",
      "{tmp}/g.csv"], "solutions not found"),
    (["grade", "--source", "{tmp}/src/lesson1.ipynb", "--submissions", "{tmp}/missing",
      "--out", "{tmp}/g.csv"], "submissions folder not found"),
    (["grade", "--source", "{tmp}/src/lesson1.ipynb", "--submissions", "{tmp}/empty",
      "--out", "{tmp}/g.csv"], "no submissions found"),
    (["grade", "--source", "{tmp}/src/lesson1.ipynb", "--submissions", "{tmp}/subs",
      "--out", "{tmp}/g.csv"], "unknown lesson: {tmp}/subs/ann/lesson9.ipynb"),
    (["grade", "--source", "{tmp}/src/lesson1.ipynb", "--submissions", "{tmp}/subs",
      "--out", "{tmp}/subs/g.csv"], "inside the submissions folder"),
    (["grade", "--source", "{tmp}/two", "--submissions", "{tmp}/single", "--out",
      "{tmp}/g.csv"], "needs a single lesson"),
    (["grade", "--source", "{tmp}/src/lesson1.ipynb", "--submissions", "{tmp}/single",
      "--out", "{tmp}/g.csv", "--jobs", "0"], "--jobs must be at least 1"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, args, words):
    write(solution(), tmp_path / "src" / "lesson1.ipynb")
    (tmp_path / "src" / "bad.ipynb").write_text("{not json")
    write(notebook("### BEGIN SOLUTION\n"), tmp_path / "src" / "marks" / "broken.ipynb")
    write(solution(), tmp_path / "subs" / "ann" / "lesson9.ipynb")
    write(solution(), tmp_path / "two" / "lesson1.ipynb")
    write(solution(), tmp_path / "two" / "lesson2.ipynb")
    write(solution(), tmp_path / "single" / "ann.ipynb")
    (tmp_path / "empty").mkdir()
    argv = ["course", *[a.replace("{tmp}", str(tmp_path)) for a in args]]
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("ffnn: error: ")
    assert words.replace("{tmp}", str(tmp_path)) in err
    assert not (tmp_path / "g.csv").exists()


def test_course_without_a_command(capsys):
    code, out, err = run_cli(capsys, "course")
    assert code == 1 and "release or grade" in err


# ================================================================================== reports
def test_csv_and_feedback_from_gradings(tmp_path):
    graded = [
        course.Graded("ann", "lesson1", ("dense_forward", "relu_forward"),
                      {"dense_forward": {"name": "dense_forward", "passed": True,
                                         "diagnosis": None, "report": "dense_forward: PASSED"},
                       "relu_forward": {"name": "relu_forward", "passed": False,
                                        "diagnosis": "np.max reduces; use np.maximum",
                                        "report": "relu_forward: FAILED\nDiagnosis: np.max "
                                                  "reduces; use np.maximum"}},
                      "ok", cell_errors=[{"cell": 3, "source": "1/0",
                                          "ename": "ZeroDivisionError",
                                          "evalue": "division by zero"}]),
        course.Graded("ann", "lesson2", ("mse",), {}, "timeout",
                      events=["Your notebook did not finish within 20 s and was stopped."]),
    ]
    course.write_csv(graded, tmp_path / "g.csv", ["dense_forward", "relu_forward", "mse"])
    rows = list(csv.reader(open(tmp_path / "g.csv", newline="")))
    assert rows == [
        ["student", "lesson", "dense_forward", "relu_forward", "mse", "score", "max_score",
         "status"],
        ["ann", "lesson1", "1", "0", "", "1", "2", "ok"],
        ["ann", "lesson2", "", "", "0", "0", "1", "timeout"]]
    text = course.feedback_markdown("ann", graded)
    assert "## lesson1: 1 of 2 exercises passed" in text
    assert "### relu_forward: FAILED" in text and "use np.maximum" in text
    assert "cell 3 (`1/0`): ZeroDivisionError: division by zero" in text
    assert "did not finish within 20 s" in text and "### mse: NOT GRADED" in text
    table = course.summary_table(graded)
    assert "1/2" in table and "timeout" in table


# ================================================================================== grading
TIMEOUT, CELL_TIMEOUT, MARGIN = 20, 6, 6


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def processes_with(cmdline: str) -> list[int]:
    if not os.path.isdir("/proc"):
        return []
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if fh.read().replace(b"\0", b" ").strip() == cmdline.encode():
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Eight submissions graded once with ``ffnn course grade`` (two at a time)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from ffnn.exercises import check

    base = tmp_path_factory.mktemp("grading")
    source, subs, out = base / "solutions", base / "submissions", base / "results" / "g.csv"
    write(solution(), source / "lesson1.ipynb")
    write(notebook("print('no exercises here')"), source / "intro.ipynb")
    sleep_for = f"{3000 + secrets.randbelow(900)}"
    submissions = {
        "alice": [IMPORTS, DENSE, CHECK_DENSE, RELU, CHECK_RELU],
        "bob": [IMPORTS, DENSE, RELU, RELU_BACKWARD_WRONG, CHECK_RELU],
        "carol": [IMPORTS, DENSE, "raise ValueError('carol was here')", RELU_FORWARD_STUB,
                  RELU_BACKWARD_OK, "hog = np.ones(6 * 1024**3 // 8)  # 6 GB"],
        "dave": [IMPORTS, DENSE, "while True:\n    pass", RELU],
        "erin": [IMPORTS, "import os, subprocess\nopen('written.txt', 'w').write('x')\n"
                 "os.makedirs('sub/dir', exist_ok=True)\n"
                 f"subprocess.Popen(['sleep', '{sleep_for}'], start_new_session=True)",
                 DENSE, RELU],
        "frank": [IMPORTS, DENSE, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)"
                  "\nwhile True:\n    pass", RELU],
        "grace": [IMPORTS, DENSE, "import os\nos._exit(1)", RELU],
    }
    for student, cells in submissions.items():
        write(notebook(*cells), subs / student / "lesson1.ipynb")
    write(notebook(IMPORTS, DENSE, RELU), subs / "henry.ipynb")  # one lesson: named after him
    write(notebook("print(1)"), subs / "alice" / "intro.ipynb")  # no exercises: skipped
    before = tree_hashes(subs)

    work = base / "tmp"
    work.mkdir()
    printed, errors = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed), \
            contextlib.redirect_stderr(errors):
        mp.setattr(tempfile, "tempdir", str(work))
        start = time.monotonic()
        code = cli.main(["course", "grade", "--source", str(source), "--submissions",
                         str(subs), "--out", str(out), "--timeout", str(TIMEOUT),
                         "--cell-timeout", str(CELL_TIMEOUT), "--jobs", "2",
                         "--memory-limit", "2048"])
        seconds = time.monotonic() - start
    assert code == 0, errors.getvalue()
    diagnosis = check("relu_backward", _function(RELU_BACKWARD_WRONG, "relu_backward")).diagnosis
    stub_report = check("relu_forward", _function(RELU_FORWARD_STUB, "relu_forward")).report
    return {"code": code, "printed": printed.getvalue(), "out": out, "subs": subs,
            "before": before, "work": work, "seconds": seconds, "sleep": f"sleep {sleep_for}",
            "diagnosis": diagnosis, "stub_report": stub_report}


@pytest.fixture(scope="module")
def rows(graded):
    with open(graded["out"], newline="") as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def feedback(graded, student: str) -> str:
    return (graded["out"].parent / "feedback" / f"{student}.md").read_text(encoding="utf-8")


def test_grading_completes_and_writes_one_row_per_submission(graded, rows):
    assert graded["code"] == 0
    with open(graded["out"], newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["student", "lesson", "dense_forward", "relu_forward", "relu_backward",
                      "score", "max_score", "status"]
    assert list(rows) == ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "henry"]
    assert {r["lesson"] for r in rows.values()} == {"lesson1"}
    assert {r["max_score"] for r in rows.values()} == {"3"}


@pytest.mark.parametrize("student, marks, status", [
    ("alice", "111", "ok"),
    ("bob", "110", "ok"),        # relu_backward with Z >= 0
    ("carol", "101", "ok"),      # a cell raises; relu_forward is the stub
    ("dave", "111", "timeout"),  # the loop is interrupted, the cells after it run
    ("erin", "111", "ok"),       # writes files, starts a background process
    ("frank", "000", "timeout"),  # ignores interrupts: nothing can be checked
    ("grace", "111", "crashed"),  # os._exit: run again without that cell
    ("henry", "111", "ok"),      # DIR/<student>.ipynb
])
def test_grades_per_exercise(rows, student, marks, status):
    r = rows[student]
    assert r["dense_forward"] + r["relu_forward"] + r["relu_backward"] == marks
    assert r["score"] == str(marks.count("1"))
    assert r["status"] == status


def test_feedback_files_explain_each_grade(graded):
    folder = graded["out"].parent / "feedback"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{s}.md" for s in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "henry")]
    assert feedback(graded, "alice").count("PASSED") >= 3
    bob = feedback(graded, "bob")
    assert graded["diagnosis"] and graded["diagnosis"] in bob
    assert "### relu_backward: FAILED" in bob
    carol = feedback(graded, "carol")
    assert "ValueError: carol was here" in carol
    assert graded["stub_report"].splitlines()[0] in carol
    assert "MemoryError" in carol  # the 6 GB array broke the 2 GB limit, not the grading
    dave = feedback(graded, "dave")
    assert re.search(r"Cell 3 \(`while True:`\) was still running after \d+ s", dave)
    frank = feedback(graded, "frank")
    assert "Time ran out" in frank and "NOT GRADED" in frank
    grace = feedback(graded, "grace")
    assert "kernel died while running cell 3 (`import os`)" in grace
    assert "run again" in grace


def test_grading_stays_within_the_time_limits_and_prints_a_summary(graded):
    printed = graded["printed"]
    times = {m[0]: float(m[1]) for m in re.findall(r"\] (\w+)/lesson1: .*\((\d+\.\d) s\)",
                                                   printed)}
    assert len(times) == 8, printed
    assert max(times.values()) <= TIMEOUT + MARGIN, times
    assert times["frank"] >= TIMEOUT - 5  # stopped at the limit, not before
    # eight notebooks, two at a time
    assert graded["seconds"] < sum(times.values()) / 2 + TIMEOUT + MARGIN
    assert "skipping 1 submission of lessons without exercises" in printed
    table = printed[printed.index("student "):]
    assert re.search(r"frank\s+lesson1\s+0/3\s+timeout", table)
    assert "8 submissions graded" in table


def test_submissions_are_untouched_and_nothing_is_left_behind(graded):
    assert tree_hashes(graded["subs"]) == graded["before"]
    assert list(graded["work"].iterdir()) == []  # the temporary folders are gone
    assert processes_with(graded["sleep"]) == []
    assert not (graded["out"].parent / "written.txt").exists()
