"""Build the retrieval benchmarks an experiment runs (XQuAD-CLIR, XOR-TyDi held-out)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from .config import ExperimentConfig
from .data.bitext import load_ntrex
from .data.heldout import heldout_questions, heldout_score
from .data.passages import load_wikipedia_vital
from .data.xquad import load_xquad
from .types import Passage, Query, RetrievalBenchmark


def wikipedia_vital(data_dir: Path, limit: int) -> list[Passage]:
    """The first ``limit`` Wikipedia-vital passages in the loader's fixed order (0 = all)."""
    return load_wikipedia_vital(data_dir, limit=limit or None)


def xquad_benchmark(cfg: ExperimentConfig, data_dir: Path) -> RetrievalBenchmark:
    """XQuAD-CLIR: configured languages plus English (the oracle's questions)."""
    distractors = wikipedia_vital(data_dir, cfg.xquad.distractors) if cfg.xquad.distractors else []
    languages = tuple(dict.fromkeys((*cfg.xquad.languages, "en")))
    bench = load_xquad(data_dir, languages=languages, distractors=distractors)
    limit = cfg.xquad.max_questions_per_language
    if not limit:
        return bench
    ids = {q.id for queries in bench.queries.values() for q in queries}
    kept = set(sorted(ids, key=lambda qid: (_subset_score(qid), qid))[:limit])
    return replace(
        bench,
        queries={lang: tuple(q for q in qs if q.id in kept) for lang, qs in bench.queries.items()},
        qrels={qid: rels for qid, rels in bench.qrels.items() if qid in kept},
    )


def _subset_score(question_id: str) -> str:
    """Salted hash that orders XQuAD questions for a fixed, language-independent subset."""
    return hashlib.sha256(f"optical-xquad-subset/{question_id}".encode()).hexdigest()


def xor_heldout_benchmark(cfg: ExperimentConfig, data_dir: Path) -> RetrievalBenchmark:
    """XOR-TyDi held-out questions over the XQuAD paragraphs plus Wikipedia-vital passages.

    With ``max_questions_per_language = N`` each language keeps its N questions of
    lowest held-out hash score: a fixed subset, the same on every machine.
    There are no relevance judgments: systems are scored by agreement with the
    oracle and by answer recall (``answers``).
    """
    sub = cfg.xor_tydi_heldout
    xquad_passages = load_xquad(data_dir, languages=("en",)).passages
    passages = (*xquad_passages, *wikipedia_vital(data_dir, sub.wikipedia_vital_passages))
    queries: dict[str, tuple[Query, ...]] = {}
    answers: dict[str, tuple[str, ...]] = {}
    by_lang: dict[str, list] = {}
    for question in heldout_questions(data_dir):
        if question.lang in sub.languages:
            by_lang.setdefault(question.lang, []).append(question)
    for lang in sub.languages:
        chosen = sorted(by_lang.get(lang, []), key=lambda q: heldout_score(q.id))
        if sub.max_questions_per_language:
            chosen = chosen[: sub.max_questions_per_language]
        queries[lang] = tuple(Query(q.id, q.question, lang, english=q.english) for q in chosen)
        answers.update({q.id: q.answers for q in chosen})
    return RetrievalBenchmark("xor-tydi-heldout", passages, queries, {}, answers)


def ntrex_benchmark(cfg: ExperimentConfig, data_dir: Path) -> RetrievalBenchmark:
    """Bitext retrieval on NTREX-128: find each sentence's English translation among all
    English sentences (P@1). Evaluation-only text: no system trains on it.

    The collection is the English side (``en:ntrex-<line>``); queries are the sentences
    of each language (id ``ntrex-<line>``). ``max_sentences = N`` keeps lines 1…N.
    Both sides are sentences, so both are encoded in the query role (e5: ``query: ``):
    this probes exactly what distillation trains — the student's embedding of a
    sentence landing on the teacher's embedding of its translation.
    """
    sub = cfg.ntrex
    pairs = load_ntrex(data_dir, languages=sub.languages)
    english: dict[str, str] = {}
    queries: dict[str, tuple[Query, ...]] = {}
    for lang, lang_pairs in pairs.items():
        chosen = [
            p
            for p in lang_pairs
            if not sub.max_sentences or _line_number(p.id) <= sub.max_sentences
        ]
        queries[lang] = tuple(Query(p.id, p.source, lang, english=p.english) for p in chosen)
        english.update({p.id: p.english for p in chosen})
    passages = tuple(Passage(f"en:{pid}", text) for pid, text in sorted(english.items()))
    qrels = {pid: {f"en:{pid}": 1} for pid in english}
    return RetrievalBenchmark("ntrex", passages, queries, qrels, passage_role="query")


def _line_number(pair_id: str) -> int:
    return int(pair_id.rsplit("-", 1)[1])
