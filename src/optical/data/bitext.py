"""Parallel text readers: line-aligned files, NTREX-128, Tatoeba, MKQA and TMX.

Every reader returns :class:`~optical.types.BitextPair` records keyed by the
canonical language code of :func:`optical.languages.normalize_lang`, with
``origin`` naming the corpus. Text is stripped of surrounding whitespace; a pair
with an empty side is skipped by design and reported through
:func:`optical.data.skips.report_skip`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from itertools import zip_longest
from pathlib import Path

from ..errors import ConfigError, DataFormatError
from ..languages import is_known, normalize_lang
from ..types import BitextPair
from ._io import field, iter_jsonl, iter_lines, require_file, resolve_data_dir
from .skips import Skip, report_skip

NTREX_DIR = "bitext/ntrex128"
NTREX_ENGLISH = "newstest2019-src.eng.txt"
NTREX_UPSTREAM = "NTREX-128 (Federmann et al. 2022), https://github.com/MicrosoftTranslator/NTREX"
_NTREX_FILE_CODES = ("amh", "arb", "ben", "fil", "fin", "hau", "hin", "jpn", "kor", "rus", "som")
NTREX_CODES: dict[str, str] = {
    code: normalize_lang(code) for code in (*_NTREX_FILE_CODES, "swa", "tam", "tel", "yor")
}
"""NTREX file code → canonical code."""

TATOEBA_DIR = "bitext/tatoeba"
TATOEBA_UPSTREAM = (
    "Tatoeba test pairs of the LASER release, "
    "https://github.com/facebookresearch/LASER/tree/main/data/tatoeba/v1"
)
_TATOEBA_FILE_CODES = ("amh", "ara", "ben", "fin", "hin", "jpn", "kor", "rus", "swh", "tam")
TATOEBA_CODES: dict[str, str] = {
    code: normalize_lang(code) for code in (*_TATOEBA_FILE_CODES, "tel", "tgl")
}
"""Tatoeba file code → canonical code."""

MKQA_DIR = "bitext/mkqa"
MKQA_UPSTREAM = "MKQA (Longpre et al. 2021), https://github.com/apple/ml-mkqa"
_MKQA_FILE_CODES = ("ar", "es", "fi", "ja", "km", "ko", "ms", "ru", "sv", "tr", "zh_cn")
MKQA_CODES: dict[str, str] = {code: normalize_lang(code) for code in _MKQA_FILE_CODES}
"""MKQA file code → canonical code (the English side is ``mkqa-en.jsonl``)."""

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def read_line_aligned(
    source_path: str | Path,
    english_path: str | Path,
    lang: str,
    origin: str,
    *,
    id_prefix: str | None = None,
) -> list[BitextPair]:
    """Pair line *n* of ``source_path`` with line *n* of ``english_path``.

    Pair ids are ``{id_prefix}-{line}`` (default prefix ``{origin}-{lang}``). Files with
    different line counts raise :class:`DataFormatError`; a line that is empty on
    either side is skipped by design and reported (reason ``"empty line"``).
    Missing files raise :class:`~optical.errors.MissingDataError`.
    """
    source_path, english_path = Path(source_path), Path(english_path)
    code = normalize_lang(lang)
    prefix = id_prefix if id_prefix is not None else f"{origin}-{code}"
    for path in (source_path, english_path):
        require_file(path, f"{origin} parallel text (a line-aligned file pair)")
    pairs: list[BitextPair] = []
    empty: list[int] = []
    for left, right in zip_longest(iter_lines(source_path), iter_lines(english_path)):
        if left is None or right is None:
            longer, shorter = (
                (english_path, source_path) if left is None else (source_path, english_path)
            )
            number = (right or left)[0]
            raise DataFormatError(
                longer,
                number,
                f"line counts differ: {longer.name} has a line {number} but "
                f"{shorter.name} has only {number - 1} lines",
            )
        number, source = left[0], left[1].strip()
        english = right[1].strip()
        if not source or not english:
            empty.append(number)
            continue
        pairs.append(
            BitextPair(
                source,
                english,
                code,
                id=f"{prefix}-{number}",
                origin=origin,
                where=f"{source_path}:{number}",
            )
        )
    report_skip(
        Skip(str(source_path), "empty line", len(empty), lang=code, lines=tuple(empty[:20]))
    )
    return pairs


def _select(
    available: Mapping[str, str], languages: Iterable[str] | None, corpus: str
) -> list[str]:
    """File codes of ``available`` (file code → canonical) whose language is requested."""
    if languages is None:
        return list(available)
    wanted = {normalize_lang(code) for code in languages}
    unknown = wanted - set(available.values())
    if unknown:
        raise ConfigError(
            f"{corpus} has no {', '.join(sorted(unknown))}; "
            f"available: {', '.join(sorted(available.values()))}"
        )
    return [code for code, canonical in available.items() if canonical in wanted]


def load_ntrex(
    data_dir: str | Path | None = None, languages: Iterable[str] | None = None
) -> dict[str, list[BitextPair]]:
    """NTREX-128: 1,997 news sentences per language against the English source.

    Pair ids are ``ntrex-{line}``, shared across languages (line *n* of every language
    translates the same English sentence). This is a benchmark: never train on it.
    """
    folder = resolve_data_dir(data_dir) / NTREX_DIR
    english = require_file(folder / NTREX_ENGLISH, NTREX_UPSTREAM)
    result: dict[str, list[BitextPair]] = {}
    for code in _select(NTREX_CODES, languages, "NTREX-128"):
        source = require_file(folder / f"newstest2019-ref.{code}.txt", NTREX_UPSTREAM)
        lang = NTREX_CODES[code]
        result[lang] = read_line_aligned(source, english, lang, "ntrex", id_prefix="ntrex")
    return dict(sorted(result.items()))


def load_tatoeba(
    data_dir: str | Path | None = None, languages: Iterable[str] | None = None
) -> dict[str, list[BitextPair]]:
    """Tatoeba test pairs (``tatoeba.XXX-eng.{XXX,eng}``); ids ``tatoeba-{lang}-{line}``."""
    folder = resolve_data_dir(data_dir) / TATOEBA_DIR
    result: dict[str, list[BitextPair]] = {}
    for code in _select(TATOEBA_CODES, languages, "Tatoeba"):
        source = require_file(folder / f"tatoeba.{code}-eng.{code}", TATOEBA_UPSTREAM)
        english = require_file(folder / f"tatoeba.{code}-eng.eng", TATOEBA_UPSTREAM)
        result[TATOEBA_CODES[code]] = read_line_aligned(
            source, english, TATOEBA_CODES[code], "tatoeba"
        )
    return dict(sorted(result.items()))


def _read_mkqa(path: Path, code: str) -> dict[str, tuple[str, int]]:
    """MKQA question and its line per id prefix (the part of ``id`` before ``_{code}``)."""
    suffix = f"_{code}"
    questions: dict[str, tuple[str, int]] = {}
    for number, record in iter_jsonl(path):
        qid = field(record, "id", str, path, number)
        text = field(record, "question", str, path, number)
        record_lang = field(record, "lang", str, path, number)
        if record_lang != code:
            raise DataFormatError(path, number, f"lang {record_lang!r} in a file of {code!r}")
        if not qid.endswith(suffix):
            raise DataFormatError(path, number, f"id {qid!r} does not end with {suffix!r}")
        key = qid[: -len(suffix)]
        if key in questions:
            raise DataFormatError(path, number, f"duplicate id {qid!r}")
        questions[key] = (text.strip(), number)
    return questions


def load_mkqa(
    data_dir: str | Path | None = None, languages: Iterable[str] | None = None
) -> dict[str, list[BitextPair]]:
    """MKQA questions joined to English by the id prefix before ``_LANG``; ids ``mkqa-{prefix}``.

    A question without an English counterpart, or with an empty side, is skipped by
    design and reported.
    """
    folder = resolve_data_dir(data_dir) / MKQA_DIR
    english_path = require_file(folder / "mkqa-en.jsonl", MKQA_UPSTREAM)
    english = _read_mkqa(english_path, "en")
    result: dict[str, list[BitextPair]] = {}
    for code in _select(MKQA_CODES, languages, "MKQA"):
        path = require_file(folder / f"mkqa-{code}.jsonl", MKQA_UPSTREAM)
        lang = MKQA_CODES[code]
        pairs: list[BitextPair] = []
        unmatched = empty = 0
        for key, (text, number) in _read_mkqa(path, code).items():
            if key not in english:
                unmatched += 1
            elif not text or not english[key][0]:
                empty += 1
            else:
                pairs.append(
                    BitextPair(
                        text,
                        english[key][0],
                        lang,
                        id=f"mkqa-{key}",
                        origin="mkqa",
                        where=f"{path}:{number}",
                    )
                )
        report_skip(Skip(str(path), "no English counterpart", unmatched, lang=lang))
        report_skip(Skip(str(path), "empty text", empty, lang=lang))
        result[lang] = pairs
    return dict(sorted(result.items()))


def _tuv_lang(tuv: ET.Element) -> str | None:
    """Canonical code of a ``<tuv>`` (``xml:lang`` or TMX 1.1 ``lang``; region tags dropped)."""
    raw = tuv.get(_XML_LANG) or tuv.get("lang")
    if not raw:
        return None
    for candidate in (raw, raw.replace("-", "_"), raw.split("-")[0].split("_")[0]):
        if is_known(candidate):
            return normalize_lang(candidate)
    return None


def read_tmx(path: str | Path, source_lang: str, english_lang: str = "en") -> list[BitextPair]:
    """Translation units of a TMX file as pairs ``source_lang`` → ``english_lang``.

    Segments keep their inline text (markup such as ``<ph>`` is flattened). A unit
    that lacks either language or has an empty segment is skipped by design and
    reported. Malformed XML raises :class:`DataFormatError` with the line.
    """
    path = Path(path)
    require_file(path, "a user-supplied TMX file")
    source_code, english_code = normalize_lang(source_lang), normalize_lang(english_lang)
    pairs: list[BitextPair] = []
    incomplete = 0
    units = 0
    saw_body = False
    try:
        for _event, element in ET.iterparse(path, events=("end",)):
            saw_body = saw_body or element.tag == "body"
            if element.tag != "tu":
                continue
            units += 1
            segments: dict[str, str] = {}
            for tuv in element.iter("tuv"):
                lang = _tuv_lang(tuv)
                seg = tuv.find("seg")
                if lang is not None and seg is not None and lang not in segments:
                    segments[lang] = " ".join("".join(seg.itertext()).split())
            source, english = segments.get(source_code, ""), segments.get(english_code, "")
            if source and english:
                unit_id = element.get("tuid") or str(units)
                pairs.append(
                    BitextPair(source, english, source_code, id=f"tmx-{unit_id}", origin="tmx")
                )
            else:
                incomplete += 1
            element.clear()
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise DataFormatError(path, line, f"malformed TMX (XML error: {exc})") from None
    if not saw_body:
        raise DataFormatError(path, None, "not a TMX file: no <body> element")
    report_skip(
        Skip(
            str(path),
            f"translation unit lacking {source_code} or {english_code}",
            incomplete,
            lang=source_code,
        )
    )
    return pairs
