"""The ``xor-tydi-dev`` benchmark: the official XOR-Retrieve dev questions against a
user-supplied DPR corpus (a tiny TSV written in the test), skipped with its reason
without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from optical.errors import DataFormatError
from optical.experiment.benchmarks import BENCHMARKS, XorDevConfig, xor_dev_benchmark


def _corpus(path: Path) -> Path:
    rows = [
        ("1", "Helsinki is the capital of Finland.", "Helsinki"),
        ("2", "The Nile is a river in Africa.", "Nile"),
        ("3", "Tokyo is the capital of Japan.", "Tokyo"),
    ]
    lines = ["id\ttext\ttitle", *("\t".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_without_a_corpus_it_is_skipped_with_the_reason(
    tmp_path: Path, real_data_dir: Path
) -> None:
    from optical.experiment.report import collection_line

    bench = xor_dev_benchmark(XorDevConfig(), real_data_dir)
    assert bench.skipped.startswith("no corpus: set [xor-tydi-dev] corpus = PATH")
    assert not bench.queries and not bench.passages
    assert collection_line(BENCHMARKS["xor-tydi-dev"], bench) == f"Skipped: {bench.skipped}."
    missing = xor_dev_benchmark(XorDevConfig(corpus=str(tmp_path / "nope.tsv")), real_data_dir)
    assert missing.skipped == f"the corpus {tmp_path / 'nope.tsv'} does not exist"


def test_official_questions_against_the_named_corpus(tmp_path: Path, real_data_dir: Path) -> None:
    corpus = _corpus(tmp_path / "psgs_tiny.tsv")
    bench = xor_dev_benchmark(XorDevConfig(corpus=str(corpus)), real_data_dir)
    assert not bench.skipped
    counts = {lang: len(q) for lang, q in bench.queries.items()}
    assert counts == {"ar": 350, "bn": 312, "fi": 360, "ja": 296, "ko": 299, "ru": 255, "te": 238}
    assert [p.id for p in bench.passages] == ["1", "2", "3"]
    assert all(q.english is None for qs in bench.queries.values() for q in qs)
    assert len(bench.answers) == 2110
    assert bench.collection.startswith("psgs_tiny.tsv (")
    assert (
        "3 passages in memory" in bench.collection
        and "SHA-256 of the first MiB" in bench.collection
    )
    prefix = xor_dev_benchmark(
        XorDevConfig(corpus=str(corpus), max_passages=2, max_questions_per_language=5),
        real_data_dir,
    )
    assert [p.id for p in prefix.passages] == ["1", "2"]
    assert prefix.collection.startswith("the first 2 passages of psgs_tiny.tsv")
    assert {len(q) for q in prefix.queries.values()} == {5}


def test_a_malformed_corpus_line_is_named(tmp_path: Path, real_data_dir: Path) -> None:
    corpus = _corpus(tmp_path / "c.tsv")
    corpus.write_text(corpus.read_text(encoding="utf-8") + "4 no tabs here\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"^{corpus}:5: "):
        xor_dev_benchmark(XorDevConfig(corpus=str(corpus)), real_data_dir)


def test_the_experiment_loads_it_skipped_and_runs_no_cell(
    tmp_path: Path, real_data_dir: Path
) -> None:
    from optical.experiment.config import load_config
    from optical.experiment.run import _load_benchmarks
    from optical.timing import Timer

    path = tmp_path / "e.toml"
    path.write_text(
        '[experiment]\nbenchmarks = ["xor-tydi-dev"]\nsystems = ["zero-shot"]\n'
        'significance_baseline = "zero-shot"\n',
        encoding="utf-8",
    )
    benches = _load_benchmarks(load_config(path), real_data_dir, Timer())
    assert benches["xor-tydi-dev"].skipped and not benches["xor-tydi-dev"].languages


def test_systems_reading_human_english_are_not_applicable() -> None:
    from optical.experiment.systems import SystemNotApplicable, english_of
    from optical.types import Query

    with pytest.raises(SystemNotApplicable, match="has no human English translation"):
        english_of(Query("q1", "Mikä on Suomen pääkaupunki?", "fi"))


def test_a_corpus_indexed_on_disk_searches_like_memory(
    tmp_path: Path, real_data_dir: Path, tiny_model_dir: Path
) -> None:
    """``index_factory``: the corpus stays on disk (an offset table, a sharded index per
    encoder in the cache); dense search gives the in-memory ranking, answer recall reads
    the passages back by offset, and BM25 systems are not applicable."""
    import numpy as np

    from optical.experiment.benchmarks import passage_reader
    from optical.experiment.config import ExperimentConfig
    from optical.experiment.names import SystemSpec
    from optical.experiment.systems import SystemNotApplicable, build_system, run_system
    from optical.experiment.workbench import DiskIndex, Workbench

    words = ["river", "capital", "city", "music", "winter", "ocean", "history", "king"]
    corpus = tmp_path / "c.tsv"
    corpus.write_text(
        "".join(
            f"{i}\t{' '.join(words[(i * 5 + j) % 8] for j in range(3 + i % 4))}\tT{i}\n"
            for i in range(40)
        ),
        encoding="utf-8",
    )
    settings = XorDevConfig(corpus=str(corpus), languages=("fi",), max_questions_per_language=3)
    memory = xor_dev_benchmark(settings, real_data_dir)
    disk = xor_dev_benchmark(
        XorDevConfig(**{**settings.__dict__, "index_factory": "Flat"}), real_data_dir
    )
    assert disk.index is not None and not disk.passages and len(memory.passages) == 40
    assert "40 passages, indexed on disk (Flat" in disk.collection
    wb = Workbench(tmp_path / "cache", int8=None, device="cpu")
    name = str(tiny_model_dir)
    found = wb.dense_index(name, disk)
    assert isinstance(found, DiskIndex) and wb.dense_index(name, disk) is found
    queries = wb.embed(name, ["capital city river", "winter music"], "query").pooled
    on_disk = found.search(["a", "b"], queries, 10)
    in_memory = wb.dense_index(name, memory).search(["a", "b"], queries, 10)
    for qid in ("a", "b"):
        assert list(on_disk[qid]) == list(in_memory[qid])
        np.testing.assert_allclose(
            list(on_disk[qid].values()), list(in_memory[qid].values()), atol=2e-3
        )
    assert passage_reader(disk)(["7", "0"]) == passage_reader(memory)(["7", "0"])
    cfg = ExperimentConfig(systems=("zero-shot", "bm25-human-translation"))
    bm25 = build_system(SystemSpec.parse("zero-shot-maxsim"))
    with pytest.raises(SystemNotApplicable, match="indexed on disk"):
        run_system(bm25, wb, cfg, disk, disk.queries["fi"])


def test_shards_encoded_beforehand_are_merged_not_encoded_again(
    tmp_path: Path, real_data_dir: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The multi-GPU route: ``torchrun … optical index --out FOLDER`` into the folder the
    experiment logs; the experiment then only merges."""
    from optical.experiment.workbench import Workbench
    from optical.index import build_shard

    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"{i}\tcapital river {i % 7}\tT\n" for i in range(30)), "utf-8")
    bench = xor_dev_benchmark(
        XorDevConfig(corpus=str(corpus), languages=("fi",), index_factory="Flat"), real_data_dir
    )
    assert bench.index is not None
    wb = Workbench(tmp_path / "cache", int8=None, device="cpu")
    name = str(tiny_model_dir)
    folder = wb.disk_index_folder(name, bench.index)
    encoder = wb.encoder(name)
    for shard in range(2):
        build_shard(corpus, folder, encoder, (shard, 2), encoder_name=name, chunk_passages=7)
    calls: list[int] = []
    monkeypatch.setattr(type(encoder), "encode", lambda self, texts, *a, **k: calls.append(1))
    index = wb.dense_index(name, bench)
    assert calls == [] and index.index.index.ntotal == 30
