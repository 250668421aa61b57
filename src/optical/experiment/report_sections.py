"""Study sections of the report: the gap to the oracle by resource group, OPTICAL vs NMT
translate-test in AP on the languages outside the high-resource group, data-budget
curves, the forgetting check and the NMT learning curve (the conclusion written from
the numbers is :mod:`optical.experiment.conclusion`).

Every function reads the result rows only (``results.json``), so a report can be
re-rendered without rerunning anything. Language groups are
:data:`optical.languages.RESOURCE_GROUPS` (``high``, ``low``, ``unseen``: not in the
encoder's pre-training), titled by :data:`~optical.languages.GROUP_TITLES`; a table
shows the groups its benchmark has languages in.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..evaluate.measures import format_score
from ..languages import GROUP_TITLES, RESOURCE_GROUPS, is_known, resource_group
from .benchmarks import primary_measure
from .names import NMT_TRANSLATE_TEST as _NMT_TT
from .names import OPTICAL as _OPTICAL
from .names import ZERO_SHOT as _ZERO_SHOT
from .names import SystemSpec
from .plots import (
    SYSTEM_GROUPS,
    annotated_heatmap,
    chart,
    group_spans,
    legend_below,
    mark_groups,
    system_colours,
    system_group,
    system_marker,
    system_order,
)
from .results import ResultRow, value_table

OPTICAL = _OPTICAL.name
NMT_TRANSLATE_TEST = _NMT_TT.name
ZERO_SHOT = _ZERO_SHOT.name
PAPER_LOW_RESOURCE_MAP_GAIN = 13.7
"""OPTICAL's headline (arXiv 2301.12566): +13.7 % MAP over an NMT-based method on
low-resource languages."""


GROUPS: tuple[str, ...] = tuple(RESOURCE_GROUPS)
"""The resource groups in report order: ``high``, ``low``, ``unseen``."""


def _spec(name: str) -> SystemSpec:
    return SystemSpec.parse(name)


def group_of(lang: str) -> str | None:
    """The resource group of a result row's language (None for ``macro`` and other labels)."""
    return resource_group(lang) if is_known(lang) and lang != "en" else None


def group_gaps(
    rows: Sequence[ResultRow], benchmark: str, measure: str
) -> dict[str, dict[str, float | None]]:
    """Per system: mean gap (oracle − system) over the benchmark's languages of each
    resource group of :data:`GROUPS` (None when the group has no language here)."""
    table = value_table(rows, benchmark, measure)
    oracle = table.get("oracle", {})
    out: dict[str, dict[str, float | None]] = {}
    for system, values in table.items():
        if _spec(system).kind == "oracle":
            continue
        groups: dict[str, float | None] = {}
        for name in GROUPS:
            gaps = [
                oracle[lang] - v
                for lang, v in values.items()
                if lang in oracle and group_of(lang) == name
            ]
            groups[name] = statistics.fmean(gaps) if gaps else None
        out[system] = groups
    return out


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def group_members(rows: Sequence[ResultRow], benchmarks: Sequence[str]) -> dict[str, list[str]]:
    """Resource group → the languages of the benchmarks' result rows in it (groups with
    none left out), in :data:`GROUPS` order."""
    langs = {r.lang for r in rows if r.benchmark in benchmarks}
    members = {name: sorted(lang for lang in langs if group_of(lang) == name) for name in GROUPS}
    return {name: found for name, found in members.items() if found}


def groups_line(rows: Sequence[ResultRow], benchmarks: Sequence[str]) -> str:
    """Which group each language of the results is in, as one sentence."""
    members = group_members(rows, benchmarks)
    listed = "; ".join(f"{GROUP_TITLES[g]}: {', '.join(langs)}" for g, langs in members.items())
    return f"Resource groups of the languages here — {listed}." if listed else ""


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _closed(gap: float | None, base: float | None) -> float | None:
    """The share of the zero-shot gap ``base`` closed (None without both, or base 0)."""
    return None if gap is None or not base else 1 - gap / base


def _gap_table(gaps: dict[str, dict[str, float | None]]) -> list[str]:
    """The rows of one benchmark's gap table: a column per group it has, the difference of
    each later group to the first, and the share of zero-shot's gap closed per group."""
    present = [g for g in GROUPS if any(v[g] is not None for v in gaps.values())]
    first, later = present[0], present[1:]
    header = [
        "system",
        *(f"gap {g}" for g in present),
        *(f"{g} − {first}" for g in later),
        *(f"closed {g}" for g in present),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    base = gaps.get(ZERO_SHOT, {})
    for system in sorted(gaps, key=lambda s: (s != ZERO_SHOT, s)):
        g = gaps[system]
        diffs = [_minus(g[k], g[first]) for k in later]
        closed = [_closed(g[k], base.get(k)) for k in present]
        cells = [
            system,
            *(_fmt(g[k]) for k in present),
            *(_fmt(d) for d in diffs),
            *(_fmt(c, 2) for c in closed),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def gap_section(rows: Sequence[ResultRow], benchmarks: Sequence[str], out_dir: Path) -> list[str]:
    """Tables of the gap to the oracle by resource group, and one figure per benchmark."""
    titles = ", ".join(f"{g} = {GROUP_TITLES[g]}" for g in GROUPS)
    parts = [
        "## The gap to the English oracle by resource group",
        "",
        "Gap = oracle − system on the benchmark's headline measure, averaged over the "
        f"languages of each resource group each benchmark has ({titles}; `unseen` = not "
        "among the CC-100 languages of XLM-R, which multilingual-e5 inherits). "
        "`closed` = the share of zero-shot's gap a system closes in that group "
        "(1 − gap / zero-shot gap; negative = it widens the gap). Each benchmark's figure "
        "prints the gap of every system (rows, by system group) in every language (columns, "
        "by resource group): red = below the oracle, blue = above it, grey `–` = no value.",
        "",
    ]
    line = groups_line(rows, benchmarks)
    if line:
        parts += [line, ""]
    for benchmark in benchmarks:
        measure = primary_measure(benchmark)
        if measure is None:
            continue
        gaps = group_gaps(rows, benchmark, measure)
        if not gaps or all(v is None for g in gaps.values() for v in g.values()):
            continue
        figure = plot_gaps(rows, benchmark, measure, out_dir / f"gap-{benchmark}.png")
        parts += [
            f"### {benchmark} ({measure})",
            "",
            *_gap_table(gaps),
            "",
            f"![gap per language, {benchmark}]({figure.name})",
            "",
        ]
    return parts


@dataclass(frozen=True)
class GapMatrix:
    """The gap figure's numbers: ``values[i][j]`` = oracle − ``systems[i]`` in
    ``langs[j]`` (None where either is missing). Systems: every non-oracle system but the
    data-budget variants, in :func:`~optical.experiment.plots.system_order`; languages: by
    resource group (:data:`GROUPS`), then by code."""

    benchmark: str
    measure: str
    systems: tuple[str, ...]
    langs: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]

    def texts(self) -> list[list[str]]:
        """Each cell's value with the measure's digits (``""`` where missing)."""
        return [
            ["" if v is None else format_score(self.measure, v) for v in row] for row in self.values
        ]


def gap_matrix(rows: Sequence[ResultRow], benchmark: str, measure: str) -> GapMatrix:
    """The system × language gaps to the oracle of one benchmark and measure."""
    table = value_table(rows, benchmark, measure)
    oracle = table.get("oracle", {})
    langs = sorted(
        (lang for lang in oracle if group_of(lang) is not None),
        key=lambda lang: (GROUPS.index(group_of(lang) or GROUPS[0]), lang),
    )
    systems = system_order(
        s for s in table if _spec(s).kind != "oracle" and not _spec(s).is_curve_point
    )
    values = tuple(
        tuple(
            oracle[lang] - table[system][lang] if lang in table[system] else None for lang in langs
        )
        for system in systems
    )
    return GapMatrix(benchmark, measure, tuple(systems), tuple(langs), values)


def gap_figure_size(matrix: GapMatrix) -> tuple[float, float]:
    """Inches for the heatmap: a fixed frame plus a cell per system and language."""
    return (3.6 + 0.5 * len(matrix.langs), 2.4 + 0.3 * len(matrix.systems))


def draw_gap_heatmap(ax: Any, matrix: GapMatrix) -> dict[tuple[str, str], Any]:
    """The gap matrix as an annotated heatmap on ``ax``: rows grouped by system group
    (separator lines, group titles on the right), columns by resource group (separators,
    group names on top). Returns the cell texts by (system, language)."""
    if not matrix.systems or not matrix.langs:
        ax.text(0.5, 0.5, "no gaps to draw", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return {}
    cells = annotated_heatmap(
        ax, matrix.values, matrix.texts(), f"gap = oracle − system ({matrix.measure})"
    )
    ax.set_xticks(range(len(matrix.langs)), matrix.langs, fontsize=8)
    ax.set_yticks(range(len(matrix.systems)), matrix.systems, fontsize=8)
    ax.tick_params(length=0)
    mark_groups(ax, group_spans(matrix.systems, system_group), SYSTEM_GROUPS, rows=True)
    lang_groups = [(g or "", first, last) for g, first, last in group_spans(matrix.langs, group_of)]
    mark_groups(ax, lang_groups, GROUP_TITLES, rows=False)
    ax.set_title(
        f"{matrix.benchmark}: gap to the English oracle per language ({matrix.measure}); "
        "columns by resource group",
        fontsize=9,
        pad=16,
    )
    return {
        (system, lang): cells[i][j]
        for i, system in enumerate(matrix.systems)
        for j, lang in enumerate(matrix.langs)
    }


def plot_gaps(rows: Sequence[ResultRow], benchmark: str, measure: str, path: Path) -> Path:
    """The gap to the oracle as a system × language heatmap (:func:`draw_gap_heatmap`)."""
    matrix = gap_matrix(rows, benchmark, measure)
    with chart(path, gap_figure_size(matrix)) as ax:
        draw_gap_heatmap(ax, matrix)
    return path


def ap_gain(rows: Sequence[ResultRow], benchmark: str) -> tuple[float, float, list[str]] | None:
    """(mean AP of OPTICAL, of NMT translate-test, languages used): the languages outside
    the high-resource group (low-resource and not in the pre-training) both have."""
    table = value_table(rows, benchmark, "AP")
    ours, theirs = table.get(OPTICAL, {}), table.get(NMT_TRANSLATE_TEST, {})
    langs = sorted(lang for lang in ours if lang in theirs and group_of(lang) in ("low", "unseen"))
    if not langs:
        return None
    return (
        statistics.fmean(ours[lang] for lang in langs),
        statistics.fmean(theirs[lang] for lang in langs),
        langs,
    )


def ap_section(rows: Sequence[ResultRow], benchmarks: Sequence[str]) -> list[str]:
    """Relative MAP gain of OPTICAL over NMT translate-test on the languages outside the
    high-resource group."""
    lines = []
    for benchmark in benchmarks:
        found = ap_gain(rows, benchmark)
        if found is None:
            continue
        ours, theirs, langs = found
        zero = value_table(rows, benchmark, "AP").get(ZERO_SHOT, {})
        zero_map = (
            statistics.fmean(zero[lang] for lang in langs)
            if all(lang in zero for lang in langs)
            else None
        )
        gain = 100 * (ours - theirs) / theirs if theirs else float("nan")
        verdict = (
            "not a test of the claim: the NMT baseline is below zero-shot"
            if zero_map is not None and theirs < zero_map
            else "reproduced (at least as large)"
            if gain >= PAPER_LOW_RESOURCE_MAP_GAIN
            else "same direction, smaller"
            if gain > 0
            else "not reproduced"
        )
        lines.append(
            f"| {benchmark} | {', '.join(langs)} | {ours:.3f} | {theirs:.3f} | "
            f"{_fmt(zero_map)} | {gain:+.1f} % | {verdict} |"
        )
    if not lines:
        return []
    return [
        "## OPTICAL vs NMT translate-test in MAP on low-resource languages",
        "",
        f"The OPTICAL paper reports +{PAPER_LOW_RESOURCE_MAP_GAIN} % MAP over an NMT-based "
        f"method on low-resource languages. Here: `{OPTICAL}` against `{NMT_TRANSLATE_TEST}` "
        "(the in-project NMT model trained on the same bitext), mean AP over the "
        "languages outside the high-resource group (low-resource, and not in the encoder's "
        "pre-training) each benchmark with relevance judgments has "
        "(XOR-TyDi held-out has none: agreement only). Read the gain beside zero-shot: an "
        "NMT model far below zero-shot makes any relative gain large.",
        "",
        "| benchmark | languages | MAP OPTICAL | MAP NMT translate-test | MAP zero-shot "
        "| relative gain | vs +13.7 % |",
        "|---|---|---|---|---|---|---|",
        *lines,
        "",
    ]


def budget_points(
    rows: Sequence[ResultRow], benchmark: str, measure: str
) -> dict[str, dict[float, ResultRow]]:
    """Method → bitext fraction → its macro row, for methods run at several budgets."""
    points: dict[str, dict[float, ResultRow]] = {}
    for row in rows:
        if row.benchmark != benchmark or row.measure != measure or row.lang != "macro":
            continue
        spec = _spec(row.system)
        share = spec.fraction if spec.fraction is not None else 1.0
        points.setdefault(spec.family, {})[share] = row
    return {m: p for m, p in points.items() if len(p) > 1}


def budget_curves(
    rows: Sequence[ResultRow], benchmark: str, measure: str
) -> dict[str, dict[float, float]]:
    """Method → bitext fraction → macro value, for methods run at several budgets."""
    return _pointvalue_table(budget_points(rows, benchmark, measure))


def _pointvalue_table(points: dict[str, dict[float, ResultRow]]) -> dict[str, dict[float, float]]:
    return {m: {f: row.value for f, row in p.items()} for m, p in points.items()}


def budget_section(
    rows: Sequence[ResultRow],
    benchmarks: Sequence[str],
    out_dir: Path,
    step_budgets: str | None = None,
    pairs_seen: Mapping[float, int] | None = None,
) -> list[str]:
    """Per benchmark, a table and figure of macro value against the bitext share.

    ``step_budgets`` (e.g. from :func:`step_budget_note`) says how many pairs the
    models draw at each share, so a reader can tell a data limit from a step limit;
    ``pairs_seen`` (share → pairs a student draws), when they differ by share, become the
    figure's x axis."""
    parts: list[str] = []
    for benchmark in benchmarks:
        measure = primary_measure(benchmark)
        points = budget_points(rows, benchmark, measure) if measure else {}
        if not points:
            continue
        fractions = sorted({f for p in points.values() for f in p})
        header = ["method", *(f"{round(f * 100)} %" for f in fractions)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for method in system_order(points):
            cells = [method]
            for f in fractions:
                row = points[method].get(f)
                cells.append("" if row is None else format_score(measure, row.value, row.std))
            lines.append("| " + " | ".join(cells) + " |")
        figure = plot_budget(
            _pointvalue_table(points),
            benchmark,
            measure,
            out_dir / f"budget-{benchmark}.png",
            system_colours(r.system for r in rows),
            pairs_seen,
        )
        parts += [
            f"### {benchmark} (macro {measure})",
            "",
            *lines,
            "",
            f"![budget {benchmark}]({figure.name})",
            "",
        ]
    if not parts:
        return []
    return [
        "## Data-budget curves",
        "",
        "Each trained method with 10 %, 30 % and 100 % of the training bitext (the NMT "
        "model of the back-translation and translate-test systems too); macro over the "
        "benchmark's languages. A point run with several seeds is their mean ± std (the "
        "figure plots the mean); the others are one seed."
        + (f" {step_budgets}" if step_budgets else ""),
        "",
        *parts,
    ]


def step_budget_note(
    student_steps: int,
    student_batch: int,
    nmt_steps: int,
    nmt_batch: int,
    proportional: bool = False,
    nmt_proportional: bool | None = None,
) -> str:
    """The training draws behind the points of a budget curve (the whole bitext's steps
    and batch sizes; ``proportional``: a student at a share trains that share of the
    steps; ``nmt_proportional``: the NMT model does, None = as the students)."""
    nmt_scaled = proportional if nmt_proportional is None else nmt_proportional
    student = _draws("a student", student_steps, student_batch, "pairs", proportional)
    nmt = _draws("the NMT model", nmt_steps, nmt_batch, "examples", nmt_scaled)
    if proportional == nmt_scaled:
        return _budget_sentence("All models", proportional, f"{student} and {nmt}")
    return (
        f"{_budget_sentence('The students', proportional, student)} "
        f"{_budget_sentence('The NMT models', nmt_scaled, nmt)}"
    )


def _draws(model: str, steps: int, batch: int, unit: str, proportional: bool) -> str:
    at = " at 100 %" if proportional else ""
    return f"{model} draws {steps} × {batch} = {steps * batch:,} {unit}{at}"


def _budget_sentence(who: str, proportional: bool, draws: str) -> str:
    """How ``who`` (a plural subject) were budgeted across the data shares."""
    if proportional:
        return (
            f"{who} train at each share for that share of the steps (`budget_steps = "
            f'"proportional"`): {draws}, at 10 % a tenth of that, so every share sees its '
            "pool as often and the curve measures what more bitext buys."
        )
    return (
        f"{who} train for the same number of steps at every share (`budget_steps = "
        '"fixed"`): ' + draws + ", so where a share's pool is larger than that, the "
        "curve measures the step budget, not the data."
    )


def plot_budget(
    curves: dict[str, dict[float, float]],
    benchmark: str,
    measure: str,
    path: Path,
    colours: Mapping[str, str] | None = None,
    pairs_seen: Mapping[float, int] | None = None,
) -> Path:
    """Macro value against the bitext share (:func:`draw_budget`)."""
    with chart(path, (6.0, 4.2)) as ax:
        draw_budget(ax, curves, measure, colours, pairs_seen)
        ax.set_title(f"{benchmark}: data budget")
    return path


def draw_budget(
    ax: Any,
    curves: dict[str, dict[float, float]],
    measure: str,
    colours: Mapping[str, str] | None = None,
    pairs_seen: Mapping[float, int] | None = None,
) -> list[Any]:
    """One line per method (a system family) in legend order, in its report colour
    (``colours``: :func:`system_colours` of every system of the report; by default of the
    curves' methods) with its group's marker, against the share of the bitext or, when
    ``pairs_seen`` gives every share a different count, the pairs a student draws (log
    scale either way). Returns the lines."""
    palette = dict(colours) if colours is not None else system_colours(curves)
    shares = sorted({x for points in curves.values() for x in points})
    seen = dict(pairs_seen or {})
    by_pairs = all(x in seen for x in shares) and len({seen[x] for x in shares}) == len(shares)
    position = {x: float(seen[x]) if by_pairs else 100 * x for x in shares}
    lines = []
    for method in system_order(curves):
        xs = sorted(curves[method])
        (line,) = ax.plot(
            [position[x] for x in xs],
            [curves[method][x] for x in xs],
            marker=system_marker(method),
            color=palette.get(method),
            label=method,
        )
        lines.append(line)
    ax.set_xscale("log")
    ax.minorticks_off()
    if by_pairs:
        labels = [f"{seen[x]:,}\n({round(100 * x)} %)" for x in shares]
        ax.set_xticks([position[x] for x in shares], labels)
        ax.set_xlabel("pairs a student draws (share of the training bitext)")
    else:
        ax.set_xticks([position[x] for x in shares], [f"{round(100 * x)} %" for x in shares])
        ax.set_xlabel("share of the training bitext")
    ax.set_ylabel(f"macro {measure}")
    ax.legend(fontsize=7)
    return lines


FORGETTING_BENCHMARK = "ntrex"
"""The out-of-domain probe of the forgetting check: NTREX news bitext retrieval."""


def _macro(rows: Sequence[ResultRow], benchmark: str, system: str, measure: str) -> float | None:
    """The macro value of a system on a benchmark: its ``macro`` row, else the mean of its
    per-language rows (None without rows)."""
    chosen = [r for r in rows if (r.benchmark, r.system, r.measure) == (benchmark, system, measure)]
    macro = [r.value for r in chosen if r.lang == "macro"]
    if macro:
        return macro[0]
    values = [r.value for r in chosen if is_known(r.lang)]
    return statistics.fmean(values) if values else None


def forgetting_changes(
    rows: Sequence[ResultRow], benchmarks: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """Trained system → benchmark → ``macro(system) − macro(zero-shot)`` in the primary
    measure (NTREX: P@1, macro over languages), for NTREX and each of ``benchmarks``."""
    names = [FORGETTING_BENCHMARK, *(b for b in benchmarks if b != FORGETTING_BENCHMARK)]
    systems = sorted({r.system for r in rows if r.benchmark in names and r.system != ZERO_SHOT})
    out: dict[str, dict[str, float | None]] = {}
    for system in systems:
        try:
            trained = _spec(system).method_spec is not None
        except Exception:  # a row label that is not a system name
            trained = False
        if not trained:
            continue
        changes: dict[str, float | None] = {}
        for benchmark in names:
            measure = primary_measure(benchmark)
            if measure is None:
                continue
            changes[benchmark] = _minus(
                _macro(rows, benchmark, system, measure),
                _macro(rows, benchmark, ZERO_SHOT, measure),
            )
        out[system] = changes
    return out


def forgetting_section(rows: Sequence[ResultRow], benchmarks: Sequence[str]) -> list[str]:
    """ "Forgetting check": per trained system, its change against zero-shot on NTREX
    (out-of-domain news bitext retrieval, P@1 macro over languages) beside its change on
    each target benchmark's primary measure; empty without NTREX rows."""
    changes = forgetting_changes(rows, benchmarks)
    if not changes or not any(c.get(FORGETTING_BENCHMARK) is not None for c in changes.values()):
        return []
    names = list(next(iter(changes.values())))
    header = [f"{b} ({primary_measure(b)})" for b in names]
    lines = [
        "## Forgetting check",
        "",
        "Change against zero-shot (trained system − zero-shot, macro over languages). "
        f"{FORGETTING_BENCHMARK} is out-of-domain bitext retrieval: a negative value there "
        "means the student lost some of its starting encoder's general ability.",
        "",
        "| system | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(header),
    ]
    for system, values in changes.items():
        cells = [_signed(values.get(b)) for b in names]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


CURVES_FILE = "nmt-curves.json"
"""In an experiment's output folder: each NMT backend's validation curve (written by the
run from the model's ``metrics.jsonl``, so the report re-renders without the cache)."""
CURVE_MEASURES = (
    ("loss", "validation loss"),
    ("chrF_xx-en", "chrF xx→en"),
    ("chrF_en-xx", "chrF en→xx"),
)


def nmt_curve_section(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    out_dir: Path,
    against: str = "step",
    figure: str = "nmt-curve.png",
) -> list[str]:
    """The learning curve of each in-project NMT model (validation loss and chrF of
    greedy translations of held-out training bitext, per evaluation): a table (with the
    training seconds so far, ``train_s``, where the log has them) and ``figure`` in
    ``out_dir`` (loss on the left axis, chrF on the right) against the training
    ``"step"`` or, to compare runs at equal wall time, ``"train_s"``.

    Points as :func:`optical.nmt.train.nmt_validation_curve` gives them: a chrF whose
    translations could emit ``<unk>`` (``unk_allowed``) is marked †, and the saved model
    scored again (``revalidated``) is its own row and a star in the figure, not part of
    the line."""
    curves = {backend: list(points) for backend, points in curves.items() if points}
    if not curves:
        return []
    parts = [
        "## NMT learning curve",
        "",
        "Validation on held-out pairs of the NMT training pool (never benchmark text): the "
        "mean token cross-entropy and the chrF of greedy translations, at each evaluation "
        "of training (`run.eval_every`); training time: the seconds of the training steps "
        "so far (validation and start-up not counted).",
        "",
    ]
    every = [p for points in curves.values() for p in points]
    if any(p.get("unk_allowed") for p in every):
        parts += [
            "† chrF of translations decoded with `<unk>` allowed: a run of `<unk>` "
            "decodes to nothing, so where the vocabulary misses a language's pieces these "
            "values understate the model. Rows marked *re-scored* are the saved model "
            "scored again on the same pairs with `<unk>` suppressed, as the translator "
            "decodes (`optical nmt-revalidate RUN`).",
            "",
        ]
    for backend, points in sorted(curves.items()):
        keys = [key for key, _ in CURVE_MEASURES if any(key in p for p in points)]
        timed = any("train_s" in p for p in points)
        header = [
            "step",
            *(["training time"] if timed else []),
            *(label for key, label in CURVE_MEASURES if key in keys),
        ]
        parts += [
            f"`{backend}`:",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *(
                "| "
                + " | ".join(
                    [
                        f"{p['step']} (re-scored)" if p.get("revalidated") else str(p["step"]),
                        *([_duration(p.get("train_s"))] if timed else []),
                        *(_curve_cell(p, k) for k in keys),
                    ]
                )
                + " |"
                for p in points
            ),
            "",
        ]
    path = out_dir / figure
    with chart(path, (7.0, 3.6 + 0.8 * (len(curves) - 1))) as ax:  # room for the legend
        right = ax.twinx()
        colours = system_colours(sorted(curves))
        styles = {"chrF_xx-en": ("s", "--"), "chrF_en-xx": ("^", ":")}
        for backend, all_points in sorted(curves.items()):
            points = [p for p in all_points if not p.get("revalidated")]
            again = [p for p in all_points if p.get("revalidated")]
            xs = [p.get(against) for p in points]
            colour = colours.get(backend)
            ax.plot(
                xs, [p.get("loss") for p in points], marker="o", color=colour,
                label=f"{backend} loss",
            )  # fmt: skip
            for key, label in CURVE_MEASURES[1:]:
                if any(key in p for p in points):
                    marker, line = styles[key]
                    dagger = " †" if any(p.get("unk_allowed") for p in points) else ""
                    right.plot(
                        xs, [p.get(key) for p in points], marker=marker, linestyle=line,
                        color=colour, label=f"{backend} {label}{dagger}",
                    )  # fmt: skip
                if any(key in p for p in again):
                    right.plot(
                        [p.get(against) for p in again], [p.get(key) for p in again],
                        marker="*", markersize=11, linestyle="none", color=colour,
                        label=f"{backend} {label} (re-scored)",
                    )  # fmt: skip
        ax.set_xlabel("training step" if against == "step" else "training seconds")
        ax.set_ylabel("validation loss")
        right.set_ylabel("chrF")
        legend_below(ax, 2, twins=[right], gap=0.2)
    return [*parts, f"![NMT learning curve]({path.name})", ""]


def _curve_cell(point: Mapping[str, Any], key: str) -> str:
    """One measure of a curve point (chrF decoded with ``<unk>`` allowed marked †)."""
    text = _curve_value(point.get(key), key)
    return f"{text} †" if text and key != "loss" and point.get("unk_allowed") else text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _curve_value(value: Any, key: str) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if key == "loss" else f"{value:.1f}"
