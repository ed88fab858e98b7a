"""Smoke test of the playground benchmark (issue 14): ``benchmarks/playground_bench.py --quick``.

It starts the real server, streams frames for a few seconds and opens Chromium (when there is
one), ~20-40 s in all, so it runs only when ``FFNN_BENCH_SMOKE=1`` is set
(``FFNN_BENCH_SMOKE=1 .venv/bin/python -m pytest tests/test_playground_bench_smoke.py``).
It checks that every section is printed and the JSON has its numbers, not that the targets
pass: a busy machine may fail them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "playground_bench.py"

pytestmark = pytest.mark.skipif(
    os.environ.get("FFNN_BENCH_SMOKE") != "1",
    reason="benchmark smoke test: set FFNN_BENCH_SMOKE=1 to run playground_bench.py --quick",
)


def test_playground_bench_quick_prints_every_section(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    pytest.importorskip("websockets")
    out_json = tmp_path / "playground.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for section in ("== server frames per second, one core", "== frame size and compactness ==",
                    "== step latency ==", "== issue 14 performance targets ==",
                    "== environment =="):
        assert section in out, f"section {section!r} missing from the output"
    assert "in-process" in out and "JSON floats" in out
    assert "browser" in out  # a figure, or "n/a (...)" when the page or Chromium is missing
    summary = out.split("== issue 14 performance targets ==", 1)[1].splitlines()
    for target in ("fps 2-8-8-1 >= 60", "fps 2-(8x6)-1 >= 30", "frames binary (not JSON floats)",
                   "step click < 100 ms"):
        line = next((s for s in summary if s.startswith(target)), None)
        assert line is not None, f"target {target!r} missing"
        assert line.split()[-1] in {"PASS", "FAIL", "n/a"}, line

    data = json.loads(out_json.read_text())
    for name in ("2-8-8-1", "2-(8x6)-1"):
        rounds = data["fps"][name]
        assert rounds and rounds[0]["fps"] > 0 and rounds[0]["frame_bytes"] > 0
        assert rounds[0]["non_binary_frames"] == 0
        assert data["inprocess"][name][0]["fps"] > 0
        assert data["compactness"][name]["ratio"] > 1
    assert data["step_socket"]["frame_median_ms"] > 0
    assert "status" in data["step_browser"]
    assert {row["verdict"] for row in data["targets"]} <= {"PASS", "FAIL", "n/a"}
