"""Shared helpers for the benchmarks: timing and result lines."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def report(name: str, ours: float, ref: float, ref_name: str, unit: str = "s", higher_is_better: bool = False) -> str:
    """One result line: both figures and the ratio (how many times faster we are)."""
    ratio = ours / ref if higher_is_better else ref / ours
    line = f"{name}: ours {ours:.4g} {unit}, {ref_name} {ref:.4g} {unit} -> {ratio:.1f}x"
    print(line, flush=True)
    return line
