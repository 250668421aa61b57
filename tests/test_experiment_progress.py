"""A tiny whole experiment: the planned cells are the cells run; a warm rerun loads nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from optical.experiment import run as run_module
from optical.experiment.benchmarks import BENCHMARKS
from optical.experiment.config import ExperimentConfig, ModelsConfig, RetrievalConfig
from optical.experiment.progress import ExperimentProgress
from optical.experiment.provenance import load_invocations
from optical.types import Passage, Query, RetrievalBenchmark

ENGLISH = ["the cat sat", "a dog runs", "the blue river", "paris is a city"]
SOURCE = {"xx": ["le kato", "un hundo", "la rivero", "parizo"], "yy": ["katt", "hund", "elv", "by"]}


def _bench(settings: Any, root: Path) -> RetrievalBenchmark:
    passages = tuple(Passage(f"p{i}", f"passage about {t}") for i, t in enumerate(ENGLISH))
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


class Recorded(ExperimentProgress):
    seen: ClassVar[list[Recorded]] = []

    def __init__(self, total_cells: int, enabled: bool | None = None) -> None:
        super().__init__(total_cells, enabled=False)
        Recorded.seen.append(self)


@pytest.fixture
def tiny_experiment(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ExperimentConfig:
    monkeypatch.setitem(BENCHMARKS, "xquad", replace(BENCHMARKS["xquad"], build=_bench))  # type: ignore[arg-type]
    monkeypatch.setattr(run_module, "ensure_student", lambda *args, **kwargs: tiny_model_dir)
    monkeypatch.setattr(run_module, "ExperimentProgress", Recorded)
    Recorded.seen.clear()
    name = str(tiny_model_dir)
    return ExperimentConfig(
        name="tiny",
        benchmarks=("xquad",),
        systems=("oracle", "zero-shot", "zero-shot-maxsim", "optical-ot", "bm25-human-translation"),
        significance_test="t-test",
        models=ModelsConfig(student=name, teacher=name, oracle_candidates=(name,), bf16=False),
        retrieval=RetrievalConfig(depth=4, maxsim_depth=4),
    )


def test_planned_cells_are_the_cells_run_and_a_warm_rerun_loads_nothing(
    tiny_experiment: ExperimentConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    run_module.run_experiment(tiny_experiment, out, data=tmp_path)
    (first,) = Recorded.seen
    # 5 systems × 3 languages (xx, yy, en)
    assert first.total == first.done == 15
    assert load_invocations(out)[0].cells_computed == 15
    assert (out / "alignments" / "xx.png").is_file()

    import optical.models.student as student_module

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a warm rerun loaded an encoder")

    monkeypatch.setattr(student_module, "load_any_encoder", no_loading)
    run_module.run_experiment(tiny_experiment, out, data=tmp_path)
    second = load_invocations(out)[1]
    assert (second.cells_computed, second.cells_read_back) == (0, 15)
    assert Recorded.seen[1].done == 15


def test_the_bar_is_off_without_a_terminal() -> None:
    with ExperimentProgress(3) as progress:  # pytest captures stderr: no terminal
        progress.stage("x")
        progress.cells_start()
        progress.cell_done()
    assert not progress.enabled and progress.done == 1
