"""The sharded on-disk index (optical.index): shards by byte range, chunked fp16
encoding that resumes, the offset table, the FAISS merge and search. Tiny random
encoder, a TSV written in the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from optical.index import ShardedIndex, build_shard, iter_chunks, merge_index, shard_range
from optical.index.shards import shard_folder

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]


def _corpus(path: Path, n: int = 23) -> list[tuple[str, str, str]]:
    rows = [
        (f"p{i}", " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + i % 5)), f"T{i}")
        for i in range(n)
    ]
    lines = ["id\ttext\ttitle", *("\t".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


def _ids_of_shard(folder: Path, index: int, count: int) -> list[str]:
    return [
        str(x)
        for f in sorted(shard_folder(folder, index, count).glob("*ids*.npy"))
        for x in np.load(f, allow_pickle=False)
    ]


def _ids_of_shards(folder: Path, count: int) -> list[str]:
    return [pid for i in range(count) for pid in _ids_of_shard(folder, i, count)]


def test_shards_cover_every_line_once_in_bounded_chunks(tmp_path: Path, tiny_encoder) -> None:
    corpus = tmp_path / "c.tsv"
    rows = _corpus(corpus)
    seen: list[str] = []
    for i in range(3):
        start, end = shard_range(corpus, i, 3)
        for chunk in iter_chunks(corpus, start, end, 4):
            assert len(chunk.passages) <= 4
            seen.extend(p.id for p in chunk.passages)
    assert sorted(seen) == sorted(r[0] for r in rows) and len(seen) == len(rows)
    folder = tmp_path / "index"
    for i in range(3):
        build_shard(corpus, folder, tiny_encoder, (i, 3), chunk_passages=4, batch_size=3)
    assert sorted(_ids_of_shards(folder, 3)) == sorted(r[0] for r in rows)


def test_flat_merge_equals_exact_search_and_reads_texts_back(tmp_path: Path, tiny_encoder) -> None:
    corpus = tmp_path / "c.tsv"
    rows = _corpus(corpus)
    folder = tmp_path / "index"
    for i in range(2):
        build_shard(corpus, folder, tiny_encoder, (i, 2), chunk_passages=5)
    merge_index(folder, "Flat")
    index = ShardedIndex(folder)
    texts = [r[1] for r in rows]
    passages = tiny_encoder.encode(texts, kind="passage").pooled.astype(np.float16)
    queries = tiny_encoder.encode(texts[:4], kind="query").pooled
    exact = np.argsort(-(queries @ passages.astype(np.float32).T), axis=1)[:, :5]
    run = index.run([f"q{i}" for i in range(4)], queries, 5)
    for i in range(4):
        assert list(run[f"q{i}"]) == [rows[j][0] for j in exact[i]]
    back = index.read_passages(["p7", "p0", "p22"])
    assert [(p.id, p.text, p.title) for p in back] == [rows[7], rows[0], rows[22]]


def test_ivf_factory_trains_and_searches(tmp_path: Path, tiny_encoder) -> None:
    corpus = tmp_path / "c.tsv"
    rows = _corpus(corpus, n=40)
    folder = tmp_path / "index"
    build_shard(corpus, folder, tiny_encoder, (0, 1), chunk_passages=16)
    merge_index(folder, "IVF2,Flat", train_sample=40)
    index = ShardedIndex(folder)
    index.set_parameters(nprobe=2)
    query = tiny_encoder.encode([rows[3][1]], kind="query").pooled
    run = index.run(["q"], query, 3)
    assert len(run["q"]) == 3
    assert json.loads((folder / "index.json").read_text())["factory"] == "IVF2,Flat"


def test_a_crashed_shard_resumes_and_a_done_shard_is_not_redone(
    tmp_path: Path, tiny_encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "c.tsv"
    _corpus(corpus)
    folder = tmp_path / "index"
    calls: list[int] = []
    real = type(tiny_encoder).encode

    def counting(self, texts, *args, **kwargs):
        calls.append(len(texts))
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(type(tiny_encoder), "encode", counting)
    build_shard(corpus, folder, tiny_encoder, (0, 1), chunk_passages=5)
    total = sum(calls)
    assert total == 23
    shard = shard_folder(folder, 0, 1)
    (shard / "done.json").unlink()  # a crash before the last chunk's marker and the done file
    markers = sorted(shard.glob("chunk-*.json"))
    markers[-1].unlink()
    calls.clear()
    build_shard(corpus, folder, tiny_encoder, (0, 1), chunk_passages=5)
    assert sum(calls) == 23 - 5 * (len(markers) - 1)  # only the unfinished chunk again
    calls.clear()
    build_shard(corpus, folder, tiny_encoder, (0, 1), chunk_passages=5)
    assert calls == []
    assert sorted(_ids_of_shards(folder, 1)) == sorted(f"p{i}" for i in range(23))


def test_cli_shards_merge_and_search(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    """``optical index --out --shard`` ×2, ``optical index merge``, ``optical search
    --index`` (the query encoder is the one the index records)."""
    from optical.cli import main
    from optical.runs import read_run

    corpus = tmp_path / "c.tsv"
    rows = _corpus(corpus)
    folder = tmp_path / "index"
    for shard in ("0/2", "1/2"):
        args = ["index", "--passages", str(corpus), "--encoder", str(tiny_model_dir)]
        assert main([*args, "--out", str(folder), "--shard", shard, "--fp32"]) == 0
    assert main(["index", "merge", str(folder)]) == 0
    queries = tmp_path / "q.tsv"
    queries.write_text(f"q1\t{rows[2][1]}\nq2\t{rows[9][1]}\n", encoding="utf-8")
    out = tmp_path / "run.trec"
    assert (
        main(["search", "--index", str(folder), "--queries", str(queries), "--out", str(out)]) == 0
    )
    run = read_run(out)
    assert set(run) == {"q1", "q2"} and all(len(r) == min(100, len(rows)) for r in run.values())
    assert "wrote 2 queries" in capsys.readouterr().out


def test_cli_index_errors(tmp_path: Path) -> None:
    from optical.cli import main

    assert main(["index", "merge"]) != 0
    assert main(["index", "--encoder", "x"]) != 0  # no --passages
    assert main(["search", "--queries", "q", "--out", str(tmp_path / "r")]) != 0


def test_a_malformed_line_stops_with_file_and_line(tmp_path: Path, tiny_encoder) -> None:
    from optical.errors import DataFormatError

    corpus = tmp_path / "c.tsv"
    _corpus(corpus, n=6)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[4] = "p3 has no tabs"  # line 5 of the file
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"^{corpus}:5: "):
        build_shard(corpus, tmp_path / "index", tiny_encoder, (0, 1), chunk_passages=2)


def test_streaming_holds_at_most_one_chunk_of_texts(
    tmp_path: Path, tiny_encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The corpus (60 passages) is larger than a chunk (8): counted whenever a line is
    parsed, the live passages are never more than one chunk's (plus the line just read)."""
    import gc

    from optical.index import corpus as corpus_module
    from optical.types import Passage

    corpus = tmp_path / "c.tsv"
    _corpus(corpus, n=60)
    real = corpus_module._parse
    live: list[int] = []

    def counting(*args):
        passage = real(*args)
        live.append(sum(type(o) is Passage for o in gc.get_objects()))
        return passage

    monkeypatch.setattr(corpus_module, "_parse", counting)
    gc.collect()
    before = sum(type(o) is Passage for o in gc.get_objects())  # other tests' passages
    result = build_shard(corpus, tmp_path / "index", tiny_encoder, (0, 1), chunk_passages=8)
    assert result.passages == 60 and result.chunks == 8
    assert len(live) == 61  # the header line too
    assert max(live) - before <= 8 + 1, (max(live), before)


def test_two_process_torchrun_equals_one_process(tmp_path: Path, tiny_model_dir: Path) -> None:
    """``torchrun --nproc_per_node 2 … optical index --out`` (gloo world of 2 CPU ranks,
    each encoding its own byte range): the shards are disjoint, together every passage
    once, and the merged index gives the single-process vectors and search results."""
    import os
    import subprocess
    import sys

    from optical.cli import main
    from optical.models.encoder import Encoder
    from optical.models.registry import resolve_encoder

    n = 2000
    corpus = tmp_path / "c.tsv"
    rows = _corpus(corpus, n=n)
    two, one = tmp_path / "two", tmp_path / "one"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "optical.cli", "index", "--passages", str(corpus), "--encoder", str(tiny_model_dir),
        "--out", str(two), "--fp32", "--chunk-passages", "300", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    shards = [set(_ids_of_shard(two, i, 2)) for i in range(2)]
    assert shards[0] and shards[1] and not shards[0] & shards[1]
    assert shards[0] | shards[1] == {r[0] for r in rows}
    assert sum(len(s) for s in shards) == n
    args = ["index", "--passages", str(corpus), "--encoder", str(tiny_model_dir), "--fp32"]
    assert main([*args, "--out", str(one), "--shard", "0/1", "--chunk-passages", "700"]) == 0
    by_id = {}
    for folder in (one, two):
        assert main(["index", "merge", str(folder)]) == 0
        index = ShardedIndex(folder)
        vectors = index.index.reconstruct_n(0, index.index.ntotal)
        by_id[folder] = dict(zip((str(x) for x in index.table.ids), vectors, strict=True))
    assert by_id[one].keys() == by_id[two].keys()
    for pid, vector in by_id[one].items():  # fp16 storage: equal up to its rounding
        np.testing.assert_allclose(by_id[two][pid], vector, atol=2e-3)
    encoder = Encoder.load(resolve_encoder(str(tiny_model_dir), query_prefix="", passage_prefix=""))
    queries = encoder.encode([r[1] for r in rows[:20]], kind="query").pooled
    runs = [ShardedIndex(f).run([f"q{i}" for i in range(20)], queries, 10) for f in (one, two)]
    assert {q: list(r) for q, r in runs[0].items()} == {q: list(r) for q, r in runs[1].items()}
