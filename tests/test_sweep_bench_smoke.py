"""Smoke test of the sweep benchmark (issue 21): ``FFNN_BENCH_SMOKE=1 benchmarks/sweep_bench.py``.

It starts a Dask LocalCluster and worker processes (~15 s), so it runs only when
``FFNN_BENCH_SMOKE=1`` is set.  It checks the report and that the backends agree, not the
speed-up target (the smoke trials are too small to be faster in parallel).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "sweep_bench.py"

pytestmark = pytest.mark.skipif(
    os.environ.get("FFNN_BENCH_SMOKE") != "1",
    reason="benchmark smoke test: set FFNN_BENCH_SMOKE=1 to run sweep_bench.py small",
)


def test_sweep_bench_smoke_prints_the_table(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    out_json = tmp_path / "sweep.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--json", str(out_json)],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "FFNN_BENCH_SMOKE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for text in ("| sequential (`--workers 1`) |", "| local (", "| Dask (`--scheduler`",
                 "Dask overhead per trial", "same results on every backend (train loss per "
                 "trial): True", "target: local >= 1.7x"):
        assert text in proc.stdout, text
    data = json.loads(out_json.read_text())
    assert data["smoke"] and data["trials"] == 6 and data["same_results"]
