"""AfriQA (Ogundepo et al., Findings of EMNLP 2023): cross-lingual open-retrieval QA.

Questions written in Bemba, Hausa, Igbo, Kinyarwanda, Twi, Yorùbá and Zulu are
answered by **English** Wikipedia passages (built the XOR-TyDi way). Per language and
split (``train`` / ``dev`` / ``test``) there are two JSON-lines files:

- ``queries/LANG/queries.afriqa.LANG.en.SPLIT.json``: ``id`` (int), ``question``,
  ``translated_question`` (human English), ``answers`` and ``translated_answer``
  (a Python-style list literal in a string);
- ``gold_passages/LANG/gold_span_passages.afriqa.LANG.en.SPLIT.json``: the gold English
  passage of a question (``id`` = the question's id as a string, ``context``), for
  some of the questions; Yorùbá dev has no gold file at all.

The English corpus ``passages/afriqa-en-passages.jsonl`` holds every distinct gold
passage. A question's gold passage is found in it by its text (whitespace collapsed):
a gold ``context`` that is absent from the corpus is a :class:`DataFormatError`.

The answer literals are not always valid Python: an apostrophe inside a
single-quoted answer (``"['People's Democratic Party']"``) breaks
:func:`ast.literal_eval`, so such a string is read as the text between the outer
``['`` and ``']``, split at ``', '``.

Question ids are ``afriqa-{lang}-{split}-{id}`` with the canonical language code
(:func:`optical.languages.normalize_lang`: ``hau`` → ``ha``, ``kin`` → ``rw`` …).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError, DataFormatError
from ..languages import normalize_lang
from ..types import BitextPair, Passage
from ._io import field, iter_jsonl, require_file, resolve_data_dir, text_key
from .bitext import _select as select_codes
from .skips import Skip, report_skip

AFRIQA_DIR = "afriqa"
AFRIQA_UPSTREAM = "AfriQA (Ogundepo et al. 2023), https://github.com/masakhane-io/afriqa"
AFRIQA_PASSAGES = f"{AFRIQA_DIR}/passages/afriqa-en-passages.jsonl"
AFRIQA_FILE_CODES: tuple[str, ...] = ("bem", "hau", "ibo", "kin", "twi", "yor", "zul")
AFRIQA_CODES: dict[str, str] = {code: normalize_lang(code) for code in AFRIQA_FILE_CODES}
"""AfriQA file code → canonical code."""
AFRIQA_LANGUAGES: tuple[str, ...] = tuple(sorted(AFRIQA_CODES.values()))
SPLITS: tuple[str, ...] = ("train", "dev", "test")
WITHOUT_GOLD: frozenset[tuple[str, str]] = frozenset({("yor", "dev")})
"""(file code, split) pairs the release ships no gold-passage file for."""


@dataclass(frozen=True)
class AfriqaQuestion:
    """One AfriQA question, its human English translation, answers and gold passage.

    ``answers`` are in the question's language, ``english_answers`` their human English
    translation; ``gold`` is the id of the gold passage in the English corpus, or
    ``None`` where the release has none for this question.
    """

    id: str
    question: str
    english: str
    answers: tuple[str, ...]
    english_answers: tuple[str, ...]
    lang: str
    split: str
    gold: str | None = None
    where: str = ""


def queries_file(code: str, split: str) -> str:
    """Path of a queries file, relative to the data directory."""
    return f"{AFRIQA_DIR}/queries/{code}/queries.afriqa.{code}.en.{split}.json"


def gold_file(code: str, split: str) -> str:
    """Path of a gold-passage file, relative to the data directory."""
    return f"{AFRIQA_DIR}/gold_passages/{code}/gold_span_passages.afriqa.{code}.en.{split}.json"


def afriqa_files() -> tuple[str, ...]:
    """Every file of the release the loaders read (relative to the data directory)."""
    files = [queries_file(code, split) for code in AFRIQA_FILE_CODES for split in SPLITS]
    files += [
        gold_file(code, split)
        for code in AFRIQA_FILE_CODES
        for split in SPLITS
        if (code, split) not in WITHOUT_GOLD
    ]
    return (*files, AFRIQA_PASSAGES)


def passage_key(text: str) -> str:
    """The key a gold ``context`` is matched to a corpus passage by: whitespace collapsed."""
    return " ".join(text.split())


def parse_answer_list(text: str, path: Path, line: int, name: str) -> tuple[str, ...]:
    """The answers of a list-literal string (``"['Doha']"``), stripped, empties dropped.

    Falls back to the text between ``['`` and ``']`` (split at ``', '``) where an
    apostrophe inside an answer makes the literal invalid; anything else that is not a
    list of strings raises :class:`DataFormatError`.
    """
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        if not (text.startswith("['") and text.endswith("']")):
            raise DataFormatError(
                path, line, f"{name!r} is not a list literal such as \"['Doha']\": {text[:80]!r}"
            ) from None
        value = text[2:-2].split("', '")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DataFormatError(path, line, f"{name!r} must be a list of strings: {text[:80]!r}")
    return tuple(item.strip() for item in value if item.strip())


def load_afriqa_passages(data_dir: str | Path | None = None) -> list[Passage]:
    """The 5,359 English AfriQA passages (ids ``afriqa-p00000`` …), in file order."""
    path = require_file(resolve_data_dir(data_dir) / AFRIQA_PASSAGES, AFRIQA_UPSTREAM)
    passages: list[Passage] = []
    seen: set[str] = set()
    for number, record in iter_jsonl(path):
        pid = field(record, "id", str, path, number)
        text = field(record, "text", str, path, number)
        title = field(record, "title", str, path, number)
        if pid in seen:
            raise DataFormatError(path, number, f"duplicate passage id {pid!r}")
        if not text.strip():
            raise DataFormatError(path, number, f"passage {pid!r} has no text")
        seen.add(pid)
        passages.append(Passage(pid, text.strip(), title.strip()))
    return passages


def _read_questions(path: Path, code: str, split: str) -> list[AfriqaQuestion]:
    lang = AFRIQA_CODES[code]
    questions: list[AfriqaQuestion] = []
    seen: set[int] = set()
    for number, record in iter_jsonl(path):
        raw_id = field(record, "id", int, path, number)
        if raw_id in seen:
            raise DataFormatError(path, number, f"duplicate question id {raw_id}")
        seen.add(raw_id)
        record_lang = field(record, "lang", str, path, number)
        if record_lang != code:
            raise DataFormatError(path, number, f"lang {record_lang!r} in a file of {code!r}")
        questions.append(
            AfriqaQuestion(
                id=f"afriqa-{lang}-{split}-{raw_id}",
                question=field(record, "question", str, path, number).strip(),
                english=field(record, "translated_question", str, path, number).strip(),
                answers=parse_answer_list(
                    field(record, "answers", str, path, number), path, number, "answers"
                ),
                english_answers=parse_answer_list(
                    field(record, "translated_answer", str, path, number),
                    path,
                    number,
                    "translated_answer",
                ),
                lang=lang,
                split=split,
                where=f"{path}:{number}",
            )
        )
    return questions


def _read_gold(
    path: Path, code: str, split: str, corpus: dict[str, str], known: set[str]
) -> dict[str, str]:
    """Question id → gold passage id; rows with ``context: null`` or empty are skipped."""
    lang = AFRIQA_CODES[code]
    gold: dict[str, str] = {}
    empty = 0
    for number, record in iter_jsonl(path):
        raw_id = field(record, "id", str, path, number)
        qid = f"afriqa-{lang}-{split}-{raw_id}"
        if qid not in known:
            raise DataFormatError(path, number, f"gold passage of unknown question id {raw_id!r}")
        if qid in gold:
            raise DataFormatError(path, number, f"second gold passage for question {raw_id!r}")
        context = record.get("context")
        if context is None or (isinstance(context, str) and not context.strip()):
            empty += 1
            continue
        if not isinstance(context, str):
            raise DataFormatError(path, number, "'context' must be a string or null")
        pid = corpus.get(passage_key(context))
        if pid is None:
            raise DataFormatError(
                path, number, f"gold passage of question {raw_id!r} is not in {AFRIQA_PASSAGES}"
            )
        gold[qid] = pid
    report_skip(Skip(str(path), "gold row without a passage (context null)", empty, lang=lang))
    return gold


def _select(languages: Iterable[str] | None) -> list[str]:
    """AfriQA file codes of the requested languages (all by default)."""
    return select_codes(AFRIQA_CODES, languages, "AfriQA")


def load_afriqa(
    data_dir: str | Path | None = None,
    split: str = "test",
    languages: Iterable[str] | None = None,
    passages: Iterable[Passage] | None = None,
) -> dict[str, list[AfriqaQuestion]]:
    """AfriQA questions of ``split`` per canonical language, with ``gold`` resolved.

    ``passages`` is the English corpus to resolve gold passages in (default: read
    :func:`load_afriqa_passages`). Questions keep their file order.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown AfriQA split {split!r}; known: {', '.join(SPLITS)}")
    root = resolve_data_dir(data_dir)
    corpus_passages = load_afriqa_passages(root) if passages is None else passages
    corpus = {passage_key(p.text): p.id for p in corpus_passages}
    result: dict[str, list[AfriqaQuestion]] = {}
    for code in _select(languages):
        questions = read_questions(root, code, split)
        gold: dict[str, str] = {}
        if (code, split) not in WITHOUT_GOLD:
            gold_path = require_file(root / gold_file(code, split), AFRIQA_UPSTREAM)
            gold = _read_gold(gold_path, code, split, corpus, {q.id for q in questions})
        result[AFRIQA_CODES[code]] = [replace(q, gold=gold.get(q.id)) for q in questions]
    return dict(sorted(result.items()))


QUESTION_PAIRS_ORIGIN = "afriqa-questions"
TRAINING_SPLITS: tuple[str, ...] = ("train", "dev")
"""The splits :func:`afriqa_question_pairs` may read (test is evaluation-only)."""


def afriqa_question_pairs(
    data_dir: str | Path | None = None,
    splits: Iterable[str] = TRAINING_SPLITS,
    languages: Iterable[str] | None = None,
) -> dict[str, list[BitextPair]]:
    """Each train / dev question with its human English translation, per canonical language.

    ``BitextPair(source=question, english=translated_question, origin="afriqa-questions",
    id=question id, where=path:line)``. Test questions are never pairs (``"test"`` in
    ``splits`` is a :class:`ConfigError`), and neither is a train / dev question whose
    text (in its language) or English translation equals that of a test question: both
    are left out and reported as skips, as are questions with an empty side.
    """
    chosen = tuple(dict.fromkeys(splits))
    bad = [split for split in chosen if split not in TRAINING_SPLITS]
    if bad or not chosen:
        raise ConfigError(
            f"AfriQA question pairs come from {' and '.join(TRAINING_SPLITS)} only, not "
            f"{', '.join(bad) or '(no split)'}: test questions are evaluation-only"
        )
    root = resolve_data_dir(data_dir)
    codes = _select(languages)
    test = {code: read_questions(root, code, "test") for code in codes}
    english = {text_key(q.english) for questions in test.values() for q in questions}
    pairs: dict[str, list[BitextPair]] = {}
    for code in codes:
        lang = AFRIQA_CODES[code]
        protected = {text_key(q.question) for q in test[code]}
        pairs[lang] = []
        for split in chosen:
            questions = read_questions(root, code, split)
            source = queries_file(code, split)
            kept = [q for q in questions if q.question and q.english]
            empty = len(questions) - len(kept)
            report_skip(Skip(source, "question without text or translation", empty, lang))
            clean = [
                q
                for q in kept
                if text_key(q.question) not in protected and text_key(q.english) not in english
            ]
            leaked = len(kept) - len(clean)
            report_skip(Skip(source, "identical to an AfriQA test question", leaked, lang))
            pairs[lang] += [
                BitextPair(q.question, q.english, lang, q.id, QUESTION_PAIRS_ORIGIN, q.where)
                for q in clean
            ]
    return dict(sorted(pairs.items()))


def read_questions(root: Path, code: str, split: str) -> list[AfriqaQuestion]:
    """The questions of one file (AfriQA file code, split), without their gold passages."""
    path = require_file(root / queries_file(code, split), AFRIQA_UPSTREAM)
    return _read_questions(path, code, split)
