"""The course's lessons: each runs top to bottom in fast mode with every exercise PASSED, and its
student version (``ffnn course release``) fails with NotImplementedError at the exercises and
nowhere else (tests/test_notebooks.py checks that committed lessons carry no outputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from ffnn.course import lesson_exercises, release_notebook  # noqa: E402

COURSE = Path(__file__).resolve().parents[1] / "course"
LESSONS = sorted(COURSE.glob("[0-9][0-9]_*.ipynb"))
NEEDS_MNIST = {"09"}


def _run(nb, tmp_path, monkeypatch, allow_errors: bool):
    monkeypatch.setenv("FFNN_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     allow_errors=allow_errors,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(cell) -> str:
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o:
            parts.append(o.data.get("text/plain", ""))
        elif o.output_type == "error":
            parts.append(f"{o.ename}: {o.evalue}")
    return "\n".join(parts)


def _check_cells(cells) -> list:
    return [c for c in cells if "ffnn.exercises.check(" in c.source or
            "exercises.check(" in c.source]


def _skip_without_mnist(path, mnist_available):
    if path.name[:2] in NEEDS_MNIST and not mnist_available:
        pytest.skip("MNIST not available here; set FFNN_DATA_DIR")


def test_ten_lessons_in_order():
    assert [p.name[:2] for p in LESSONS] == [f"{i:02d}" for i in range(1, 11)]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_with_every_exercise_passed(path, tmp_path, monkeypatch, mnist_available):
    _skip_without_mnist(path, mnist_available)
    nb = nbformat.read(path, as_version=4)
    exercises = lesson_exercises(nb)
    cells = _run(nb, tmp_path, monkeypatch, allow_errors=False)
    checks = _check_cells(cells)
    assert len(checks) >= len(exercises)
    for cell in checks:
        text = _text(cell)
        assert "PASSED" in text and "FAILED" not in text, cell.source + "\n" + text
    images = [o for c in cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "the lesson shows no plots"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_student_version_fails_only_at_the_exercises(path, tmp_path, monkeypatch,
                                                     mnist_available):
    _skip_without_mnist(path, mnist_available)
    nb = release_notebook(nbformat.read(path, as_version=4), path.name)
    exercises = lesson_exercises(nbformat.read(path, as_version=4))
    if not exercises:
        pytest.skip("a lesson without exercises")
    cells = _run(nb, tmp_path, monkeypatch, allow_errors=True)
    errors = [(c, o) for c in cells for o in c.outputs if o.output_type == "error"]
    for cell, error in errors:
        assert error.ename == "NotImplementedError", (cell.source, error.ename, error.evalue)
    # the checker says "not written yet" instead of raising
    for cell in _check_cells(cells):
        assert "not written yet" in _text(cell), cell.source + "\n" + _text(cell)
