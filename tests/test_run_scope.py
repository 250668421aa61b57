"""A study in parts: ``optical experiment --only-systems/--only-seeds`` (RunScope)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from optical.errors import ConfigError
from optical.experiment.config import ExperimentConfig, ModelsConfig, XquadConfig
from optical.experiment.names import SystemSpec
from optical.experiment.scope import RunScope

STUDY = ExperimentConfig(
    name="study",
    seeds=(0, 1, 2),
    curve_seeds=(0,),
    systems=(
        "oracle",
        "zero-shot",
        "optical-ot",
        "distill-mse",
        "tt-nmt-dense",
        "optical-ot-data10",
    ),
)
OT = SystemSpec.parse("optical-ot")
OT_DATA10 = SystemSpec.parse("optical-ot-data10")


def test_whole_run_is_not_partial() -> None:
    scope = RunScope()
    assert not scope.partial and scope.describe(STUDY) is None
    assert scope.systems_of(STUDY) == list(STUDY.systems)
    assert scope.seeds_of(STUDY, OT) == (0, 1, 2)
    assert scope.seeds_of(STUDY, OT_DATA10) == (0,)


def test_systems_keep_config_order_and_the_systems_others_are_scored_against() -> None:
    scope = RunScope(systems=("tt-nmt-dense", "optical-ot"))
    # zero-shot (the significance baseline) and the oracle (XOR agreement) always run
    chosen = scope.systems_of(STUDY)
    assert all(isinstance(s, SystemSpec) for s in chosen)
    assert [s.name for s in chosen] == ["oracle", "zero-shot", "optical-ot", "tt-nmt-dense"]


def test_seeds_are_intersected_with_each_systems_seeds() -> None:
    scope = RunScope(seeds=(1, 2))
    assert scope.seeds_of(STUDY, OT) == (1, 2)
    assert scope.seeds_of(STUDY, OT_DATA10) == ()  # curves run with seed 0 only


def test_the_report_header_of_a_part_names_its_seeds() -> None:
    """A part without the curve seed (``--only-seeds 1``) shows seed 1 and no curve seed
    (the config it builds is valid: curve seeds must be among the seeds)."""
    shown = RunScope(seeds=(1,)).shown_config(STUDY)
    assert (shown.seeds, shown.curve_seeds) == ((1,), ())
    shown = RunScope(seeds=(0, 2)).shown_config(STUDY)
    assert (shown.seeds, shown.curve_seeds) == ((0, 2), (0,))
    assert RunScope().shown_config(STUDY) is STUDY


def test_describe_names_what_is_left() -> None:
    note = RunScope(systems=("optical-ot",), seeds=(0,)).describe(STUDY)
    assert note is not None
    assert "3 of 6 configured systems" in note and "seeds [0] of [0, 1, 2]" in note
    assert "`distill-mse`, `tt-nmt-dense`, `optical-ot-data10`" in note


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (RunScope(systems=("optical-mse",)), r"--only-systems: optical-mse not among"),
        (RunScope(seeds=(0, 5)), r"--only-seeds: 5 not among the configured seeds: 0, 1, 2"),
    ],
)
def test_unknown_systems_or_seeds_are_errors(scope: RunScope, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        scope.check(STUDY)


def test_cli_parses_the_lists() -> None:
    from optical.cli import build_parser

    args = build_parser().parse_args(
        ["experiment", "c.toml", "--out", "o", "--only-systems", "a, b", "--only-seeds", "0,2"]
    )
    assert args.only_systems == ["a", "b"] and args.only_seeds == [0, 2]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["experiment", "c.toml", "--out", "o", "--only-seeds", "x"])


@pytest.mark.slow
def test_partial_run_then_whole_run_reuses_the_cells(
    tmp_path: Path, real_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Real e5-small, 50 XQuAD questions in de: the part's cells are read back by the whole."""
    import torch

    from optical.experiment.run import run_experiment

    torch.set_num_threads(1)
    cfg = ExperimentConfig(
        name="parts",
        benchmarks=("xquad",),
        systems=("oracle", "zero-shot", "bm25-human-translation"),
        models=ModelsConfig(oracle_candidates=("multilingual-e5-small",)),
        xquad=XquadConfig(languages=("de",), max_questions_per_language=50),
    )
    out = tmp_path / "out"
    part = RunScope(systems=("zero-shot",))
    run_experiment(cfg, out, data=real_data_dir, scope=part, command="optical experiment part")
    rows = json.loads((out / "results.json").read_text())
    assert {r["system"] for r in rows} == {"oracle", "zero-shot"}
    assert "**Partial run** of `parts`" in (out / "report.md").read_text()
    assert json.loads((out / "config.resolved.json").read_text())["scope"]["systems"] == [
        "oracle",
        "zero-shot",
    ]
    caplog.set_level(logging.INFO, logger="optical.experiment.run")
    caplog.clear()

    run_experiment(cfg, out, data=real_data_dir)
    printed = caplog.text
    computed, reused = map(
        int, re.search(r"cells: (\d+) computed, (\d+) read back", printed).groups()
    )
    assert (computed, reused) == (2, 4)  # bm25 de + en computed; oracle, zero-shot read back
    rows = json.loads((out / "results.json").read_text())
    assert {r["system"] for r in rows} == {"oracle", "zero-shot", "bm25-human-translation"}
    assert "Partial run" not in (out / "report.md").read_text()
    assert "scope" not in json.loads((out / "config.resolved.json").read_text())
    # both invocations are recorded and the report lists them
    from optical.experiment.provenance import load_invocations

    first, second = load_invocations(out)
    assert (first.command, first.scope) == ("optical experiment part", "systems oracle,zero-shot")
    assert (first.cells_computed, first.cells_read_back) == (4, 0)
    assert (second.command, second.scope) == ("run_experiment('parts')", None)
    assert (second.cells_computed, second.cells_read_back) == (2, 4)
    assert first.wall_s > 0 and second.hardware.cores >= 1
    assert first.started <= second.started and first.started.startswith("20")  # UTC, not a clock
    report = (out / "report.md").read_text()
    assert "## How this was produced" in report and "`optical experiment part`" in report


def test_cli_passes_the_command_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import optical.experiment.run
    from optical.cli import main

    seen = {}

    def fake_run(cfg, out, **kwargs):
        seen.update(kwargs)
        raise ConfigError("stop here")

    monkeypatch.setattr(optical.experiment.run, "run_experiment", fake_run)
    config = Path(__file__).resolve().parents[1] / "configs" / "study.toml"
    argv = ["experiment", str(config), "--out", str(tmp_path), "--only-seeds", "1,2"]
    assert main(argv) == 2
    assert seen["command"] == f"optical experiment {config} --out {tmp_path} --only-seeds 1,2"
    assert seen["scope"] == RunScope(seeds=(1, 2))
