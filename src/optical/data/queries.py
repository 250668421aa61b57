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

from collections.abc import Iterator
from pathlib import Path

from ..errors import DataFormatError, OpticalError
from ._io import field, iter_jsonl, iter_lines

TSV_HEADERS = (("qid", "text"), ("id", "text"))
"""First lines of a TSV queries file that are a header, not a query."""


def is_jsonl(path: Path) -> bool:
    """Whether ``path`` is read as JSON lines (``.jsonl`` or ``.jsonl.gz``)."""
    suffixes = path.suffixes
    return suffixes[-1:] == [".jsonl"] or suffixes[-2:] == [".jsonl", ".gz"]


def _jsonl_queries(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(line, id, text)`` of a JSON-lines file (:func:`iter_jsonl` reads the objects)."""
    try:
        for lineno, record in iter_jsonl(path):
            qid = field(record, "id", (str, int), path, lineno)
            yield lineno, str(qid), field(record, "text", str, path, lineno)
    except DataFormatError as exc:
        raise DataFormatError(
            path, exc.line, f"expected JSON with id and text: {exc.problem}"
        ) from None


def _tsv_queries(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(line, id, text)`` of a TSV file; only the first line may be a header."""
    first = True
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        header = first and _is_header(line)
        first = False
        if header:
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataFormatError(
                path, lineno, f"expected 2 tab-separated columns (qid, text), got {len(parts)}"
            )
        yield lineno, parts[0], parts[1]


def _is_header(line: str) -> bool:
    return tuple(part.strip().lower() for part in line.split("\t")) in TSV_HEADERS


def read_queries(path: str | Path) -> tuple[list[str], list[str]]:
    """Query ids and texts of a queries file, in file order (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise OpticalError(f"queries file not found: {path}")
    records = _jsonl_queries(path) if is_jsonl(path) else _tsv_queries(path)
    ids: list[str] = []
    texts: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, raw_id, text in records:
        qid = raw_id.strip()
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
