"""The retrieval benchmarks an experiment runs, one declarative :class:`BenchmarkSpec` each.

A spec says everything about one benchmark: its id (also its config section), the
settings dataclass of that section, how its collection, queries and qrels are built
from the data directory, how a run of one language is scored, its headline measures,
its title and the note the report prints under it. Adding a benchmark is writing one
spec (plus its settings dataclass) and listing it in :data:`BENCHMARKS`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..configfile import at_least
from ..data.afriqa import AFRIQA_LANGUAGES, load_afriqa, load_afriqa_passages
from ..data.bitext import load_ntrex
from ..data.heldout import heldout_questions, heldout_score
from ..data.passages import load_wikipedia_vital
from ..data.xquad import load_xquad
from ..errors import ConfigError
from ..evaluate.agreement import agreement_per_query
from ..evaluate.measures import DEFAULT_MEASURES, per_query
from ..evaluate.xor_metric import metric_name, span_answers, xor_recall
from ..runs import ranked
from ..types import CorpusIndex, Passage, Query, RetrievalBenchmark, Run, XorQuestion

PerQuery = dict[str, float]
"""Query id → value of one measure."""
Scorer = Callable[[RetrievalBenchmark, str, Run, "Run | None"], dict[str, PerQuery]]
"""``score(benchmark, lang, run, oracle_run) -> {measure: per-query values}``."""

AGREEMENT = "agreement-nDCG@10"
XOR_BUDGETS = (2000, 5000)
NTREX_MEASURES = ("P@1", "RR@10", "AP")
AFRIQA_MEASURES = ("RR@10", "nDCG@10", "R@1", "R@5", "R@100", "AP")
AFRIQA_PASSAGE_PREFIX = "afriqa-p"
"""Ids of the AfriQA corpus passages (``afriqa-p00000`` …); the rest are distractors."""
MT_BENCHMARK = "ntrex-mt"
"""The rows of MT quality (BLEU / chrF per translation backend) on NTREX news."""
QUESTIONS_MT = "questions-mt"
"""The rows of MT quality on held-out questions: the XOR-TyDi held-out questions and the
AfriQA test questions with their human English translations (never trained on)."""
MT_SETS: Mapping[str, str] = {
    MT_BENCHMARK: "NTREX-128 news sentences",
    QUESTIONS_MT: "held-out questions (XOR-TyDi held-out, AfriQA test) and their human "
    "English translations",
}
"""Each MT-quality row set (a ``benchmark`` of result rows, not a retrieval benchmark),
with the words the report describes its sentences in."""


# --- settings of each benchmark's config section -------------------------------------


@dataclass(frozen=True)
class XquadConfig:
    """XQuAD-CLIR: questions per language against the 240 English paragraphs."""

    languages: tuple[str, ...] = ("ar", "de", "es", "hi", "ru", "zh")
    distractors: int = 0
    max_questions_per_language: int = 0
    """0 = all 1,190; N = the N questions of lowest salted hash of their id, the same
    questions in every language (XQuAD ids are shared across languages)."""

    def __post_init__(self) -> None:
        at_least(self, 0, "distractors", section="xquad", note="0 = none")
        at_least(self, 0, "max_questions_per_language", section="xquad", note="0 = all")
        _check_languages(self.languages, "xquad")


@dataclass(frozen=True)
class XorHeldoutConfig:
    """XOR-TyDi held-out questions over XQuAD paragraphs + Wikipedia-vital passages.

    ``max_questions_per_language`` and ``wikipedia_vital_passages`` take a fixed,
    deterministic subset (0 = all).
    """

    languages: tuple[str, ...] = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
    max_questions_per_language: int = 0
    wikipedia_vital_passages: int = 0

    def __post_init__(self) -> None:
        keys = ("max_questions_per_language", "wikipedia_vital_passages")
        at_least(self, 0, *keys, section="xor-tydi-heldout", note="0 = all")
        _check_languages(self.languages, "xor-tydi-heldout")


@dataclass(frozen=True)
class XorDevConfig:
    """The official XOR-Retrieve dev questions against a user-supplied English corpus.

    ``corpus``: a DPR TSV (``id \\t text \\t title``), e.g. the official
    ``enwiki_20190201_w100.tsv`` (~18M passages) or DPR's ``psgs_w100.tsv``; empty or
    missing = the benchmark is skipped with the reason. ``max_passages``: the first N
    passages of the file (0 = all; R@kt on a prefix is not comparable with the
    literature). ``max_questions_per_language``: the N questions of lowest salted hash
    of their id (0 = all; 1,928 of the 2,110 are scored).

    ``index_factory``: empty (default) = the collection is read into memory (every
    system runs; about 2 KB a passage with one encoder's vectors, so up to a few million
    passages); a FAISS factory string (``Flat``, ``IVF65536,PQ96x4fs``, ``HNSW32``, …) =
    the corpus stays on disk: each dense system's index encoder gets a sharded index in
    the cache (:mod:`optical.index`, built on ``run.device``, resumable), searched with
    ``nprobe`` lists (0 = FAISS's default) and re-ranked exactly to depth ``rerank`` (0 =
    off); BM25, PSQ and MaxSim systems do not run there. The memory-bounded path for the
    full 18M-passage corpus.
    """

    corpus: str = ""
    languages: tuple[str, ...] = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
    max_passages: int = 0
    max_questions_per_language: int = 0
    index_factory: str = ""
    nprobe: int = 0
    rerank: int = 0
    train_sample: int = 262_144

    def __post_init__(self) -> None:
        keys = ("max_passages", "max_questions_per_language", "nprobe", "rerank")
        at_least(self, 0, *keys, section="xor-tydi-dev", note="0 = all / off")
        at_least(self, 1, "train_sample", section="xor-tydi-dev")
        _check_languages(self.languages, "xor-tydi-dev")
        if self.index_factory.strip() and self.max_passages:
            raise ConfigError(
                "xor-tydi-dev: max_passages takes a prefix into memory; with index_factory "
                "the whole corpus is indexed on disk (set one of them)"
            )


@dataclass(frozen=True)
class NtrexConfig:
    """NTREX-128 bitext retrieval (all 15 languages by default; ``max_sentences`` 0 = all)."""

    languages: tuple[str, ...] = (
        *("am", "ar", "bn", "fi", "ha", "hi", "ja", "ko"),
        *("ru", "so", "sw", "ta", "te", "tl", "yo"),
    )
    max_sentences: int = 0

    def __post_init__(self) -> None:
        at_least(self, 0, "max_sentences", section="ntrex", note="0 = all")
        _check_languages(self.languages, "ntrex")


@dataclass(frozen=True)
class AfriqaConfig:
    """AfriQA test questions (only those with a gold passage) against English passages.

    ``languages``: canonical codes of the AfriQA languages (default all seven).
    ``max_questions_per_language``: 0 = every test question with a gold passage; N = the
    N of them with the lowest salted hash of the question id (a fixed subset, the same on
    every machine). ``afriqa_passages``: 0 = all 5,359 AfriQA passages; N = the gold
    passages of the chosen questions plus the first other AfriQA passages in file order,
    N in all (fewer than the gold passages is an error). ``wikipedia_vital_passages``:
    the first N Wikipedia-vital lead sections added as distractors; **0 = none** (not
    all, unlike ``xor-tydi-heldout``; 10033 takes them all).
    """

    languages: tuple[str, ...] = AFRIQA_LANGUAGES
    max_questions_per_language: int = 0
    afriqa_passages: int = 0
    wikipedia_vital_passages: int = 0

    def __post_init__(self) -> None:
        at_least(
            self,
            0,
            "max_questions_per_language",
            "afriqa_passages",
            section="afriqa",
            note="0 = all",
        )
        at_least(self, 0, "wikipedia_vital_passages", section="afriqa", note="0 = none")
        _check_languages(self.languages, "afriqa")
        unknown = [lang for lang in self.languages if lang not in AFRIQA_LANGUAGES]
        if unknown:
            raise ConfigError(
                f"afriqa.languages: AfriQA has no {', '.join(unknown)}; its languages (canonical "
                f"codes): {', '.join(AFRIQA_LANGUAGES)}"
            )


def _check_languages(languages: tuple[str, ...], section: str) -> None:
    """A benchmark's ``languages``: at least one, none twice."""
    if not languages:
        raise ConfigError(f"{section}.languages is empty: name at least one language")
    twice = sorted({lang for lang in languages if languages.count(lang) > 1})
    if twice:
        raise ConfigError(f"{section}.languages lists {', '.join(twice)} twice")


# --- collections, queries and qrels -------------------------------------------------


def wikipedia_vital(data_dir: Path, limit: int) -> list[Passage]:
    """The first ``limit`` Wikipedia-vital passages in the loader's fixed order (0 = all)."""
    return load_wikipedia_vital(data_dir, limit=limit or None)


def xquad_benchmark(settings: XquadConfig, data_dir: Path) -> RetrievalBenchmark:
    """XQuAD-CLIR: configured languages plus English (the oracle's questions)."""
    distractors = wikipedia_vital(data_dir, settings.distractors) if settings.distractors else []
    languages = tuple(dict.fromkeys((*settings.languages, "en")))
    bench = load_xquad(data_dir, languages=languages, distractors=distractors)
    limit = settings.max_questions_per_language
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


def xor_heldout_benchmark(settings: XorHeldoutConfig, data_dir: Path) -> RetrievalBenchmark:
    """XOR-TyDi held-out questions over the XQuAD paragraphs plus Wikipedia-vital passages.

    With ``max_questions_per_language = N`` each language keeps its N questions of
    lowest held-out hash score: a fixed subset, the same on every machine.
    There are no relevance judgments: systems are scored by agreement with the
    oracle and by answer recall (``answers``).
    """
    xquad_passages = load_xquad(data_dir, languages=("en",)).passages
    passages = (*xquad_passages, *wikipedia_vital(data_dir, settings.wikipedia_vital_passages))
    queries: dict[str, tuple[Query, ...]] = {}
    answers: dict[str, tuple[str, ...]] = {}
    by_lang: dict[str, list] = {}
    for question in heldout_questions(data_dir):
        if question.lang in settings.languages:
            by_lang.setdefault(question.lang, []).append(question)
    for lang in settings.languages:
        chosen = sorted(by_lang.get(lang, []), key=lambda q: heldout_score(q.id))
        if settings.max_questions_per_language:
            chosen = chosen[: settings.max_questions_per_language]
        queries[lang] = tuple(Query(q.id, q.question, lang, english=q.english) for q in chosen)
        answers.update({q.id: q.answers for q in chosen})
    return RetrievalBenchmark("xor-tydi-heldout", passages, queries, {}, answers)


def xor_dev_benchmark(settings: XorDevConfig, data_dir: Path) -> RetrievalBenchmark:
    """The XOR-Retrieve dev questions (v1.1; evaluation-only) of ``settings.languages``
    against the passages of ``settings.corpus``, streamed from the file in chunks (a
    malformed line stops with its file and line); ``answers`` = the English answers
    (R@2kt / R@5kt). ``collection`` names the corpus: file name, size in bytes, SHA-256
    of its first MiB, passages. Without a corpus the benchmark is returned skipped, with
    the reason. The collection is read into memory, or, with ``index_factory``, stays on
    disk: only its offset table is built (once, in the cache) and the passages are read
    back by offset (:class:`~optical.types.CorpusIndex`)."""
    from ..data.xor_tydi import load_xor_dev
    from ..index import corpus_info, corpus_table, iter_chunks

    name = XOR_DEV.id
    if not settings.corpus.strip():
        return _skipped(name, "no corpus: set [xor-tydi-dev] corpus = PATH to a DPR TSV")
    path = Path(settings.corpus).expanduser()
    if not path.is_file():
        return _skipped(name, f"the corpus {path} does not exist")
    info = corpus_info(path)
    queries: dict[str, tuple[Query, ...]] = {}
    answers: dict[str, tuple[str, ...]] = {}
    by_lang: dict[str, list[XorQuestion]] = {}
    for question in load_xor_dev(data_dir):
        if question.lang in settings.languages:
            by_lang.setdefault(question.lang, []).append(question)
    for lang in settings.languages:
        chosen = by_lang.get(lang, [])
        if settings.max_questions_per_language:
            ordered = sorted(chosen, key=lambda q: (_xor_dev_score(q.id), q.id))
            kept = {q.id for q in ordered[: settings.max_questions_per_language]}
            chosen = [q for q in chosen if q.id in kept]
        queries[lang] = tuple(Query(q.id, q.question, lang) for q in chosen)
        answers.update({q.id: q.answers for q in chosen})
    named = f"({info.bytes:,} bytes, SHA-256 of the first MiB {info.sha256_first_mb[:16]}…)"
    if settings.index_factory.strip():
        from ..settings import cache_dir

        folder = cache_dir() / "corpora" / f"{info.name}-{info.sha256_first_mb[:16]}-{info.bytes}"
        table = corpus_table(path, folder)
        index = CorpusIndex(
            str(path.resolve()),
            str(folder),
            settings.index_factory.strip(),
            settings.nprobe,
            settings.rerank,
            settings.train_sample,
        )
        collection = (
            f"{info.name} {named}: {len(table):,} passages, indexed on disk ({index.factory}"
            f", nprobe {index.nprobe or 'default'}, re-ranked to {index.rerank or 'off'})"
        )
        return RetrievalBenchmark(
            name, (), queries, {}, answers, collection=collection, index=index
        )
    passages: list[Passage] = []
    limit = settings.max_passages or None
    for chunk in iter_chunks(path, 0, path.stat().st_size, 100_000):
        passages.extend(chunk.passages[: None if limit is None else limit - len(passages)])
        if limit is not None and len(passages) >= limit:
            break
    prefix = f"the first {len(passages):,} passages of " if limit is not None else ""
    collection = f"{prefix}{info.name} {named}: {len(passages):,} passages in memory"
    return RetrievalBenchmark(name, tuple(passages), queries, {}, answers, collection=collection)


def _skipped(name: str, reason: str) -> RetrievalBenchmark:
    return RetrievalBenchmark(name, (), {}, {}, skipped=reason)


def _xor_dev_score(question_id: str) -> str:
    """Salted hash that orders XOR dev questions for a fixed subset."""
    return hashlib.sha256(f"optical-xor-dev-subset/{question_id}".encode()).hexdigest()


def user_corpus(bench: RetrievalBenchmark) -> str:
    """A user-supplied collection, named (file, lines, hash)."""
    return bench.collection or plain_corpus(bench)


def ntrex_benchmark(settings: NtrexConfig, data_dir: Path) -> RetrievalBenchmark:
    """Bitext retrieval on NTREX-128: find each sentence's English translation among all
    English sentences (P@1). Evaluation-only text: no system trains on it.

    The collection is the English side (``en:ntrex-<line>``); queries are the sentences
    of each language (id ``ntrex-<line>``). ``max_sentences = N`` keeps lines 1…N.
    Both sides are sentences, so both are encoded in the query role (e5: ``query: ``):
    this probes exactly what distillation trains — the student's embedding of a
    sentence landing on the teacher's embedding of its translation.
    """
    pairs = load_ntrex(data_dir, languages=settings.languages)
    english: dict[str, str] = {}
    queries: dict[str, tuple[Query, ...]] = {}
    for lang, lang_pairs in pairs.items():
        chosen = [
            p
            for p in lang_pairs
            if not settings.max_sentences or _line_number(p.id) <= settings.max_sentences
        ]
        queries[lang] = tuple(Query(p.id, p.source, lang, english=p.english) for p in chosen)
        english.update({p.id: p.english for p in chosen})
    passages = tuple(Passage(f"en:{pid}", text) for pid, text in sorted(english.items()))
    qrels = {pid: {f"en:{pid}": 1} for pid in english}
    return RetrievalBenchmark("ntrex", passages, queries, qrels, passage_role="query")


def _line_number(pair_id: str) -> int:
    return int(pair_id.rsplit("-", 1)[1])


def afriqa_benchmark(settings: AfriqaConfig, data_dir: Path) -> RetrievalBenchmark:
    """AfriQA test questions → English passages (the AfriQA corpus, optionally a fixed
    subset of it, plus Wikipedia-vital distractors).

    Queries are the questions in their language (``Query.english`` = the human English
    translation, read by the oracle and ``bm25-human-translation``); only test questions
    with a gold passage are queries, qrels = ``{question: {gold passage: 1}}``;
    ``answers`` = the English answers (answer recall R@2kt / R@5kt).
    """
    corpus = load_afriqa_passages(data_dir)
    by_lang = load_afriqa(data_dir, "test", settings.languages, corpus)
    queries: dict[str, tuple[Query, ...]] = {}
    answers: dict[str, tuple[str, ...]] = {}
    qrels: dict[str, dict[str, int]] = {}
    limit = settings.max_questions_per_language
    for lang in settings.languages:
        judged = [q for q in by_lang[lang] if q.gold is not None]
        if limit:
            kept = set(sorted((q.id for q in judged), key=lambda i: (_afriqa_score(i), i))[:limit])
            judged = [q for q in judged if q.id in kept]
        queries[lang] = tuple(Query(q.id, q.question, lang, english=q.english) for q in judged)
        answers.update({q.id: q.english_answers for q in judged})
        qrels.update({q.id: {q.gold: 1} for q in judged if q.gold is not None})
    passages = _afriqa_collection(corpus, qrels, settings.afriqa_passages)
    if settings.wikipedia_vital_passages:
        passages += wikipedia_vital(data_dir, settings.wikipedia_vital_passages)
    return RetrievalBenchmark("afriqa", tuple(passages), queries, qrels, answers)


def _afriqa_score(question_id: str) -> str:
    """Salted hash that orders AfriQA questions for the fixed subset."""
    return hashlib.sha256(f"optical-afriqa-subset/{question_id}".encode()).hexdigest()


def _afriqa_collection(
    corpus: list[Passage], qrels: Mapping[str, Mapping[str, int]], limit: int
) -> list[Passage]:
    """All of ``corpus`` (``limit`` 0), or its gold passages plus the first others in file
    order, ``limit`` in all; the file order is kept."""
    if not limit:
        return list(corpus)
    gold = {pid for rels in qrels.values() for pid in rels}
    if len(gold) > limit:
        raise ConfigError(
            f"afriqa.afriqa_passages = {limit} is fewer than the {len(gold)} gold passages of "
            "the chosen questions: raise it, or set 0 for the whole corpus"
        )
    others = [p.id for p in corpus if p.id not in gold][: limit - len(gold)]
    chosen = gold | set(others)
    return [p for p in corpus if p.id in chosen]


def afriqa_corpus(bench: RetrievalBenchmark) -> str:
    """What an AfriQA collection holds, in words (AfriQA passages + distractors)."""
    own = sum(p.id.startswith(AFRIQA_PASSAGE_PREFIX) for p in bench.passages)
    others = len(bench.passages) - own
    return (
        f"{len(bench.passages):,} English passages: {own:,} AfriQA passages + {others:,} "
        "Wikipedia-vital distractors"
    )


def plain_corpus(bench: RetrievalBenchmark) -> str:
    """The size of a benchmark's collection, in words."""
    return f"{len(bench.passages):,} English passages"


# --- scoring -------------------------------------------------------------------------


def judged_scorer(measures: tuple[str, ...]) -> Scorer:
    """Scorer of a benchmark with qrels: ``measures`` per query of one language (ir_measures)."""

    def score(
        bench: RetrievalBenchmark, lang: str, run: Run, _oracle: Run | None
    ) -> dict[str, PerQuery]:
        qids = {q.id for q in bench.queries[lang]}
        qrels = {qid: rels for qid, rels in bench.qrels.items() if qid in qids}
        return per_query(qrels, run, measures)

    return score


def answer_recall(bench: RetrievalBenchmark, lang: str, run: Run) -> dict[str, PerQuery]:
    """The XOR-Retrieve answer recall R@2kt / R@5kt (percent per query) of one language's
    run, with ``bench.answers`` as the gold answers; questions whose answers are all
    ``yes`` / ``no`` or empty are not scored, and a language with no other question
    gets no R@kt at all (:mod:`optical.evaluate.xor_metric`)."""
    gold = [
        XorQuestion(q.id, q.text, bench.answers.get(q.id, ()), lang, bench.name, q.english)
        for q in bench.queries[lang]
    ]
    if not any(span_answers(q.answers) for q in gold):
        return {}
    read = passage_reader(bench)
    predictions = {qid: read([pid for pid, _ in ranked(docs)]) for qid, docs in run.items()}
    found: dict[str, PerQuery] = {}
    for budget in XOR_BUDGETS:
        result = xor_recall(gold, predictions, budget)
        found[metric_name(budget)] = {k: float(v) * 100 for k, v in result.hits.items()}
    return found


def passage_reader(bench: RetrievalBenchmark) -> Callable[[list[str]], list[str]]:
    """``read(ids)``: the texts of passages ``ids`` of ``bench``, in that order, from
    memory or, for a collection on disk, read by offset (one seek each)."""
    if bench.index is None:
        texts = {p.id: p.text for p in bench.passages}
        return lambda ids: [texts[pid] for pid in ids]
    from ..index import OffsetTable

    table = OffsetTable(Path(bench.index.table), Path(bench.index.corpus))
    return lambda ids: [p.text for p in table.read(ids)]


def score_xor(
    bench: RetrievalBenchmark, lang: str, run: Run, oracle: Run | None
) -> dict[str, PerQuery]:
    """Agreement with the oracle's run (when given) and the XOR-Retrieve answer recall
    R@2kt / R@5kt in percent (when the questions have extractive answers)."""
    found: dict[str, PerQuery] = {}
    if oracle is not None:
        found[AGREEMENT] = agreement_per_query(run, oracle)
    found.update(answer_recall(bench, lang, run))
    return found


_score_afriqa_judged = judged_scorer(AFRIQA_MEASURES)


def score_afriqa(
    bench: RetrievalBenchmark, lang: str, run: Run, oracle: Run | None
) -> dict[str, PerQuery]:
    """The ir_measures of :data:`AFRIQA_MEASURES` against the gold passages, and the
    answer recall R@2kt / R@5kt with the English answers."""
    return {**_score_afriqa_judged(bench, lang, run, oracle), **answer_recall(bench, lang, run)}


# --- the specs -----------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkSpec:
    """One retrieval benchmark, declared.

    ``id``: its name in configs and result rows, and its config section; ``settings``:
    the dataclass of that section; ``build(settings, data_dir)``: the benchmark;
    ``score``: per-query values of one language's run; ``headline``: the measures the
    report tables show and significance tests compare (the first is the primary one);
    ``corpus``: the report's words for a built collection (its size, its parts);
    ``english_readers``: whether systems that read the human English question run here
    (not on bitext retrieval, where the English sentence is the target itself — the
    oracle stays as the trivial ceiling); ``alignment_examples``: whether its questions
    serve as the OT alignment heatmaps' examples; ``mt_set``: the MT-quality rows its
    queries and their human English translations also score the MT backends in (BLEU /
    chrF; one of :data:`MT_SETS`, or None)."""

    id: str
    settings: type
    build: Callable[[Any, Path], RetrievalBenchmark]
    score: Scorer
    headline: tuple[str, ...]
    title: str
    note: str
    corpus: Callable[[RetrievalBenchmark], str] = plain_corpus
    english_readers: bool = True
    alignment_examples: bool = True
    mt_set: str | None = None

    @property
    def primary(self) -> str:
        """The benchmark's primary measure."""
        return self.headline[0]

    @property
    def attribute(self) -> str:
        """The :class:`~optical.experiment.config.ExperimentConfig` field of its settings."""
        return self.id.replace("-", "_")

    def settings_of(self, cfg: Any) -> Any:
        """This benchmark's settings in an experiment config."""
        return getattr(cfg, self.attribute)

    def load(self, cfg: Any, data_dir: Path) -> RetrievalBenchmark:
        """The benchmark as configured in ``cfg``."""
        return self.build(self.settings_of(cfg), data_dir)


XQUAD = BenchmarkSpec(
    id="xquad",
    settings=XquadConfig,
    build=xquad_benchmark,
    score=judged_scorer(DEFAULT_MEASURES),
    headline=("RR@10", "nDCG@10", "R@5"),
    title="XQuAD-CLIR (question in language X → 240 English paragraphs)",
    note="The English originals are every translation's human English version, so "
    "`oracle` and `bm25-human-translation` are the same in every language column; `en` is "
    "the English question itself.",
)
XOR_HELDOUT = BenchmarkSpec(
    id="xor-tydi-heldout",
    settings=XorHeldoutConfig,
    build=xor_heldout_benchmark,
    score=score_xor,
    headline=(AGREEMENT, "R@2kt", "R@5kt"),
    title="XOR-TyDi held-out (question in language X → English corpus)",
    note="No relevance judgments exist for this corpus: `agreement-nDCG@10` scores a "
    "system against the oracle's top 10 (grades 10…1); `R@2kt`/`R@5kt` are the official "
    "XOR-Retrieve answer-recall metrics (percent) on this corpus.",
    mt_set=QUESTIONS_MT,
)
XOR_DEV = BenchmarkSpec(
    id="xor-tydi-dev",
    settings=XorDevConfig,
    build=xor_dev_benchmark,
    score=score_xor,
    headline=("R@2kt", "R@5kt"),
    title="XOR-Retrieve dev (official questions in language X → a user-supplied English "
    "Wikipedia corpus)",
    note="The official XOR-Retrieve dev questions (2,110; 1,928 with extractive answers "
    "are scored) against the corpus named below, scored with the official R@2kt / R@5kt "
    "(percent). Comparable with published numbers only on the full official corpus "
    "(`enwiki_20190201_w100.tsv`): numbers on `psgs_w100.tsv` or a prefix differ. The dev "
    "questions have no human English translations, so `oracle` and "
    "`bm25-human-translation` do not run here.",
    corpus=user_corpus,
    alignment_examples=False,
)
NTREX = BenchmarkSpec(
    id="ntrex",
    settings=NtrexConfig,
    build=ntrex_benchmark,
    score=judged_scorer(NTREX_MEASURES),
    headline=("P@1",),
    title="NTREX-128 bitext retrieval (sentence in language X → all English sentences)",
    note="P@1 of finding each sentence's English translation among all English sentences. "
    "Both sides are encoded as queries (e5 `query: `), the role the students are distilled "
    "into; the oracle queries with the English sentence itself (the trivial ceiling).",
    english_readers=False,
    alignment_examples=False,
    mt_set=MT_BENCHMARK,
)

AFRIQA = BenchmarkSpec(
    id="afriqa",
    settings=AfriqaConfig,
    build=afriqa_benchmark,
    score=score_afriqa,
    headline=("RR@10", "R@100", "nDCG@10"),
    title="AfriQA (question in an African language → English Wikipedia passages)",
    note="AfriQA test questions that have a gold passage, in Bemba, Hausa, Igbo, "
    "Kinyarwanda, Twi, Yorùbá and Zulu, against the AfriQA English passages plus any "
    "Wikipedia-vital distractors configured (the collection line below gives the sizes); "
    "qrels = each question's gold passage. All but Hausa are not in the encoder's "
    "pre-training (XLM-R's CC-100 languages). `R@2kt`/`R@5kt` are XOR-Retrieve answer "
    "recall with the human English answers (yes/no-only questions not scored).",
    corpus=afriqa_corpus,
    mt_set=QUESTIONS_MT,
)

BENCHMARKS: Mapping[str, BenchmarkSpec] = {
    b.id: b for b in (XQUAD, XOR_HELDOUT, XOR_DEV, NTREX, AFRIQA)
}
"""Every retrieval benchmark, by id."""
HEADLINE: Mapping[str, tuple[str, ...]] = {b.id: b.headline for b in BENCHMARKS.values()}
"""Benchmark id → headline measures (what significance tests compare)."""


def benchmark(name: str) -> BenchmarkSpec:
    """The spec of benchmark ``name``; a :class:`ConfigError` listing the known ones."""
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def primary_measure(benchmark_id: str) -> str | None:
    """The primary measure of a benchmark id (None for rows that are not a retrieval
    benchmark's, such as MT quality)."""
    spec = BENCHMARKS.get(benchmark_id)
    return None if spec is None else spec.primary
