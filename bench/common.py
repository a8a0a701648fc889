"""Shared pieces of the benchmarks: a result row and the table printer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Row:
    """One measured figure, with the baseline it is compared with (if any)."""

    bench: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def print_table(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="EAVS-TF benchmarks (measured on this machine)")
    for col in ("bench", "figure", "value", "unit", "baseline", "ratio", "goal"):
        table.add_column(col, justify="right" if col in ("value", "baseline", "ratio") else "left")
    for r in rows:
        base = "" if r.baseline is None else f"{r.baseline:.4g} ({r.baseline_name})"
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        table.add_row(r.bench, r.figure, f"{r.value:.4g}", r.unit, base, ratio, r.goal)
    Console().print(table)
