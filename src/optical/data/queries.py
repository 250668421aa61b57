"""A user's queries file (``optical search --queries``): TSV ``qid<TAB>text`` or JSON lines.

The format is chosen by the extension: ``.jsonl`` (or ``.jsonl.gz``) holds one object
with ``id`` and ``text`` per line; anything else is read as two tab-separated columns.
Blank lines are skipped. Every malformed line raises :class:`DataFormatError`
(``FILE:LINE: problem``): a wrong column count, invalid JSON, a missing field, an empty
query text or a repeated query id.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataFormatError, OpticalError
from ._io import iter_lines


def is_jsonl(path: Path) -> bool:
    """Whether ``path`` is read as JSON lines (``.jsonl`` or ``.jsonl.gz``)."""
    suffixes = path.suffixes
    return suffixes[-1:] == [".jsonl"] or suffixes[-2:] == [".jsonl", ".gz"]


def _jsonl_query(line: str, path: Path, lineno: int) -> tuple[str, str]:
    try:
        record = json.loads(line)
        return str(record["id"]), str(record["text"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataFormatError(path, lineno, f"expected JSON with id and text: {exc}") from exc


def _tsv_query(line: str, path: Path, lineno: int) -> tuple[str, str]:
    parts = line.split("\t")
    if len(parts) != 2:
        raise DataFormatError(
            path, lineno, f"expected 2 tab-separated columns (qid, text), got {len(parts)}"
        )
    return parts[0], parts[1]


def read_queries(path: str | Path) -> tuple[list[str], list[str]]:
    """Query ids and texts of a queries file, in file order (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise OpticalError(f"queries file not found: {path}")
    parse = _jsonl_query if is_jsonl(path) else _tsv_query
    ids: list[str] = []
    texts: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        qid, text = parse(line, path, lineno)
        if not text.strip():
            raise DataFormatError(path, lineno, f"empty query text for query {qid!r}")
        if qid in first_line:
            raise DataFormatError(
                path, lineno, f"duplicate query id {qid!r} (first on line {first_line[qid]})"
            )
        first_line[qid] = lineno
        ids.append(qid)
        texts.append(text)
    return ids, texts
