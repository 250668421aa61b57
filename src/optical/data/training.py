"""The only bitext (and XOR questions) that training code may read.

Training bitext = the pairs of the chosen training sources (:data:`TRAINING_SOURCE_SPECS`:
XOR-TyDi human translations, Tatoeba, MKQA, OPUS Tatoeba, WMT newstest, LAFAND-MT,
MENYO-20k, AfriQA train/dev questions, small_parallel_enja), minus every pair that
touches evaluation text. A pair is dropped when its source or its English side is an
evaluation text of :mod:`optical.data.evaluation_text` (whitespace-collapsed,
case-folded), reported under the first of its sets:

- a held-out XOR train question or any of its human English translations
  (:mod:`optical.data.heldout`), also when another train id repeats that text;
- an XOR-TyDi dev question or any human translation of it (a few dev questions of
  bn and ko do occur in the translation files);
- an XQuAD question in any of its 7 languages;
- an NTREX-128 sentence (source or English): NTREX is a benchmark, never a source;
- an AfriQA test question or its human English (generic questions such as "What is the
  capital of Canada?" occur in the XOR translations too);
- passage text of the evaluation collections (XQuAD paragraphs, the AfriQA corpus, the
  Wikipedia vital-article leads) of at least five words: a whole passage or one sentence.

Duplicate pairs are kept once across all chosen sources: two pairs are the same when
their language, :func:`text_key` of the source and :func:`text_key` of the English agree
(so case and whitespace variants from two corpora count once); the first source in the
chosen order wins. Every drop is reported through :func:`optical.data.skips.report_skip`
(source ``training-bitext/{source}``, per language).

Sources are registered in one place, :data:`TRAINING_SOURCE_SPECS`; the default sources
are the natural-text ones. ``small-parallel-enja`` is tokenized and lowercased: it is
registered with ``natural_text=False``, is off by default and logs a warning when chosen.
The trainers re-check every pool they are given
(:func:`optical.train.sampling.load_bitext`).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..languages import normalize_lang
from ..types import BitextPair, XorQuestion
from ._io import resolve_data_dir
from .afriqa import afriqa_question_pairs
from .bitext import load_mkqa, load_tatoeba
from .evaluation_text import EvaluationIndex, evaluation_index
from .evaluation_text import text_key as text_key  # re-exported: the leak-check key
from .heldout import is_heldout
from .more_bitext import (
    ENJA_NOTE,
    load_lafand,
    load_menyo20k,
    load_newstest,
    load_opus_tatoeba,
    load_small_parallel_enja,
)
from .skips import Skip, report_skip
from .xor_tydi import load_xor_train, load_xor_translations

logger = logging.getLogger(__name__)

Loader = Callable[[Path], dict[str, list[BitextPair]]]
"""Reads one source from the data directory: canonical language → pairs."""


@dataclass(frozen=True)
class TrainingSource:
    """One training-bitext source: its name (as in ``[data] sources``) and its loader.

    ``domain`` (:data:`DOMAINS`) is the kind of text: ``questions`` is the domain of the
    retrieval benchmarks' queries; news, conversational and mixed text is out of it
    (validation reports P@1 per domain, so a student's gain on questions and its loss
    elsewhere are seen apart). ``natural_text=False`` marks text that is not natural
    (tokenized, lowercased …); ``note`` says how, and is logged as a warning whenever
    the source is chosen. ``default``: part of :data:`DEFAULT_SOURCES`.
    """

    name: str
    loader: Loader
    description: str
    domain: str
    natural_text: bool = True
    default: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(
                f"training source {self.name!r}: domain {self.domain!r} not in {DOMAINS}"
            )


QUESTIONS = "questions"
"""The in-domain kind of text: the retrieval benchmarks' queries are questions."""
DOMAINS: tuple[str, ...] = (QUESTIONS, "news", "conversational", "mixed")


# The one registry of training sources, in the default order (which is also the
# dedup precedence: the first source wins). To add a source, write its loader in the
# data layer and add one TrainingSource here; the config check, the defaults and the
# loading loop follow. A benchmark never goes here (see BENCHMARK_SOURCES).
TRAINING_SOURCE_SPECS: tuple[TrainingSource, ...] = (
    TrainingSource(
        "xor", load_xor_translations, "XOR-TyDi human translations of train questions", QUESTIONS
    ),
    TrainingSource("tatoeba", load_tatoeba, "Tatoeba test pairs (LASER release)", "conversational"),
    TrainingSource("mkqa", load_mkqa, "MKQA questions joined to English", QUESTIONS),
    TrainingSource(
        "opus-tatoeba",
        load_opus_tatoeba,
        "OPUS Tatoeba v2021-08-07 (minus LASER)",
        "conversational",
    ),
    TrainingSource(
        "newstest", load_newstest, "WMT newstest 2012-2020 without 2019, ru and fi", "news"
    ),
    TrainingSource("lafand-mt", load_lafand, "LAFAND-MT news bitext, train and dev", "news"),
    TrainingSource("menyo20k", load_menyo20k, "MENYO-20k English-Yoruba, train and dev", "mixed"),
    TrainingSource(
        "afriqa-questions",
        afriqa_question_pairs,
        "AfriQA train and dev questions with their human English translations",
        QUESTIONS,
    ),
    TrainingSource(
        "small-parallel-enja",
        load_small_parallel_enja,
        "small_parallel_enja Japanese-English (Tanaka corpus), train split",
        "conversational",
        natural_text=False,
        default=False,
        note=ENJA_NOTE,
    ),
)
SOURCES: dict[str, TrainingSource] = {spec.name: spec for spec in TRAINING_SOURCE_SPECS}
"""Training sources by name."""
TRAINING_SOURCES: tuple[str, ...] = tuple(SOURCES)
"""Every training source name."""
DEFAULT_SOURCES: tuple[str, ...] = tuple(
    spec.name for spec in TRAINING_SOURCE_SPECS if spec.default
)
"""The sources used when none are named: every natural-text source."""


def source_domain(origin: str) -> str:
    """The :data:`DOMAINS` entry of a training source (a pair's ``origin``); ``"other"``
    for an origin that is not a registered source (bitext a user passed in)."""
    spec = SOURCES.get(origin)
    return spec.domain if spec is not None else "other"


BENCHMARK_SOURCES: tuple[str, ...] = ("ntrex", "xquad", "xor-dev", "xor-heldout", "afriqa")


ProtectedText = EvaluationIndex
"""The evaluation texts training data must not contain: :mod:`optical.data.evaluation_text`."""


def protected_text(data_dir: str | Path | None = None) -> EvaluationIndex:
    """Every evaluation text that training data must not contain (see the module doc)."""
    return evaluation_index(data_dir)


def _check_sources(sources: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(sources))
    for source in chosen:
        if source in BENCHMARK_SOURCES:
            raise ConfigError(f"{source!r} is evaluation data and never training bitext")
        if source not in TRAINING_SOURCES:
            raise ConfigError(
                f"unknown bitext source {source!r}; known: {', '.join(TRAINING_SOURCES)}"
            )
    return chosen


def training_bitext(
    data_dir: str | Path | None = None,
    sources: Iterable[str] = DEFAULT_SOURCES,
    languages: Iterable[str] | None = None,
) -> dict[str, list[BitextPair]]:
    """Training bitext per language from ``sources`` ⊆ :data:`TRAINING_SOURCES`: filtered,
    deduplicated across sources (the first source in ``sources`` wins).

    ``languages`` (any code form) restricts the result; a language absent from every
    chosen source is simply absent. Asking for ``ntrex`` (or any benchmark) raises
    :class:`ConfigError`. A chosen source that is not natural text logs a warning.
    """
    root = resolve_data_dir(data_dir)
    chosen = _check_sources(sources)
    wanted = None if languages is None else {normalize_lang(code) for code in languages}
    translations = load_xor_translations(root)
    protected = evaluation_index(root)

    # A loader already run for the protected text is not run twice (no double skip reports).
    already: dict[Loader, dict[str, list[BitextPair]]] = {load_xor_translations: translations}
    loaded: list[tuple[str, dict[str, list[BitextPair]]]] = []
    for source in chosen:
        spec = SOURCES[source]
        if not spec.natural_text:
            logger.warning("training source %r is not natural text: %s", source, spec.note)
        loaded.append(
            (source, already[spec.loader] if spec.loader in already else spec.loader(root))
        )

    result: dict[str, list[BitextPair]] = {}
    seen: set[tuple[str, str, str]] = set()
    for source, per_lang in loaded:
        for lang, pairs in per_lang.items():
            if wanted is not None and lang not in wanted:
                continue
            dropped: dict[str, int] = {}
            kept = result.setdefault(lang, [])
            for pair in pairs:
                key = (pair.lang, text_key(pair.source), text_key(pair.english))
                reason = protected.reason(pair.source, pair.english)
                if reason is None and not (visible(pair.source) and visible(pair.english)):
                    reason = "no visible text"
                if reason is None and key in seen:
                    reason = "duplicate pair"
                if reason is not None:
                    dropped[reason] = dropped.get(reason, 0) + 1
                    continue
                seen.add(key)
                kept.append(pair)
            for reason, count in dropped.items():
                report_skip(Skip(f"training-bitext/{source}", reason, count, lang=lang))
    return {lang: pairs for lang, pairs in sorted(result.items()) if pairs}


def visible(text: str) -> bool:
    """Whether ``text`` has a character that is neither white space nor a control or
    format character (Unicode categories Cc, Cf: e.g. a bare U+200E left-to-right mark,
    which some bitext lines hold and every tokenizer reads as nothing)."""
    return any(not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf") for ch in text)


def training_questions(data_dir: str | Path | None = None) -> list[XorQuestion]:
    """XOR train questions training code may use: not held out, no protected text.

    A non-held-out question whose text (or translation) is evaluation text (as for
    :func:`training_bitext`) is dropped and reported.
    """
    root = resolve_data_dir(data_dir)
    protected = evaluation_index(root)
    train = load_xor_train(root)
    kept: list[XorQuestion] = []
    dropped: dict[tuple[str, str], int] = {}
    for question in train:
        if is_heldout(question.id) and question.english is not None:
            continue
        reason = protected.reason(*(t for t in (question.question, question.english) if t))
        if reason is not None:
            dropped[(question.lang, reason)] = dropped.get((question.lang, reason), 0) + 1
            continue
        kept.append(question)
    for (lang, reason), count in sorted(dropped.items()):
        report_skip(Skip("training-questions/xor", reason, count, lang=lang))
    return kept
