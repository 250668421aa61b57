"""Exact re-ranking of ANN candidates with the fp16 vectors the shards keep on disk.

A compressed index (``IVF…,PQ…``) holds a few dozen bytes per passage in memory and
ranks by approximate scores. Its top ``K'`` candidates per query (``K' > k``) are
re-scored exactly, ``s(q, p) = ⟨q, p⟩`` with ``q`` float32 ``[d]`` and ``p`` the passage's
fp16 vector read back from the memory-mapped shard files, and the best ``k`` kept: the
memory of the compressed index, nearly the ranking of exact search (recall@100 against
``Flat`` is measured by ``optical bench index``). The vectors are never loaded whole:
each query reads its ``K'`` rows (``K' × d × 2`` bytes) through the page cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["RowVectors", "rerank"]


class RowVectors:
    """The fp16 vectors of index rows, stored as consecutive memory-mapped ``.npy`` files
    (row ``r`` of the index is row ``r - start_f`` of the file ``f`` holding it)."""

    def __init__(self, files: Sequence[Path | str]) -> None:
        self.arrays = [np.load(path, mmap_mode="r") for path in files]
        self.starts = np.cumsum([0] + [len(a) for a in self.arrays])
        self.dim = int(self.arrays[0].shape[1]) if self.arrays else 0

    def __len__(self) -> int:
        return int(self.starts[-1])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """float32 ``[n, d]``: the vectors of index ``rows`` (int ``[n]``, each in range),
        read in file and row order (sequential where the rows allow)."""
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), self.dim), np.float32)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        bounds = np.searchsorted(ordered, self.starts)
        for number, array in enumerate(self.arrays):
            lo, hi = bounds[number], bounds[number + 1]
            if hi > lo:
                out[order[lo:hi]] = array[ordered[lo:hi] - self.starts[number]]
        return out


def rerank(
    queries: np.ndarray,
    candidates: np.ndarray,
    vectors: RowVectors,
    k: int,
    batch: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` of each query's ``candidates`` by exact inner product.

    Args:
        queries: float32 ``[Q, d]``.
        candidates: int64 ``[Q, K']`` index rows (``-1`` = no candidate, as FAISS pads).
        vectors: the rows' stored vectors.
        k: results per query (``≤ K'``).
        batch: queries re-scored together (bounds memory at ``batch × K' × d`` floats).

    Returns:
        ``(scores float32 [Q, k], rows int64 [Q, k])``, best first; a query with fewer
        than ``k`` candidates is padded with score ``-inf`` and row ``-1``.
    """
    count, depth = candidates.shape
    k = min(k, depth)
    scores = np.full((count, k), -np.inf, np.float32)
    rows = np.full((count, k), -1, np.int64)
    for start in range(0, count, batch):
        block = candidates[start : start + batch]
        valid = block >= 0
        gathered = vectors.take(np.where(valid, block, 0).ravel()).reshape(*block.shape, -1)
        exact = np.einsum("qkd,qd->qk", gathered, queries[start : start + batch])
        exact[~valid] = -np.inf
        top = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        scores[start : start + batch] = np.take_along_axis(exact, top, 1)
        chosen = np.take_along_axis(block, top, 1)
        rows[start : start + batch] = np.where(
            np.isfinite(scores[start : start + batch]), chosen, -1
        )
    return scores, rows
