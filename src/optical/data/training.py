"""The only bitext (and XOR questions) that training code may read.

Training bitext = XOR-TyDi human translations + Tatoeba + MKQA, minus every pair
that touches evaluation text. A pair is dropped when its source or its English
side equals (whitespace-collapsed, case-folded) any of:

- a held-out XOR train question or any of its human English translations
  (:mod:`optical.data.heldout`), also when another train id repeats that text;
- an XOR-TyDi dev question or any human translation of it (a few dev questions of
  bn and ko do occur in the translation files);
- an XQuAD question in any of its 7 languages;
- an NTREX-128 sentence (source or English): NTREX is a benchmark, never a source.

Exact duplicate pairs (same language, source and English) are kept once. Every
drop is reported through :func:`optical.data.skips.report_skip`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..languages import normalize_lang
from ..types import BitextPair, XorQuestion
from ._io import resolve_data_dir
from .bitext import load_mkqa, load_ntrex, load_tatoeba
from .heldout import is_heldout
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

TRAINING_SOURCES: tuple[str, ...] = ("xor", "tatoeba", "mkqa")
BENCHMARK_SOURCES: tuple[str, ...] = ("ntrex", "xquad", "xor-dev", "xor-heldout")


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
    sources: Iterable[str] = TRAINING_SOURCES,
    languages: Iterable[str] | None = None,
) -> dict[str, list[BitextPair]]:
    """Training bitext per language from ``sources`` ⊆ {xor, tatoeba, mkqa}: filtered, deduplicated.

    ``languages`` (any code form) restricts the result; a language absent from every
    chosen source is simply absent. Asking for ``ntrex`` (or any benchmark) raises
    :class:`ConfigError`.
    """
    root = resolve_data_dir(data_dir)
    chosen = _check_sources(sources)
    wanted = None if languages is None else {normalize_lang(code) for code in languages}
    translations = load_xor_translations(root)
    protected, _train = _protected(root, translations)

    loaded: list[tuple[str, dict[str, list[BitextPair]]]] = []
    for source in chosen:
        if source == "xor":
            loaded.append((source, translations))
        elif source == "tatoeba":
            loaded.append((source, load_tatoeba(root)))
        else:
            loaded.append((source, load_mkqa(root)))

    result: dict[str, list[BitextPair]] = {}
    seen: set[tuple[str, str, str]] = set()
    for source, per_lang in loaded:
        for lang, pairs in per_lang.items():
            if wanted is not None and lang not in wanted:
                continue
            dropped: dict[str, int] = {}
            kept = result.setdefault(lang, [])
            for pair in pairs:
                reason = protected.reason(pair.source, pair.english)
                if reason is None and (pair.lang, pair.source, pair.english) in seen:
                    reason = "duplicate pair"
                if reason is not None:
                    dropped[reason] = dropped.get(reason, 0) + 1
                    continue
                seen.add((pair.lang, pair.source, pair.english))
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
