"""A user's queries file (``optical search --queries``): TSV ``qid<TAB>text`` or JSON lines.

The format is chosen by the extension: ``.jsonl`` (or ``.jsonl.gz``) holds one object
with ``id`` (a string or an integer) and ``text`` (a string) per line; anything else is
read as two tab-separated columns, where a first line ``qid<TAB>text`` (or
``id<TAB>text``) is a header and skipped. A leading UTF-8 byte-order mark is dropped
and ids lose surrounding whitespace. Blank lines are skipped. Every malformed line
raises :class:`DataFormatError` (``FILE:LINE: problem``): a wrong column count, invalid
JSON, a missing field or one of the wrong type (``"text": null``, a number, a list), an
empty query id or text or a repeated query id; a file without any query is an error too.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataFormatError, OpticalError
from ._io import field, iter_lines

TSV_HEADERS = (("qid", "text"), ("id", "text"))
"""First lines of a TSV queries file that are a header, not a query."""


def is_jsonl(path: Path) -> bool:
    """Whether ``path`` is read as JSON lines (``.jsonl`` or ``.jsonl.gz``)."""
    suffixes = path.suffixes
    return suffixes[-1:] == [".jsonl"] or suffixes[-2:] == [".jsonl", ".gz"]


def _jsonl_query(line: str, path: Path, lineno: int) -> tuple[str, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, lineno, f"expected JSON with id and text: {exc}") from exc
    if not isinstance(record, dict):
        raise DataFormatError(
            path, lineno, f"expected JSON with id and text, got a {type(record).__name__}"
        )
    try:
        qid = field(record, "id", (str, int), path, lineno)
        text = field(record, "text", str, path, lineno)
    except DataFormatError as exc:
        raise DataFormatError(
            path, lineno, f"expected JSON with id and text: {exc.problem}"
        ) from None
    return str(qid), text


def _tsv_query(line: str, path: Path, lineno: int) -> tuple[str, str]:
    parts = line.split("\t")
    if len(parts) != 2:
        raise DataFormatError(
            path, lineno, f"expected 2 tab-separated columns (qid, text), got {len(parts)}"
        )
    return parts[0], parts[1]


def _is_header(line: str) -> bool:
    return tuple(part.strip().lower() for part in line.split("\t")) in TSV_HEADERS


def read_queries(path: str | Path) -> tuple[list[str], list[str]]:
    """Query ids and texts of a queries file, in file order (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise OpticalError(f"queries file not found: {path}")
    jsonl = is_jsonl(path)
    parse = _jsonl_query if jsonl else _tsv_query
    ids: list[str] = []
    texts: list[str] = []
    first_line: dict[str, int] = {}
    first = True
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        if first and not jsonl and _is_header(line):  # only the first line may be one
            first = False
            continue
        first = False
        qid, text = parse(line, path, lineno)
        qid = qid.strip()
        if not qid:
            raise DataFormatError(path, lineno, "empty query id")
        if not text.strip():
            raise DataFormatError(path, lineno, f"empty query text for query {qid!r}")
        if qid in first_line:
            raise DataFormatError(
                path, lineno, f"duplicate query id {qid!r} (first on line {first_line[qid]})"
            )
        first_line[qid] = lineno
        ids.append(qid)
        texts.append(text)
    if not ids:
        raise DataFormatError(path, None, "no queries: the file has no query line")
    return ids, texts
