"""Performance benchmarks (``optical bench NAME``): each compares a candidate against a
baseline measured in the same run and reports their time ratio.

Every benchmark module exposes ``run() -> dict`` with at least
``{"name", "ratio", "baseline_s", "candidate_s"}``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError

BENCHMARKS: dict[str, str] = {
    "ot-solver": "optical.perf.ot_solver",
    "distill-step": "optical.perf.distill_step",
    "encode": "optical.perf.encode",
    "translate": "optical.perf.translate",
    "index": "optical.perf.index",
    "nmt-step": "optical.perf.nmt_step",
}


def get_benchmark(name: str) -> Callable[[], dict[str, Any]]:
    """The ``run`` function of benchmark ``name`` (imported lazily)."""
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}, all")
    return importlib.import_module(BENCHMARKS[name]).run
