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
    std = 0.004                               # optional: the seed spread of a multi-seed mean

:func:`check` compares result rows with the expectations; :func:`render_table` writes
the README table of a condition from its expectations (so the README and the matrix
cannot disagree: a test re-renders it and compares).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configfile import read_toml
from ..errors import ConfigError
from ..evaluate.measures import format_score
from .benchmarks import MT_SETS, primary_measure
from .names import SystemSpec, translator_budget
from .results import ResultRow, ScoreKey, read_rows

MATRIX = Path("reproduction/matrix.toml")


@dataclass(frozen=True)
class Expectation:
    benchmark: str
    system: str
    lang: str
    measure: str
    value: float
    tol: float
    std: float | None = None  # spread over seeds when the value is a multi-seed mean


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
                    None if e.get("std") is None else float(e["std"]),
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


def _index(rows: Iterable[ResultRow]) -> dict[ScoreKey, float]:
    return {r.key: r.value for r in rows}


def check(condition: Condition, rows: Iterable[ResultRow]) -> list[str]:
    """Problems found (empty = reproduced): missing rows and values out of tolerance."""
    found = _index(rows)
    problems = []
    for e in condition.expect:
        key = ScoreKey(e.benchmark, e.system, e.lang, e.measure)
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
    return check(condition, read_rows(path))


def render_table(condition: Condition) -> str:
    """Markdown: one row per system, one column per (benchmark, measure, lang) expected;
    a multi-seed mean shows as ``mean±std``."""
    columns = list(dict.fromkeys((e.benchmark, e.measure, e.lang) for e in condition.expect))
    systems = list(dict.fromkeys(e.system for e in condition.expect))
    found = {(e.system, e.benchmark, e.measure, e.lang): e for e in condition.expect}
    header = ["system", *(f"{b} {m} ({lang})" for b, m, lang in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system in systems:
        cells = [system]
        for b, m, lang in columns:
            e = found.get((system, b, m, lang))
            cells.append("" if e is None else format_score(m, e.value, e.std))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def expectations_from(
    rows: Iterable[ResultRow], keys: Iterable[ScoreKey], tol: float
) -> list[dict[str, Any]]:
    """Expectation tables for ``keys`` from a results file's rows (to record a reference
    run); a row averaged over several seeds keeps its spread as ``std``."""
    rows = list(rows)
    found = _index(rows)
    spread = {r.key: r.std for r in rows if r.std is not None and (r.seeds or 0) > 1}
    expectations = []
    for key in keys:
        b, s, lang, m = key
        if key not in found:
            continue
        e = {
            "benchmark": b,
            "system": s,
            "lang": lang,
            "measure": m,
            "value": round(found[key], 4),
            "tol": tol,
        }
        if key in spread:
            e["std"] = round(spread[key], 4)
        expectations.append(e)
    return expectations


HEADER = """# The reproduction matrix: each condition, the command that produces it and the scores
# expected from it (value ± tol). `optical repro check NAME` compares a results file with
# them; tests/test_reproduction.py runs the "smoke" condition and checks it; the README's
# results table is rendered from the condition marked readme = true
# (`optical repro render NAME`). `optical repro record` writes a condition from a run.
"""


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def dump_matrix(conditions: Iterable[Condition]) -> str:
    """The TOML text of a matrix (the inverse of :func:`load_matrix`)."""
    parts = [HEADER]
    for c in conditions:
        parts.append(
            "[[condition]]\n"
            f"name = {_toml_string(c.name)}\n"
            f"command = {_toml_string(c.command)}\n"
            f"config = {_toml_string(c.config)}\n"
            f"results = {_toml_string(c.results)}\n"
            f"readme = {'true' if c.readme else 'false'}\n"
        )
        for e in c.expect:
            parts.append(
                "[[condition.expect]]\n"
                f"benchmark = {_toml_string(e.benchmark)}\n"
                f"system = {_toml_string(e.system)}\n"
                f"lang = {_toml_string(e.lang)}\n"
                f"measure = {_toml_string(e.measure)}\n"
                f"value = {e.value!r}\n"
                f"tol = {e.tol!r}\n" + ("" if e.std is None else f"std = {e.std!r}\n")
            )
    return "\n".join(parts)


def headline_keys(rows: Iterable[ResultRow]) -> list[ScoreKey]:
    """The macro headline numbers of a run: every benchmark's primary measure for every
    system (data-budget variants and alternative oracles left out) and the MT macros."""
    keys = []
    for r in rows:
        if r.benchmark in MT_SETS:
            if r.lang.startswith("macro-") and translator_budget(r.system) is None:
                keys.append(r.key)
            continue
        spec = SystemSpec.parse(r.system)
        if (spec.kind == "oracle" and not spec.is_oracle) or spec.is_curve_point:
            continue
        if r.measure == primary_measure(r.benchmark) and r.lang == "macro":
            keys.append(r.key)
    return keys


def record_condition(
    matrix: str | Path,
    name: str,
    command: str,
    config: str,
    results: str | Path,
    tol: float,
    readme: bool,
) -> Condition:
    """Add (or replace) condition ``name`` with the headline scores of ``results``."""
    rows = read_rows(results)
    expect = tuple(Expectation(**e) for e in expectations_from(rows, headline_keys(rows), tol))
    condition = Condition(name, command, config, str(results), readme, expect)
    conditions = dict(load_matrix(matrix)) if Path(matrix).is_file() else {}
    conditions[name] = condition
    Path(matrix).write_text(dump_matrix(conditions.values()), encoding="utf-8")
    return condition


def update_readme(readme: str | Path, condition: Condition) -> bool:
    """Replace the text between ``<!-- repro:NAME:start -->`` and ``<!-- repro:NAME:end -->``
    in ``readme`` with the condition's table; False when the markers are absent."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    start, end = f"<!-- repro:{condition.name}:start -->", f"<!-- repro:{condition.name}:end -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{render_table(condition)}\n{end}{tail}", encoding="utf-8")
    return True
