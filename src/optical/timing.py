"""Wall-clock accounting per stage: ``with timer("encode passages"): ...``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timer:
    """Accumulates seconds per named stage (nested stages are counted in both)."""

    def __init__(self, seconds: dict[str, float] | None = None, total: float | None = None) -> None:
        self.seconds: dict[str, float] = dict(seconds or {})
        self.started = time.perf_counter()
        self._fixed_total = total

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        """Seconds since creation (or the fixed total a finished run was given)."""
        if self._fixed_total is not None:
            return self._fixed_total
        return time.perf_counter() - self.started

    def table(self) -> str:
        """A plain-text table of stages, seconds and share of the total, slowest first."""
        total = max(self.total, 1e-9)
        width = max([len(s) for s in self.seconds] + [5])
        lines = [f"{'stage':<{width}}  {'seconds':>8}  {'share':>6}"]
        for stage, secs in sorted(self.seconds.items(), key=lambda kv: -kv[1]):
            lines.append(f"{stage:<{width}}  {secs:8.1f}  {100 * secs / total:5.1f}%")
        lines.append(f"{'total':<{width}}  {total:8.1f}  100.0%")
        return "\n".join(lines)
