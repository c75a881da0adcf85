"""Small shared helpers for benchmark scripts: timing and the embedded MiniLM folder."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Callable


def best_of(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds per call after warm-up (the median resists a noisy neighbour on 2 cores)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def subprocess_seconds(code: str, repeats: int = 7) -> float:
    """Median wall time of a fresh interpreter running `code` (cold imports, warm disk cache)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
