"""Merge an index folder's shards into one FAISS index, and search it.

``merge_index`` builds ``faiss.index_factory(d, FACTORY, METRIC_INNER_PRODUCT)``
(``Flat``, ``IVF4096,PQ64``, ``HNSW32``, ``OPQ64,IVF4096,PQ64``, …). An index that needs
training is trained on ``train_sample`` rows drawn uniformly without replacement (seeded)
from all shards; then the shards are added chunk by chunk, so besides the index itself
at most one chunk of fp16 vectors (converted to float32) is in memory. On a CUDA device
with ``faiss-gpu`` installed (``faiss.StandardGpuResources``) training and adding run on
the GPU; the index is copied back and written atomically to ``faiss.index`` with the
offset table (row → passage id and line offset) beside it.

Scores are inner products ``⟨q, p⟩`` of the fp16-stored, L2-normalised passage vectors
``p`` and float32 queries ``q``; for ``Flat`` they are exact, for IVF / PQ / HNSW
approximate (``nprobe`` / ``efSearch`` trade speed for recall). ``rerank = K'`` re-scores
the approximate top ``K'`` exactly with the shards' fp16 vectors (:mod:`.rerank`): the
memory of a compressed index with nearly the ranking of ``Flat``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io_utils import atomic_write
from ..types import Passage, Run
from .corpus import OffsetTable, write_offset_table
from .manifest import (
    FAISS_FILE,
    IndexManifest,
    MergedIndex,
    read_manifest,
    read_merged,
    write_merged,
)
from .rerank import RowVectors, rerank
from .shards import ChunkFiles, shard_chunks, shard_folder

logger = logging.getLogger(__name__)

TRAIN_SAMPLE = 262_144
"""Vectors an index is trained on by default (FAISS asks ≥ 39 per IVF centroid)."""


def _all_chunks(folder: Path, manifest: IndexManifest) -> list[ChunkFiles]:
    """Every shard's chunks in shard order; unfinished shards are one error naming them."""
    missing = [
        f"{i}/{manifest.shards}"
        for i in range(manifest.shards)
        if not (shard_folder(folder, i, manifest.shards) / "done.json").exists()
    ]
    if missing:
        raise ConfigError(
            f"{folder}: shard(s) {', '.join(missing)} of {manifest.shards} are missing or "
            f"unfinished: run `optical index --passages {manifest.corpus_path} --shard I/N "
            f"--out {folder}` for each"
        )
    chunks: list[ChunkFiles] = []
    for i in range(manifest.shards):
        chunks.extend(shard_chunks(folder, manifest, i))
    return chunks


def _sample(chunks: Sequence[ChunkFiles], size: int, dim: int, seed: int) -> np.ndarray:
    """``size`` rows drawn without replacement from all chunks: float32 ``[size, d]``."""
    total = sum(c.n for c in chunks)
    rows = np.sort(np.random.default_rng(seed).choice(total, size=min(size, total), replace=False))
    starts = np.cumsum([0] + [c.n for c in chunks])
    sample = np.empty((len(rows), dim), np.float32)
    filled = 0
    for number, chunk in enumerate(chunks):
        lo, hi = np.searchsorted(rows, [starts[number], starts[number + 1]])
        if hi > lo:
            vectors = np.load(chunk.vectors, mmap_mode="r")
            sample[filled : filled + hi - lo] = vectors[rows[lo:hi] - starts[number]]
            filled += hi - lo
    return sample


def _gpu(device: str | None) -> tuple[object, int] | None:
    """``(faiss.StandardGpuResources(), device number)`` on a CUDA device with faiss-gpu."""
    import faiss

    if not device or not device.startswith("cuda"):
        return None
    if not hasattr(faiss, "StandardGpuResources"):
        logger.info("faiss has no GPU support here (faiss-cpu): building the index on the CPU")
        return None
    number = int(device.split(":")[1]) if ":" in device else 0
    return faiss.StandardGpuResources(), number


def merge_index(
    folder: str | Path,
    factory: str = "Flat",
    train_sample: int = TRAIN_SAMPLE,
    device: str | None = None,
    seed: int = 0,
) -> MergedIndex:
    """Build ``folder/faiss.index`` from the shards of index folder ``folder``.

    See the module doc. Missing shards, a shard of another encoder, a bad factory string
    or too few vectors to train on are a :class:`ConfigError`.
    """
    import faiss

    folder = Path(folder)
    manifest = read_manifest(folder)
    chunks = _all_chunks(folder, manifest)
    total = sum(c.n for c in chunks)
    if train_sample < 1:
        raise ConfigError(f"--train-sample must be at least 1, got {train_sample}")
    ids = np.concatenate([np.load(c.ids) for c in chunks])
    offsets = np.concatenate([np.load(c.offsets) for c in chunks])
    corpus = Path(manifest.corpus_path)
    write_offset_table(folder, ids, offsets, corpus)
    header = bool(len(offsets)) and int(offsets.min()) > 0
    del ids, offsets
    try:
        index = faiss.index_factory(manifest.dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ConfigError(
            f"--factory {factory!r} is not a FAISS index factory string "
            f"(e.g. Flat, IVF4096,PQ64, HNSW32): {str(exc).strip().splitlines()[-1]}"
        ) from None
    gpu = _gpu(device)
    if gpu is not None:
        try:
            index = faiss.index_cpu_to_gpu(gpu[0], gpu[1], index)
        except RuntimeError as exc:  # e.g. HNSW has no GPU implementation
            logger.info("%s cannot run on the GPU (%s): building it on the CPU", factory, exc)
            gpu = None
    trained_on = 0
    if not index.is_trained:
        sample = _sample(chunks, train_sample, manifest.dim, seed)
        logger.info("training %s on %d of %d vectors", factory, len(sample), total)
        try:
            index.train(sample)
        except RuntimeError as exc:
            raise ConfigError(
                f"cannot train {factory} on {len(sample)} vectors: {str(exc).strip()}"
            ) from None
        trained_on = len(sample)
    for chunk in chunks:
        index.add(np.asarray(np.load(chunk.vectors, mmap_mode="r"), np.float32))
    if gpu is not None:
        index = faiss.index_gpu_to_cpu(index)
    atomic_write(folder / FAISS_FILE, lambda tmp: faiss.write_index(index, str(tmp)))
    merged = MergedIndex(
        factory=factory,
        passages=total,
        dim=manifest.dim,
        trained_on=trained_on,
        corpus_lines=total + header,
        device=f"cuda:{gpu[1]}" if gpu is not None else "cpu",
    )
    write_merged(folder, merged)
    logger.info(
        "merged %d shards: %d passages into %s (%s)", manifest.shards, total, folder, factory
    )
    return merged


class ShardedIndex:
    """A merged index folder: FAISS search plus passages read back by offset."""

    def __init__(self, folder: str | Path) -> None:
        import faiss

        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        self.merged = read_merged(self.folder)
        self.index = faiss.read_index(str(self.folder / FAISS_FILE))
        self.table = OffsetTable(self.folder, Path(self.manifest.corpus_path))
        self.rerank_depth = 0
        self._vectors: RowVectors | None = None
        if self.index.ntotal != self.merged.passages or len(self.table) != self.index.ntotal:
            raise ConfigError(
                f"{self.folder}: faiss.index holds {self.index.ntotal} vectors, the offset "
                f"table {len(self.table)}, index.json {self.merged.passages}: merge again"
            )

    @property
    def dim(self) -> int:
        return self.manifest.dim

    def set_parameters(
        self, nprobe: int | None = None, ef_search: int | None = None, rerank: int | None = None
    ) -> None:
        """Set IVF ``nprobe`` / HNSW ``efSearch`` (an index without it: :class:`ConfigError`)
        and the exact re-ranking depth ``rerank`` (``K'``: the approximate top
        ``max(K', k)`` re-scored exactly; 0 = off)."""
        import faiss

        if rerank is not None:
            if rerank < 0:
                raise ConfigError(f"--rerank must be at least 0 (0 = off), got {rerank}")
            self.rerank_depth = rerank

        space = faiss.ParameterSpace()
        for name, flag, value in (
            ("nprobe", "--nprobe", nprobe),
            ("efSearch", "--ef-search", ef_search),
        ):
            if value is None:
                continue
            if value < 1:
                raise ConfigError(f"{flag} must be at least 1, got {value}")
            try:
                space.set_index_parameter(self.index, name, value)
            except RuntimeError:
                raise ConfigError(
                    f"{flag} does not apply to a {self.merged.factory} index"
                ) from None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows per query: ``(scores [Q, k], rows [Q, k])``; row -1 is no hit.

        ``queries``: float32 ``[Q, d]``."""
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ConfigError(
                f"query embeddings are {queries.shape}, the index dimension is {self.dim}: "
                f"queries must be encoded into the space of {self.manifest.encoder}"
            )
        k = min(k, int(self.index.ntotal))
        if k < 1:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        queries = np.ascontiguousarray(queries, np.float32)
        if not self.rerank_depth:
            return self.index.search(queries, k)
        depth = min(max(self.rerank_depth, k), int(self.index.ntotal))
        _, candidates = self.index.search(queries, depth)
        return rerank(queries, candidates, self.vectors, k)

    @property
    def vectors(self) -> RowVectors:
        """The index rows' fp16 vectors in the shards (memory-mapped, opened once)."""
        if self._vectors is None:
            chunks = _all_chunks(self.folder, self.manifest)
            self._vectors = RowVectors([c.vectors for c in chunks])
            if len(self._vectors) != self.index.ntotal:
                raise ConfigError(
                    f"{self.folder}: the shards hold {len(self._vectors)} vectors, faiss.index "
                    f"{self.index.ntotal}: merge again"
                )
        return self._vectors

    def run(self, query_ids: Sequence[str], queries: np.ndarray, k: int) -> Run:
        """:meth:`search` as a run ``{qid: {passage id: score}}``."""
        scores, rows = self.search(queries, k)
        return {
            qid: {
                str(self.table.ids[r]): float(s) for r, s in zip(row, score, strict=True) if r >= 0
            }
            for qid, row, score in zip(query_ids, rows, scores, strict=True)
        }

    def read_passages(self, ids: Sequence[str]) -> list[Passage]:
        """The passages with ``ids``, read from the corpus by offset (one seek each)."""
        return self.table.read(ids)
