"""Workbench: memoised encoders, role-aware passage encoding, token embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optical.experiment.workbench import Workbench
from optical.types import Passage, Query, RetrievalBenchmark


def _bench(role: str) -> RetrievalBenchmark:
    passages = tuple(Passage(f"p{i}", f"sentence number {i} about rivers") for i in range(4))
    queries = {"xx": (Query("q0", "rivers", "xx"),)}
    return RetrievalBenchmark("tiny", passages, queries, {"q0": {"p0": 1}}, passage_role=role)


def test_query_role_collection_shares_query_cache_entries(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    wb = Workbench(tmp_path, bf16=False)
    name = str(tiny_model_dir)
    bench = _bench("query")
    wb.passage_embeddings(name, bench)
    wb.embed(name, [p.text for p in bench.passages], "query")
    assert wb.cache(name).last_stats.hits == len(bench.passages)
    wb.embed(name, [p.text for p in bench.passages], "passage")
    assert wb.cache(name).last_stats.encoded == len(bench.passages)


def test_encoders_are_loaded_once_and_tokens_are_float32_views(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    wb = Workbench(tmp_path, bf16=False)
    name = str(tiny_model_dir)
    assert wb.encoder(name) is wb.encoder(name)
    tokens = wb.passage_tokens(name, _bench("passage"))
    assert set(tokens) == {"p0", "p1", "p2", "p3"}
    assert all(
        t.dtype == np.float32 and t.shape[1] == wb.encoder(name).dim for t in tokens.values()
    )
    run = wb.dense_index(name, _bench("passage")).search(
        ["q"], np.ones((1, wb.encoder(name).dim), np.float32), 2
    )
    assert len(run["q"]) == 2


def test_release_forgets_an_encoder_but_keeps_its_disk_cache(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    wb = Workbench(tmp_path, bf16=False)
    name = str(tiny_model_dir)
    bench = _bench("passage")
    first = wb.dense_index(name, bench)
    wb.release(name)
    assert name not in wb._encoders and (name, bench.name) not in wb._dense
    again = wb.dense_index(name, bench)  # reloaded, embeddings read back from disk
    assert again is not first
    assert wb.cache(name).last_stats.hits == len(bench.passages)
