"""Exact re-ranking of ANN candidates (optical.index.rerank), its use by
``ShardedIndex`` (``optical search --index … --rerank``), and ``optical bench index`` at a
small size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optical.index.rerank import RowVectors, rerank


def _vectors(tmp_path: Path, sizes: tuple[int, ...], dim: int = 8) -> tuple[RowVectors, np.ndarray]:
    rng = np.random.default_rng(0)
    parts = []
    for number, n in enumerate(sizes):
        block = rng.standard_normal((n, dim)).astype(np.float16)
        np.save(tmp_path / f"v{number}.npy", block)
        parts.append(block)
    files = [tmp_path / f"v{i}.npy" for i in range(len(sizes))]
    return RowVectors(files), np.concatenate(parts).astype(np.float32)


def test_rows_are_read_across_files_in_any_order(tmp_path: Path) -> None:
    vectors, whole = _vectors(tmp_path, (5, 1, 7))
    assert len(vectors) == 13 and vectors.dim == 8
    rows = np.array([12, 0, 5, 5, 6, 4])
    np.testing.assert_array_equal(vectors.take(rows), whole[rows])


def test_rerank_is_exact_top_k_of_the_candidates(tmp_path: Path) -> None:
    vectors, whole = _vectors(tmp_path, (40, 25))
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((7, 8)).astype(np.float32)
    candidates = np.stack([rng.choice(65, size=20, replace=False) for _ in range(7)])
    candidates[3, 15:] = -1  # FAISS pads a short list with -1
    scores, rows = rerank(queries, candidates, vectors, 10, batch=3)
    for q in range(7):
        pool = candidates[q][candidates[q] >= 0]
        exact = whole[pool] @ queries[q]
        expected = pool[np.argsort(-exact, kind="stable")[:10]]
        np.testing.assert_array_equal(rows[q], expected)
        np.testing.assert_allclose(scores[q], np.sort(exact)[::-1][:10], rtol=1e-5)
    few = candidates.copy()
    few[0, 4:] = -1
    scores, rows = rerank(queries, few, vectors, 10)
    assert (rows[0, 4:] == -1).all() and np.isneginf(scores[0, 4:]).all()


def test_sharded_ivf_pq_with_rerank_matches_flat(tmp_path: Path, tiny_encoder) -> None:
    """An IVF-PQ index whose every list is probed, re-ranked over all its rows, gives
    the exact ranking of Flat (the re-ranking reads the shards' own fp16 vectors)."""
    from optical.errors import ConfigError
    from optical.index import ShardedIndex, build_shard, merge_index

    corpus = tmp_path / "c.tsv"
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    rows = [
        (f"p{i}", " ".join(words[(i * 3 + j) % 10] for j in range(2 + i % 6))) for i in range(300)
    ]
    corpus.write_text("".join(f"{pid}\t{text}\tT\n" for pid, text in rows), encoding="utf-8")
    exact, approx = tmp_path / "flat", tmp_path / "ivfpq"
    for folder, factory in ((exact, "Flat"), (approx, "IVF4,PQ8x4fs")):
        for shard in range(2):
            build_shard(corpus, folder, tiny_encoder, (shard, 2), chunk_passages=64)
        merge_index(folder, factory, train_sample=300)
    queries = tiny_encoder.encode([t for _, t in rows[:12]], kind="query").pooled
    flat = ShardedIndex(exact).search(queries, 10)
    index = ShardedIndex(approx)
    index.set_parameters(nprobe=4, rerank=300)
    scores, found = index.search(queries, 10)
    np.testing.assert_allclose(scores, flat[0], atol=1e-4)
    # ties (passages with the same text) may come in another order: compare score sets
    assert (found >= 0).all()
    with pytest.raises(ConfigError, match="--rerank must be at least 0"):
        index.set_parameters(rerank=-1)


def test_bench_index_at_a_small_size() -> None:
    from optical.perf import BENCHMARKS
    from optical.perf.index import measure

    assert "index" in BENCHMARKS
    record = measure(4000, threads=1)
    ann, flat = record["ivf_pq"], record["flat"]
    assert record["n"] == 4000 and flat["bytes_per_passage"] == pytest.approx(384 * 4, rel=0.01)
    assert 0.0 <= ann["recall_at_100_without_rerank"] <= ann["recall_at_100"] <= 1.0
    assert ann["recall_at_100"] > 0.9  # re-ranking 200 candidates restores most of exact top 100
    assert ann["bytes_per_passage"] < flat["bytes_per_passage"]
    assert record["memory_ratio"] == pytest.approx(
        flat["bytes_per_passage"] / ann["bytes_per_passage"], rel=0.02
    )
    assert record["peak_rss_mb"] > 0 and ann["search_s"] > 0
