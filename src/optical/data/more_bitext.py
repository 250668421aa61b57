"""Training bitext from the larger parallel corpora: OPUS Tatoeba, WMT newstest, LAFAND-MT,
MENYO-20k and small_parallel_enja.

Every loader reads line-aligned file pairs with
:func:`~optical.data.bitext.read_line_aligned` (different line counts raise
:class:`~optical.errors.DataFormatError`; a pair with an empty side is skipped by
design and reported) and returns ``{canonical language: [BitextPair]}``, sorted by
language, with ``origin`` the name of the source in the training registry
(:data:`optical.data.training.TRAINING_SOURCE_SPECS`). A missing file raises
:class:`~optical.errors.MissingDataError` naming it and its upstream. File codes (ISO
639-3, or the 639-1 suffix of newstest) map to canonical codes through
:func:`optical.languages.normalize_lang` only.

The shared data folder has already removed every pair touching an evaluation set and
exact duplicates within each corpus (``bitext/`` of the data README); duplicates
*across* corpora (about 5,300 of the LAFAND Yorùbá train pairs are also in MENYO-20k)
are removed by :func:`optical.data.training.training_bitext`.

* ``opus-tatoeba``: Tatoeba test v2021-08-07 without the LASER Tatoeba pairs; ids
  ``opus-tatoeba-{lang}-{line}``.
* ``newstest``: WMT newstest 2012–2018 and 2020 (not 2019, whose English side is the
  NTREX source) for ru and fi; ids ``newstest-{lang}-{line}``.
* ``lafand-mt``: LAFAND-MT train **and** dev splits (both are training text here; five
  languages — am, rw, sn, ny, xh — have a dev split only); ids
  ``lafand-mt-{split}-{lang}-{line}``. Non-commercial licence.
* ``menyo20k``: MENYO-20k English–Yorùbá, train and dev; ids
  ``menyo20k-{split}-yo-{line}``. Non-commercial licence.
* ``small-parallel-enja``: **not natural text** — the Tanaka-corpus pairs are
  tokenized (spaces between Japanese words, English punctuation and clitics split off:
  ``i can 't tell .``) and lowercased. The loader returns them as they are (no
  detokenisation); the training registry marks the source ``natural_text=False``, keeps
  it out of the default sources and logs a warning when it is chosen. Only the train
  split (49,996 pairs) is read by default: its dev and test splits (500 each) are not
  project evaluation sets and may be asked for with ``splits=``, but they are the
  corpus's own held-out sets, so the default leaves them alone. Ids
  ``small-parallel-enja-{split}-ja-{line}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import ConfigError
from ..languages import normalize_lang
from ..types import BitextPair
from ._io import require_file, resolve_data_dir
from .bitext import _select, read_line_aligned

OPUS_TATOEBA = "opus-tatoeba"
OPUS_TATOEBA_DIR = "bitext/opus-tatoeba"
OPUS_TATOEBA_PREFIX = "tatoeba-v2021-08-07"
OPUS_TATOEBA_UPSTREAM = (
    "Tatoeba test v2021-08-07 of Helsinki-NLP/OPUS-MT-testsets, "
    "https://github.com/Helsinki-NLP/OPUS-MT-testsets"
)
_OPUS_TATOEBA_FILE_CODES = (
    *("ara", "ben", "fin", "hin", "jpn", "kor", "rus", "swa", "tam", "tel", "tgl"),
)
OPUS_TATOEBA_CODES: dict[str, str] = {
    code: normalize_lang(code) for code in _OPUS_TATOEBA_FILE_CODES
}
"""OPUS Tatoeba file code → canonical code."""

NEWSTEST = "newstest"
NEWSTEST_DIR = "bitext/newstest"
NEWSTEST_PREFIX = "newstest-2012-2020-no2019"
NEWSTEST_UPSTREAM = "WMT news test sets 2012-2018 and 2020, https://www.statmt.org/wmt20/"
NEWSTEST_CODES: dict[str, str] = {code: normalize_lang(code) for code in ("fi", "ru")}
"""newstest file code (the suffix ``ru`` / ``fi``) → canonical code."""

LAFAND = "lafand-mt"
LAFAND_DIR = "bitext/lafand-mt"
LAFAND_UPSTREAM = "LAFAND-MT (Adelani et al. 2022), https://github.com/masakhane-io/lafand-mt"
_LAFAND_TRAIN = ("hau", "ibo", "lug", "pcm", "swa", "tsn", "twi", "yor", "zul")
_LAFAND_DEV_ONLY = ("amh", "kin", "nya", "sna", "xho")
LAFAND_SPLITS: dict[str, dict[str, str]] = {
    "train": {code: normalize_lang(code) for code in _LAFAND_TRAIN},
    "dev": {code: normalize_lang(code) for code in sorted((*_LAFAND_TRAIN, *_LAFAND_DEV_ONLY))},
}
"""LAFAND-MT split → its file codes → canonical codes (files ``lafand.{split}.XXX-eng.*``)."""

MENYO = "menyo20k"
MENYO_DIR = "bitext/menyo20k"
MENYO_UPSTREAM = "MENYO-20k (Adelani et al. 2021), https://github.com/uds-lsv/menyo-20k_MT"
MENYO_SPLITS: dict[str, dict[str, str]] = {
    split: {"yor": normalize_lang("yor")} for split in ("train", "dev")
}
"""MENYO-20k split → file code → canonical code (files ``menyo20k.{split}.yor-eng.*``)."""

ENJA = "small-parallel-enja"
ENJA_DIR = "bitext/small_parallel_enja"
ENJA_UPSTREAM = (
    "small_parallel_enja (Tanaka corpus, tokenized and lowercased), "
    "https://github.com/odashi/small_parallel_enja"
)
ENJA_SPLITS: dict[str, dict[str, str]] = {
    split: {"jpn": normalize_lang("jpn")} for split in ("train", "dev", "test")
}
"""small_parallel_enja split → file code → canonical code."""
ENJA_NOTE = (
    "tokenized and lowercased text (spaces between Japanese words, English tokens split), "
    "not natural text"
)


def _pairs(folder: Path, stem: str, code: str, upstream: str) -> tuple[Path, Path]:
    """The checked file pair ``{stem}.{code}`` and ``{stem}.eng``."""
    return (
        require_file(folder / f"{stem}.{code}", upstream),
        require_file(folder / f"{stem}.eng", upstream),
    )


def _load_flat(
    data_dir: str | Path | None,
    languages: Iterable[str] | None,
    *,
    folder: str,
    prefix: str,
    codes: Mapping[str, str],
    origin: str,
    corpus: str,
    upstream: str,
) -> dict[str, list[BitextPair]]:
    """One file pair ``{prefix}.{code}-eng.{code,eng}`` per language.

    Pair ids are ``{origin}-{lang}-{line}``.
    """
    root = resolve_data_dir(data_dir) / folder
    result: dict[str, list[BitextPair]] = {}
    for code in _select(codes, languages, corpus):
        lang = codes[code]
        source, english = _pairs(root, f"{prefix}.{code}-eng", code, upstream)
        result[lang] = read_line_aligned(source, english, lang, origin)
    return dict(sorted(result.items()))


def _load_splits(
    data_dir: str | Path | None,
    languages: Iterable[str] | None,
    splits: Iterable[str],
    *,
    folder: str,
    prefix: str,
    table: Mapping[str, Mapping[str, str]],
    origin: str,
    corpus: str,
    upstream: str,
) -> dict[str, list[BitextPair]]:
    """File pairs ``{prefix}.{split}.{code}-eng.{code,eng}``, the splits of a language in
    the order of ``splits``; ids ``{origin}-{split}-{lang}-{line}``."""
    chosen = tuple(dict.fromkeys(splits))
    unknown = [split for split in chosen if split not in table]
    if unknown or not chosen:
        raise ConfigError(
            f"{corpus} has no split {', '.join(map(repr, unknown)) or '(none chosen)'}; "
            f"splits: {', '.join(table)}"
        )
    available = {code: lang for split in chosen for code, lang in table[split].items()}
    wanted = set(_select(available, languages, corpus))
    root = resolve_data_dir(data_dir) / folder
    result: dict[str, list[BitextPair]] = {}
    for split in chosen:
        for code, lang in table[split].items():
            if code not in wanted:
                continue
            source, english = _pairs(root, f"{prefix}.{split}.{code}-eng", code, upstream)
            result.setdefault(lang, []).extend(
                read_line_aligned(
                    source, english, lang, origin, id_prefix=f"{origin}-{split}-{lang}"
                )
            )
    return dict(sorted(result.items()))


def load_opus_tatoeba(
    data_dir: str | Path | None = None, languages: Iterable[str] | None = None
) -> dict[str, list[BitextPair]]:
    """OPUS Tatoeba test v2021-08-07 pairs (``tatoeba-v2021-08-07.XXX-eng.{XXX,eng}``)."""
    return _load_flat(
        data_dir,
        languages,
        folder=OPUS_TATOEBA_DIR,
        prefix=OPUS_TATOEBA_PREFIX,
        codes=OPUS_TATOEBA_CODES,
        origin=OPUS_TATOEBA,
        corpus="OPUS Tatoeba",
        upstream=OPUS_TATOEBA_UPSTREAM,
    )


def load_newstest(
    data_dir: str | Path | None = None, languages: Iterable[str] | None = None
) -> dict[str, list[BitextPair]]:
    """WMT newstest 2012–2020 without 2019, ru and fi
    (``newstest-2012-2020-no2019.{ru,fi}-eng.{ru/fi,eng}``)."""
    return _load_flat(
        data_dir,
        languages,
        folder=NEWSTEST_DIR,
        prefix=NEWSTEST_PREFIX,
        codes=NEWSTEST_CODES,
        origin=NEWSTEST,
        corpus="newstest",
        upstream=NEWSTEST_UPSTREAM,
    )


def load_lafand(
    data_dir: str | Path | None = None,
    languages: Iterable[str] | None = None,
    splits: Iterable[str] = ("train", "dev"),
) -> dict[str, list[BitextPair]]:
    """LAFAND-MT news bitext, train then dev of each language (``lafand.{split}.XXX-eng.*``).

    A language is read from every chosen split that has it (am, rw, sn, ny and xh have
    only dev); asking for a language no chosen split has raises :class:`ConfigError`.
    """
    return _load_splits(
        data_dir,
        languages,
        splits,
        folder=LAFAND_DIR,
        prefix="lafand",
        table=LAFAND_SPLITS,
        origin=LAFAND,
        corpus="LAFAND-MT",
        upstream=LAFAND_UPSTREAM,
    )


def load_menyo20k(
    data_dir: str | Path | None = None,
    languages: Iterable[str] | None = None,
    splits: Iterable[str] = ("train", "dev"),
) -> dict[str, list[BitextPair]]:
    """MENYO-20k English–Yorùbá, train then dev (``menyo20k.{split}.yor-eng.{yor,eng}``)."""
    return _load_splits(
        data_dir,
        languages,
        splits,
        folder=MENYO_DIR,
        prefix="menyo20k",
        table=MENYO_SPLITS,
        origin=MENYO,
        corpus="MENYO-20k",
        upstream=MENYO_UPSTREAM,
    )


def load_small_parallel_enja(
    data_dir: str | Path | None = None,
    languages: Iterable[str] | None = None,
    splits: Iterable[str] = ("train",),
) -> dict[str, list[BitextPair]]:
    """small_parallel_enja Japanese–English (``small_parallel_enja.{split}.jpn-eng.*``).

    The text is tokenized and lowercased (:data:`ENJA_NOTE`) and returned as it is; only
    the train split by default (see the module doc).
    """
    return _load_splits(
        data_dir,
        languages,
        splits,
        folder=ENJA_DIR,
        prefix="small_parallel_enja",
        table=ENJA_SPLITS,
        origin=ENJA,
        corpus="small_parallel_enja",
        upstream=ENJA_UPSTREAM,
    )
