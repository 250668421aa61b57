"""Retrieval systems, by id. A system maps one language's queries to a run.

Signature: ``system(workbench, config, benchmark, queries) -> Run``. Systems are
registered in :data:`SYSTEMS`; an experiment names the ones it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .config import ExperimentConfig
from .errors import ConfigError, OpticalError
from .search import maxsim_rerank
from .trained import MAXSIM_SUFFIX, TRAINED_LOSSES, is_trained, student_id
from .types import Query, RetrievalBenchmark, Run
from .workbench import Workbench


class SystemNotApplicable(OpticalError):
    """A system that has nothing to run for one language (e.g. no MT pair): the cell is
    skipped, with this message."""


System = Callable[[Workbench, ExperimentConfig, RetrievalBenchmark, Sequence[Query]], Run]
SYSTEMS: dict[str, System] = {}


def register(name: str) -> Callable[[System], System]:
    def wrap(fn: System) -> System:
        SYSTEMS[name] = fn
        return fn

    return wrap


def english_of(query: Query) -> str:
    """The human English version of a query (the query itself when it is English)."""
    if query.lang == "en":
        return query.text
    if not query.english:
        raise OpticalError(f"query {query.id} ({query.lang}) has no human English translation")
    return query.english


def dense_run(
    wb: Workbench,
    encoder: str,
    benchmark: RetrievalBenchmark,
    ids: Sequence[str],
    texts: Sequence[str],
    depth: int,
) -> Run:
    """Encode ``texts`` as queries with ``encoder`` and search its passage index."""
    index = wb.dense_index(encoder, benchmark)
    encoded = wb.embed(encoder, texts, "query")
    with wb.timer("search"):
        return index.search(ids, encoded.pooled, depth)


def oracle_system(encoder: str) -> System:
    """The English oracle with ``encoder``: the human English question, dense retrieval."""

    def run(
        wb: Workbench, cfg: ExperimentConfig, bench: RetrievalBenchmark, queries: Sequence[Query]
    ) -> Run:
        return dense_run(
            wb,
            encoder,
            bench,
            [q.id for q in queries],
            [english_of(q) for q in queries],
            cfg.retrieval.depth,
        )

    return run


@register("oracle")
def oracle(
    wb: Workbench, cfg: ExperimentConfig, bench: RetrievalBenchmark, queries: Sequence[Query]
) -> Run:
    """The teacher on the human English question: the ceiling of every system."""
    return oracle_system(cfg.models.teacher)(wb, cfg, bench, queries)


@register("zero-shot")
def zero_shot(
    wb: Workbench, cfg: ExperimentConfig, bench: RetrievalBenchmark, queries: Sequence[Query]
) -> Run:
    """The multilingual student, unadapted, on the original question (dense)."""
    return dense_run(
        wb,
        cfg.models.student,
        bench,
        [q.id for q in queries],
        [q.text for q in queries],
        cfg.retrieval.depth,
    )


@register("zero-shot-maxsim")
def zero_shot_maxsim(
    wb: Workbench, cfg: ExperimentConfig, bench: RetrievalBenchmark, queries: Sequence[Query]
) -> Run:
    """Zero-shot dense top-k, re-ranked by MaxSim over the student's token embeddings."""
    name = cfg.models.student
    first = zero_shot(wb, cfg, bench, queries)
    passage_tokens = wb.passage_tokens(name, bench)
    encoded = wb.embed(name, [q.text for q in queries], "query", with_tokens=True)
    if encoded.tokens is None:  # pragma: no cover - queries always keep tokens
        raise RuntimeError("query token embeddings missing")
    query_tokens = dict(zip((q.id for q in queries), encoded.tokens, strict=True))
    with wb.timer("maxsim re-rank"):
        return maxsim_rerank(
            first, query_tokens, passage_tokens.__getitem__, depth=cfg.retrieval.maxsim_depth
        )


@register("bm25-human-translation")
def bm25_human_translation(
    wb: Workbench, cfg: ExperimentConfig, bench: RetrievalBenchmark, queries: Sequence[Query]
) -> Run:
    """BM25 on the human English translation of the question."""
    index = wb.bm25(bench)
    with wb.timer("search"):
        return index.search(
            [q.id for q in queries], [english_of(q) for q in queries], cfg.retrieval.depth
        )


def trained_system(name: str) -> System:
    """A distilled student on the original question against the teacher's passage index:
    dense, or (``…-maxsim``) dense top-k re-ranked by MaxSim of the student's query tokens
    against the teacher's passage tokens (both in the teacher's space)."""
    sid = student_id(name)
    maxsim = MAXSIM_SUFFIX in name

    def run(
        wb: Workbench, cfg: ExperimentConfig, bench: RetrievalBenchmark, queries: Sequence[Query]
    ) -> Run:
        if (sid, cfg.seed) not in wb.students:
            raise OpticalError(f"system {name}: its student (seed {cfg.seed}) has not been trained")
        student = str(wb.students[(sid, cfg.seed)])
        teacher = cfg.models.teacher
        ids = [q.id for q in queries]
        index = wb.dense_index(teacher, bench)
        encoded = wb.embed(student, [q.text for q in queries], "query")
        with wb.timer("search"):
            first = index.search(ids, encoded.pooled, cfg.retrieval.depth)
        if not maxsim:
            return first
        if encoded.tokens is None:  # pragma: no cover - queries always keep tokens
            raise RuntimeError("query token embeddings missing")
        passage_tokens = wb.passage_tokens(teacher, bench)
        with wb.timer("maxsim re-rank"):
            return maxsim_rerank(
                first,
                dict(zip(ids, encoded.tokens, strict=True)),
                passage_tokens.__getitem__,
                depth=cfg.retrieval.maxsim_depth,
            )

    return run


def known_systems() -> list[str]:
    """Every system name an experiment accepts."""
    from . import translate_test  # noqa: F401 - registers the tt-* systems

    return sorted([*SYSTEMS, *TRAINED_LOSSES, *(f"{t}{MAXSIM_SUFFIX}" for t in TRAINED_LOSSES)])


def resolve_systems(cfg: ExperimentConfig) -> dict[str, System]:
    """The configured systems plus one ``oracle@<encoder>`` per oracle candidate other than
    the teacher (the teacher's oracle is ``oracle`` itself)."""
    chosen: dict[str, System] = {}
    for name in cfg.systems:
        if is_trained(name):
            chosen[name] = trained_system(name)
            continue
        known = known_systems()
        from .translate_test import budgeted

        function = SYSTEMS.get(name) or budgeted(name)
        if function is None:
            raise ConfigError(
                f"unknown system {name!r}; known: {', '.join(known)} "
                "(trained and tt-* systems also take a -dataNN budget suffix)"
            )
        chosen[name] = function
    for candidate in cfg.models.oracle_candidates:
        if candidate == cfg.models.teacher:
            continue
        chosen[f"oracle@{candidate}"] = oracle_system(candidate)
    return chosen
