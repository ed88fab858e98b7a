"""Every seed notebook executes top to bottom in fast mode without a cell error, and the
committed notebooks carry no outputs (they are stripped before committing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("seed_*.ipynb"))
NEEDS_MNIST = {"seed_002_mnist.ipynb", "seed_003_mnist_curves.ipynb"}


def test_there_is_a_notebook_per_seed():
    assert [p.name for p in NOTEBOOKS] == [
        "seed_000_lecture.ipynb", "seed_001_moons.ipynb", "seed_002_mnist.ipynb",
        "seed_003_mnist_curves.ipynb", "seed_004_housing.ipynb"]


COMMITTED = NOTEBOOKS + sorted((Path(__file__).resolve().parents[1] / "course").glob("*.ipynb"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path):
    """The seed notebooks and the course's lessons are committed without outputs."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_fast_mode(path, tmp_path, monkeypatch, mnist_available):
    if path.name in NEEDS_MNIST and not mnist_available:
        pytest.skip("MNIST not available here; set FFNN_DATA_DIR")
    # the kernel inherits this process's environment
    monkeypatch.setenv("FFNN_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells)
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in code_cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook shows no plots"
    assert os.environ["FFNN_FAST"] == "1"
