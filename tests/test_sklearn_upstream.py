"""scikit-learn's own MLP tests, run against ffnn.sklearn.

The installed scikit-learn's ``sklearn/neural_network/tests/test_mlp.py`` is copied into a
temporary directory with one change, its import line of ``MLPClassifier``/``MLPRegressor``,
and run by pytest in a subprocess.  Every test must pass, except those that reach into
scikit-learn's private implementation, listed here with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")

import ffnn  # noqa: E402

SOURCE = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
IMPORT_SKLEARN = "from sklearn.neural_network import MLPClassifier, MLPRegressor\n"
IMPORT_FFNN = "from ffnn.sklearn import MLPClassifier, MLPRegressor\n"

#: tests that call scikit-learn's private methods, with the reason they cannot run here
PRIVATE = {
    "test_gradient": "calls the private MLPClassifier._loss_grad_lbfgs(theta, X, Y, None, "
                     "activations, deltas, coef_grads, intercept_grads) with scikit-learn's "
                     "internal buffers; ffnn's gradient check of the same objective is "
                     "test_sklearn_parity.py::test_objective_gradient_matches_finite_differences",
}

# scikit-learn's conftest.py gives its tests this fixture (the default seed is 42)
CONFTEST = '''import pytest


@pytest.fixture
def global_random_seed():
    return 42
'''


def test_scikit_learns_mlp_tests_pass_against_ffnn(tmp_path):
    source = SOURCE.read_text(encoding="utf-8")
    assert source.count(IMPORT_SKLEARN) == 1, "the import line changed upstream"
    copy = source.replace(IMPORT_SKLEARN, IMPORT_FFNN)
    changed = [(a, b) for a, b in zip(source.splitlines(), copy.splitlines(), strict=True)
               if a != b]
    assert changed == [(IMPORT_SKLEARN.strip(), IMPORT_FFNN.strip())]  # nothing else
    (tmp_path / "test_mlp.py").write_text(copy, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not ffnn's config
    report = tmp_path / "report.xml"

    src = str(Path(ffnn.__file__).resolve().parents[1])  # this checkout's ffnn, not another
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           # one BLAS thread: the tests' small matrix products only lose time to threads
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            f"--junitxml={report}", "test_mlp.py"]
    args += [f"--deselect=test_mlp.py::{name}" for name in PRIVATE]
    run = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)

    cases = ET.parse(report).getroot().iter("testcase")
    outcome = {}
    for case in cases:
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome[case.get("name")] = kinds[0] if kinds else "passed"
    not_passed = {name: kind for name, kind in outcome.items() if kind != "passed"}
    assert not not_passed, f"{not_passed}\n{run.stdout[-4000:]}"
    assert run.returncode == 0, run.stdout[-4000:]
    ran = {name.split("[")[0] for name in outcome}
    assert ran.isdisjoint(PRIVATE)
    assert len(outcome) >= 58, sorted(outcome)  # scikit-learn 1.9.1: 59 tests, 1 private
    # every test function of the file ran (or is listed above)
    defined = {line.split("(")[0][4:] for line in copy.splitlines()
               if line.startswith("def test_")}
    assert defined == ran | set(PRIVATE)
