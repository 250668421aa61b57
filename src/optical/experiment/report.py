"""Markdown report and per-language bar charts from experiment rows.

Tables: one per benchmark and headline measure, systems × languages, with the
macro average over non-English languages, the gap to the English oracle
(oracle − system, macro) and significance marks against the baseline.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OpticalError
from ..evaluate.measures import format_score
from ..io_utils import atomic_write_text
from ..precision import encode_precision, precision_name
from .artifacts import budget_steps
from .benchmarks import BENCHMARKS, MT_BENCHMARK, MT_SETS, XQUAD, BenchmarkSpec, primary_measure
from .conclusion import conclusion
from .names import SystemSpec
from .plots import chart, legend_below, system_colours, system_order
from .report_sections import (
    CURVES_FILE,
    ap_section,
    budget_section,
    forgetting_section,
    gap_section,
    nmt_curve_section,
    step_budget_note,
)
from .results import (
    ResultRow,
    SignificanceRow,
    best_translate_test,
    significance_marks,
    value_table,
)
from .student_curves import STUDENT_CURVES_FILE, student_curve_section

if TYPE_CHECKING:
    from ..timing import Timer
    from ..types import RetrievalBenchmark
    from .config import ExperimentConfig

ALPHA = 0.05


def _languages(table: dict[str, dict[str, float]]) -> list[str]:
    langs = sorted({lang for values in table.values() for lang in values} - {"macro", "en"})
    if any("en" in values for values in table.values()):
        langs.append("en")
    return langs


def _system_order(systems: Sequence[str]) -> list[str]:
    def key(name: str) -> tuple[int, str]:
        spec = SystemSpec.parse(name)
        if spec.is_oracle:
            return (0, name)
        if spec.kind == "oracle":
            return (1, name)
        return (2, name)

    return sorted(systems, key=key)


def gap_to_oracle(table: dict[str, dict[str, float]], system: str, lang: str) -> float | None:
    """oracle − system in one language (None when either is missing)."""
    oracle = table.get("oracle", {}).get(lang)
    value = table.get(system, {}).get(lang)
    if oracle is None or value is None:
        return None
    return oracle - value


def best_translate_test_of(rows: Sequence[ResultRow], benchmark: str) -> str | None:
    """The benchmark's best translate-test system on its primary measure (the second
    baseline of the significance tests), None without one."""
    measure = primary_measure(benchmark)
    return None if measure is None else best_translate_test(rows, benchmark, measure)


def markdown_table(
    rows: Sequence[ResultRow],
    significance: Sequence[SignificanceRow],
    benchmark: str,
    measure: str,
    baseline: str = "zero-shot",
) -> str:
    """Systems × languages for one measure, with macro, macro gap to the oracle and marks.

    ``▲``/``▼``: significantly above/below ``baseline`` (Holm-corrected p < 0.05);
    ``△``/``▽``: the same against the benchmark's best translate-test system
    (:func:`~optical.experiment.results.significance_marks`). A multi-seed value shows as
    ``mean±std``.
    """
    table = value_table(rows, benchmark, measure)
    if not table:
        return ""
    langs = _languages(table)
    stds = {
        (r.system, r.lang): r.std
        for r in rows
        if r.benchmark == benchmark and r.measure == measure and r.std is not None
    }
    marks = significance_marks(
        significance, benchmark, measure, baseline, best_translate_test_of(rows, benchmark), ALPHA
    )
    header = ["system", *langs, "macro", "gap to oracle"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system in _system_order(list(table)):
        cells = [system]
        for lang in [*langs, "macro"]:
            value = table[system].get(lang)
            cell = (
                ""
                if value is None
                else format_score(measure, value, stds.get((system, lang)))
                + marks.get((system, lang), "")
            )
            cells.append(cell)
        gaps = [
            g
            for lang in langs
            if lang != "en"
            if (g := gap_to_oracle(table, system, lang)) is not None
        ]
        cells.append(format_score(measure, sum(gaps) / len(gaps)) if gaps else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_benchmark(rows: Sequence[ResultRow], benchmark: str, measure: str, path: Path) -> Path:
    """Grouped bar chart of one benchmark and measure (:func:`draw_benchmark`)."""
    systems = value_table(rows, benchmark, measure)
    langs = len(_languages(systems)) + 1
    with chart(path, (max(6, 1.2 * langs), 4.8 + 0.12 * len(systems))) as ax:
        draw_benchmark(ax, rows, benchmark, measure)
        legend_below(ax)
    return path


def draw_benchmark(ax: Any, rows: Sequence[ResultRow], benchmark: str, measure: str) -> list[Any]:
    """One group of bars per language (and the macro), one bar per system in legend order
    (:func:`~optical.experiment.plots.system_order`), coloured as in every figure of the
    report (:func:`~optical.experiment.plots.system_colours` of all ``rows``); data-budget
    variants hatched. Returns the bar containers, one per system."""
    table = value_table(rows, benchmark, measure)
    langs = [*_languages(table), "macro"]
    systems = system_order(table)
    colours = system_colours(r.system for r in rows)
    width = 0.8 / max(len(systems), 1)
    bars = []
    for i, system in enumerate(systems):
        bars.append(
            ax.bar(
                [j + i * width for j in range(len(langs))],
                [table[system].get(lang, 0.0) for lang in langs],
                width=width,
                label=system,
                color=colours[system],
                hatch="///" if SystemSpec.parse(system).is_curve_point else None,
                linewidth=0,
            )
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(langs))], langs)
    ax.set_ylabel(measure)
    ax.set_title(f"{benchmark}: {measure} per language")
    return bars


def teacher_choice(cfg: ExperimentConfig, rows: Sequence[ResultRow]) -> list[str]:
    """A short section comparing the oracle with each candidate English encoder."""
    oracles = {"oracle": cfg.models.teacher} | {
        SystemSpec("oracle", encoder=c).name: c
        for c in cfg.models.oracle_candidates
        if c != cfg.models.teacher
    }
    lines = []
    for system, encoder in oracles.items():
        xquad = [
            r.value
            for r in rows
            if r.system == system
            and r.benchmark == XQUAD.id
            and r.lang == "en"
            and r.measure == XQUAD.primary
        ]
        if xquad:
            lines.append(
                f"| `{encoder}`{' (teacher)' if system == 'oracle' else ''} | {xquad[0]:.3f} |"
            )
    if len(lines) < 2:
        return []
    return [
        "## Teacher choice",
        "",
        "The English oracle (human English question, dense retrieval) with each offline "
        "English-capable encoder, XQuAD-CLIR English RR@10; the configured teacher should "
        "be the better one.",
        "",
        "| encoder | RR@10 (en) |",
        "|---|---|",
        *lines,
        "",
    ]


def mt_quality_section(cfg: ExperimentConfig, rows: Sequence[ResultRow]) -> list[str]:
    """BLEU and chrF of each MT backend on each MT-quality set (:data:`MT_SETS`),
    languages × (backend, direction)."""
    parts: list[str] = []
    for name in MT_SETS:
        parts += _mt_set_section(cfg, [r for r in rows if r.benchmark == name], name)
    return parts


def _mt_set_section(cfg: ExperimentConfig, mt: Sequence[ResultRow], name: str) -> list[str]:
    if not mt:
        return []
    langs = sorted(
        {
            r.lang.split("-")[0] if r.lang.endswith("-en") else r.lang.split("-")[1]
            for r in mt
            if not r.lang.startswith("macro")
        }
    )
    domain = (
        " NTREX is news; the training bitext is mostly short questions and Tatoeba sentences."
        if name == MT_BENCHMARK
        else " These questions are in the domain of the training bitext, never trained on."
    )
    parts = [
        f"## MT quality on {MT_SETS[name]} (`{name}`)",
        "",
        f"Corpus BLEU and chrF (sacrebleu) of each MT backend; `nmt` is the in-project model "
        f"of `{cfg.translate.nmt}` (frozen encoder + small decoder trained on the training "
        "bitext only), decoded with "
        + ("greedy search" if cfg.translate.beams == 1 else f"beam {cfg.translate.beams}")
        + "."
        + domain,
        "",
    ]
    optim = cfg.translate.nmt_config.optim
    parts += [
        f"The `nmt` model trained for {optim.max_steps} steps of {optim.batch_size} pairs "
        f"({optim.max_steps * optim.batch_size:,} pairs drawn in all).",
        "",
    ]
    for measure in ("BLEU", "chrF"):
        values = {(r.system, r.lang): r.value for r in mt if r.measure == measure}
        systems = sorted({r.system for r in mt})
        header = ["backend", "direction", *langs, "macro"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for system in systems:
            for kind in ("xx-en", "en-xx"):
                cells = [system, kind]
                for lang in langs:
                    key = f"{lang}-en" if kind == "xx-en" else f"en-{lang}"
                    value = values.get((system, key))
                    cells.append("" if value is None else f"{value:.1f}")
                macro = values.get((system, f"macro-{kind}"))
                cells.append("" if macro is None else f"{macro:.1f}")
                lines.append("| " + " | ".join(cells) + " |")
        parts += [f"### {measure}", "", *lines, ""]
    return parts


def _step_budgets(
    cfg: ExperimentConfig, rows: Sequence[ResultRow]
) -> tuple[str | None, dict[float, int]]:
    """The training draws behind data-budget points: the note under the curves and the
    pairs a student draws at each share (:func:`~optical.experiment.artifacts.budget_steps`;
    none without such points, or when the configs cannot be read)."""
    specs = [SystemSpec.parse(r.system) for r in rows if r.benchmark in BENCHMARKS]
    shares = {s.fraction for s in specs if s.is_curve_point and s.fraction is not None}
    if not shares:
        return None, {}
    try:
        student = cfg.distill.base.optim
        nmt = cfg.translate.nmt_config.optim
    except (OSError, OpticalError):
        return None, {}
    pairs = {
        share: budget_steps(cfg.budget_steps, share, student).get("max_steps", student.max_steps)
        * student.batch_size
        for share in shares
    }
    pairs[1.0] = student.max_steps * student.batch_size
    note = step_budget_note(
        student.max_steps,
        student.batch_size,
        nmt.max_steps,
        nmt.batch_size,
        proportional=cfg.budget_steps == "proportional",
        nmt_proportional=cfg.nmt_budget_steps == "proportional",
    )
    return note, pairs


def collection_line(spec: BenchmarkSpec, bench: RetrievalBenchmark) -> str:
    """The collection and the questions of a built benchmark, in one line (or why it
    was skipped)."""
    if bench.skipped:
        return f"Skipped: {bench.skipped}."
    questions = ", ".join(f"{lang} {len(q):,}" for lang, q in sorted(bench.queries.items()))
    return f"Collection: {spec.corpus(bench)}. Questions per language: {questions}."


def _curves(out_dir: Path, name: str, kind: type) -> Any:
    """A curves file the run wrote beside the report (``CURVES_FILE``: a dict of NMT
    curves; ``STUDENT_CURVES_FILE``: a list of student curves); empty when absent."""
    import json

    try:
        data = json.loads((out_dir / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return kind()
    return data if isinstance(data, kind) else kind()


def write_report(
    cfg: ExperimentConfig,
    rows: Sequence[ResultRow],
    significance: Sequence[SignificanceRow],
    timer: Timer,
    out_dir: Path,
    scope_note: str | None = None,
    provenance: Sequence[str] = (),
    collections: Mapping[str, RetrievalBenchmark] | None = None,
) -> Path:
    """Write ``report.md`` and the charts into ``out_dir`` (``scope_note``: says what a
    partial run left out; ``provenance``: the markdown lines recording how the outputs
    were produced, :func:`optical.provenance.provenance_section`; ``collections``: the
    built benchmarks by id, whose collection sizes the report states)."""
    parts = [
        f"# optical experiment: {cfg.name}",
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on "
        f"{platform.machine()} ({platform.system()}), Python {platform.python_version()}. "
        f"Teacher: `{cfg.models.teacher}`; student: `{cfg.models.student}`; "
        f"device: {cfg.device_type}; "
        f"precision: {precision_name(cfg.models.bf16, cfg.device_type)} (bf16 requested: "
        f"{cfg.models.bf16}; honoured only where the device has native bf16), encoding for "
        f"retrieval: {encode_precision(cfg.models.bf16, cfg.models.int8, cfg.device_type)}. "
        "Significance: paired "
        f"{cfg.significance_test} test against "
        f"`{cfg.significance_baseline}` (▲/▼) and against the best translate-test system of "
        "each benchmark (△/▽; `tt-oracle-*` excluded), Holm-corrected per benchmark, measure "
        "and baseline; a mark = significantly better/worse (p < 0.05); `significance.json` "
        "also holds `optical-ot` against each NMT-based system (the conclusion's paired "
        "test). `macro` averages the "
        "non-English languages; `gap to oracle` is the macro of (oracle − system) per "
        f"language. Trained systems: seeds {list(cfg.run_seeds)}"
        + (", values are mean±std over seeds." if len(cfg.run_seeds) > 1 else "."),
        "",
    ]
    if scope_note:
        parts += [scope_note, ""]
    parts += teacher_choice(cfg, rows)
    for benchmark in cfg.benchmarks:
        spec = BENCHMARKS[benchmark]
        parts += [f"## {spec.title}", "", spec.note, ""]
        if collections and benchmark in collections:
            parts += [collection_line(spec, collections[benchmark]), ""]
        for measure in spec.headline:
            table = markdown_table(
                rows, significance, benchmark, measure, cfg.significance_baseline
            )
            if table:
                parts += [f"### {measure}", "", table, ""]
        primary = spec.primary
        if value_table(rows, benchmark, primary):
            chart = plot_benchmark(rows, benchmark, primary, out_dir / f"{benchmark}.png")
            parts += [f"![{benchmark} {primary}]({chart.name})", ""]
    parts += mt_quality_section(cfg, rows)
    parts += nmt_curve_section(_curves(out_dir, CURVES_FILE, dict), out_dir)
    parts += student_curve_section(_curves(out_dir, STUDENT_CURVES_FILE, list), out_dir)
    parts += gap_section(rows, cfg.benchmarks, out_dir)
    parts += ap_section(rows, cfg.benchmarks)
    parts += forgetting_section(rows, cfg.benchmarks)
    note, pairs_seen = _step_budgets(cfg, rows)
    parts += budget_section(rows, cfg.benchmarks, out_dir, note, pairs_seen)
    heatmaps = sorted((out_dir / "alignments").glob("*.png"))
    if heatmaps:
        parts += [
            "## OT alignments of `optical-ot`",
            "",
            "The transport plan between the student's tokens of a held-out question "
            "(rows) and the teacher's tokens of its human English translation "
            "(columns), one example per language.",
            "",
        ]
        parts += [f"![{p.stem}](alignments/{p.name})" for p in heatmaps] + [""]
    parts += conclusion(rows, significance, cfg.benchmarks)
    parts += list(provenance)
    parts += ["## Where the time went", ""]
    if provenance:
        parts += ["This invocation's stages:", ""]
    parts += ["```", timer.table(), "```", ""]
    return atomic_write_text(out_dir / "report.md", "\n".join(parts))
