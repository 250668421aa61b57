"""Encode one shard of a corpus into fp16 vector chunks, resumably.

Layout of shard ``I`` of ``N`` in an index folder::

    shard-I-of-N/chunk-00000.vectors.npy   float16 [n, d]  pooled passage embeddings
                 chunk-00000.ids.npy       str [n]         passage ids
                 chunk-00000.offsets.npy   int64 [n]       byte offset of each passage's line
                 chunk-00000.json          {n, start, end} written last: the chunk is done
                 done.json                 {passages, chunks, start, end, fingerprint}

The shard's byte range (:func:`~optical.index.corpus.shard_range`) is streamed in chunks
of ``chunk_passages`` lines; each chunk is encoded (:meth:`Encoder.encode` sorts texts by
token length into batches and restores their order) and its files written atomically,
the ``.json`` last. A rerun skips a shard with ``done.json``; an unfinished shard resumes
at the end of its last complete chunk (one seek), so finished chunks are never encoded
again. Only one chunk's texts and vectors are in memory at a time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io_utils import atomic_write, atomic_write_json
from ..models.encoder import Encoder
from .corpus import Chunk, corpus_file, corpus_info, iter_chunks, shard_range
from .manifest import IndexManifest, ensure_manifest

logger = logging.getLogger(__name__)

DONE_FILE = "done.json"
CHUNK_PASSAGES = 50_000
"""Passages per chunk by default: 50k × 768 fp16 = 77 MB of vectors, a few MB of texts."""


@dataclass(frozen=True)
class ShardResult:
    """What a shard run did: the shard, its passages and chunks, and how many of its
    chunks were encoded now (0 when it was already done)."""

    index: int
    count: int
    folder: Path
    passages: int
    chunks: int
    encoded_chunks: int


@dataclass(frozen=True)
class ChunkFiles:
    """The files of one finished chunk (see the module doc)."""

    vectors: Path
    ids: Path
    offsets: Path
    n: int

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(vectors fp16 [n, d] memory-mapped, ids [n], offsets int64 [n])``."""
        return (
            np.load(self.vectors, mmap_mode="r"),
            np.load(self.ids),
            np.load(self.offsets),
        )


def shard_folder(folder: Path, index: int, count: int) -> Path:
    return Path(folder) / f"shard-{index}-of-{count}"


def _chunk_files(folder: Path, number: int, n: int) -> ChunkFiles:
    stem = folder / f"chunk-{number:05d}"
    return ChunkFiles(
        Path(f"{stem}.vectors.npy"), Path(f"{stem}.ids.npy"), Path(f"{stem}.offsets.npy"), n
    )


def _save(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    atomic_write(path, write)


def _finished_chunks(folder: Path, start: int, dim: int) -> list[tuple[ChunkFiles, int]]:
    """The leading run of complete chunks of an unfinished shard, with each one's end byte.

    A chunk is complete when its ``.json`` is readable, begins where the previous chunk
    ended, and its three arrays hold ``n`` rows (vectors ``[n, dim]``)."""
    done: list[tuple[ChunkFiles, int]] = []
    position = start
    while True:
        marker = folder / f"chunk-{len(done):05d}.json"
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
            n, begin, end = int(record["n"]), int(record["start"]), int(record["end"])
            files = _chunk_files(folder, len(done), n)
            vectors, ids, offsets = files.load()
        except (OSError, ValueError, KeyError, TypeError):
            return done
        if begin != position or vectors.shape != (n, dim) or len(ids) != n or len(offsets) != n:
            return done
        done.append((files, end))
        position = end


def _remove_chunks_from(folder: Path, number: int) -> None:
    """Delete the chunk files numbered ``number`` and up (debris of an interrupted run)."""
    for path in folder.glob("chunk-*"):
        try:
            if int(path.name.split(".")[0].split("-")[1]) >= number:
                path.unlink()
        except (ValueError, IndexError):
            continue


def shard_chunks(folder: Path, manifest: IndexManifest, index: int) -> list[ChunkFiles]:
    """The chunks of finished shard ``index`` in order (a :class:`ConfigError` when the
    shard is not finished, was built for another encoder, or lost a chunk)."""
    shard = shard_folder(folder, index, manifest.shards)
    try:
        done = json.loads((shard / DONE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"shard {index}/{manifest.shards} is not finished ({exc})") from exc
    if done.get("fingerprint") != manifest.fingerprint or done.get("dim") != manifest.dim:
        raise ConfigError(
            f"{shard} was encoded by encoder {done.get('fingerprint')} (dim {done.get('dim')}), "
            f"the manifest names {manifest.fingerprint} (dim {manifest.dim}): rebuild it"
        )
    chunks = [files for files, _ in _finished_chunks(shard, int(done["start"]), manifest.dim)]
    if len(chunks) != int(done["chunks"]):
        raise ConfigError(
            f"{shard}: done.json records {done['chunks']} chunks, {len(chunks)} are intact: "
            f"delete {shard} and encode the shard again"
        )
    return chunks


def make_manifest(
    corpus: str | Path, encoder: Encoder, encoder_name: str, count: int
) -> IndexManifest:
    """The manifest of an index of ``corpus`` by ``encoder`` in ``count`` shards."""
    path = corpus_file(corpus).resolve()
    return IndexManifest(
        encoder=encoder_name,
        fingerprint=encoder.spec.fingerprint(),
        encoder_precision=encoder.precision,
        passage_prefix=encoder.spec.passage_prefix,
        query_prefix=encoder.spec.query_prefix,
        dim=encoder.dim,
        corpus=corpus_info(path),
        corpus_path=str(path),
        shards=count,
    )


def build_shard(
    corpus: str | Path,
    folder: str | Path,
    encoder: Encoder,
    shard: tuple[int, int] = (0, 1),
    encoder_name: str | None = None,
    chunk_passages: int = CHUNK_PASSAGES,
    batch_size: int = 128,
) -> ShardResult:
    """Encode shard ``shard = (I, N)`` of DPR TSV ``corpus`` into index folder ``folder``.

    ``encoder_name`` is recorded for ``optical search`` (default: the spec's name);
    ``batch_size`` caps the texts per forward pass. See the module doc for the files,
    resume and memory bounds.
    """
    from tqdm.auto import tqdm

    index, count = shard
    if chunk_passages < 1:
        raise ConfigError(f"--chunk-passages must be at least 1, got {chunk_passages}")
    folder = Path(folder)
    manifest = ensure_manifest(
        folder, make_manifest(corpus, encoder, encoder_name or encoder.spec.name, count)
    )
    path = Path(manifest.corpus_path)
    out = shard_folder(folder, index, count)
    if (out / DONE_FILE).exists():
        chunks = shard_chunks(folder, manifest, index)
        logger.info("shard %d/%d is done (%s): not encoding it again", index, count, out)
        return ShardResult(index, count, out, sum(c.n for c in chunks), len(chunks), 0)
    start, end = shard_range(path, index, count)
    out.mkdir(parents=True, exist_ok=True)
    finished = _finished_chunks(out, start, manifest.dim)
    _remove_chunks_from(out, len(finished))
    resume = finished[-1][1] if finished else start
    if finished:
        logger.info("shard %d/%d: resuming after %d finished chunks", index, count, len(finished))
    number, encoded = len(finished), 0
    with tqdm(
        total=end - start, initial=resume - start, unit="B", unit_scale=True, leave=False,
        desc=f"shard {index}/{count}", disable=None,
    ) as bar:  # fmt: skip
        begin = resume
        for chunk in iter_chunks(path, resume, end, chunk_passages):
            _write_chunk(out, number, begin, chunk, encoder, batch_size, manifest.dim)
            bar.update(chunk.end - begin)
            begin = chunk.end
            number += 1
            encoded += 1
            del chunk  # its texts are freed before the next chunk is read
    passages = sum(files.n for files, _ in finished) + _count_new(out, len(finished), number)
    atomic_write_json(
        out / DONE_FILE,
        {
            "passages": passages,
            "chunks": number,
            "start": start,
            "end": end,
            "fingerprint": manifest.fingerprint,
            "dim": manifest.dim,
        },
    )
    logger.info("shard %d/%d: %d passages in %d chunks (%s)", index, count, passages, number, out)
    return ShardResult(index, count, out, passages, number, encoded)


def _count_new(folder: Path, first: int, stop: int) -> int:
    return sum(
        int(json.loads((folder / f"chunk-{n:05d}.json").read_text(encoding="utf-8"))["n"])
        for n in range(first, stop)
    )


def _write_chunk(
    folder: Path,
    number: int,
    begin: int,
    chunk: Chunk,
    encoder: Encoder,
    batch_size: int,
    dim: int,
) -> None:
    """Encode one chunk and write its files, the ``.json`` marker last."""
    pooled = encoder.encode([p.text for p in chunk.passages], "passage", max_batch=batch_size)
    if pooled.pooled.shape != (len(chunk.passages), dim):
        raise ConfigError(
            f"encoder gave {pooled.pooled.shape} embeddings, the index dimension is {dim}"
        )
    vectors = pooled.pooled.astype(np.float16)
    if not np.isfinite(vectors).all():
        raise ConfigError(
            f"embeddings of chunk {number} of {folder} exceed the float16 range: an index "
            "stores fp16 vectors, which needs a normalising encoder"
        )
    files = _chunk_files(folder, number, len(chunk.passages))
    _save(files.vectors, vectors)
    _save(files.ids, np.array([p.id for p in chunk.passages]))
    _save(files.offsets, chunk.offsets)
    atomic_write_json(
        folder / f"chunk-{number:05d}.json",
        {"n": files.n, "start": begin, "end": chunk.end},
    )
