"""XOR-TyDi QA (XOR-Retrieve): dev and train questions and the human English translations.

Files (under ``{data_dir}/xor-tydi``): ``xor_dev_retrieve_eng_span_v1_1.jsonl``,
``xor_train_retrieve_eng_span.jsonl`` and ``translations/{lang}-en/{lang,en}.txt``.
Language codes are normalised (the train file writes Arabic as ``" ar"``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError, DataFormatError
from ..languages import is_known, normalize_lang
from ..types import BitextPair, XorQuestion
from ._io import field, iter_jsonl, require_file, resolve_data_dir
from .bitext import read_line_aligned

logger = logging.getLogger(__name__)

XOR_DIR = "xor-tydi"
DEV_FILE = "xor_dev_retrieve_eng_span_v1_1.jsonl"
TRAIN_FILE = "xor_train_retrieve_eng_span.jsonl"
XOR_LANGUAGES: tuple[str, ...] = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
XOR_UPSTREAM = (
    "XOR QA release (Asai et al., NAACL 2021), data v1.1: https://github.com/AkariAsai/XORQA"
)


def translation_files(lang: str) -> tuple[str, str]:
    """Paths (relative to the data directory) of the ``lang``/English translation files."""
    return (
        f"{XOR_DIR}/translations/{lang}-en/{lang}.txt",
        f"{XOR_DIR}/translations/{lang}-en/en.txt",
    )


def read_xor_jsonl(path: str | Path) -> list[XorQuestion]:
    """Parse an XOR-Retrieve JSON-lines file (fields ``id, question, answers, lang, split``).

    Raises :class:`DataFormatError` (``FILE:LINE: problem``) for invalid JSON, a missing
    field, a wrong type, an empty question, an unknown language or a duplicate id;
    :class:`~optical.errors.MissingDataError` when the file is absent.
    """
    path = require_file(Path(path), XOR_UPSTREAM)
    questions: list[XorQuestion] = []
    seen: set[str] = set()
    for number, record in iter_jsonl(path):
        qid = field(record, "id", str, path, number)
        question = field(record, "question", str, path, number)
        answers = field(record, "answers", list, path, number)
        lang = field(record, "lang", str, path, number)
        split = field(record, "split", str, path, number)
        if not question.strip():
            raise DataFormatError(path, number, "empty question")
        if not all(isinstance(answer, str) for answer in answers):
            raise DataFormatError(path, number, "field 'answers' must be a list of strings")
        if not is_known(lang):
            raise DataFormatError(path, number, f"unknown language code {lang!r}")
        if qid in seen:
            raise DataFormatError(path, number, f"duplicate id {qid!r}")
        seen.add(qid)
        questions.append(XorQuestion(qid, question, tuple(answers), normalize_lang(lang), split))
    return questions


def load_xor_dev(data_dir: str | Path | None = None) -> list[XorQuestion]:
    """The 2,110 XOR-Retrieve dev questions (v1.1), in file order."""
    return read_xor_jsonl(resolve_data_dir(data_dir) / XOR_DIR / DEV_FILE)


def load_xor_translations(
    data_dir: str | Path | None = None, languages: Iterable[str] | None = None
) -> dict[str, list[BitextPair]]:
    """Human English translations of XOR questions, per language (origin ``"xor"``).

    Pair ids are ``xor-{lang}-{line}``. Empty lines are skipped by design and reported
    (the Arabic file has one). This is raw data that includes held-out and dev
    question text: training code must use :func:`optical.data.training.training_bitext`.
    """
    root = resolve_data_dir(data_dir)
    wanted = XOR_LANGUAGES if languages is None else _xor_languages(languages)
    result: dict[str, list[BitextPair]] = {}
    for lang in wanted:
        source, english = (root / name for name in translation_files(lang))
        require_file(source, XOR_UPSTREAM)
        require_file(english, XOR_UPSTREAM)
        result[lang] = read_line_aligned(source, english, lang, "xor")
    return result


def _xor_languages(languages: Iterable[str]) -> tuple[str, ...]:
    codes = tuple(sorted({normalize_lang(code) for code in languages}))
    unknown = [code for code in codes if code not in XOR_LANGUAGES]
    if unknown:
        raise ConfigError(
            f"XOR-TyDi has no {', '.join(unknown)}; available: {', '.join(XOR_LANGUAGES)}"
        )
    return codes


def translation_lookup(pairs: dict[str, list[BitextPair]]) -> dict[tuple[str, str], list[str]]:
    """``(lang, source text)`` → every English translation of it, in line order.

    Some source lines repeat with different English wordings (Bengali, Korean).
    """
    lookup: dict[tuple[str, str], list[str]] = {}
    for lang, lang_pairs in pairs.items():
        for pair in lang_pairs:
            variants = lookup.setdefault((lang, pair.source), [])
            if pair.english not in variants:
                variants.append(pair.english)
    return lookup


def english_variants(question: XorQuestion, lookup: dict[tuple[str, str], list[str]]) -> list[str]:
    """Every human English translation of ``question`` (by exact question string,
    surrounding whitespace ignored), in line order; ``[]`` when it has none."""
    return lookup.get((question.lang, question.question.strip()), [])


def join_translations(
    questions: Iterable[XorQuestion], lookup: dict[tuple[str, str], list[str]]
) -> list[tuple[XorQuestion, list[str]]]:
    """The XOR question ⇄ human translation join: each question with ``english`` set to
    its first translation (``None`` without one), paired with all its translations."""
    joined: list[tuple[XorQuestion, list[str]]] = []
    for question in questions:
        variants = english_variants(question, lookup)
        english = variants[0] if variants else None
        joined.append((replace(question, english=english), variants))
    return joined


def load_xor_train(data_dir: str | Path | None = None) -> list[XorQuestion]:
    """The 15,250 XOR-Retrieve train questions with ``english`` set from the human translations.

    The join is by exact question string (surrounding whitespace ignored); where one
    question has several English versions the first line wins. How many questions got
    a translation is logged on the ``optical.data`` logger.
    """
    root = resolve_data_dir(data_dir)
    questions = read_xor_jsonl(root / XOR_DIR / TRAIN_FILE)
    pairs = join_translations(questions, translation_lookup(load_xor_translations(root)))
    joined = [question for question, _variants in pairs]
    ambiguous = sum(len(variants) > 1 for _question, variants in pairs)
    with_translation = sum(question.english is not None for question in joined)
    logger.info(
        "xor-tydi train: %d of %d questions have a human English translation "
        "(%d with several versions: first used)",
        with_translation,
        len(joined),
        ambiguous,
    )
    return joined
