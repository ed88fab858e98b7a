"""What machine a benchmark ran on: the CPU model and NumPy's BLAS (shared by the benchmarks)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info() -> list[dict]:
    """The BLAS libraries loaded in this process, as threadpoolctl reports them."""
    try:
        import numpy  # noqa: F401  (load NumPy's BLAS so threadpoolctl sees it)
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed"}]
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads",
            "threading_layer", "architecture", "filepath")
    return [{k: d.get(k) for k in keys if k in d} for d in threadpool_info()]
