"""The reproduction matrix: parsing, checking, README rendering, and the smoke condition
run for real at a small budget (slow), twice: the second run resumes every cell."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from optical.errors import ConfigError
from optical.experiment.reproduction import (
    Condition,
    Expectation,
    check,
    load_matrix,
    render_table,
)
from optical.experiment.results import ResultRow, read_rows

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "reproduction" / "matrix.toml"


def _condition() -> Condition:
    return Condition(
        "c",
        "cmd",
        "cfg.toml",
        "out/results.json",
        False,
        (
            Expectation("xquad", "zero-shot", "de", "RR@10", 0.90, 0.01),
            Expectation("xquad", "oracle", "de", "RR@10", 0.95, 0.01),
        ),
    )


def test_shipped_matrix_loads() -> None:
    conditions = load_matrix(MATRIX)
    assert "smoke" in conditions
    smoke = conditions["smoke"]
    assert (ROOT / smoke.config).is_file() and smoke.expect
    assert all(e.tol > 0 for e in smoke.expect)


def test_check_reports_missing_and_out_of_tolerance_rows() -> None:
    rows = [ResultRow("xquad", "zero-shot", "de", "RR@10", 0.905, 10)]
    assert check(_condition(), rows) == ["c: no row for xquad/oracle/de/RR@10"]
    rows.append(ResultRow("xquad", "oracle", "de", "RR@10", 0.90, 10))
    problems = check(_condition(), rows)
    assert len(problems) == 1 and "0.9000, expected 0.9500 ± 0.0100" in problems[0]
    rows[1] = replace(rows[1], value=0.955)
    assert check(_condition(), rows) == []


def test_render_table_and_bad_matrix(tmp_path: Path) -> None:
    table = render_table(_condition())
    assert table.splitlines()[0] == "| system | xquad RR@10 (de) |"
    assert "| oracle | 0.950 |" in table
    bad = tmp_path / "m.toml"
    bad.write_text('[[condition]]\nname = "x"\n')
    with pytest.raises(ConfigError, match="condition 1"):
        load_matrix(bad)


def test_readme_tables_are_rendered_from_the_matrix() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for condition in load_matrix(MATRIX).values():
        if condition.readme:
            assert render_table(condition) in readme, condition.name


@pytest.mark.slow
def test_smoke_condition_reproduces_and_resumes(
    tmp_path: Path, real_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from optical.experiment.config import load_config
    from optical.experiment.run import run_experiment

    smoke = load_matrix(MATRIX)["smoke"]
    cfg = load_config(ROOT / smoke.config)
    out = tmp_path / "smoke"
    caplog.set_level(logging.INFO, logger="optical.experiment.run")
    run_experiment(cfg, out, data=real_data_dir)
    first = json.loads((out / "results.json").read_text())
    assert check(smoke, read_rows(out / "results.json")) == []
    assert ", 0 read back" in caplog.text
    caplog.clear()
    run_experiment(cfg, out, data=real_data_dir)
    assert "cells: 0 computed" in caplog.text
    assert json.loads((out / "results.json").read_text()) == first


def test_cli_repro_check_and_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from optical.cli import main

    smoke = load_matrix(MATRIX)["smoke"]
    rows = [
        {
            "benchmark": e.benchmark,
            "system": e.system,
            "lang": e.lang,
            "measure": e.measure,
            "value": e.value,
            "n": 1,
        }
        for e in smoke.expect
    ]
    good = tmp_path / "results.json"
    good.write_text(json.dumps(rows))
    assert main(["repro", "check", "smoke", "--results", str(good)]) == 0
    assert f"{len(smoke.expect)} of {len(smoke.expect)} expected" in capsys.readouterr().out
    rows[0]["value"] += 0.5
    good.write_text(json.dumps(rows))
    assert main(["repro", "check", "smoke", "--results", str(good)]) == 1
    assert main(["repro", "check", "nope"]) == 2
    assert main(["repro", "render", "smoke"]) == 0
    assert "| zero-shot |" in capsys.readouterr().out


def test_record_writes_a_condition_and_the_readme_table(tmp_path: Path) -> None:
    from optical.cli import main
    from optical.experiment.reproduction import dump_matrix

    matrix = tmp_path / "matrix.toml"
    matrix.write_text(dump_matrix(load_matrix(MATRIX).values()))
    rows = [
        {
            "benchmark": "xquad",
            "system": "zero-shot",
            "lang": "macro",
            "measure": "RR@10",
            "value": 0.84,
            "n": 6,
        },
        {
            "benchmark": "xquad",
            "system": "zero-shot",
            "lang": "de",
            "measure": "RR@10",
            "value": 0.9,
            "n": 9,
        },
        {
            "benchmark": "xquad",
            "system": "optical-ot-data10",
            "lang": "macro",
            "measure": "RR@10",
            "value": 0.8,
            "n": 6,
        },
        {
            "benchmark": "ntrex-mt",
            "system": "nmt",
            "lang": "macro-xx-en",
            "measure": "BLEU",
            "value": 3.5,
            "n": 15,
        },
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps(rows))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- repro:study:start -->\nold\n<!-- repro:study:end -->\nend\n")
    args = [
        "repro",
        "record",
        "study",
        "--results",
        str(results),
        "--command",
        "make study",
        "--config",
        "configs/study.toml",
        "--matrix",
        str(matrix),
        "--readme",
        str(readme),
    ]
    assert main(args) == 0
    conditions = load_matrix(matrix)
    assert (
        set(conditions) == {"smoke", "study"}
        and conditions["smoke"] == load_matrix(MATRIX)["smoke"]
    )
    study = conditions["study"]
    assert study.readme and [(e.system, e.lang, e.measure) for e in study.expect] == [
        ("zero-shot", "macro", "RR@10"),
        ("nmt", "macro-xx-en", "BLEU"),
    ]
    assert check(study, read_rows(results)) == []
    text = readme.read_text()
    assert render_table(study) in text and "old" not in text and text.endswith("end\n")


def test_seed_spread_is_recorded_round_trips_and_renders(tmp_path: Path) -> None:
    from optical.experiment.reproduction import dump_matrix, expectations_from

    rows = [
        ResultRow("xquad", "optical-ot", "macro", "RR@10", 0.84512, 6, std=0.00437, seeds=3),
        ResultRow("xquad", "zero-shot", "macro", "RR@10", 0.846, 6),
        # one seed: a zero spread says nothing, so none is recorded
        ResultRow("xquad", "distill-mse", "macro", "RR@10", 0.859, 6, std=0.0, seeds=1),
    ]
    keys = [r.key for r in rows]
    recorded = expectations_from(rows, keys, tol=0.01)
    assert [e.get("std") for e in recorded] == [0.0044, None, None]
    condition = Condition(
        "s", "cmd", "cfg.toml", "r.json", True, tuple(Expectation(**e) for e in recorded)
    )
    matrix = tmp_path / "m.toml"
    matrix.write_text(dump_matrix([condition]))
    assert load_matrix(matrix)["s"] == condition
    table = render_table(condition)
    assert "| optical-ot | 0.845±0.004 |" in table
    assert "| zero-shot | 0.846 |" in table and "| distill-mse | 0.859 |" in table
    assert check(condition, rows) == []
