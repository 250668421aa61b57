"""The experiment's benchmark builders on the real data (fixed, documented subsets)."""

from __future__ import annotations

from pathlib import Path

from optical.data.heldout import is_heldout
from optical.experiment.benchmarks import (
    NTREX,
    NtrexConfig,
    XorHeldoutConfig,
    ntrex_benchmark,
    xor_heldout_benchmark,
)
from optical.experiment.config import ExperimentConfig


def test_ntrex_benchmark_subset(real_data_dir: Path) -> None:
    settings = NtrexConfig(languages=("bn", "sw", "yo"), max_sentences=50)
    bench = ntrex_benchmark(settings, real_data_dir)
    assert bench.languages == ["bn", "sw", "yo"]
    assert len(bench.passages) == 50
    ids = {p.id for p in bench.passages}
    for queries in bench.queries.values():
        assert len(queries) == 50
        for query in queries:
            (target,) = bench.qrels[query.id]
            assert target in ids and target == f"en:{query.id}"
            assert (
                dict(
                    zip(
                        [p.id for p in bench.passages],
                        [p.text for p in bench.passages],
                        strict=True,
                    )
                )[target]
                == query.english
            )


def test_xor_heldout_subset_is_fixed_and_held_out(real_data_dir: Path) -> None:
    sub = XorHeldoutConfig(
        languages=("bn", "te"), max_questions_per_language=5, wikipedia_vital_passages=10
    )
    bench = xor_heldout_benchmark(sub, real_data_dir)
    again = xor_heldout_benchmark(sub, real_data_dir)
    assert bench.queries == again.queries
    assert len(bench.passages) == 240 + 10
    for lang in ("bn", "te"):
        assert len(bench.queries[lang]) == 5
        for query in bench.queries[lang]:
            assert is_heldout(query.id) and query.english and bench.answers[query.id]


def test_ntrex_collection_is_encoded_in_the_query_role(real_data_dir: Path) -> None:
    cfg = ExperimentConfig(ntrex=NtrexConfig(languages=("sw",), max_sentences=5))
    # the spec reads its own section of the experiment config
    assert NTREX.load(cfg, real_data_dir).passage_role == "query"
