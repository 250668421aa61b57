"""XQuAD as a cross-lingual retrieval benchmark: questions in 7 languages, 240 English paragraphs.

The collection is the 240 paragraphs of ``xquad.en.json`` (ids ``xquad-0000`` …
``xquad-0239`` in file order, title = article title); each question's only relevant
passage (grade 1) is the paragraph it was written on. Query ids are the XQuAD ids,
shared by the translations; non-English queries carry the English original in
``Query.english``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataFormatError
from ..languages import normalize_lang
from ..types import Passage, Qrels, Query, RetrievalBenchmark
from ._io import read_json, require_file, resolve_data_dir

XQUAD_DIR = "xquad"
XQUAD_LANGUAGES: tuple[str, ...] = ("ar", "de", "es", "hi", "ru", "zh", "en")
XQUAD_UPSTREAM = "XQuAD (Artetxe et al. 2020), https://github.com/google-deepmind/xquad"


def xquad_file(lang: str) -> str:
    """Path of the XQuAD file of ``lang``, relative to the data directory."""
    return f"{XQUAD_DIR}/xquad.{lang}.json"


def _paragraphs(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(article title, paragraph)`` for every paragraph of a SQuAD v1.1 file."""
    document = read_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise DataFormatError(path, None, "not SQuAD format: no top-level 'data' list")
    paragraphs: list[tuple[str, dict[str, Any]]] = []
    for a, article in enumerate(document["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise DataFormatError(path, None, f"article {a}: no 'paragraphs' list")
        title = str(article.get("title", "")).replace("_", " ")
        for p, paragraph in enumerate(article["paragraphs"]):
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise DataFormatError(path, None, f"article {a} paragraph {p}: no 'qas' list")
            paragraphs.append((title, paragraph))
    return paragraphs


def _questions(path: Path) -> list[tuple[int, str, str]]:
    """``(paragraph index, question id, question text)`` in file order."""
    rows: list[tuple[int, str, str]] = []
    for index, (_title, paragraph) in enumerate(_paragraphs(path)):
        for qa in paragraph["qas"]:
            qid = qa.get("id") if isinstance(qa, dict) else None
            text = qa.get("question") if isinstance(qa, dict) else None
            if not isinstance(qid, str) or not isinstance(text, str) or not text.strip():
                raise DataFormatError(path, None, f"paragraph {index}: a question without id/text")
            rows.append((index, qid, text.strip()))
    return rows


def read_xquad_questions(data_dir: str | Path | None, lang: str) -> list[tuple[str, str]]:
    """``(question id, question)`` of one XQuAD language, in file order."""
    path = require_file(resolve_data_dir(data_dir) / xquad_file(lang), XQUAD_UPSTREAM)
    return [(qid, text) for _index, qid, text in _questions(path)]


def load_xquad(
    data_dir: str | Path | None = None,
    languages: Iterable[str] = XQUAD_LANGUAGES,
    distractors: Sequence[Passage] = (),
) -> RetrievalBenchmark:
    """XQuAD-CLIR: questions per language against the 240 English paragraphs (+ distractors).

    ``distractors`` are appended to the collection; an id that collides with another
    passage raises :class:`ConfigError`. A translation whose question id is not in the
    English file raises :class:`DataFormatError`.
    """
    root = resolve_data_dir(data_dir)
    wanted = list(dict.fromkeys(normalize_lang(code) for code in languages))
    unknown = [code for code in wanted if code not in XQUAD_LANGUAGES]
    if unknown:
        raise ConfigError(
            f"XQuAD has no {', '.join(unknown)}; available: {', '.join(XQUAD_LANGUAGES)}"
        )
    english_path = require_file(root / xquad_file("en"), XQUAD_UPSTREAM)
    passages: list[Passage] = []
    for index, (title, paragraph) in enumerate(_paragraphs(english_path)):
        context = paragraph.get("context")
        if not isinstance(context, str) or not context.strip():
            raise DataFormatError(english_path, None, f"paragraph {index}: empty 'context'")
        passages.append(Passage(f"xquad-{index:04d}", context, title))
    english_rows = _questions(english_path)
    english = {qid: text for _index, qid, text in english_rows}
    qrels: Qrels = {qid: {passages[index].id: 1} for index, qid, _text in english_rows}

    queries: dict[str, tuple[Query, ...]] = {}
    for lang in wanted:
        if lang == "en":
            queries[lang] = tuple(Query(qid, text, "en") for qid, text in english.items())
            continue
        path = require_file(root / xquad_file(lang), XQUAD_UPSTREAM)
        rows: list[Query] = []
        for index, qid, text in _questions(path):
            if qid not in english:
                raise DataFormatError(path, None, f"question id {qid!r} is not in {english_path}")
            if qrels[qid] != {passages[index].id: 1}:
                raise DataFormatError(path, None, f"question {qid!r} sits on another paragraph")
            rows.append(Query(qid, text, lang, english=english[qid]))
        queries[lang] = tuple(rows)

    seen = {passage.id for passage in passages}
    for passage in distractors:
        if passage.id in seen:
            raise ConfigError(f"distractor passage id {passage.id!r} is already in the collection")
        seen.add(passage.id)
        passages.append(passage)
    return RetrievalBenchmark("xquad", tuple(passages), queries, qrels)
