"""The results of an experiment as typed rows: written to and read back from disk.

* :class:`ScoreKey` names one score table entry (benchmark, system, language, measure);
  :data:`Scores` maps it to per-query values, :data:`SeedScores` per seed;
* :class:`ResultRow` is one number of ``results.json`` (``lang = "macro"`` rows average
  the non-English languages; multi-seed rows carry ``std`` and ``seeds``);
* :class:`SignificanceRow` is one paired test of ``significance.json``.

:func:`write_results` and :func:`load_results` are the only code that knows the files'
layout; the report, the study sections and the reproduction matrix consume rows.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import DataFormatError
from ..evaluate.significance import holm, paired_test
from ..io_utils import atomic_write_json
from .names import SystemSpec

RESULTS_FILE = "results.json"
SIGNIFICANCE_FILE = "significance.json"


class ScoreKey(NamedTuple):
    """One entry of a score table."""

    benchmark: str
    system: str
    lang: str
    measure: str


Scores = dict[ScoreKey, dict[str, float]]
"""Score key → query id → value."""
SeedScores = dict[ScoreKey, dict[int | None, dict[str, float]]]
"""Score key → seed (None: an untrained system) → query id → value."""


@dataclass(frozen=True)
class ResultRow:
    """One number of the results table (``n`` = queries scored, or languages for macro).

    A trained system run with several seeds has ``value`` = the mean over seeds,
    ``std`` = their standard deviation and ``seeds`` = how many; both are None (and left
    out of ``results.json``) otherwise."""

    benchmark: str
    system: str
    lang: str
    measure: str
    value: float
    n: int
    std: float | None = None
    seeds: int | None = None

    @property
    def key(self) -> ScoreKey:
        return ScoreKey(self.benchmark, self.system, self.lang, self.measure)

    def to_dict(self) -> dict[str, Any]:
        """The row as written to ``results.json`` (``std`` / ``seeds`` only when set)."""
        return {k: v for k, v in asdict(self).items() if v is not None or k not in ("std", "seeds")}


@dataclass(frozen=True)
class SignificanceRow:
    """System vs baseline on one benchmark, language and measure."""

    benchmark: str
    measure: str
    lang: str
    system: str
    baseline: str
    diff: float
    p_value: float
    p_holm: float
    n: int


_TYPES: dict[type, dict[str, tuple[type, ...]]] = {
    ResultRow: {
        "benchmark": (str,),
        "system": (str,),
        "lang": (str,),
        "measure": (str,),
        "value": (int, float),
        "n": (int,),
        "std": (int, float, type(None)),
        "seeds": (int, type(None)),
    },
    SignificanceRow: {
        **{k: (str,) for k in ("benchmark", "measure", "lang", "system", "baseline")},
        **{k: (int, float) for k in ("diff", "p_value", "p_holm")},
        "n": (int,),
    },
}


def _row(cls: type, raw: Any, path: Path, where: str) -> Any:
    if not isinstance(raw, dict):
        raise DataFormatError(path, None, f"{where}: expected an object, got {type(raw).__name__}")
    names = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls) if f.default is not None}
    missing, unknown = required - set(raw), set(raw) - names
    if missing or unknown:
        raise DataFormatError(
            path,
            None,
            f"{where}: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(sorted(missing))}" if missing else "",
                    f"unknown {', '.join(sorted(unknown))}" if unknown else "",
                )
                if part
            ),
        )
    for key, value in raw.items():
        allowed = _TYPES[cls][key]
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise DataFormatError(path, None, f"{where}: {key} = {value!r} has the wrong type")
    return cls(**raw)


def _read_rows(path: Path, cls: type) -> list[Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(path, None, "no such results file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(path, None, f"unreadable results file: {exc}") from exc
    if not isinstance(raw, list):
        raise DataFormatError(path, None, "expected a list of rows")
    return [_row(cls, item, path, f"row {i + 1}") for i, item in enumerate(raw)]


def read_rows(path: str | Path) -> list[ResultRow]:
    """The rows of one ``results.json`` file (a :class:`DataFormatError` naming the file
    and row on anything malformed)."""
    return _read_rows(Path(path), ResultRow)


def write_results(
    out_dir: Path, rows: Sequence[ResultRow], significance: Sequence[SignificanceRow]
) -> None:
    """``results.json`` and ``significance.json`` in ``out_dir`` (atomically)."""
    atomic_write_json(Path(out_dir) / RESULTS_FILE, [r.to_dict() for r in rows])
    atomic_write_json(Path(out_dir) / SIGNIFICANCE_FILE, [asdict(s) for s in significance])


def load_results(out_dir: str | Path) -> tuple[list[ResultRow], list[SignificanceRow]]:
    """The rows and significance rows an experiment wrote into ``out_dir`` (no
    ``significance.json``: none)."""
    out_dir = Path(out_dir)
    rows = read_rows(out_dir / RESULTS_FILE)
    path = out_dir / SIGNIFICANCE_FILE
    significance = _read_rows(path, SignificanceRow) if path.exists() else []
    return rows, significance


# --- from per-query scores to rows ---------------------------------------------------


def rows_from_scores(scores: Scores) -> list[ResultRow]:
    """Per-language means plus ``macro`` rows (mean over non-English languages)."""
    rows = [
        ResultRow(*key, statistics.fmean(values.values()), len(values))
        for key, values in scores.items()
        if values
    ]
    groups: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        if row.lang != "en":
            groups.setdefault((row.benchmark, row.system, row.measure), []).append(row.value)
    rows += [
        ResultRow(b, s, "macro", m, statistics.fmean(v), len(v)) for (b, s, m), v in groups.items()
    ]
    return sorted(rows, key=_order)


def _order(row: ResultRow) -> tuple[str, str, str, str]:
    return (row.benchmark, row.system, row.measure, row.lang)


def mean_over_seeds(seed_scores: SeedScores) -> Scores:
    """Per query, the mean over seeds (the scores significance tests compare)."""
    out: Scores = {}
    for key, by_seed in seed_scores.items():
        runs = list(by_seed.values())
        common = set(runs[0]).intersection(*runs[1:])
        out[key] = {
            qid: statistics.fmean(run[qid] for run in runs) for qid in runs[0] if qid in common
        }
    return out


def rows_from_seed_scores(seed_scores: SeedScores) -> list[ResultRow]:
    """:func:`rows_from_scores` over seeds: each seed's mean, then their mean and std
    (macro: each seed's mean over the non-English languages, then mean and std)."""
    single = {k: next(iter(v.values())) for k, v in seed_scores.items() if len(v) == 1}
    rows = rows_from_scores(single)
    multi = {k: v for k, v in seed_scores.items() if len(v) > 1}
    per_seed: dict[tuple[str, str, str], dict[int | None, list[float]]] = {}
    for key, by_seed in multi.items():
        means = [statistics.fmean(v.values()) for v in by_seed.values() if v]
        if not means:
            continue
        n = len(next(iter(by_seed.values())))
        std = statistics.stdev(means) if len(means) > 1 else 0.0
        rows.append(ResultRow(*key, statistics.fmean(means), n, std, len(means)))
        if key.lang != "en":
            for seed, values in by_seed.items():
                if values:
                    per_seed.setdefault((key.benchmark, key.system, key.measure), {}).setdefault(
                        seed, []
                    ).append(statistics.fmean(values.values()))
    for (b, s, m), by_seed in per_seed.items():
        macros = [statistics.fmean(v) for v in by_seed.values()]
        langs = len(next(iter(by_seed.values())))
        std = statistics.stdev(macros) if len(macros) > 1 else 0.0
        rows.append(ResultRow(b, s, "macro", m, statistics.fmean(macros), langs, std, len(macros)))
    return sorted(rows, key=_order)


def value_table(
    rows: Sequence[ResultRow], benchmark: str, measure: str
) -> dict[str, dict[str, float]]:
    """System → language → value of one benchmark and measure."""
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.benchmark == benchmark and row.measure == measure:
            table.setdefault(row.system, {})[row.lang] = row.value
    return table


def best_translate_test(rows: Sequence[ResultRow], benchmark: str, measure: str) -> str | None:
    """The translate-test system with the best macro ``measure`` on ``benchmark``, leaving
    out those that read human translations (``tt-oracle-*``: not a translate-test
    baseline a user can deploy)."""
    candidates = []
    for r in rows:
        if r.benchmark != benchmark or r.measure != measure or r.lang != "macro":
            continue
        spec = SystemSpec.parse(r.system)
        if spec.kind == "translate-test" and not spec.reads_english:
            candidates.append(r)
    return max(candidates, key=lambda r: r.value).system if candidates else None


def is_nmt_rival(system: str) -> bool:
    """A rival of the OPTICAL paper's claim: an NMT-based system
    (:attr:`SystemSpec.is_nmt_based`) that is not a data-budget variant."""
    spec = SystemSpec.parse(system)
    return spec.is_nmt_based and not spec.is_curve_point


def nmt_based_systems(rows: Sequence[ResultRow], benchmark: str) -> list[str]:
    """The rivals of the OPTICAL paper's claim (:func:`is_nmt_rival`) with rows on
    ``benchmark``, sorted."""
    return sorted({r.system for r in rows if r.benchmark == benchmark and is_nmt_rival(r.system)})


def significance_marks(
    significance: Sequence[SignificanceRow],
    benchmark: str,
    measure: str,
    baseline: str,
    second: str | None,
    alpha: float,
) -> dict[tuple[str, str], str]:
    """(system, language) → the report's marks: ▲/▼ significantly above/below
    ``baseline``, △/▽ above/below ``second`` (the best translate-test system), Holm-
    corrected p < ``alpha``. Tests against any other baseline (OPTICAL against each
    NMT-based system, which the conclusion reads) are not marks."""
    symbols = {baseline: ("▲", "▼"), **({second: ("△", "▽")} if second else {})}
    marks: dict[tuple[str, str], str] = {}
    for s in significance:
        if (s.benchmark, s.measure) != (benchmark, measure) or s.p_holm >= alpha:
            continue
        if s.baseline not in symbols:
            continue
        up, down = symbols[s.baseline]
        key = (s.system, s.lang)
        marks[key] = marks.get(key, "") + (up if s.diff > 0 else down)
    return marks


def significance_rows(
    scores: Scores,
    baseline: str,
    method: str,
    seed: int,
    measures: Mapping[str, Sequence[str]] | None = None,
) -> list[SignificanceRow]:
    """Paired test of every system against ``baseline`` per (benchmark, lang, measure),
    Holm-corrected within each (benchmark, measure) family. ``measures`` limits the
    tests to some measures per benchmark (default: all)."""
    raw: dict[ScoreKey, tuple[float, float, int]] = {}
    for key, values in scores.items():
        if key.system == baseline or (
            measures is not None and key.measure not in measures.get(key.benchmark, ())
        ):
            continue
        base = scores.get(key._replace(system=baseline))
        if not base or set(base) != set(values):
            continue
        test = paired_test(values, base, method=method, seed=seed)  # type: ignore[arg-type]
        raw[key] = (test.diff, test.p_value, test.n)
    out: list[SignificanceRow] = []
    for bench, measure in sorted({(k.benchmark, k.measure) for k in raw}):
        family = {
            (k.lang, k.system): v[1]
            for k, v in raw.items()
            if k.benchmark == bench and k.measure == measure
        }
        for (lang, system), p_adj in holm(family).items():
            diff, p, n = raw[ScoreKey(bench, system, lang, measure)]
            out.append(SignificanceRow(bench, measure, lang, system, baseline, diff, p, p_adj, n))
    return out
