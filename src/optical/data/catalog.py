"""A catalog of the reference datasets: what each is, which files, how many records.

``describe(name)`` loads a dataset and returns one JSON-able summary::

    {"name", "description", "files", "languages": {lang: {counts}}, "total": {counts},
     "skipped": {reason: count}}

Counts use the keys ``queries``, ``passages``, ``qrels`` and ``pairs`` where they
apply, and ``<split>_queries`` / ``<split>_qrels`` (split ``train``, ``dev``, ``test``)
for a dataset counted per split (AfriQA); :data:`COUNT_KEYS` orders them.
``format_description`` renders such a summary as a text table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..types import BitextPair, XorQuestion
from ._io import resolve_data_dir
from .afriqa import (
    AFRIQA_CODES,
    WITHOUT_GOLD,
    afriqa_files,
    afriqa_question_pairs,
    load_afriqa,
    load_afriqa_passages,
)
from .afriqa import SPLITS as AFRIQA_SPLITS
from .bitext import (
    MKQA_CODES,
    MKQA_DIR,
    NTREX_CODES,
    NTREX_DIR,
    NTREX_ENGLISH,
    TATOEBA_CODES,
    TATOEBA_DIR,
    load_mkqa,
    load_ntrex,
    load_tatoeba,
)
from .heldout import heldout_questions
from .more_bitext import (
    ENJA_DIR,
    ENJA_NOTE,
    ENJA_SPLITS,
    LAFAND_DIR,
    LAFAND_SPLITS,
    MENYO_DIR,
    MENYO_SPLITS,
    NEWSTEST_CODES,
    NEWSTEST_DIR,
    NEWSTEST_PREFIX,
    OPUS_TATOEBA_CODES,
    OPUS_TATOEBA_DIR,
    OPUS_TATOEBA_PREFIX,
    load_lafand,
    load_menyo20k,
    load_newstest,
    load_opus_tatoeba,
    load_small_parallel_enja,
)
from .passages import WIKI_VITAL_FILE, load_wikipedia_vital
from .skips import record_skips, skip_counts
from .training import DEFAULT_SOURCES, training_bitext
from .xor_tydi import (
    DEV_FILE,
    TRAIN_FILE,
    XOR_DIR,
    XOR_LANGUAGES,
    load_xor_dev,
    load_xor_train,
    translation_files,
)
from .xquad import XQUAD_LANGUAGES, load_xquad, xquad_file

Counts = dict[str, dict[str, int]]
SPLIT_KEYS: tuple[str, ...] = tuple(
    f"{split}_{kind}" for split in AFRIQA_SPLITS for kind in ("queries", "qrels")
)
"""Per-split counts: ``train_queries``, ``train_qrels``, ``dev_queries`` …"""
COUNT_KEYS: tuple[str, ...] = ("queries", "passages", "qrels", "pairs", *SPLIT_KEYS)


@dataclass(frozen=True)
class Dataset:
    """One catalog entry: its description, its files (relative to the data directory)."""

    name: str
    description: str
    files: tuple[str, ...]


def _translation_files() -> tuple[str, ...]:
    return tuple(name for lang in XOR_LANGUAGES for name in translation_files(lang))


def _xor_files(split_file: str) -> tuple[str, ...]:
    return (f"{XOR_DIR}/{split_file}",)


def _flat_files(folder: str, prefix: str, codes: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(f"{folder}/{prefix}.{code}-eng.{side}" for code in codes for side in (code, "eng"))


def _split_files(
    folder: str, prefix: str, table: Mapping[str, Mapping[str, str]], splits: tuple[str, ...]
) -> tuple[str, ...]:
    return tuple(
        f"{folder}/{prefix}.{split}.{code}-eng.{side}"
        for split in splits
        for code in table[split]
        for side in (code, "eng")
    )


_OPUS_TATOEBA_FILES = _flat_files(OPUS_TATOEBA_DIR, OPUS_TATOEBA_PREFIX, OPUS_TATOEBA_CODES)
_NEWSTEST_FILES = _flat_files(NEWSTEST_DIR, NEWSTEST_PREFIX, NEWSTEST_CODES)
_LAFAND_FILES = _split_files(LAFAND_DIR, "lafand", LAFAND_SPLITS, ("train", "dev"))
_MENYO_FILES = _split_files(MENYO_DIR, "menyo20k", MENYO_SPLITS, ("train", "dev"))
_ENJA_FILES = _split_files(ENJA_DIR, "small_parallel_enja", ENJA_SPLITS, ("train",))


_DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "xor-tydi-dev",
        "XOR-TyDi XOR-Retrieve dev questions (v1.1) with English answer strings",
        _xor_files(DEV_FILE),
    ),
    Dataset(
        "xor-tydi-train",
        "XOR-TyDi XOR-Retrieve train questions; pairs = questions with a human translation",
        _xor_files(TRAIN_FILE) + _translation_files(),
    ),
    Dataset(
        "xor-tydi-heldout",
        "Fixed 10% of the translated XOR-TyDi train questions, never used for training",
        _xor_files(TRAIN_FILE) + _translation_files(),
    ),
    Dataset(
        "xquad",
        "XQuAD-CLIR: questions in 7 languages against the 240 English paragraphs",
        tuple(xquad_file(lang) for lang in XQUAD_LANGUAGES),
    ),
    Dataset(
        "ntrex",
        "NTREX-128 news bitext (benchmark only, never training)",
        (
            f"{NTREX_DIR}/{NTREX_ENGLISH}",
            *(f"{NTREX_DIR}/newstest2019-ref.{code}.txt" for code in NTREX_CODES),
        ),
    ),
    Dataset(
        "tatoeba",
        "Tatoeba test pairs (LASER release)",
        tuple(
            f"{TATOEBA_DIR}/tatoeba.{code}-eng.{side}"
            for code in TATOEBA_CODES
            for side in (code, "eng")
        ),
    ),
    Dataset(
        "mkqa",
        "MKQA questions joined to English by id",
        tuple(f"{MKQA_DIR}/mkqa-{code}.jsonl" for code in ("en", *MKQA_CODES)),
    ),
    Dataset(
        "opus-tatoeba",
        "OPUS Tatoeba test v2021-08-07 minus the LASER Tatoeba pairs (training text)",
        _OPUS_TATOEBA_FILES,
    ),
    Dataset(
        "newstest",
        "WMT newstest 2012-2018 and 2020 (not 2019: its English is NTREX), ru and fi "
        "(training text)",
        _NEWSTEST_FILES,
    ),
    Dataset(
        "lafand-mt",
        "LAFAND-MT news bitext, train and dev splits (both training text; non-commercial)",
        _LAFAND_FILES,
    ),
    Dataset(
        "menyo20k",
        "MENYO-20k English-Yoruba, train and dev (training text; non-commercial; overlaps "
        "LAFAND-MT yo, deduplicated in training-bitext)",
        _MENYO_FILES,
    ),
    Dataset(
        "small-parallel-enja",
        f"small_parallel_enja Japanese-English, train split: {ENJA_NOTE}; "
        "not a default training source",
        _ENJA_FILES,
    ),
    Dataset(
        "wikipedia-vital",
        "English Wikipedia lead sections of the vital articles (distractor corpus)",
        (WIKI_VITAL_FILE,),
    ),
    Dataset(
        "afriqa",
        "AfriQA: questions in 7 African languages per split; qrels = questions with a gold "
        "passage in the 5,359 English passages",
        afriqa_files(),
    ),
    Dataset(
        "afriqa-questions",
        "AfriQA train + dev questions with their human English translations (training "
        "pairs; test never, nor text identical to a test question)",
        tuple(f for f in afriqa_files() if "/queries/" in f and not f.endswith(".test.json")),
    ),
    Dataset(
        "training-bitext",
        "The bitext training may use, from the default sources "
        f"({', '.join(DEFAULT_SOURCES)}): XOR translations minus held-out, Tatoeba, MKQA, "
        "OPUS Tatoeba, newstest, LAFAND-MT, MENYO-20k; leak-filtered and deduplicated "
        "across sources (first source wins); small-parallel-enja (tokenized, lowercased) "
        "only when named",
        _translation_files()
        + tuple(
            f"{TATOEBA_DIR}/tatoeba.{code}-eng.{side}"
            for code in TATOEBA_CODES
            for side in (code, "eng")
        )
        + tuple(f"{MKQA_DIR}/mkqa-{code}.jsonl" for code in ("en", *MKQA_CODES))
        + _OPUS_TATOEBA_FILES
        + _NEWSTEST_FILES
        + _LAFAND_FILES
        + _MENYO_FILES,
    ),
)

DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in _DATASETS}
"""Catalog entries by name."""


def _question_counts(questions: list[XorQuestion], with_pairs: bool) -> Counts:
    counts: Counts = {}
    for question in questions:
        row = counts.setdefault(
            question.lang, {"queries": 0, **({"pairs": 0} if with_pairs else {})}
        )
        row["queries"] += 1
        if with_pairs and question.english is not None:
            row["pairs"] += 1
    return counts


def _pair_counts(pairs: dict[str, list[BitextPair]]) -> Counts:
    return {lang: {"pairs": len(lang_pairs)} for lang, lang_pairs in pairs.items()}


def _xquad_counts(root: Path) -> Counts:
    benchmark = load_xquad(root)
    counts: Counts = {}
    for lang, queries in benchmark.queries.items():
        counts[lang] = {
            "queries": len(queries),
            "qrels": sum(len(benchmark.qrels.get(query.id, {})) for query in queries),
        }
    counts.setdefault("en", {})["passages"] = len(benchmark.passages)
    return counts


def _afriqa_counts(root: Path) -> Counts:
    """Questions and questions with a gold passage per language and split (no qrels
    count where the release has no gold file), the passages on the ``en`` row."""
    passages = load_afriqa_passages(root)
    no_gold = {(AFRIQA_CODES[code], split) for code, split in WITHOUT_GOLD}
    counts: Counts = {}
    for split in AFRIQA_SPLITS:
        for lang, questions in load_afriqa(root, split, passages=passages).items():
            row = counts.setdefault(lang, {})
            row[f"{split}_queries"] = len(questions)
            if (lang, split) not in no_gold:
                row[f"{split}_qrels"] = sum(q.gold is not None for q in questions)
    counts["en"] = {"passages": len(passages)}
    return counts


_COUNTERS: dict[str, Callable[[Path], Counts]] = {
    "xor-tydi-dev": lambda root: _question_counts(load_xor_dev(root), with_pairs=False),
    "xor-tydi-train": lambda root: _question_counts(load_xor_train(root), with_pairs=True),
    "xor-tydi-heldout": lambda root: _question_counts(heldout_questions(root), with_pairs=False),
    "xquad": _xquad_counts,
    "ntrex": lambda root: _pair_counts(load_ntrex(root)),
    "tatoeba": lambda root: _pair_counts(load_tatoeba(root)),
    "mkqa": lambda root: _pair_counts(load_mkqa(root)),
    "opus-tatoeba": lambda root: _pair_counts(load_opus_tatoeba(root)),
    "newstest": lambda root: _pair_counts(load_newstest(root)),
    "lafand-mt": lambda root: _pair_counts(load_lafand(root)),
    "menyo20k": lambda root: _pair_counts(load_menyo20k(root)),
    "small-parallel-enja": lambda root: _pair_counts(load_small_parallel_enja(root)),
    "wikipedia-vital": lambda root: {"en": {"passages": len(load_wikipedia_vital(root))}},
    "afriqa": _afriqa_counts,
    "afriqa-questions": lambda root: _pair_counts(afriqa_question_pairs(root)),
    "training-bitext": lambda root: _pair_counts(training_bitext(root)),
}


def describe(name: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Load dataset ``name`` and summarise it as one JSON-able dict (see the module doc).

    An unknown name raises :class:`ConfigError` listing the known names.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    root = resolve_data_dir(data_dir)
    with record_skips() as skips:
        counts = _COUNTERS[name](root)
    languages = {lang: dict(counts[lang]) for lang in sorted(counts)}
    total: dict[str, int] = {}
    for row in languages.values():
        for key, value in row.items():
            total[key] = total.get(key, 0) + value
    dataset = DATASETS[name]
    return {
        "name": name,
        "description": dataset.description,
        "files": list(dataset.files),
        "languages": languages,
        "total": {key: total[key] for key in COUNT_KEYS if key in total},
        "skipped": skip_counts(skips),
    }


def format_description(d: dict[str, Any]) -> str:
    """Render a :func:`describe` summary as a human-readable table."""
    languages: dict[str, dict[str, int]] = d.get("languages", {})
    total: dict[str, int] = d.get("total", {})
    keys = [key for key in COUNT_KEYS if key in total or any(key in r for r in languages.values())]
    rows = [
        [lang, *(f"{row[key]:,}" if key in row else "" for key in keys)]
        for lang, row in languages.items()
    ]
    rows.append(["total", *(f"{total[key]:,}" if key in total else "" for key in keys)])
    header = ["lang", *keys]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    out = [f"{d.get('name', '?')}: {d.get('description', '')}"]
    files = d.get("files", [])
    if files:
        out.append(
            f"files ({len(files)}): " + ", ".join(files[:3]) + (" …" if len(files) > 3 else "")
        )
    out.append(line(header))
    out.append("  ".join("-" * width for width in widths))
    out.extend(line(row) for row in rows[:-1])
    out.append("  ".join("-" * width for width in widths))
    out.append(line(rows[-1]))
    skipped: dict[str, int] = d.get("skipped", {})
    if skipped:
        out.append("skipped by design:")
        out.extend(f"  {reason}: {count:,}" for reason, count in skipped.items())
    return "\n".join(out)
