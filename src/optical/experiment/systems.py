"""Retrieval systems as values: a query text source → a first stage → an optional re-ranker.

A :class:`System` is a frozen record of its stages, built from its
:class:`~optical.experiment.names.SystemSpec` by :func:`build_system` (the table below
is the whole registry); :func:`run_system` runs one language's queries through it:

* query text: the original question, its human English version, or its machine
  translation into English by a backend (translate-test; an empty translation falls
  back to the original question, logged; a language the backend does not serve —
  Apertium outside ``[translate] apertium_languages``, the oracle without human
  translations for it — skips the cell with the reason, nothing is translated);
* first stage: dense retrieval (a query encoder against an index encoder's passage
  vectors: the same encoder, or a distilled student against the teacher's index) or
  BM25;
* re-ranker: MaxSim over token embeddings of the query encoder and of the index
  encoder's passages (dense top-k only).

Encoders are named by role (``teacher``, ``student``, ``trained``: the system's
distilled student for the run's seed) or by an encoder name (``oracle@<encoder>``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import OpticalError, UnsupportedLanguageError
from ..psq import psq_search
from ..search import maxsim_rerank
from ..types import Query, RetrievalBenchmark, Run
from .config import ExperimentConfig
from .names import LEXICAL_BACKENDS, SystemSpec
from .workbench import Workbench

logger = logging.getLogger(__name__)

QueryText = Literal["original", "english", "translated"]


class SystemNotApplicable(OpticalError):
    """A system that has nothing to run for one language (e.g. no MT pair): the cell is
    skipped, with this message."""


@dataclass(frozen=True)
class Dense:
    """Dense first stage: ``query`` encodes the queries, ``index`` the passages (roles
    ``teacher`` / ``student`` / ``trained``, or an encoder name)."""

    query: str
    index: str


@dataclass(frozen=True)
class BM25:
    """BM25 first stage over the benchmark's passages."""


@dataclass(frozen=True)
class PSQ:
    """BM25 over the benchmark's passages with each query term replaced by its weighted
    English translations from the training bitext (:mod:`optical.psq`)."""


@dataclass(frozen=True)
class MaxSim:
    """Re-rank the dense top-``retrieval.maxsim_depth`` by MaxSim of the query encoder's
    query tokens against the index encoder's passage tokens."""


@dataclass(frozen=True)
class System:
    """One retrieval system: its spec and its stages."""

    spec: SystemSpec
    text: QueryText
    first: Dense | BM25 | PSQ
    rerank: MaxSim | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def token_encoder(self, cfg: ExperimentConfig) -> str | None:
        """The encoder whose passage token embeddings the re-ranker reads (None: none)."""
        if self.rerank is None or not isinstance(self.first, Dense):
            return None
        return _encoder(self.first.index, cfg)


STAGES: dict[str, Callable[[SystemSpec], tuple[QueryText, Dense | BM25 | PSQ]]] = {
    "oracle": lambda s: ("english", Dense(s.encoder or "teacher", s.encoder or "teacher")),
    "zero-shot": lambda s: ("original", Dense("student", "student")),
    "bm25-human": lambda s: ("english", BM25()),
    "student": lambda s: ("original", Dense("trained", "teacher")),
    "translate-test": lambda s: (
        ("original", PSQ())
        if s.backend in LEXICAL_BACKENDS
        else ("translated", Dense("teacher", "teacher") if s.retriever == "dense" else BM25())
    ),
}
"""The registry: a system's kind → its query text source and first stage (a ``-maxsim``
spec adds the MaxSim re-ranker)."""


def build_system(spec: SystemSpec) -> System:
    """The stages of ``spec`` (:data:`STAGES`)."""
    text, first = STAGES[spec.kind](spec)
    return System(spec, text, first, MaxSim() if spec.maxsim else None)


def oracle_specs(cfg: ExperimentConfig) -> list[SystemSpec]:
    """One ``oracle@<encoder>`` per oracle candidate other than the teacher (the teacher's
    oracle is ``oracle`` itself)."""
    return [
        SystemSpec("oracle", encoder=c)
        for c in cfg.models.oracle_candidates
        if c != cfg.models.teacher
    ]


def resolve_systems(cfg: ExperimentConfig) -> dict[str, System]:
    """The configured systems plus the alternative oracles, by name."""
    specs = [*cfg.systems, *oracle_specs(cfg)]
    return {spec.name: build_system(spec) for spec in specs}


def _encoder(role: str, cfg: ExperimentConfig) -> str:
    """The encoder of a role other than ``trained`` (an encoder name stands for itself)."""
    return {"teacher": cfg.models.teacher, "student": cfg.models.student}.get(role, role)


def english_of(query: Query) -> str:
    """The human English version of a query (the query itself when it is English); a
    query without one (the XOR-Retrieve dev questions) makes the system not applicable."""
    if query.lang == "en":
        return query.text
    if not query.english:
        raise SystemNotApplicable(
            f"query {query.id} ({query.lang}) has no human English translation"
        )
    return query.english


def translated_queries(
    wb: Workbench, cfg: ExperimentConfig, backend: str, queries: Sequence[Query]
) -> list[str]:
    """The queries in English by ``backend`` (English queries pass through unchanged)."""
    if not queries:
        return []
    lang = queries[0].lang
    if lang == "en":
        return [q.text for q in queries]
    if backend == "apertium" and lang not in cfg.translate.apertium_languages:
        raise SystemNotApplicable(
            f"apertium is not used for {lang} ([translate] apertium_languages)"
        )
    if backend not in wb.translators:
        raise SystemNotApplicable(f"translator {backend!r} is not available")
    try:
        out = wb.translate(backend, [q.text for q in queries], lang, "en")
    except UnsupportedLanguageError as exc:
        raise SystemNotApplicable(str(exc)) from exc
    empty = [i for i, text in enumerate(out) if not text.strip()]
    if empty:
        logger.warning(
            "%s %s→en: %d empty translation(s); using the original", backend, lang, len(empty)
        )
        for i in empty:
            out[i] = queries[i].text
    return out


def query_texts(
    system: System, wb: Workbench, cfg: ExperimentConfig, queries: Sequence[Query]
) -> list[str]:
    """The text each query is searched with, by the system's query text source."""
    if system.text == "english":
        return [english_of(q) for q in queries]
    if system.text == "translated":
        return translated_queries(wb, cfg, system.spec.translator or "", queries)
    return [q.text for q in queries]


def dense_search(
    wb: Workbench,
    query_encoder: str,
    index_encoder: str,
    benchmark: RetrievalBenchmark,
    ids: Sequence[str],
    texts: Sequence[str],
    depth: int,
    maxsim_depth: int | None = None,
) -> Run:
    """Encode ``texts`` as queries with ``query_encoder`` and search ``index_encoder``'s
    passage index to ``depth``; with ``maxsim_depth``, re-rank that many of the top
    passages by MaxSim of the query tokens against the index encoder's passage tokens
    (both encoders must embed into one space). The one dense → MaxSim pipeline."""
    index = wb.dense_index(index_encoder, benchmark)
    encoded = wb.embed(query_encoder, texts, "query")
    with wb.timer("search"):
        first = index.search(ids, encoded.pooled, depth)
    if maxsim_depth is None:
        return first
    if encoded.tokens is None:  # pragma: no cover - queries always keep tokens
        raise OpticalError("query token embeddings missing")
    passage_tokens = wb.passage_tokens(index_encoder, benchmark)
    with wb.timer("maxsim re-rank"):
        return maxsim_rerank(
            first,
            dict(zip(ids, encoded.tokens, strict=True)),
            passage_tokens.__getitem__,
            depth=maxsim_depth,
        )


def run_system(
    system: System,
    wb: Workbench,
    cfg: ExperimentConfig,
    bench: RetrievalBenchmark,
    queries: Sequence[Query],
) -> Run:
    """One language's queries through ``system`` (a trained system uses its student of
    seed ``cfg.seed``, which the experiment has put in ``wb.students``)."""
    if bench.index is not None and (not isinstance(system.first, Dense) or system.rerank):
        raise SystemNotApplicable(
            f"{bench.name} is indexed on disk ([{bench.name}] index_factory): dense systems "
            "only (BM25, PSQ and MaxSim need the collection in memory)"
        )
    texts = query_texts(system, wb, cfg, queries)
    ids = [q.id for q in queries]
    if isinstance(system.first, PSQ):
        return _psq_run(wb, cfg, bench, queries, ids, texts)
    if isinstance(system.first, BM25):
        index = wb.bm25(bench)
        with wb.timer("search"):
            return index.search(ids, texts, cfg.retrieval.depth)
    query_encoder = _resolve(system.first.query, system, wb, cfg)
    index_encoder = _resolve(system.first.index, system, wb, cfg)
    maxsim_depth = cfg.retrieval.maxsim_depth if system.rerank is not None else None
    return dense_search(
        wb, query_encoder, index_encoder, bench, ids, texts, cfg.retrieval.depth, maxsim_depth
    )


def _psq_run(
    wb: Workbench,
    cfg: ExperimentConfig,
    bench: RetrievalBenchmark,
    queries: Sequence[Query],
    ids: Sequence[str],
    texts: Sequence[str],
) -> Run:
    index = wb.bm25(bench)
    lang = queries[0].lang if queries else "en"
    if lang == "en":
        with wb.timer("search"):
            return index.search(ids, texts, cfg.retrieval.depth)
    if wb.psq_tables is None:
        raise SystemNotApplicable("no PSQ tables were built for this experiment")
    with wb.timer("psq tables"):
        table = wb.psq_tables.table(lang)
    if table is None:
        raise SystemNotApplicable(f"the training pool has no {lang} bitext to learn a PSQ table")
    with wb.timer("search"):
        return psq_search(index, table, ids, texts, cfg.retrieval.depth)


def _resolve(role: str, system: System, wb: Workbench, cfg: ExperimentConfig) -> str:
    if role != "trained":
        return _encoder(role, cfg)
    key = (system.spec.student_id or "", cfg.seed)
    if key not in wb.students:
        raise OpticalError(
            f"system {system.name}: its student (seed {cfg.seed}) has not been trained"
        )
    return str(wb.students[key])
