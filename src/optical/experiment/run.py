"""The main job: benchmarks × systems × languages → runs, scores, significance, report.

``run_experiment(config, out_dir)`` writes into ``out_dir``:

* ``results.json`` — :class:`~optical.experiment.results.ResultRow` rows
  (``lang = "macro"`` rows average the non-English languages);
* ``significance.json`` — paired tests against the baseline system, Holm-corrected
  per benchmark and measure;
* ``report.md`` and one bar chart per benchmark (``<benchmark>.png``); ``report.html``
  (the tables, the figures and a per-query explorer: :mod:`.report_html`);
* ``runs/<benchmark>/<system>.<lang>.trec`` and ``config.resolved.json``.
"""

from __future__ import annotations

import functools
import json
import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError
from ..io_utils import atomic_write_json
from ..precision import encode_precision_key, precision_name
from ..settings import cache_dir, data_dir, use_cache_dir
from ..timing import Timer
from ..types import Query, RetrievalBenchmark, Run
from .artifacts import (
    Bitext,
    backtranslated_bitext,
    ensure_student,
    human_bitext,
    setup_translators,
    student_folder,
)
from .benchmarks import BENCHMARKS, HEADLINE, MT_BENCHMARK, BenchmarkSpec
from .cells import Cell, cell_key, cell_settings, load_cell, save_cell
from .config import ExperimentConfig
from .names import OPTICAL, SystemSpec
from .progress import ExperimentProgress
from .provenance import Invocation, provenance_section, record_invocation, this_hardware
from .results import (
    ResultRow,
    ScoreKey,
    SeedScores,
    SignificanceRow,
    mean_over_seeds,
    nmt_based_systems,
    rows_from_seed_scores,
    significance_rows,
    write_results,
)
from .scope import RunScope
from .systems import System, SystemNotApplicable, resolve_systems, run_system
from .workbench import Workbench

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentResult:
    rows: list[ResultRow]
    significance: list[SignificanceRow]
    timings: dict[str, float]
    total_seconds: float
    out_dir: Path


@dataclass
class _Tally:
    """What the cell loop found: scores per seed, MT rows, skipped cells, cell counts."""

    seed_scores: SeedScores = field(default_factory=dict)
    mt_rows: list[ResultRow] = field(default_factory=list)
    alignment_examples: dict[str, tuple[str, str]] = field(default_factory=dict)
    skipped: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0


ALIGNMENT_STAMP = "alignments.json"
"""Beside the heatmaps: what they were drawn from (student folder, teacher, examples)."""


def draw_alignments(
    wb: Workbench, cfg: ExperimentConfig, examples: dict[str, tuple[str, str]], folder: Path
) -> list[Path]:
    """One OT alignment heatmap per language (``optical-ot`` student vs the teacher) for a
    held-out question and its human English translation. Heatmaps drawn from the same
    student, teacher and examples (``alignments.json`` says) are kept: nothing is loaded."""
    from ..align import plot_alignment

    student_dir = wb.students[(OPTICAL.student_id, cfg.run_seeds[0])]
    stamp = {
        "student": wb.label(str(student_dir)),
        "teacher": cfg.models.teacher,
        "precision": precision_name(cfg.models.bf16, cfg.device_type),
        "examples": {lang: list(pair) for lang, pair in sorted(examples.items())},
    }
    paths = [folder / f"{lang}.png" for lang in sorted(examples)]
    if _read_json(folder / ALIGNMENT_STAMP) == stamp and all(p.is_file() for p in paths):
        logger.info("alignment heatmaps are up to date in %s", folder)
        return paths
    student = wb.encoder(str(student_dir))
    teacher = wb.encoder(cfg.models.teacher)
    for lang, path in zip(sorted(examples), paths, strict=True):
        source, english = examples[lang]
        plot_alignment(student, source, english, path, teacher=teacher)
    atomic_write_json(folder / ALIGNMENT_STAMP, stamp)
    return paths


def _read_json(path: Path) -> object:
    """The JSON value in ``path`` (None when missing or unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def mt_quality_rows(
    wb: Workbench,
    queries: Mapping[str, Sequence[Query]],
    out_dir: Path | None = None,
    name: str = MT_BENCHMARK,
) -> list[ResultRow]:
    """Rows of MT-quality set ``name`` (:data:`MT_SETS`): BLEU / chrF of every MT backend
    (not the oracle) per language and direction on ``queries`` (each with its human
    English translation), plus ``macro-xx-en`` / ``macro-en-xx`` means over languages.
    With ``out_dir`` the rows are kept in ``cells/<name>.json`` under a key of the
    backends' fingerprints and the sentence pairs, and read back while it matches."""
    from ..evaluate.mt import ntrex_mt_scores

    backends = sorted(b for b in wb.translators if b != "oracle")
    record = None if out_dir is None else Path(out_dir) / "cells" / f"{name}.json"
    key = cell_key(
        {
            "backends": {b: wb.translators[b].fingerprint() for b in backends},
            "pairs": {
                lang: [(q.id, q.text, q.english) for q in items]
                for lang, items in sorted(queries.items())
            },
        }
    )
    found = None if record is None else _read_json(record)
    if isinstance(found, dict) and found.get("key") == key:
        return [ResultRow(**row) for row in found["rows"]]
    with wb.timer("evaluate MT"):
        scores = ntrex_mt_scores(queries, backends, wb.translate)
    rows = [ResultRow(name, s.backend, s.lang, s.measure, s.value, s.n) for s in scores]
    groups: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        kind = "xx-en" if row.lang.endswith("-en") else "en-xx"
        groups.setdefault((row.system, kind, row.measure), []).append(row.value)
    rows += [
        ResultRow(name, system, f"macro-{kind}", measure, statistics.fmean(v), len(v))
        for (system, kind, measure), v in groups.items()
    ]
    if record is not None:
        atomic_write_json(record, {"key": key, "rows": [asdict(row) for row in rows]})
    return rows


def system_settings(
    wb: Workbench, cfg: ExperimentConfig, spec: SystemSpec, seed: int | None, cache_root: Path
) -> dict:
    """What (besides the data) determines a system's runs: the models and retrieval
    settings, its student folder (which hashes its training config and pool: the folder
    this run trained or reused) or its translator."""
    # the precision encoders actually run at, not the int8 request (fp32 adds nothing)
    models = {k: v for k, v in asdict(cfg.models).items() if k != "int8"}
    settings: dict = {"models": models, "retrieval": asdict(cfg.retrieval)}
    settings.update(encode_precision_key(cfg.models.bf16, cfg.models.int8, cfg.device_type))
    if spec.is_trained:
        trained = wb.students.get((spec.student_id, seed))
        folder = (
            trained.parent if trained is not None else student_folder(spec, cfg, cache_root, seed)
        )
        settings["student"] = folder.name
    backend = spec.translator
    if backend is not None and backend in wb.translators:
        settings["translator"] = wb.translators[backend].fingerprint()
    if backend == "psq" and wb.psq_tables is not None:
        settings["translator"] = wb.psq_tables.fingerprint()
    return settings


def _check_systems(cfg: ExperimentConfig, systems: dict[str, System]) -> None:
    if cfg.significance_baseline not in systems:
        raise ConfigError(
            f"significance_baseline {cfg.significance_baseline!r} is not among the systems "
            f"run: {', '.join(systems)}"
        )
    if "xor-tydi-heldout" in cfg.benchmarks and "oracle" not in systems:
        raise ConfigError(
            "xor-tydi-heldout scores agreement with the oracle: add 'oracle' "
            "to [experiment] systems"
        )


def _train_students(
    wb: Workbench,
    cfg: ExperimentConfig,
    scope: RunScope,
    chosen: Sequence[SystemSpec],
    cache_root: Path,
    root: Path,
    bitext: Callable[[], Bitext],
    progress: ExperimentProgress | None = None,
) -> None:
    """Every student the chosen systems read, for every seed they run with, trained once
    (or reused) into ``wb.students``; ``bitext()`` gives the human training bitext (called
    only when a student is trained). A reused student is not loaded here (only a cell
    that is computed loads it)."""
    students = list(
        dict.fromkeys(SystemSpec.parse(s.student_id) for s in chosen if s.student_id is not None)
    )
    todo = [(spec, seed) for spec in students for seed in scope.seeds_of(cfg, spec)]
    for number, (spec, seed) in enumerate(todo, 1):
        if progress is not None:
            progress.stage(f"train {spec.student_id} seed {seed} ({number}/{len(todo)})")
        with wb.timer(f"train {spec.student_id}"):
            wb.students[(spec.student_id, seed)] = ensure_student(
                spec,
                cfg,
                cache_root,
                root,
                make_bitext=lambda s=spec: _training_pairs(wb, cfg, s, bitext, root),
                seed=seed,
            )


def _training_pairs(
    wb: Workbench,
    cfg: ExperimentConfig,
    spec: SystemSpec,
    human: Callable[[], Bitext],
    root: Path,
) -> Bitext:
    """A student's training pairs: the human bitext, or the pairs back-translated from it
    (the back-translated pool is the same for every seed: translated once, and each seed
    samples and splits it differently)."""
    method = spec.method_spec
    if method is not None and method.data != "bitext":
        return backtranslated_bitext(wb, cfg, spec, human(), root)
    return human()


def _runs_on(bspec: BenchmarkSpec, spec: SystemSpec) -> bool:
    """Whether a system runs on a benchmark (readers of the human English question do
    not run where the English text is the target; the oracle stays as the ceiling)."""
    return bspec.english_readers or not spec.reads_english or spec.is_oracle


def _cell_groups(
    cfg: ExperimentConfig, scope: RunScope, systems: dict[str, System], bspec: BenchmarkSpec
) -> list[tuple[System, int | None]]:
    """The (system, seed) pairs that run on one benchmark, in run order (the oracle
    first: other cells are scored against its runs); each runs every language of the
    benchmark. The one rule of what runs: the cell loop and the planned total read it."""
    order = ["oracle", *[s for s in systems if s != "oracle"]]
    groups: list[tuple[System, int | None]] = []
    for name in order:
        if name not in systems or not _runs_on(bspec, systems[name].spec):
            continue
        spec = systems[name].spec
        seeds: tuple[int | None, ...] = scope.seeds_of(cfg, spec) if spec.is_trained else (None,)
        groups += [(systems[name], seed) for seed in seeds]
    return groups


def planned_cells(
    cfg: ExperimentConfig,
    scope: RunScope,
    systems: dict[str, System],
    benches: dict[str, RetrievalBenchmark],
) -> int:
    """How many cells the run has (read back, computed or skipped): per benchmark, its
    (system, seed) pairs × its languages."""
    return sum(
        len(_cell_groups(cfg, scope, systems, BENCHMARKS[name])) * len(bench.queries)
        for name, bench in benches.items()
    )


def _seed_label(seed: int | None) -> str:
    return "" if seed is None else f" seed {seed}"


def _run_cells(
    wb: Workbench,
    cfg: ExperimentConfig,
    scope: RunScope,
    systems: dict[str, System],
    bspec: BenchmarkSpec,
    bench: RetrievalBenchmark,
    out_dir: Path,
    tally: _Tally,
    progress: ExperimentProgress,
) -> None:
    """Every (system, seed, language) cell of one benchmark: read back or computed, then
    scored into ``tally``."""
    oracle_runs: dict[str, Run] = {}
    for system, seed in _cell_groups(cfg, scope, systems, bspec):
        spec = system.spec
        run_cfg = cfg if seed is None else replace(cfg, seed=seed)
        settings = system_settings(wb, run_cfg, spec, seed, wb.cache_root)
        settings["benchmark"] = asdict(bspec.settings_of(cfg))
        for lang, queries in bench.queries.items():
            progress.stage(f"{bspec.id}: {system.name}{_seed_label(seed)} {lang}")
            cell = Cell(bspec.id, system.name, lang, seed if len(cfg.run_seeds) > 1 else None)
            run = _cell_run(wb, run_cfg, system, bench, queries, cell, settings, out_dir, tally)
            progress.cell_done()
            if run is None:
                continue
            if spec.is_oracle:
                oracle_runs[lang] = run
            with wb.timer("evaluate"):
                found = bspec.score(bench, lang, run, oracle_runs.get(lang))
            for measure, values in found.items():
                score_key = ScoreKey(bspec.id, system.name, lang, measure)
                tally.seed_scores.setdefault(score_key, {})[seed] = values
        if spec.is_trained and (spec.student_id, seed) in wb.students:
            # a study holds dozens of students: keep one in memory at a time
            wb.release(str(wb.students[(spec.student_id, seed)]))


def _cell_run(
    wb: Workbench,
    run_cfg: ExperimentConfig,
    system: System,
    bench: RetrievalBenchmark,
    queries: Sequence[Query],
    cell: Cell,
    settings: dict,
    out_dir: Path,
    tally: _Tally,
) -> Run | None:
    """One cell's run: read back when finished, else computed and saved (None: the
    system does not apply to this language, recorded in ``tally.skipped``)."""
    full = cell_settings(cell, settings, bench, queries)
    key = cell_key(full)
    done = load_cell(out_dir, cell, key)
    if done is not None:
        tally.reused += 1
        return done[0]
    started = time.perf_counter()
    try:
        run = run_system(system, wb, run_cfg, bench, queries)
    except SystemNotApplicable as exc:
        tally.skipped.setdefault((cell.benchmark, cell.system, str(exc)), []).append(cell.lang)
        return None
    save_cell(out_dir, cell, key, full, run, time.perf_counter() - started)
    tally.computed += 1
    return run


def _significance(
    cfg: ExperimentConfig, seed_scores: SeedScores, rows: Sequence[ResultRow]
) -> list[SignificanceRow]:
    """Tests against the configured baseline, then, per benchmark, against its best
    translate-test system (on its primary measure) and OPTICAL against each NMT-based
    system (the conclusion's test of the OPTICAL paper's claim; its own Holm family per
    rival, unless the rival is the best translate-test system, already tested)."""
    from .report import best_translate_test_of  # with matplotlib: not at start-up

    scores = mean_over_seeds(seed_scores)
    sig = significance_rows(
        scores, cfg.significance_baseline, cfg.significance_test, cfg.seed, measures=HEADLINE
    )
    for bench_name in cfg.benchmarks:
        bench_scores = {k: v for k, v in scores.items() if k.benchmark == bench_name}
        best = best_translate_test_of(rows, bench_name)
        if best is not None:
            sig += significance_rows(
                bench_scores, best, cfg.significance_test, cfg.seed, measures=HEADLINE
            )
        for rival in nmt_based_systems(rows, bench_name):
            if rival == best:
                continue
            pair = {k: v for k, v in bench_scores.items() if k.system in (OPTICAL.name, rival)}
            sig += significance_rows(
                pair, rival, cfg.significance_test, cfg.seed, measures=HEADLINE
            )
    return sig


def _prepare(
    cfg: ExperimentConfig, out_dir: Path, scope: RunScope
) -> tuple[list[SystemSpec], dict[str, System]]:
    scope.check(cfg)
    resolved = cfg.to_dict()
    # the sub-configs the systems read, resolved (their files may change later)
    if any(s.is_trained for s in cfg.systems):
        resolved["distill"]["resolved"] = cfg.distill.base.to_dict()
    if any(s.is_back_translation for s in cfg.systems):
        resolved["translate"]["nmt_resolved"] = cfg.translate.nmt_config.to_dict()
    if scope.partial:
        resolved["scope"] = {"systems": [s.name for s in scope.systems_of(cfg)]}
        resolved["scope"]["seeds"] = scope.seeds
    atomic_write_json(out_dir / "config.resolved.json", resolved)
    chosen = scope.systems_of(cfg)
    names = {s.name for s in chosen}
    systems = {
        name: system
        for name, system in resolve_systems(cfg).items()
        if name in names or (system.spec.kind == "oracle" and not system.spec.is_oracle)
    }
    _check_systems(cfg, systems)
    return chosen, systems


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: Path,
    data: Path | None = None,
    cache: Path | None = None,
    scope: RunScope | None = None,
    command: str | None = None,
) -> ExperimentResult:
    """Run every configured benchmark × system × language (× seed for trained systems)
    and write the outputs. Finished cells (:mod:`optical.experiment.cells`) are read back,
    not recomputed: an interrupted experiment resumes where it stopped. ``scope``
    restricts this run to some systems / seeds (:class:`RunScope`). Each finished
    invocation is recorded (``command``, wall time, hardware:
    :mod:`optical.experiment.provenance`) and the report lists every recorded invocation
    of ``out_dir``. ``cache`` (default :func:`optical.settings.cache_dir`) holds every
    cache, the encoders' model folders included."""
    with use_cache_dir(cache):
        return _run_experiment(cfg, Path(out_dir), data, cache, scope, command)


def _run_experiment(
    cfg: ExperimentConfig,
    out_dir: Path,
    data: Path | None,
    cache: Path | None,
    scope: RunScope | None,
    command: str | None,
) -> ExperimentResult:
    import torch

    timer = Timer()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    torch.manual_seed(cfg.seed)
    root = data_dir(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scope = scope or RunScope()
    chosen, systems = _prepare(cfg, out_dir, scope)
    token_encoders = {
        encoder
        for system in resolve_systems(cfg).values()
        if (encoder := system.token_encoder(cfg)) is not None
    }
    cache_root = cache_dir(cache)
    wb = Workbench(
        cache_root,
        bf16=cfg.models.bf16,
        timer=timer,
        token_encoders=token_encoders,
        int8=cfg.models.int8,
        device=cfg.run.device,
    )
    benches = _load_benchmarks(cfg, root, timer)
    with ExperimentProgress(planned_cells(cfg, scope, systems, benches)) as progress:
        progress.stage("translators")
        # the human training bitext, loaded at most once: students and PSQ tables read it
        bitext = functools.cache(lambda: human_bitext(cfg, root))
        setup_translators(wb, cfg, cache_root, root, chosen, bitext)
        _write_nmt_curves(wb, out_dir)
        _train_students(wb, cfg, scope, chosen, cache_root, root, bitext, progress)
        _write_student_curves(wb, out_dir)
        tally = _all_cells(wb, cfg, scope, systems, benches, out_dir, progress)
        if any(sid == OPTICAL.student_id for sid, _ in wb.students) and tally.alignment_examples:
            progress.stage("alignment heatmaps")
            with timer("alignment heatmaps"):
                draw_alignments(wb, cfg, tally.alignment_examples, out_dir / "alignments")
        progress.stage("significance")
        with timer("significance"):
            rows = rows_from_seed_scores(tally.seed_scores) + tally.mt_rows
            sig = _significance(cfg, tally.seed_scores, rows)
        progress.stage("report")
        write_results(out_dir, rows, sig)
        _finish(cfg, scope, out_dir, rows, sig, timer, tally, started, command, benches)
    return ExperimentResult(rows, sig, dict(timer.seconds), timer.total, out_dir)


def _write_nmt_curves(wb: Workbench, out_dir: Path) -> None:
    """``out_dir/nmt-curves.json``: the validation curve of each NMT backend's model (from
    its run folder, :func:`optical.nmt.train.nmt_validation_curve`), for the report's
    learning-curve section."""
    from ..nmt.train import nmt_validation_curve
    from ..translate.nmt import NmtTranslator
    from .report_sections import CURVES_FILE

    curves = {}
    for backend, translator in wb.translators.items():
        inner = getattr(translator, "translator", translator)
        if isinstance(inner, NmtTranslator):
            curves[backend] = nmt_validation_curve(inner.folder.parent)
    if curves:
        atomic_write_json(out_dir / CURVES_FILE, curves)


def _write_student_curves(wb: Workbench, out_dir: Path) -> None:
    """``out_dir/student-curves.json``: the validation curve of every student of the run
    (from its ``metrics.jsonl``; its last point marked with ``best_step`` when early
    stopping saved an earlier step's model), for the report's student-validation section."""
    from ..models.student import saved_step
    from ..train.runtime import validation_curve
    from .student_curves import write_student_curves

    curves = []
    for (sid, seed), student in sorted(wb.students.items()):
        curve = validation_curve(student.parent / "metrics.jsonl")
        step = saved_step(student)
        if curve and step is not None:
            curve[-1]["best_step"] = step
        curves.append({"system": sid, "seed": seed, "curve": curve})
    write_student_curves(curves, out_dir)


def _load_benchmarks(
    cfg: ExperimentConfig, root: Path, timer: Timer
) -> dict[str, RetrievalBenchmark]:
    """Every configured benchmark, loaded before any work (the planned cells count their
    languages)."""
    benches = {}
    for bench_name in cfg.benchmarks:
        with timer("load data"):
            bench = benches[bench_name] = BENCHMARKS[bench_name].load(cfg, root)
        if bench.skipped:
            logger.warning("%s is skipped: %s", bench_name, bench.skipped)
            continue
        logger.info(
            "%s: %d passages, %s queries",
            bench_name,
            len(bench.passages),
            ", ".join(f"{lang} {len(q)}" for lang, q in bench.queries.items()),
        )
    return benches


def _all_cells(
    wb: Workbench,
    cfg: ExperimentConfig,
    scope: RunScope,
    systems: dict[str, System],
    benches: dict[str, RetrievalBenchmark],
    out_dir: Path,
    progress: ExperimentProgress,
) -> _Tally:
    """The cells of every benchmark (and the MT quality rows), tallied."""
    tally = _Tally()
    progress.cells_start()
    mt_pairs: dict[str, dict[str, list[Query]]] = {}
    for bench_name, bench in benches.items():
        bspec = BENCHMARKS[bench_name]
        if bspec.alignment_examples:
            for lang, queries in bench.queries.items():
                if lang != "en" and queries and queries[0].english:
                    tally.alignment_examples.setdefault(lang, (queries[0].text, queries[0].english))
        _run_cells(wb, cfg, scope, systems, bspec, bench, out_dir, tally, progress)
        if bspec.mt_set is not None and cfg.translate.mt_quality:
            for lang, queries in bench.queries.items():
                with_english = [q for q in queries if q.english]
                mt_pairs.setdefault(bspec.mt_set, {}).setdefault(lang, []).extend(with_english)
    for name, pairs in mt_pairs.items():
        progress.stage(f"{name}: MT quality")
        tally.mt_rows += mt_quality_rows(wb, pairs, out_dir, name)
    for (bench_name, system, reason), langs in tally.skipped.items():
        logger.info("%s: %s skipped for %s: %s", bench_name, system, ", ".join(langs), reason)
    logger.info("cells: %d computed, %d read back from %s", tally.computed, tally.reused, out_dir)
    return tally


def _finish(
    cfg: ExperimentConfig,
    scope: RunScope,
    out_dir: Path,
    rows: list[ResultRow],
    sig: list[SignificanceRow],
    timer: Timer,
    tally: _Tally,
    started: str,
    command: str | None,
    benches: dict[str, RetrievalBenchmark],
) -> None:
    """Record this invocation and write the report (which states each collection's size)."""
    from .report import write_report
    from .report_html import experiment_html_report

    invocations = record_invocation(
        out_dir,
        Invocation(
            command=command or f"run_experiment({cfg.name!r})",
            started=started,
            wall_s=round(timer.total, 1),
            cells_computed=tally.computed,
            cells_read_back=tally.reused,
            scope=scope.summary(cfg),
            precision=precision_name(cfg.models.bf16, cfg.device_type),
            hardware=this_hardware(),
        ),
    )
    with timer("report"):
        shown = scope.shown_config(cfg)  # a partial run's header names the seeds it ran
        write_report(
            shown,
            rows,
            sig,
            timer,
            out_dir,
            scope_note=scope.describe(cfg),
            provenance=provenance_section(invocations),
            collections=benches,
        )
        experiment_html_report(shown, rows, sig, out_dir, benches)
