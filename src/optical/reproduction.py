"""The reproduction matrix: conditions, the command that produces each, and the scores
expected from it with a tolerance (as Pyserini's two-click reproductions).

``reproduction/matrix.toml`` holds ``[[condition]]`` tables::

    [[condition]]
    name = "smoke"
    command = "optical experiment reproduction/smoke.toml --out out/repro-smoke"
    config = "reproduction/smoke.toml"       # an experiment config (what the command runs)
    results = "out/repro-smoke/results.json"  # where the command writes its rows
    readme = false                            # true: the README's results table
    [[condition.expect]]
    benchmark = "xquad"
    system = "zero-shot"
    lang = "de"
    measure = "RR@10"
    value = 0.90
    tol = 0.02

:func:`check` compares result rows with the expectations; :func:`render_table` writes
the README table of a condition from its expectations (so the README and the matrix
cannot disagree: a test re-renders it and compares).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import read_toml
from .errors import ConfigError

MATRIX = Path("reproduction/matrix.toml")


@dataclass(frozen=True)
class Expectation:
    benchmark: str
    system: str
    lang: str
    measure: str
    value: float
    tol: float


@dataclass(frozen=True)
class Condition:
    name: str
    command: str
    config: str
    results: str
    readme: bool
    expect: tuple[Expectation, ...]


def load_matrix(path: str | Path = MATRIX) -> dict[str, Condition]:
    """The conditions of a matrix file, by name (ConfigError naming the problem)."""
    raw = read_toml(path)
    conditions: dict[str, Condition] = {}
    for index, item in enumerate(raw.get("condition", [])):
        where = f"{path}: condition {index + 1}"
        try:
            expect = tuple(
                Expectation(
                    str(e["benchmark"]),
                    str(e["system"]),
                    str(e["lang"]),
                    str(e["measure"]),
                    float(e["value"]),
                    float(e.get("tol", 0.0)),
                )
                for e in item.get("expect", [])
            )
            condition = Condition(
                str(item["name"]),
                str(item["command"]),
                str(item["config"]),
                str(item["results"]),
                bool(item.get("readme", False)),
                expect,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: missing or bad field: {exc}") from exc
        if condition.name in conditions:
            raise ConfigError(f"{where}: duplicate condition name {condition.name!r}")
        conditions[condition.name] = condition
    if not conditions:
        raise ConfigError(f"{path}: no [[condition]] tables")
    return conditions


def _index(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str, str], float]:
    return {(r["benchmark"], r["system"], r["lang"], r["measure"]): float(r["value"]) for r in rows}


def check(condition: Condition, rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Problems found (empty = reproduced): missing rows and values out of tolerance."""
    found = _index(rows)
    problems = []
    for e in condition.expect:
        key = (e.benchmark, e.system, e.lang, e.measure)
        if key not in found:
            problems.append(f"{condition.name}: no row for {'/'.join(key)}")
        elif abs(found[key] - e.value) > e.tol:
            problems.append(
                f"{condition.name}: {'/'.join(key)} = {found[key]:.4f}, expected "
                f"{e.value:.4f} ± {e.tol:.4f}"
            )
    return problems


def check_file(condition: Condition, results: str | Path | None = None) -> list[str]:
    path = Path(results or condition.results)
    if not path.is_file():
        return [f"{condition.name}: {path} does not exist: run `{condition.command}`"]
    return check(condition, json.loads(path.read_text(encoding="utf-8")))


def render_table(condition: Condition) -> str:
    """Markdown: one row per system, one column per (benchmark, measure, lang) expected."""
    columns = list(dict.fromkeys((e.benchmark, e.measure, e.lang) for e in condition.expect))
    systems = list(dict.fromkeys(e.system for e in condition.expect))
    values = {(e.system, e.benchmark, e.measure, e.lang): e.value for e in condition.expect}
    header = ["system", *(f"{b} {m} ({lang})" for b, m, lang in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system in systems:
        cells = [system]
        for b, m, lang in columns:
            value = values.get((system, b, m, lang))
            cells.append(
                "" if value is None else (f"{value:.1f}" if m.endswith("kt") else f"{value:.3f}")
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def expectations_from(
    rows: Iterable[Mapping[str, Any]], keys: Iterable[tuple[str, str, str, str]], tol: float
) -> list[dict[str, Any]]:
    """Expectation tables for ``keys`` from a results file's rows (to record a reference run)."""
    found = _index(rows)
    return [
        {
            "benchmark": b,
            "system": s,
            "lang": lang,
            "measure": m,
            "value": round(found[(b, s, lang, m)], 4),
            "tol": tol,
        }
        for b, s, lang, m in keys
        if (b, s, lang, m) in found
    ]
