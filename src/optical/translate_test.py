"""Translate-test systems: MT(query) → English retrieval with the teacher or BM25.

``tt-<backend>-dense`` encodes the machine-translated question with the teacher and
searches its passage index (the oracle's pipeline on an MT question);
``tt-<backend>-bm25`` searches BM25 with it. Backends: ``nmt`` (the in-project model),
``oracle`` (human translations: the ceiling of translate-test) and ``apertium`` (the
languages of ``[translate] apertium_languages`` it has a pair for). A translation that
comes back empty falls back to the original question (counted and reported).
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import ExperimentConfig
from .systems import SystemNotApplicable, dense_run, register
from .types import Query, RetrievalBenchmark, Run
from .workbench import Workbench

BACKENDS = ("nmt", "oracle", "apertium")


def translated_queries(
    wb: Workbench, cfg: ExperimentConfig, backend: str, queries: Sequence[Query]
) -> list[str]:
    """The queries in English by ``backend`` (English queries pass through unchanged)."""
    if not queries:
        return []
    lang = queries[0].lang
    if lang == "en":
        return [q.text for q in queries]
    if backend.startswith("apertium") and lang not in cfg.translate.apertium_languages:
        raise SystemNotApplicable(
            f"apertium is not used for {lang} ([translate] apertium_languages)"
        )
    if backend not in wb.translators:
        raise SystemNotApplicable(f"translator {backend!r} is not available")
    out = wb.translate(backend, [q.text for q in queries], lang, "en")
    empty = [i for i, text in enumerate(out) if not text.strip()]
    if empty:
        print(
            f"[optical] {backend} {lang}→en: {len(empty)} empty translation(s); using the original"
        )
        for i in empty:
            out[i] = queries[i].text
    return out


def tt_dense(backend: str):
    def run(
        wb: Workbench, cfg: ExperimentConfig, bench: RetrievalBenchmark, queries: Sequence[Query]
    ) -> Run:
        texts = translated_queries(wb, cfg, backend, queries)
        return dense_run(
            wb, cfg.models.teacher, bench, [q.id for q in queries], texts, cfg.retrieval.depth
        )

    run.__doc__ = f"MT({backend}) of the question → the teacher's dense retrieval."
    return run


def tt_bm25(backend: str):
    def run(
        wb: Workbench, cfg: ExperimentConfig, bench: RetrievalBenchmark, queries: Sequence[Query]
    ) -> Run:
        texts = translated_queries(wb, cfg, backend, queries)
        index = wb.bm25(bench)
        with wb.timer("search"):
            return index.search([q.id for q in queries], texts, cfg.retrieval.depth)

    run.__doc__ = f"MT({backend}) of the question → BM25."
    return run


for _backend in BACKENDS:
    register(f"tt-{_backend}-dense")(tt_dense(_backend))
    register(f"tt-{_backend}-bm25")(tt_bm25(_backend))


def backend_of(system: str) -> str | None:
    """The translator a system reads: ``tt-nmt-dense`` → ``nmt``, ``tt-nmt-bm25-data10`` →
    ``nmt-data10`` (the NMT model trained on 10 % of the bitext), a back-translation
    student → its NMT model; None for the others."""
    from .trained import TRAINING_DATA, base_system, budget_suffix, is_trained, split_budget

    head, fraction = split_budget(system)
    if head.startswith("tt-"):
        return head.split("-")[1] + budget_suffix(fraction)
    if is_trained(system) and TRAINING_DATA[base_system(system)] != "bitext":
        return "nmt" + budget_suffix(fraction)
    return None


def backends_of(systems: Sequence[str]) -> list[str]:
    """The translation backends the configured systems need."""
    return sorted({b for s in systems if (b := backend_of(s)) is not None})


def budgeted(system: str):
    """The system function of a ``tt-*-dataNN`` name (None when it is not one)."""
    from .trained import budget_suffix, split_budget

    head, fraction = split_budget(system)
    if fraction is None or not head.startswith("tt-"):
        return None
    backend = head.split("-")[1] + budget_suffix(fraction)
    if head.endswith("-dense"):
        return tt_dense(backend)
    if head.endswith("-bm25"):
        return tt_bm25(backend)
    return None
