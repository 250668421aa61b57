"""Private file helpers shared by the data loaders: checked paths, streamed lines, JSONL.

Lines are split on ``\\n`` only (a lone ``\\r`` or a Unicode line separator inside a
sentence never shifts the line alignment of parallel files); a trailing ``\\r`` is
dropped, so CRLF files read like LF files. Files ending in ``.gz`` are decompressed
on the fly.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..errors import DataFormatError, MissingDataError
from ..settings import data_dir as _settings_data_dir


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """``data_dir`` if given, else ``$OPTICAL_DATA_DIR`` (see :func:`optical.settings.data_dir`)."""
    return _settings_data_dir(data_dir)


def require_file(path: Path, upstream: str) -> Path:
    """Return ``path`` when it is a file, else raise :class:`MissingDataError`.

    The error names the file, the directory it was expected in and the upstream source.
    """
    if not path.is_file():
        raise MissingDataError(path.name, path.parent, upstream)
    return path


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


@contextmanager
def _reading(path: Path) -> Iterator[IO[bytes]]:
    """``_open_binary(path)``; a corrupt or truncated ``.gz`` raises :class:`DataFormatError`."""
    try:
        with _open_binary(path) as handle:
            yield handle
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataFormatError(path, None, f"corrupt compressed data ({exc})") from None


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line of a UTF-8 file, streamed (1-based).

    The line terminator (``\\n`` or ``\\r\\n``) and a leading byte-order mark are removed.
    Invalid UTF-8 raises :class:`DataFormatError` with the line number.
    """
    with _reading(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(path, number, f"not valid UTF-8 ({exc.reason})") from None
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if text.endswith("\n"):
                text = text[:-1]
            if text.endswith("\r"):
                text = text[:-1]
            yield number, text


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for every non-blank line of a JSON-lines file.

    A line that is not valid JSON, or not a JSON object, raises :class:`DataFormatError`.
    """
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, number, f"invalid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise DataFormatError(
                path, number, f"expected a JSON object, got {type(record).__name__}"
            )
        yield number, record


def read_json(path: Path) -> Any:
    """Parse a whole JSON file; a syntax error raises :class:`DataFormatError` with its line."""
    with _reading(path) as handle:
        raw = handle.read()
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, None, f"not valid UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None


def field(
    record: dict[str, Any], name: str, kind: type | tuple[type, ...], path: Path, line: int | None
) -> Any:
    """``record[name]`` checked for presence and type; problems raise :class:`DataFormatError`."""
    if name not in record:
        raise DataFormatError(path, line, f"missing field {name!r}")
    value = record[name]
    # bool is an int subclass: never accept it where a string or number is expected.
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise DataFormatError(
            path, line, f"field {name!r} must be {expected}, got {type(value).__name__}"
        )
    return value


def text_key(text: str) -> str:
    """Comparison key for leak checks and dedup: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()
