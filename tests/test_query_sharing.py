"""Systems that read the same text with the same encoder share its query encodings.

zero-shot and zero-shot-maxsim (the student, the original question), oracle and
tt-oracle-dense (the teacher, the human English question): the second system of each
pair is served by the embedding cache, not by another encoder forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from optical.experiment.config import ExperimentConfig, ModelsConfig, RetrievalConfig
from optical.experiment.systems import resolve_systems, run_system
from optical.experiment.workbench import Workbench
from optical.models.encoder import Encoder
from optical.types import Passage, Query, RetrievalBenchmark, Translation

ENGLISH = ["the cat sat", "a dog runs", "the blue river", "paris is a city"]
SOURCE = ["le kato", "un hundo", "la rivero", "parizo"]


class HumanEnglish:
    """The oracle backend: the human English of each question."""

    def translate(
        self, texts: Sequence[str], source: str, target: str, progress: object = None
    ) -> list[Translation]:
        english = dict(zip(SOURCE, ENGLISH, strict=True))
        return [Translation(t, english[t], source, target, "oracle") for t in texts]


def _bench() -> RetrievalBenchmark:
    passages = tuple(Passage(f"p{i}", f"passage about {t}") for i, t in enumerate(ENGLISH))
    queries = {
        "xx": tuple(
            Query(f"q{i}", s, "xx", english=e)
            for i, (s, e) in enumerate(zip(SOURCE, ENGLISH, strict=True))
        )
    }
    qrels = {f"q{i}": {f"p{i}": 1} for i in range(len(ENGLISH))}
    return RetrievalBenchmark("tiny", passages, queries, qrels)


def test_same_encoder_and_text_encode_each_query_once(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    forward = Encoder.forward

    def counted(self: Encoder, batch: dict, layer: int = -1) -> object:
        calls.append(int(batch["input_ids"].shape[0]))
        return forward(self, batch, layer)

    monkeypatch.setattr(Encoder, "forward", counted)
    name = str(tiny_model_dir)
    cfg = ExperimentConfig(
        name="sharing",
        systems=("oracle", "zero-shot", "zero-shot-maxsim", "tt-oracle-dense"),
        models=ModelsConfig(student=name, teacher=name, oracle_candidates=(name,), bf16=False),
        retrieval=RetrievalConfig(depth=4, maxsim_depth=4),
    )
    wb = Workbench(tmp_path, bf16=False, token_encoders={name})
    wb.translators["oracle"] = HumanEnglish()  # type: ignore[assignment]
    systems = resolve_systems(cfg)
    bench = _bench()
    queries = bench.queries["xx"]
    encoded: dict[str, int] = {}
    for system in ("oracle", "tt-oracle-dense", "zero-shot", "zero-shot-maxsim"):
        before = sum(calls)
        run_system(systems[system], wb, cfg, bench, queries)
        encoded[system] = sum(calls) - before
    passages = len(bench.passages)
    assert encoded["oracle"] == passages + len(queries)  # the index, then the queries
    assert encoded["tt-oracle-dense"] == 0  # the same English text: read back
    assert encoded["zero-shot"] == len(queries)  # the original questions
    assert encoded["zero-shot-maxsim"] == 0  # the same questions, tokens included
