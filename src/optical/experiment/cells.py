"""Resumable experiment cells: one (benchmark, system, seed, language) run on disk.

A cell's run is ``runs/<benchmark>/<system>[.seed<k>].<lang>.trec`` and its record
``cells/<benchmark>/<system>[.seed<k>].<lang>.json``: the cell key, the resolved
settings that determine the run, the number of queries, the seconds it took and the run
file's SHA-256 and line count (``run_sha256``, ``run_lines``). The
key hashes those settings and the benchmark's query and passage ids, so a cell is
recomputed exactly when something that could change its run changed; an interrupted
experiment recomputes only the cells it had not finished (both files are written
atomically, the record last). A run file that no longer matches its record's SHA-256
(lines lost, edited) makes the cell unfinished: it is recomputed, with a logged warning;
so is a record written before the hash was recorded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataFormatError
from ..io_utils import atomic_write_json, sha256_file
from ..runs import read_run, write_run
from ..types import Query, RetrievalBenchmark, Run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cell:
    benchmark: str
    system: str
    lang: str
    seed: int | None = None
    """The seed of a trained system when the experiment runs several (else None)."""

    @property
    def stem(self) -> str:
        seed = "" if self.seed is None else f".seed{self.seed}"
        return f"{self.system}{seed}.{self.lang}"

    def run_path(self, out_dir: Path) -> Path:
        return Path(out_dir) / "runs" / self.benchmark / f"{self.stem}.trec"

    def record_path(self, out_dir: Path) -> Path:
        return Path(out_dir) / "cells" / self.benchmark / f"{self.stem}.json"


def _ids_digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def cell_settings(
    cell: Cell, settings: dict[str, Any], bench: RetrievalBenchmark, queries: Sequence[Query]
) -> dict[str, Any]:
    """What determines a cell's run: the given settings, the cell and the data ids."""
    return {
        **settings,
        "cell": {
            "benchmark": cell.benchmark,
            "system": cell.system,
            "lang": cell.lang,
            "seed": cell.seed,
        },
        "queries": _ids_digest([q.id for q in queries]),
        "passages": _ids_digest([p.id for p in bench.passages]),
        **({"collection": bench.collection} if bench.collection else {}),
    }


def cell_key(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[
        :20
    ]


def load_cell(out_dir: Path, cell: Cell, key: str) -> tuple[Run, float] | None:
    """The finished run of ``cell`` and its seconds, when its record has ``key``."""
    record_path, run_path = cell.record_path(out_dir), cell.run_path(out_dir)
    if not (record_path.is_file() and run_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("key") != key:
        return None
    problem = _run_file_problem(run_path, record)
    if problem:
        logger.warning("recomputing %s %s: %s", cell.benchmark, cell.stem, problem)
        return None
    try:
        return read_run(run_path), float(record.get("seconds", 0.0))
    except (DataFormatError, OSError, ValueError):
        return None


def _line_count(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def _run_file_problem(run_path: Path, record: dict[str, Any]) -> str | None:
    """Why the run file does not match its record (``None`` when it does)."""
    recorded = record.get("run_sha256")
    if recorded is None:
        return f"its record predates run file hashes ({run_path} cannot be verified)"
    try:
        if sha256_file(run_path) == recorded:
            return None
        lines = _line_count(run_path)
    except OSError as exc:
        return f"cannot read {run_path}: {exc}"
    return (
        f"{run_path} does not match the SHA-256 its record holds ({lines} lines, "
        f"{record.get('run_lines', '?')} recorded)"
    )


def save_cell(
    out_dir: Path,
    cell: Cell,
    key: str,
    settings: dict[str, Any],
    run: Run,
    seconds: float,
    depth: int | None = None,
) -> None:
    """Write the run, then the record (so a record always has its run) with the run
    file's SHA-256 and line count."""
    run_path = cell.run_path(out_dir)
    write_run(run_path, run, tag=cell.system, depth=depth)
    atomic_write_json(
        cell.record_path(out_dir),
        {
            "key": key,
            "seconds": round(seconds, 3),
            "queries": len(run),
            "run_sha256": sha256_file(run_path),
            "run_lines": _line_count(run_path),
            "settings": settings,
        },
    )
