"""A tiny whole experiment whose output folder the report.html tests read.

Tiny random models (``tiny_model_dir``), the four-passage ``xquad`` stand-in of
``tests/test_experiment_progress.py`` and a fake ``nmt`` translator (its translations go
through the real translation cache): oracle, zero-shot, optical-ot (its alignment
heatmaps are drawn), BM25 on the human translation and ``tt-nmt-dense``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from optical.experiment.config import ExperimentConfig, ModelsConfig, RetrievalConfig
from optical.types import Passage, Query, RetrievalBenchmark, Translation

ENGLISH = ["the cat sat", "a dog runs", "the blue river", "paris is a city"]
SOURCE = {
    "de": ["die katze", "ein hund", "der blaue fluss", "paris"],
    "sv": ["katt", "hund", "elv", "by"],
}
MACHINE = {
    s: f"machine {e}" for texts in SOURCE.values() for s, e in zip(texts, ENGLISH, strict=True)
}
"""The fake NMT's English for each source question."""


def tiny_bench(settings: Any, root: Path) -> RetrievalBenchmark:
    passages = tuple(
        Passage(f"p{i}", f"passage about {t} in the house by the sea", title=f"T{i}")
        for i, t in enumerate(ENGLISH)
    )
    queries = {
        lang: tuple(
            Query(f"{lang}{i}", s, lang, english=e)
            for i, (s, e) in enumerate(zip(texts, ENGLISH, strict=True))
        )
        for lang, texts in SOURCE.items()
    }
    queries["en"] = tuple(Query(f"en{i}", e, "en") for i, e in enumerate(ENGLISH))
    qrels = {f"{lang}{i}": {f"p{i}": 1} for lang in [*SOURCE, "en"] for i in range(len(ENGLISH))}
    return RetrievalBenchmark("xquad", passages, queries, qrels)


class FakeNmt:
    """A translator that knows :data:`MACHINE`."""

    name = "nmt"

    def fingerprint(self) -> str:
        return "fake-nmt/1"

    def translate(
        self, texts: Sequence[str], source_lang: str, target_lang: str, progress: object = False
    ) -> list[Translation]:
        return [Translation(t, MACHINE[t], source_lang, target_lang, self.name) for t in texts]


def run_tiny_experiment(out: Path, data: Path, model_dir: Path, cache: Path) -> ExperimentConfig:
    """Run the tiny experiment into ``out`` (``cache``: its cache root)."""
    from optical.experiment import run as run_module
    from optical.experiment.benchmarks import BENCHMARKS
    from optical.translate.cache import CachedTranslator

    def translators(wb: Any, cfg: Any, cache_root: Path, *args: Any) -> None:
        wb.translators["nmt"] = CachedTranslator(FakeNmt(), root=cache_root / "translations")

    name = str(model_dir)
    cfg = ExperimentConfig(
        name="tiny",
        benchmarks=("xquad",),
        systems=("oracle", "zero-shot", "optical-ot", "bm25-human-translation", "tt-nmt-dense"),
        significance_test="t-test",
        models=ModelsConfig(student=name, teacher=name, oracle_candidates=(name,), bf16=False),
        retrieval=RetrievalConfig(depth=4, maxsim_depth=4),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(BENCHMARKS, "xquad", replace(BENCHMARKS["xquad"], build=tiny_bench))
        patch.setattr(run_module, "ensure_student", lambda *args, **kwargs: model_dir)
        patch.setattr(run_module, "setup_translators", translators)
        run_module.run_experiment(cfg, out, data=data, cache=cache)
    return cfg
