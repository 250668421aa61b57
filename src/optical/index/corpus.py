"""A DPR TSV corpus read by byte offset: shard ranges, chunked streaming, passages by seek.

Shards are contiguous byte ranges: shard ``I`` of ``N`` starts at the first line that
begins at or after byte ``⌊S·I/N⌋`` (``S`` the file size) and ends where shard ``I+1``
starts, so every line belongs to exactly one shard and a shard finds its start with one
seek, without reading the lines before it (an 18M-line file is never scanned to split
it). Shards hold about ``S/N`` bytes each, not exactly ``lines/N`` lines.

Lines are parsed by :func:`optical.data.passages.parse_dpr_line` (the one DPR line
reader); a malformed line is a :class:`~optical.errors.DataFormatError` ``FILE:LINE``,
its line number counted only then. A passage is read back by seeking to its line's byte
offset (:class:`OffsetTable`): one seek per passage, the corpus never loaded whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..data.passages import USER_CORPUS_UPSTREAM, DprLineError, parse_dpr_line
from ..errors import ConfigError, DataFormatError
from ..io_utils import atomic_write
from ..types import Passage

HEAD_BYTES = 1 << 20
"""The corpus identity hashes the first MiB (a full hash of 13 GB would cost minutes)."""


@dataclass(frozen=True)
class CorpusInfo:
    """What names a corpus file: its name, size in bytes and the SHA-256 of its first MiB."""

    name: str
    bytes: int
    sha256_first_mb: str


def corpus_file(path: str | Path) -> Path:
    """``path`` as a seekable corpus: an existing, uncompressed ``.tsv`` file."""
    from ..data._io import require_file

    path = require_file(Path(path), USER_CORPUS_UPSTREAM)
    if path.suffix.lower() == ".gz":
        raise ConfigError(
            f"{path}: a sharded index reads passages by byte offset, which a gzip file does "
            f"not allow: decompress it first (gunzip -k {path.name})"
        )
    return path


def corpus_info(path: str | Path) -> CorpusInfo:
    """The identity of corpus ``path`` (:class:`CorpusInfo`)."""
    path = corpus_file(path)
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    return CorpusInfo(path.name, path.stat().st_size, hashlib.sha256(head).hexdigest())


def line_number(path: Path, offset: int) -> int:
    """The 1-based number of the line starting at byte ``offset`` (the ``\\n`` before it,
    counted in 4 MiB blocks; called only to name a bad line)."""
    lines, seen = 0, 0
    with open(path, "rb") as handle:
        while seen < offset:
            block = handle.read(min(1 << 22, offset - seen))
            if not block:
                break
            seen += len(block)
            lines += block.count(b"\n")
    return lines + 1


def _line_start(handle: BinaryIO, position: int, size: int) -> int:
    """The first line start at or after byte ``position`` (``size`` at the end)."""
    if position <= 0:
        return 0
    if position >= size:
        return size
    handle.seek(position - 1)
    handle.readline()  # the rest of the line holding byte position - 1
    return handle.tell()


def shard_range(path: str | Path, index: int, count: int) -> tuple[int, int]:
    """Byte range ``[start, end)`` of shard ``index`` of ``count`` (see the module doc)."""
    if not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: need 0 <= I < N")
    path = corpus_file(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start = _line_start(handle, size * index // count, size)
        end = _line_start(handle, size * (index + 1) // count, size)
    return start, end


def _decode(path: Path, offset: int, raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            path, line_number(path, offset), f"not valid UTF-8 ({exc.reason})"
        ) from None
    if offset == 0 and text.startswith("\ufeff"):
        text = text[1:]
    return text.removesuffix("\n").removesuffix("\r")


def _parse(path: Path, offset: int, raw: bytes) -> Passage | None:
    try:
        return parse_dpr_line(_decode(path, offset, raw), first=offset == 0)
    except DprLineError as exc:
        raise DataFormatError(path, line_number(path, offset), str(exc)) from None


@dataclass(frozen=True)
class Chunk:
    """Consecutive passages of a byte range: ``offsets`` int64 ``[n]`` (each line's first
    byte), ``end`` the byte after the chunk's last line (where the next chunk starts)."""

    passages: tuple[Passage, ...]
    offsets: np.ndarray
    end: int


def iter_chunks(path: str | Path, start: int, end: int, size: int) -> Iterator[Chunk]:
    """The passages of lines starting in ``[start, end)``, ``size`` passages at a time
    (a header line is skipped); only one chunk's texts are held at once."""
    if size < 1:
        raise ConfigError(f"chunk size must be at least 1 passage, got {size}")
    path = corpus_file(path)
    with open(path, "rb") as handle:
        handle.seek(start)
        position = start
        passages: list[Passage] = []
        offsets: list[int] = []
        while position < end:
            raw = handle.readline()
            if not raw:
                break
            passage = _parse(path, position, raw)
            if passage is not None:
                passages.append(passage)
                offsets.append(position)
            position += len(raw)
            if len(passages) == size:
                yield Chunk(tuple(passages), np.array(offsets, np.int64), position)
                passages, offsets = [], []
        if passages:
            yield Chunk(tuple(passages), np.array(offsets, np.int64), position)


def read_at(path: str | Path, offsets: Sequence[int]) -> list[Passage]:
    """The passages whose lines start at ``offsets`` (one seek each, in the order given)."""
    path = Path(path)
    passages = []
    with open(path, "rb") as handle:
        for offset in offsets:
            handle.seek(int(offset))
            passage = _parse(path, int(offset), handle.readline())
            if passage is None:
                raise DataFormatError(path, 1, "offset 0 is the header line, not a passage")
            passages.append(passage)
    return passages


OFFSETS_FILE = "passages.offsets.npy"
IDS_FILE = "passages.ids.npy"
SORTED_IDS_FILE = "passages.ids-sorted.npy"
SORTED_ROWS_FILE = "passages.rows-sorted.npy"


def write_offset_table(folder: Path, ids: np.ndarray, offsets: np.ndarray, corpus: Path) -> None:
    """Write the offset table of a corpus into ``folder``, each file atomically.

    Rows are index rows: ``ids`` (str ``[n]``), ``offsets`` (int64 ``[n]``); beside them
    the ids sorted with their rows (int64 ``[n]``), so an id is found by binary search
    without a dict of ``n`` strings. A repeated id is a :class:`DataFormatError` naming
    both lines.
    """
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1]) if len(ids) > 1 else np.array([], int)
    if len(same):
        first, second = sorted(int(offsets[order[same[0]]]), int(offsets[order[same[0] + 1]]))
        raise DataFormatError(
            corpus,
            line_number(corpus, second),
            f"duplicate passage id {str(ordered[same[0]])!r} "
            f"(first on line {line_number(corpus, first)})",
        )
    arrays = {
        OFFSETS_FILE: offsets.astype(np.int64),
        IDS_FILE: ids,
        SORTED_IDS_FILE: ordered,
        SORTED_ROWS_FILE: order.astype(np.int64),
    }
    for name, array in arrays.items():
        atomic_write(folder / name, lambda tmp, a=array: _save(tmp, a))


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # np.save(path) would append .npy to the temp name
        np.save(handle, array, allow_pickle=False)


class OffsetTable:
    """Passage ids and line offsets of an index's rows, memory-mapped (never loaded whole)."""

    def __init__(self, folder: Path, corpus: Path) -> None:
        self.corpus = Path(corpus)
        try:
            self.offsets = np.load(folder / OFFSETS_FILE, mmap_mode="r")
            self.ids = np.load(folder / IDS_FILE, mmap_mode="r")
            self._sorted = np.load(folder / SORTED_IDS_FILE, mmap_mode="r")
            self._rows = np.load(folder / SORTED_ROWS_FILE, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{folder}: no readable offset table ({exc}): run `optical index merge {folder}`"
            ) from exc

    def __len__(self) -> int:
        return len(self.offsets)

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """Index rows of passage ``ids`` (an unknown id is a :class:`ConfigError`)."""
        wanted = np.asarray(list(ids), dtype=self._sorted.dtype if len(ids) else str)
        where = np.searchsorted(self._sorted, wanted)
        found = (where < len(self._sorted)) & (
            self._sorted[np.minimum(where, len(self._sorted) - 1)] == wanted
        )
        if not found.all():
            missing = [str(x) for x in wanted[~found][:5]]
            raise ConfigError(f"passage id(s) not in the index of {self.corpus}: {missing}")
        return np.asarray(self._rows[where], np.int64)

    def read_rows(self, rows: Sequence[int]) -> list[Passage]:
        """The passages of index ``rows`` read from the corpus (one seek each)."""
        return read_at(self.corpus, [int(self.offsets[int(r)]) for r in rows])

    def read(self, ids: Sequence[str]) -> list[Passage]:
        """The passages with ``ids``, in that order (one seek each)."""
        return self.read_rows(self.rows_of(ids).tolist())


TABLE_DONE = "table.json"


def corpus_table(path: str | Path, folder: str | Path, chunk: int = 100_000) -> OffsetTable:
    """The offset table of the whole corpus ``path`` in ``folder``, written once (a
    ``table.json`` marker last) by streaming the file ``chunk`` passages at a time and
    keeping only ids and offsets; a finished table is opened, not rebuilt. The ids and
    offsets (about 40 bytes a passage) are the only per-passage memory."""
    from ..io_utils import atomic_write_json

    path, folder = corpus_file(path), Path(folder)
    if (folder / TABLE_DONE).is_file():
        return OffsetTable(folder, path)
    ids: list[np.ndarray] = []
    offsets: list[np.ndarray] = []
    for block in iter_chunks(path, 0, path.stat().st_size, chunk):
        ids.append(np.array([p.id for p in block.passages]))
        offsets.append(block.offsets)
    folder.mkdir(parents=True, exist_ok=True)
    all_ids = np.concatenate(ids) if ids else np.array([], dtype=str)
    write_offset_table(
        folder, all_ids, np.concatenate(offsets) if offsets else np.array([], np.int64), path
    )
    atomic_write_json(folder / TABLE_DONE, {"corpus": str(path), "passages": len(all_ids)})
    return OffsetTable(folder, path)
