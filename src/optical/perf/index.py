"""Benchmark ``index``: a compressed IVF-PQ index with exact re-ranking (candidate)
against exact ``Flat`` search (baseline), at N = 50k, 200k and 1M passages (d = 384).

The embeddings are synthetic but shaped like sentence embeddings: ``N / 200`` cluster
centres ``c ~ N(0, diag(s²))`` with a decaying spectrum ``s_j = j^{-1/2}`` (a few
directions carry most of the variance), passages ``p = c + 0.5 · N(0, diag(s²))``,
L2-normalised; 1,000 queries drawn the same way (new points, not passages). Both indexes
score by inner product.

* **Flat** (baseline): ``IndexFlatIP``, float32 vectors in memory (``4d`` bytes a
  passage); its top 100 are the truth.
* **IVF-PQ + re-rank** (candidate): ``IVF{nlist},PQ{d/4}x4fs`` (``nlist ≈ 4√N``, 4-bit
  fast-scan PQ: ``d/8`` bytes of code a passage, plus its 8-byte id), probed with
  ``nprobe`` lists; its top ``K'`` candidates re-scored exactly from the fp16 vectors
  memory-mapped from disk (:func:`optical.index.rerank.rerank`, the path of ``optical
  search --index … --rerank K'``), best 100 kept.

Per N: build time (training included), search time and queries/s of both, recall@100 of
the candidate against the baseline's top 100 (and without re-ranking), bytes a passage
in memory (the serialised index), the fp16 bytes a passage on disk that re-ranking reads
from, and peak RSS (each N runs in a fresh process, so the peak is that N's). At the
largest N: ``recall``, ``memory_ratio`` (Flat bytes / IVF-PQ bytes), ``ratio`` (exact
search time / IVF-PQ search time), ``baseline_s`` / ``candidate_s`` (those times), and
``search_growth`` (how much IVF-PQ search time grows from the smallest N to the largest,
beside the growth of N).
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = (50_000, 200_000, 1_000_000)
DIM = 384
QUERIES = 1_000
K = 100
RERANK = 200
NPROBE = 16
PASSAGES_PER_CLUSTER = 200
LISTS_PER_SQRT_N = 4
"""IVF lists ≈ 4√N (a power of two): at 2√N the 1M index builds in less than half the
time, but recall@100 at the same nprobe and re-ranking depth drops to 0.955 (more PQ
candidates compete for the 200 re-ranked slots)."""


def synthetic(n: int, queries: int, dim: int = DIM, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``(passages float32 [n, d], queries float32 [queries, d])``, L2-normalised (see
    the module doc)."""
    rng = np.random.default_rng(seed)
    scales = (np.arange(1, dim + 1, dtype=np.float32) ** -0.5).astype(np.float32)
    centres = rng.standard_normal((max(64, n // PASSAGES_PER_CLUSTER), dim), np.float32) * scales

    def draw(count: int, generator: np.random.Generator) -> np.ndarray:
        out = np.empty((count, dim), np.float32)
        for start in range(0, count, 65_536):  # bounded temporaries
            m = min(65_536, count - start)
            labels = generator.integers(0, len(centres), m)
            block = centres[labels] + 0.5 * generator.standard_normal((m, dim), np.float32) * scales
            out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out

    return draw(n, rng), draw(queries, np.random.default_rng(seed + 1))


def _bytes(index: Any) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of ``|found ∩ truth| / |truth|`` (rows: ``[Q, K]`` index rows)."""
    pairs = zip(found.tolist(), truth.tolist(), strict=True)
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in pairs]))


def measure(n: int, threads: int = 0) -> dict[str, Any]:
    """One size: build and search both indexes (see the module doc)."""
    import faiss

    from ..index.rerank import RowVectors, rerank

    if threads:
        faiss.omp_set_num_threads(threads)
    passages, queries = synthetic(n, QUERIES)
    started = time.perf_counter()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(passages)
    flat_build = time.perf_counter() - started
    started = time.perf_counter()
    _, truth = flat.search(queries, K)
    flat_search = time.perf_counter() - started
    flat_bytes = _bytes(flat)
    del flat
    nlist = 1 << round(math.log2(LISTS_PER_SQRT_N * math.sqrt(n)))
    factory = f"IVF{nlist},PQ{DIM // 4}x4fs"
    started = time.perf_counter()
    ann = faiss.index_factory(DIM, factory, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(1).choice(n, size=min(n, 40 * nlist), replace=False)
    ann.train(passages[np.sort(sample)])
    ann.add(passages)
    ann_build = time.perf_counter() - started
    faiss.extract_index_ivf(ann).nprobe = NPROBE
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        stored = Path(tmp) / "vectors.npy"
        np.save(stored, passages.astype(np.float16))
        del passages
        vectors = RowVectors([stored])
        _, plain = ann.search(queries, K)
        started = time.perf_counter()
        _, candidates = ann.search(queries, RERANK)
        _, reranked = rerank(queries, candidates, vectors, K)
        ann_search = time.perf_counter() - started
        del vectors
    ann_bytes = _bytes(ann)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n": n,
        "flat": {
            "build_s": round(flat_build, 3),
            "search_s": round(flat_search, 4),
            "queries_per_s": round(QUERIES / flat_search, 1),
            "bytes_per_passage": round(flat_bytes / n, 1),
        },
        "ivf_pq": {
            "factory": factory,
            "nprobe": NPROBE,
            "rerank": RERANK,
            "build_s": round(ann_build, 3),
            "search_s": round(ann_search, 4),
            "queries_per_s": round(QUERIES / ann_search, 1),
            "recall_at_100": round(_recall(reranked, truth), 4),
            "recall_at_100_without_rerank": round(_recall(plain, truth), 4),
            "bytes_per_passage": round(ann_bytes / n, 1),
            "disk_bytes_per_passage": DIM * 2,
        },
        "memory_ratio": round(flat_bytes / ann_bytes, 2),
        "ratio": round(flat_search / ann_search, 2),
        "peak_rss_mb": round(peak, 1),
    }


def _in_fresh_process(n: int) -> dict[str, Any]:
    """:func:`measure` in a spawned process (its own peak RSS)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(measure, (n,))


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    started = time.perf_counter()
    records = [_in_fresh_process(n) for n in sizes]
    largest, smallest = records[-1], records[0]
    growth = largest["ivf_pq"]["search_s"] / smallest["ivf_pq"]["search_s"]
    return {
        "name": "index",
        "dim": DIM,
        "queries": QUERIES,
        "k": K,
        "sizes": records,
        "recall": largest["ivf_pq"]["recall_at_100"],
        "memory_ratio": largest["memory_ratio"],
        "ratio": largest["ratio"],
        "baseline_s": largest["flat"]["search_s"],
        "candidate_s": largest["ivf_pq"]["search_s"],
        "search_growth": {
            "n": round(largest["n"] / smallest["n"], 1),
            "ivf_pq_search_s": round(growth, 2),
            "flat_search_s": round(largest["flat"]["search_s"] / smallest["flat"]["search_s"], 2),
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
