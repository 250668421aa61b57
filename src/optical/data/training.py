"""The only bitext (and XOR questions) that training code may read.

Training bitext = the pairs of the chosen training sources (:data:`TRAINING_SOURCE_SPECS`:
XOR-TyDi human translations, Tatoeba, MKQA, OPUS Tatoeba, WMT newstest, LAFAND-MT,
MENYO-20k, small_parallel_enja), minus every pair that touches evaluation text. A pair
is dropped when its source or its English side equals (whitespace-collapsed,
case-folded) any of:

- a held-out XOR train question or any of its human English translations
  (:mod:`optical.data.heldout`), also when another train id repeats that text;
- an XOR-TyDi dev question or any human translation of it (a few dev questions of
  bn and ko do occur in the translation files);
- an XQuAD question in any of its 7 languages;
- an NTREX-128 sentence (source or English): NTREX is a benchmark, never a source.

Duplicate pairs are kept once across all chosen sources: two pairs are the same when
their language, :func:`text_key` of the source and :func:`text_key` of the English agree
(so case and whitespace variants from two corpora count once); the first source in the
chosen order wins. Every drop is reported through :func:`optical.data.skips.report_skip`
(source ``training-bitext/{source}``, per language).

Sources are registered in one place, :data:`TRAINING_SOURCE_SPECS`; the default sources
are the natural-text ones. ``small-parallel-enja`` is tokenized and lowercased: it is
registered with ``natural_text=False``, is off by default and logs a warning when chosen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..languages import normalize_lang
from ..types import BitextPair, XorQuestion
from ._io import resolve_data_dir
from .afriqa import afriqa_question_pairs
from .bitext import load_mkqa, load_ntrex, load_tatoeba
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
from .xor_tydi import (
    DEV_FILE,
    TRAIN_FILE,
    XOR_DIR,
    english_variants,
    join_translations,
    load_xor_translations,
    read_xor_jsonl,
    translation_lookup,
)
from .xquad import XQUAD_LANGUAGES, read_xquad_questions

logger = logging.getLogger(__name__)

Loader = Callable[[Path], dict[str, list[BitextPair]]]
"""Reads one source from the data directory: canonical language → pairs."""


@dataclass(frozen=True)
class TrainingSource:
    """One training-bitext source: its name (as in ``[data] sources``) and its loader.

    ``natural_text=False`` marks text that is not natural (tokenized, lowercased …);
    ``note`` says how, and is logged as a warning whenever the source is chosen.
    ``default``: part of :data:`DEFAULT_SOURCES`.
    """

    name: str
    loader: Loader
    description: str
    natural_text: bool = True
    default: bool = True
    note: str = ""


# The one registry of training sources, in the default order (which is also the
# dedup precedence: the first source wins). To add a source, write its loader in the
# data layer and add one TrainingSource here; the config check, the defaults and the
# loading loop follow. A benchmark never goes here (see BENCHMARK_SOURCES).
TRAINING_SOURCE_SPECS: tuple[TrainingSource, ...] = (
    TrainingSource("xor", load_xor_translations, "XOR-TyDi human translations of train questions"),
    TrainingSource("tatoeba", load_tatoeba, "Tatoeba test pairs (LASER release)"),
    TrainingSource("mkqa", load_mkqa, "MKQA questions joined to English"),
    TrainingSource("opus-tatoeba", load_opus_tatoeba, "OPUS Tatoeba v2021-08-07 (minus LASER)"),
    TrainingSource("newstest", load_newstest, "WMT newstest 2012-2020 without 2019, ru and fi"),
    TrainingSource("lafand-mt", load_lafand, "LAFAND-MT news bitext, train and dev"),
    TrainingSource("menyo20k", load_menyo20k, "MENYO-20k English-Yoruba, train and dev"),
    TrainingSource(
        "afriqa-questions",
        afriqa_question_pairs,
        "AfriQA train and dev questions with their human English translations",
    ),
    TrainingSource(
        "small-parallel-enja",
        load_small_parallel_enja,
        "small_parallel_enja Japanese-English (Tanaka corpus), train split",
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
BENCHMARK_SOURCES: tuple[str, ...] = ("ntrex", "xquad", "xor-dev", "xor-heldout", "afriqa")


def text_key(text: str) -> str:
    """Comparison key for leak checks: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


_REASONS: tuple[tuple[str, str], ...] = (
    ("heldout", "held-out XOR-TyDi question"),
    ("xor_dev", "XOR-TyDi dev question"),
    ("xquad", "XQuAD question"),
    ("ntrex", "NTREX sentence"),
)


@dataclass(frozen=True)
class ProtectedText:
    """Evaluation text (as :func:`text_key` keys) that must never appear in training data."""

    heldout: frozenset[str]
    xor_dev: frozenset[str]
    xquad: frozenset[str]
    ntrex: frozenset[str]
    _reasons: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reasons: dict[str, str] = {}
        for name, reason in _REASONS:
            for key in getattr(self, name):
                reasons.setdefault(key, reason)
        object.__setattr__(self, "_reasons", reasons)

    def reason(self, *texts: str) -> str | None:
        """Why any of ``texts`` is protected (first in the order of the fields), else ``None``."""
        found = [self._reasons.get(text_key(text)) for text in texts]
        hits = {reason for reason in found if reason is not None}
        if not hits:
            return None
        return next(reason for _name, reason in _REASONS if reason in hits)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and text_key(text) in self._reasons


def _protected(
    root: Path, translations: dict[str, list[BitextPair]]
) -> tuple[ProtectedText, list[XorQuestion]]:
    """Protected texts and the XOR train questions (joined to their first translation)."""
    lookup = translation_lookup(translations)
    heldout: set[str] = set()
    train: list[XorQuestion] = []
    for question, variants in join_translations(
        read_xor_jsonl(root / XOR_DIR / TRAIN_FILE), lookup
    ):
        train.append(question)
        if question.english is not None and is_heldout(question.id):
            heldout.add(text_key(question.question))
            heldout.update(text_key(text) for text in variants)
    dev: set[str] = set()
    for question in read_xor_jsonl(root / XOR_DIR / DEV_FILE):
        dev.add(text_key(question.question))
        dev.update(text_key(text) for text in english_variants(question, lookup))
    xquad = {
        text_key(text)
        for lang in XQUAD_LANGUAGES
        for _qid, text in read_xquad_questions(root, lang)
    }
    ntrex = {
        text_key(text)
        for pairs in load_ntrex(root).values()
        for pair in pairs
        for text in (pair.source, pair.english)
    }
    protected = ProtectedText(
        frozenset(heldout), frozenset(dev), frozenset(xquad), frozenset(ntrex)
    )
    return protected, train


def protected_text(data_dir: str | Path | None = None) -> ProtectedText:
    """Every evaluation text that training data must not contain (see the module doc)."""
    root = resolve_data_dir(data_dir)
    return _protected(root, load_xor_translations(root))[0]


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
    protected, _train = _protected(root, translations)

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


def training_questions(data_dir: str | Path | None = None) -> list[XorQuestion]:
    """XOR train questions training code may use: not held out, no protected text.

    A non-held-out question whose text (or translation) equals held-out, dev or
    XQuAD text is dropped and reported.
    """
    root = resolve_data_dir(data_dir)
    protected, train = _protected(root, load_xor_translations(root))
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
