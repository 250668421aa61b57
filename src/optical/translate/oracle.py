"""The ``oracle`` backend: human translations where the data has them (the translate-test ceiling).

Sources, in order of precedence (the first source that knows a text wins):

* ``xor`` — the human English translations of XOR-TyDi questions
  (``xor-tydi/translations/{lang}-en``; ar bn fi ja ko ru te), both directions;
* ``xquad`` — XQuAD questions and their English originals (ar de es hi ru zh), both
  directions (the translations are professional translations of the English);
* ``mkqa`` — MKQA questions and their English versions (ar es fi ja km ko ms ru sv tr
  zh), both directions;
* ``afriqa`` — AfriQA questions (every split) and their human English translations
  (bem ha ig rw tw yo zu), both directions.

Texts are looked up after Unicode NFC normalisation and whitespace collapsing.
Where one text has several translations (a question asked twice, translated
differently) the first in file order wins. A text the oracle has no translation for
raises :class:`~optical.translate.base.NoTranslationError`: the oracle never passes
a text through untranslated. Tables are read lazily, per direction, on first use; a
chosen source whose file is missing raises :class:`~optical.errors.MissingDataError`
(pass ``sources`` to use part of the data).
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..data._io import resolve_data_dir
from ..errors import ConfigError, NoTranslationError, UnsupportedLanguageError
from ..types import Translation
from .base import Progress, check_request, make_translations, snippet

logger = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("xor", "xquad", "mkqa", "afriqa")
_SOURCE_DIRS = {
    "xor": "xor-tydi/translations",
    "xquad": "xquad",
    "mkqa": "bitext/mkqa",
    "afriqa": "afriqa/queries",
}


def oracle_key(text: str) -> str:
    """Lookup key of a text: NFC-normalised, whitespace collapsed to single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _xor_pairs(root: Path, lang: str) -> list[tuple[str, str]]:
    from ..data.xor_tydi import XOR_LANGUAGES, load_xor_translations

    if lang not in XOR_LANGUAGES:
        return []
    return [(p.source, p.english) for p in load_xor_translations(root, [lang])[lang]]


def _xquad_pairs(root: Path, lang: str) -> list[tuple[str, str]]:
    from ..data.xquad import XQUAD_LANGUAGES, read_xquad_questions

    if lang not in XQUAD_LANGUAGES or lang == "en":
        return []
    english = dict(read_xquad_questions(root, "en"))
    rows = read_xquad_questions(root, lang)
    return [(text, english[qid]) for qid, text in rows if qid in english]


def _mkqa_pairs(root: Path, lang: str) -> list[tuple[str, str]]:
    from ..data.bitext import MKQA_CODES, load_mkqa

    if lang not in MKQA_CODES.values():
        return []
    return [(p.source, p.english) for p in load_mkqa(root, [lang])[lang]]


def _afriqa_pairs(root: Path, lang: str) -> list[tuple[str, str]]:
    from ..data.afriqa import AFRIQA_CODES, SPLITS, read_questions

    codes = [code for code, canonical in AFRIQA_CODES.items() if canonical == lang]
    return [
        (question.question, question.english)
        for code in codes
        for split in SPLITS
        for question in read_questions(root, code, split)
    ]


_READERS: dict[str, Callable[[Path, str], list[tuple[str, str]]]] = {
    "xor": _xor_pairs,
    "xquad": _xquad_pairs,
    "mkqa": _mkqa_pairs,
    "afriqa": _afriqa_pairs,
}
SOURCE_LANGUAGES: dict[str, frozenset[str]] = {
    "xor": frozenset({"ar", "bn", "fi", "ja", "ko", "ru", "te"}),
    "xquad": frozenset({"ar", "de", "es", "hi", "ru", "zh"}),
    "mkqa": frozenset({"ar", "es", "fi", "ja", "km", "ko", "ms", "ru", "sv", "tr", "zh"}),
    "afriqa": frozenset({"bem", "ha", "ig", "rw", "tw", "yo", "zu"}),
}
"""Non-English languages each source has human translations for (to and from English)."""


class OracleTranslator:
    """Human translations between English and another language, from the reference data.

    ``data_dir`` defaults to ``$OPTICAL_DATA_DIR``; ``sources`` picks and orders the
    sources (default: all of :data:`SOURCES`).
    """

    name = "oracle"

    def __init__(
        self, data_dir: str | Path | None = None, sources: Iterable[str] = SOURCES
    ) -> None:
        self.sources = tuple(dict.fromkeys(s.strip().lower() for s in sources))
        unknown = [s for s in self.sources if s not in _READERS]
        if unknown or not self.sources:
            raise ConfigError(
                f"unknown oracle source(s) {', '.join(unknown) or '(none given)'}; "
                f"available: {', '.join(SOURCES)}"
            )
        self._data_dir = data_dir
        self._tables: dict[tuple[str, str], dict[str, str]] = {}

    @property
    def root(self) -> Path:
        """The data directory (``$OPTICAL_DATA_DIR`` unless given)."""
        return resolve_data_dir(self._data_dir)

    def languages(self) -> list[str]:
        """Non-English languages the chosen sources cover (to and from English)."""
        return sorted(set().union(*(SOURCE_LANGUAGES[s] for s in self.sources)))

    def fingerprint(self) -> str:
        """Sources plus the data files they read (path, size, mtime)."""
        root = self.root.resolve()
        parts = [f"oracle:v1:{','.join(self.sources)}:{root}"]
        for source in self.sources:
            folder = root / _SOURCE_DIRS[source]
            if folder.is_dir():
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    stat = path.stat()
                    parts.append(f"{path.relative_to(root)}:{stat.st_size}:{int(stat.st_mtime)}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]

    def _sources_for(self, lang: str) -> list[str]:
        return [s for s in self.sources if lang in SOURCE_LANGUAGES[s]]

    def _table(self, source: str, target: str) -> dict[str, str]:
        direction = (source, target)
        if direction in self._tables:
            return self._tables[direction]
        if "en" not in direction:
            raise ConfigError(
                f"the oracle translates between English and another language, not {source}→{target}"
            )
        chosen = self._sources_for(target if source == "en" else source)
        lang = target if source == "en" else source
        if not chosen:
            raise UnsupportedLanguageError(
                f"the oracle has no human translations for {source}→{target} "
                f"(sources {', '.join(self.sources)}); languages: {', '.join(self.languages())}"
            )
        root = self.root
        table: dict[str, str] = {}
        conflicts = 0
        for name in chosen:
            for foreign, english in _READERS[name](root, lang):
                key, value = (english, foreign) if source == "en" else (foreign, english)
                key = oracle_key(key)
                known = table.setdefault(key, value.strip())
                conflicts += known != value.strip()
        logger.info(
            "oracle %s→%s: %d texts from %s (%d with several translations: first kept)",
            source,
            target,
            len(table),
            ", ".join(chosen),
            conflicts,
        )
        self._tables[direction] = table
        return table

    def translate(
        self,
        texts: Sequence[str],
        source_lang: str,
        target_lang: str,
        progress: Progress = False,
    ) -> list[Translation]:
        """The human translation of each text; raises NoTranslationError if one has none."""
        items, source, target = check_request(texts, source_lang, target_lang)
        if not items:
            return []
        table = self._table(source, target)
        outputs: list[str] = []
        missing: list[str] = []
        for text in items:
            found = table.get(oracle_key(text))
            if found is None:
                missing.append(text)
            else:
                outputs.append(found)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            origin = ", ".join(self._sources_for(target if source == "en" else source))
            raise NoTranslationError(
                f"the oracle has no human translation for {snippet(missing[0])!r}{more} "
                f"({source}→{target}); it knows {len(table)} texts in this direction, from "
                f"{origin}: translate only questions of XOR-TyDi, XQuAD, MKQA or AfriQA with it, "
                "or use an MT backend"
            )
        return make_translations(items, outputs, source, target, self.name)
