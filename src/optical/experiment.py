"""The main job: benchmarks × systems × languages → runs, scores, significance, report.

``run_experiment(config, out_dir)`` writes into ``out_dir``:

* ``results.json`` — rows ``{"benchmark", "system", "lang", "measure", "value", "n"}``
  (``lang = "macro"`` rows average the non-English languages);
* ``significance.json`` — paired tests against the baseline system, Holm-corrected
  per benchmark and measure;
* ``report.md`` and one bar chart per benchmark (``<benchmark>.png``);
* ``runs/<benchmark>/<system>.<lang>.trec`` and ``config.resolved.json``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from .benchmarks_data import ntrex_benchmark, xor_heldout_benchmark, xquad_benchmark
from .config import ExperimentConfig
from .errors import ConfigError
from .evaluate.agreement import agreement_per_query
from .evaluate.measures import DEFAULT_MEASURES, per_query
from .evaluate.significance import holm, paired_test
from .evaluate.xor_metric import xor_recall
from .io_utils import atomic_write_json
from .precision import precision_name
from .provenance import Invocation, provenance_section, record_invocation, this_hardware
from .report import HEADLINE
from .runs import ranked
from .settings import cache_dir, data_dir
from .systems import SystemNotApplicable, resolve_systems
from .timing import Timer
from .trained import MAXSIM_SUFFIX, TRAINING_DATA, base_system, ensure_student, is_trained
from .types import RetrievalBenchmark, Run, XorQuestion
from .workbench import Workbench

AGREEMENT = "agreement-nDCG@10"
XOR_BUDGETS = (2000, 5000)


@dataclass(frozen=True)
class RunScope:
    """The part of a configured experiment one invocation runs (``optical experiment
    --only-systems … --only-seeds …``): a long study done in parts. Cell names and keys
    are those of the whole configuration, so a later run of the whole reads these cells
    back; the report and ``config.resolved.json`` say the run was partial."""

    systems: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None

    @property
    def partial(self) -> bool:
        return self.systems is not None or self.seeds is not None

    def check(self, cfg: ExperimentConfig) -> None:
        unknown = [s for s in self.systems or () if s not in cfg.systems]
        if unknown:
            raise ConfigError(
                f"--only-systems: {', '.join(unknown)} not among the configured systems: "
                + ", ".join(cfg.systems)
            )
        seeds = {seed for system in cfg.systems for seed in cfg.seeds_for(system)}
        seeds |= set(cfg.run_seeds)
        stray = [seed for seed in self.seeds or () if seed not in seeds]
        if stray:
            raise ConfigError(
                f"--only-seeds: {', '.join(map(str, stray))} not among the configured seeds: "
                + ", ".join(map(str, sorted(seeds)))
            )

    def systems_of(self, cfg: ExperimentConfig) -> list[str]:
        """The configured systems this run covers (the significance baseline and the
        oracle always, since other cells are scored against them)."""
        if self.systems is None:
            return list(cfg.systems)
        keep = {*self.systems, cfg.significance_baseline, "oracle"}
        return [s for s in cfg.systems if s in keep]

    def seeds_of(self, cfg: ExperimentConfig, system: str) -> tuple[int, ...]:
        seeds = cfg.seeds_for(system)
        return seeds if self.seeds is None else tuple(s for s in seeds if s in self.seeds)

    def summary(self, cfg: ExperimentConfig) -> str | None:
        """``"systems a,b; seeds 0"`` for a partial run, None for a whole one."""
        if not self.partial:
            return None
        text = f"systems {','.join(self.systems_of(cfg))}"
        return text + ("" if self.seeds is None else f"; seeds {','.join(map(str, self.seeds))}")

    def describe(self, cfg: ExperimentConfig) -> str | None:
        """One sentence for the report, or None for a whole run."""
        if not self.partial:
            return None
        ran = self.systems_of(cfg)
        left = [s for s in cfg.systems if s not in ran]
        seeds = sorted({seed for s in ran if is_trained(s) for seed in self.seeds_of(cfg, s)})
        text = (
            f"**Partial run** of `{cfg.name}`: {len(ran)} of {len(cfg.systems)} configured "
            f"systems, trained systems with seeds {seeds} of {list(cfg.run_seeds)}"
        )
        if left:
            text += "; not run yet: " + ", ".join(f"`{s}`" for s in left)
        return text + ". Rerunning without `--only-*` completes it (finished cells are reused)."


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


def row_dict(row: ResultRow) -> dict:
    """A row as written to ``results.json`` (``std`` / ``seeds`` only when set)."""
    return {k: v for k, v in asdict(row).items() if v is not None or k not in ("std", "seeds")}


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


@dataclass(frozen=True)
class ExperimentResult:
    rows: list[ResultRow]
    significance: list[SignificanceRow]
    timings: dict[str, float]
    total_seconds: float
    out_dir: Path


Scores = dict[tuple[str, str, str, str], dict[str, float]]
"""(benchmark, system, lang, measure) → query id → value."""
SeedScores = dict[tuple[str, str, str, str], dict[int | None, dict[str, float]]]
"""(benchmark, system, lang, measure) → seed (None: an untrained system) → per query."""


def judged_scorer(measures: Sequence[str]):
    """Scorer of a benchmark with qrels: ``measures`` per query of one language (ir_measures)."""

    def score(
        bench: RetrievalBenchmark,
        system: str,
        lang: str,
        run: Run,
        scores: Scores,
        _oracle: Run | None,
    ) -> None:
        qids = {q.id for q in bench.queries[lang]}
        qrels = {qid: rels for qid, rels in bench.qrels.items() if qid in qids}
        for measure, values in per_query(qrels, run, measures).items():
            scores[(bench.name, system, lang, measure)] = values

    return score


def _score_xor(
    bench: RetrievalBenchmark, system: str, lang: str, run: Run, scores: Scores, oracle: Run | None
) -> None:
    texts = {p.id: p.text for p in bench.passages}
    predictions = {qid: [texts[pid] for pid, _ in ranked(docs)] for qid, docs in run.items()}
    gold = [
        XorQuestion(q.id, q.text, bench.answers[q.id], lang, "heldout", q.english)
        for q in bench.queries[lang]
    ]
    if oracle is not None:
        scores[(bench.name, system, lang, AGREEMENT)] = agreement_per_query(run, oracle)
    if any(a not in ("yes", "no") for q in gold for a in q.answers):
        for budget in XOR_BUDGETS:
            result = xor_recall(gold, predictions, budget)
            name = f"R@{budget // 1000}kt"
            scores[(bench.name, system, lang, name)] = {
                k: float(v) * 100 for k, v in result.hits.items()
            }


NTREX_MEASURES = ("P@1", "RR@10", "AP")
SCORERS = {
    "xquad": judged_scorer(DEFAULT_MEASURES),
    "xor-tydi-heldout": _score_xor,
    "ntrex": judged_scorer(NTREX_MEASURES),
}
# Systems that read the human English text: meaningless on bitext retrieval, where the
# English sentence is the target itself (the oracle is kept as the trivial ceiling).
ENGLISH_READERS = ("bm25-human-translation", "oracle@", "tt-oracle-")
MT_BENCHMARK = "ntrex-mt"


def rows_from_scores(scores: Scores) -> list[ResultRow]:
    """Per-language means plus ``macro`` rows (mean over non-English languages)."""
    rows = [
        ResultRow(b, s, lang, m, statistics.fmean(v.values()), len(v))
        for (b, s, lang, m), v in scores.items()
        if v
    ]
    groups: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        if row.lang != "en":
            groups.setdefault((row.benchmark, row.system, row.measure), []).append(row.value)
    rows += [
        ResultRow(b, s, "macro", m, statistics.fmean(v), len(v)) for (b, s, m), v in groups.items()
    ]
    return sorted(rows, key=lambda r: (r.benchmark, r.system, r.measure, r.lang))


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
    for (b, s, lang, m), by_seed in multi.items():
        means = [statistics.fmean(v.values()) for v in by_seed.values() if v]
        if not means:
            continue
        n = len(next(iter(by_seed.values())))
        std = statistics.stdev(means) if len(means) > 1 else 0.0
        rows.append(ResultRow(b, s, lang, m, statistics.fmean(means), n, std, len(means)))
        if lang != "en":
            for seed, values in by_seed.items():
                if values:
                    per_seed.setdefault((b, s, m), {}).setdefault(seed, []).append(
                        statistics.fmean(values.values())
                    )
    for (b, s, m), by_seed in per_seed.items():
        macros = [statistics.fmean(v) for v in by_seed.values()]
        langs = len(next(iter(by_seed.values())))
        std = statistics.stdev(macros) if len(macros) > 1 else 0.0
        rows.append(ResultRow(b, s, "macro", m, statistics.fmean(macros), langs, std, len(macros)))
    return sorted(rows, key=lambda r: (r.benchmark, r.system, r.measure, r.lang))


def best_translate_test(rows: Sequence[ResultRow], benchmark: str) -> str | None:
    """The translate-test system with the best macro headline measure on ``benchmark``,
    leaving out ``tt-oracle-*`` (human translations are not a translate-test baseline a
    user can deploy)."""
    measure = HEADLINE.get(benchmark, ("",))[0]
    candidates = [
        r
        for r in rows
        if r.benchmark == benchmark
        and r.measure == measure
        and r.lang == "macro"
        and r.system.startswith("tt-")
        and not r.system.startswith("tt-oracle-")
    ]
    return max(candidates, key=lambda r: r.value).system if candidates else None


def significance_rows(
    scores: Scores,
    baseline: str,
    method: str,
    seed: int,
    measures: dict[str, Sequence[str]] | None = None,
) -> list[SignificanceRow]:
    """Paired test of every system against ``baseline`` per (benchmark, lang, measure),
    Holm-corrected within each (benchmark, measure) family. ``measures`` limits the
    tests to some measures per benchmark (default: all)."""
    raw: dict[tuple[str, str, str, str], tuple[float, float, int]] = {}
    for (bench, system, lang, measure), values in scores.items():
        if system == baseline or (measures is not None and measure not in measures.get(bench, ())):
            continue
        base = scores.get((bench, baseline, lang, measure))
        if not base or set(base) != set(values):
            continue
        test = paired_test(values, base, method=method, seed=seed)  # type: ignore[arg-type]
        raw[(bench, measure, lang, system)] = (test.diff, test.p_value, test.n)
    out: list[SignificanceRow] = []
    families = {(b, m) for b, m, _, _ in raw}
    for bench, measure in sorted(families):
        family = {k: v[1] for k, v in raw.items() if k[0] == bench and k[1] == measure}
        adjusted = holm(family)
        for key, p_adj in adjusted.items():
            diff, p, n = raw[key]
            out.append(SignificanceRow(bench, measure, key[2], key[3], baseline, diff, p, p_adj, n))
    return out


def draw_alignments(
    wb: Workbench, cfg: ExperimentConfig, examples: dict[str, tuple[str, str]], folder: Path
) -> list[Path]:
    """One OT alignment heatmap per language (``optical-ot`` student vs the teacher) for a
    held-out question and its human English translation."""
    from .align import plot_alignment

    student = wb.encoder(str(wb.students[("optical-ot", cfg.run_seeds[0])]))
    teacher = wb.encoder(cfg.models.teacher)
    paths = []
    for lang, (source, english) in sorted(examples.items()):
        path = folder / f"{lang}.png"
        plot_alignment(student, source, english, path, teacher=teacher)
        paths.append(path)
    return paths


def setup_translators(
    wb: Workbench,
    cfg: ExperimentConfig,
    cache_root: Path,
    data: Path,
    trained: Sequence[str],
    systems: Sequence[str] | None = None,
) -> None:
    """Build the translation backends the configured systems need into ``wb.translators``:
    ``nmt`` (trained once per config, cached) for ``tt-nmt-*`` and the back-translation
    students, ``oracle`` and ``apertium`` for their ``tt-*`` systems. Apertium missing
    here is reported and its systems skipped, never faked."""
    from .nmt.ensure import ensure_nmt
    from .trained import nmt_config_for, split_budget
    from .translate.base import BackendUnavailableError, build_translator
    from .translate.cache import CachedTranslator
    from .translate_test import backends_of

    needed = set(backends_of([*(cfg.systems if systems is None else systems), *trained]))
    translations = cache_root / "translations"
    for backend in sorted(b for b in needed if b.startswith("nmt")):
        _, fraction = split_budget(backend)
        with wb.timer("train nmt"):
            model = ensure_nmt(nmt_config_for(cfg, fraction), cache_root, data)
        nmt = build_translator(
            "nmt",
            model=str(model),
            beams=cfg.translate.beams,
            bf16=cfg.models.bf16,
            cache=cache_root,
        )
        wb.translators[backend] = CachedTranslator(nmt, root=translations)
    if "oracle" in needed:
        wb.translators["oracle"] = build_translator("oracle", data_dir=data)
    if "apertium" in needed:
        try:
            wb.translators["apertium"] = CachedTranslator(
                build_translator("apertium"), root=translations
            )
        except BackendUnavailableError as exc:
            print(f"[optical] apertium unavailable, its systems are skipped: {exc}")


def backtranslated_bitext(wb: Workbench, cfg: ExperimentConfig, system: str, data: Path):
    """The training pairs of a back-translation system (see :mod:`optical.backtranslation`)."""
    from .backtranslation import chosen_pairs, roundtrip_bitext, synthetic_bitext
    from .data.training import training_bitext
    from .train.config import load_distill_config

    dcfg = load_distill_config(cfg.distill.config)
    bitext = training_bitext(data, dcfg.data.sources, list(dcfg.data.languages) or None)
    from .translate_test import backend_of

    translator = wb.translators[backend_of(system)]
    languages = [lang for lang in translator.translator.languages if lang != "en"]
    mode = TRAINING_DATA[base_system(system)]
    pairs = (
        cfg.translate.bt_pairs_per_language
        if mode == "synthetic"
        else cfg.translate.roundtrip_pairs_per_language
    )
    chosen = chosen_pairs(
        bitext, cfg.seed, pairs, dcfg.data.validation_pairs_per_language, languages
    )
    with wb.timer(f"back-translate ({mode})"):
        if mode == "synthetic":
            return synthetic_bitext(chosen, translator)
        return roundtrip_bitext(bitext, chosen, translator)


def mt_quality_rows(wb: Workbench, bench: RetrievalBenchmark) -> list[ResultRow]:
    """``ntrex-mt`` rows: BLEU / chrF of every MT backend (not the oracle) per language and
    direction, plus ``macro-xx-en`` / ``macro-en-xx`` means over languages."""
    from .evaluate.mt import ntrex_mt_scores

    backends = sorted(b for b in wb.translators if b != "oracle")
    with wb.timer("evaluate MT"):
        scores = ntrex_mt_scores(bench.queries, backends, wb.translate)
    rows = [ResultRow(MT_BENCHMARK, s.backend, s.lang, s.measure, s.value, s.n) for s in scores]
    groups: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        kind = "xx-en" if row.lang.endswith("-en") else "en-xx"
        groups.setdefault((row.system, kind, row.measure), []).append(row.value)
    rows += [
        ResultRow(MT_BENCHMARK, system, f"macro-{kind}", measure, statistics.fmean(v), len(v))
        for (system, kind, measure), v in groups.items()
    ]
    return rows


def _bench_section(cfg: ExperimentConfig, bench_name: str) -> dict:
    section = {
        "xquad": cfg.xquad,
        "xor-tydi-heldout": cfg.xor_tydi_heldout,
        "ntrex": cfg.ntrex,
    }[bench_name]
    return asdict(section)


def system_settings(
    wb: Workbench, cfg: ExperimentConfig, system: str, seed: int | None, cache_root: Path
) -> dict:
    """What (besides the data) determines a system's runs: the models and retrieval
    settings, its student folder (which hashes its training config) or its translator."""
    from .trained import student_folder
    from .translate_test import backend_of

    settings: dict = {"models": asdict(cfg.models), "retrieval": asdict(cfg.retrieval)}
    if is_trained(system):
        settings["student"] = student_folder(system, cfg, cache_root, seed)[0].name
    backend = backend_of(system)
    if backend is not None and backend in wb.translators:
        settings["translator"] = wb.translators[backend].fingerprint()
    return settings


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: Path,
    data: Path | None = None,
    cache: Path | None = None,
    scope: RunScope | None = None,
    command: str | None = None,
) -> ExperimentResult:
    """Run every configured benchmark × system × language (× seed for trained systems)
    and write the outputs. Finished cells (:mod:`optical.cells`) are read back, not
    recomputed: an interrupted experiment resumes where it stopped. ``scope`` restricts
    this run to some systems / seeds (:class:`RunScope`). Each finished invocation is
    recorded (``command``, wall time, hardware: :mod:`optical.provenance`) and the report
    lists every recorded invocation of ``out_dir``."""
    from .cells import Cell, cell_key, cell_settings, load_cell, save_cell
    from .report import write_report
    from .trained import student_id

    timer = Timer()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    torch.manual_seed(cfg.seed)
    root = data_dir(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scope = scope or RunScope()
    scope.check(cfg)
    resolved = cfg.to_dict()
    if scope.partial:
        resolved["scope"] = {"systems": scope.systems_of(cfg), "seeds": scope.seeds}
    atomic_write_json(out_dir / "config.resolved.json", resolved)
    chosen = scope.systems_of(cfg)
    token_encoders = set()
    if "zero-shot-maxsim" in cfg.systems:
        token_encoders.add(cfg.models.student)
    if any(is_trained(s) and MAXSIM_SUFFIX in s for s in cfg.systems):
        token_encoders.add(cfg.models.teacher)
    cache_root = cache_dir(cache)
    wb = Workbench(cache_root, bf16=cfg.models.bf16, timer=timer, token_encoders=token_encoders)
    systems = {
        name: function
        for name, function in resolve_systems(cfg).items()
        if name in chosen or name.startswith("oracle@")
    }
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
    seeds = cfg.run_seeds
    students = list(dict.fromkeys(student_id(s) for s in chosen if is_trained(s)))
    setup_translators(wb, cfg, cache_root, root, students, systems=chosen)
    for sid in students:
        for seed in scope.seeds_of(cfg, sid):
            with timer(f"train {sid}"):
                wb.students[(sid, seed)] = ensure_student(
                    sid,
                    cfg,
                    cache_root,
                    root,
                    # the back-translated pool is the same for every seed (translated
                    # once); each seed samples and splits it differently
                    make_bitext=lambda name=sid: backtranslated_bitext(wb, cfg, name, root),
                    seed=seed,
                )
    builders = {
        "xquad": xquad_benchmark,
        "xor-tydi-heldout": xor_heldout_benchmark,
        "ntrex": ntrex_benchmark,
    }
    seed_scores: SeedScores = {}
    mt_rows: list[ResultRow] = []
    alignment_examples: dict[str, tuple[str, str]] = {}
    reused = computed = 0
    skipped: dict[tuple[str, str, str], list[str]] = {}
    for bench_name in cfg.benchmarks:
        with timer("load data"):
            bench = builders[bench_name](cfg, root)
        print(
            f"[optical] {bench_name}: {len(bench.passages)} passages, "
            + ", ".join(f"{lang} {len(q)}" for lang, q in bench.queries.items())
            + " queries"
        )
        if bench_name in ("xor-tydi-heldout", "xquad"):
            for lang, queries in bench.queries.items():
                if lang != "en" and queries and queries[0].english:
                    alignment_examples.setdefault(lang, (queries[0].text, queries[0].english))
        oracle_runs: dict[str, Run] = {}
        order = ["oracle", *[s for s in systems if s != "oracle"]]
        for system in order:
            if system not in systems or (
                bench_name == "ntrex" and system.startswith(ENGLISH_READERS)
            ):
                continue
            system_seeds = scope.seeds_of(cfg, system) if is_trained(system) else (None,)
            for seed in system_seeds:
                run_cfg = cfg if seed is None else replace(cfg, seed=seed)
                settings = system_settings(wb, run_cfg, system, seed, cache_root)
                settings["benchmark"] = _bench_section(cfg, bench_name)
                for lang, queries in bench.queries.items():
                    if system.startswith("oracle") and lang == "en" and bench_name != "xquad":
                        continue
                    cell = Cell(bench_name, system, lang, seed if len(seeds) > 1 else None)
                    full = cell_settings(cell, settings, bench, queries)
                    key = cell_key(full)
                    done = load_cell(out_dir, cell, key)
                    if done is not None:
                        run, _ = done
                        reused += 1
                    else:
                        cell_started = time.perf_counter()
                        try:
                            run = systems[system](wb, run_cfg, bench, queries)
                        except SystemNotApplicable as exc:
                            skipped.setdefault((bench_name, system, str(exc)), []).append(lang)
                            continue
                        cell_seconds = time.perf_counter() - cell_started
                        save_cell(out_dir, cell, key, full, run, cell_seconds)
                        computed += 1
                    if system == "oracle":
                        oracle_runs[lang] = run
                    with timer("evaluate"):
                        found: Scores = {}
                        SCORERS[bench_name](bench, system, lang, run, found, oracle_runs.get(lang))
                    for score_key, values in found.items():
                        seed_scores.setdefault(score_key, {})[seed] = values
                if is_trained(system) and (student_id(system), seed) in wb.students:
                    # a study holds dozens of students: keep one in memory at a time
                    wb.release(str(wb.students[(student_id(system), seed)]))
        if bench_name == "ntrex" and cfg.translate.mt_quality:
            mt_rows += mt_quality_rows(wb, bench)
    for (bench_name, system, reason), langs in skipped.items():
        print(f"[optical] {bench_name}: {system} skipped for {', '.join(langs)}: {reason}")
    print(f"[optical] cells: {computed} computed, {reused} read back from {out_dir}")
    if any(sid == "optical-ot" for sid, _ in wb.students) and alignment_examples:
        with timer("alignment heatmaps"):
            draw_alignments(wb, cfg, alignment_examples, out_dir / "alignments")
    scores = mean_over_seeds(seed_scores)
    with timer("significance"):
        sig = significance_rows(
            scores, cfg.significance_baseline, cfg.significance_test, cfg.seed, measures=HEADLINE
        )
        rows = rows_from_seed_scores(seed_scores) + mt_rows
        for bench_name in cfg.benchmarks:
            best = best_translate_test(rows, bench_name)
            if best is not None:
                sig += significance_rows(
                    {k: v for k, v in scores.items() if k[0] == bench_name},
                    best,
                    cfg.significance_test,
                    cfg.seed,
                    measures=HEADLINE,
                )
    atomic_write_json(out_dir / "results.json", [row_dict(r) for r in rows])
    atomic_write_json(out_dir / "significance.json", [asdict(s) for s in sig])
    invocations = record_invocation(
        out_dir,
        Invocation(
            command=command or f"run_experiment({cfg.name!r})",
            started=started,
            wall_s=round(timer.total, 1),
            cells_computed=computed,
            cells_read_back=reused,
            scope=scope.summary(cfg),
            precision=precision_name(cfg.models.bf16),
            hardware=this_hardware(),
        ),
    )
    with timer("report"):
        shown = cfg
        if scope.partial:  # the header names the seeds this run covered, not the config's
            ran = {seed for s in chosen if is_trained(s) for seed in scope.seeds_of(cfg, s)}
            shown = replace(cfg, seeds=tuple(sorted(ran)) or cfg.run_seeds)
        write_report(
            shown,
            rows,
            sig,
            timer,
            out_dir,
            scope_note=scope.describe(cfg),
            provenance=provenance_section(invocations),
        )
    return ExperimentResult(rows, sig, dict(timer.seconds), timer.total, out_dir)
