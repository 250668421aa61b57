"""The only bitext (and XOR questions) that training code may read.

Training bitext = XOR-TyDi human translations + Tatoeba + MKQA, minus every pair
that touches evaluation text. A pair is dropped when its source or its English side
is an evaluation text of :mod:`optical.data.evaluation_text` (whitespace-collapsed,
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

Exact duplicate pairs (same language, source and English) are kept once. Every
drop is reported through :func:`optical.data.skips.report_skip`. The trainers re-check
every pool they are given (:func:`optical.train.sampling.load_bitext`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError
from ..languages import normalize_lang
from ..types import BitextPair, XorQuestion
from ._io import resolve_data_dir
from .bitext import load_mkqa, load_tatoeba
from .evaluation_text import EvaluationIndex, evaluation_index
from .evaluation_text import text_key as text_key  # re-exported: the leak-check key
from .heldout import is_heldout
from .skips import Skip, report_skip
from .xor_tydi import load_xor_train, load_xor_translations

TRAINING_SOURCES: tuple[str, ...] = ("xor", "tatoeba", "mkqa")
BENCHMARK_SOURCES: tuple[str, ...] = ("ntrex", "xquad", "xor-dev", "xor-heldout")


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
    protected = evaluation_index(root)

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
