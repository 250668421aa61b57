"""Ablation runner: variant configs, a tiny two-variant × two-seed run, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optical.errors import ConfigError
from optical.experiment.ablation import (
    AblationRow,
    ablation_report,
    load_ablation_config,
    run_ablation,
    summarise,
    variant_config,
)
from optical.train.config import load_distill_config
from tiny_models import build_tiny_encoder, tiny_bitext

ROOT = Path(__file__).resolve().parents[1]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _write_base(path: Path, student: Path, teacher: Path) -> Path:
    sections = {
        "model": {
            "student": str(student),
            "teacher": str(teacher),
            "max_length": 16,
            "bf16": False,
            "freeze_embeddings": True,
        },
        "loss": {"name": "ot"},
        "loss.options": {"eps": 0.1, "max_iter": 200},
        "data": {"validation_pairs_per_language": 6},
        "optim": {"lr": 3e-3, "warmup_steps": 1, "max_steps": 3, "batch_size": 8},
        "run": {"checkpoint_every": 0, "eval_every": 3, "log_every": 1, "progress": False},
    }
    lines = ['name = "tiny-base"']
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_ablation(path: Path, base: Path) -> Path:
    path.write_text(
        f'name = "tiny"\nbase = "{base}"\nseeds = [0, 1]\nbaseline = "eps-0.1"\n'
        "[common.optim]\nmax_steps = 3\n"
        '[variants."eps-0.1"]\n'
        '[variants."eps-0.2".loss.options]\neps = 0.2\n'
        '[variants."mse".loss]\nname = "mse-pooled"\n'
    )
    return path


def test_shipped_ablation_config_resolves() -> None:
    cfg = load_ablation_config(ROOT / "configs" / "ablation.toml")
    base = load_distill_config(ROOT / cfg.base)
    assert cfg.seeds == (0, 1, 2) and cfg.baseline in cfg.variants
    eps = variant_config(cfg, "ot-eps-0.01", base, seed=2)
    assert eps.loss.options["eps"] == 0.01 and eps.loss.options["max_iter"] == 1500
    assert eps.loss.options["marginals"] == "uniform"  # merged with the base options
    assert eps.run.seed == 2 and eps.run.eval_at_start is False
    assert eps.data.validation_pairs_per_language == 48
    mse = variant_config(cfg, "mse-pooled", base, seed=0)
    assert mse.loss.name == "mse-pooled" and mse.loss.options == {}
    assert variant_config(cfg, "ot-minilm-teacher", base, 0).model.projection == "linear"


def test_bad_ablation_configs(tmp_path: Path) -> None:
    base = ROOT / "configs" / "distill-quick.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text(f'base = "{base}"\n[variants.a.loss.options]\nepsilon = 1\n')
    with pytest.raises(ConfigError, match="variant 'a'"):
        load_ablation_config(bad)
    bad.write_text(f'base = "{base}"\nbaseline = "b"\n[variants.a]\n')
    with pytest.raises(ConfigError, match="baseline 'b'"):
        load_ablation_config(bad)
    bad.write_text(f'base = "{base}"\n')
    with pytest.raises(ConfigError, match="variants"):
        load_ablation_config(bad)


def test_tiny_ablation_runs_reuses_and_reports(tmp_path: Path, one_thread: None) -> None:
    student = build_tiny_encoder(tmp_path / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(tmp_path / "teacher", hidden=16, layers=2, seed=1)
    base = _write_base(tmp_path / "base.toml", student, teacher)
    cfg = load_ablation_config(_write_ablation(tmp_path / "ablation.toml", base))
    rows = run_ablation(cfg, tmp_path / "out", cache=tmp_path / "cache", bitext=tiny_bitext(30))
    assert [(r.variant, r.seed) for r in rows] == [
        ("eps-0.1", 0),
        ("eps-0.1", 1),
        ("eps-0.2", 0),
        ("eps-0.2", 1),
        ("mse", 0),
        ("mse", 1),
    ]
    assert all(0.0 <= r.p_at_1 <= 1.0 and r.train_seconds > 0 for r in rows)
    assert len({r.student for r in rows}) == 6
    saved = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert len(saved) == 6 and saved[0]["variant"] == "eps-0.1"
    report = (tmp_path / "out" / "ablation.md").read_text()
    assert "| eps-0.2" in report and "★" in report and "training** bitext" in report
    again = run_ablation(cfg, tmp_path / "out2", cache=tmp_path / "cache", bitext=tiny_bitext(30))
    assert [r.p_at_1 for r in again] == [r.p_at_1 for r in rows]  # reused, not retrained


def test_summary_and_best_variant() -> None:
    rows = [
        AblationRow("a", 0, 0.5, 1.0, {}, 1.0, "s"),
        AblationRow("a", 1, 0.7, 1.0, {}, 1.0, "s"),
        AblationRow("b", 0, 0.8, 2.0, {}, 1.0, "s"),
    ]
    summary = summarise(rows)
    assert summary["a"]["p_at_1"] == pytest.approx(0.6)
    assert summary["a"]["p_at_1_std"] == pytest.approx(0.1414, abs=1e-3)
    assert summary["b"]["p_at_1_std"] == 0.0
    from optical.experiment.ablation import AblationConfig

    cfg = AblationConfig("x", "base.toml", (0, 1), "a", {"a": {}, "b": {"loss": {"x": 1}}}, {})
    report = ablation_report(cfg, rows)
    assert "| b ★" in report and "+0.2000" in report


def test_cli_ablate_rejects_a_bad_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from optical.cli import main

    config = str(ROOT / "configs" / "ablation.toml")
    assert main(["ablate", config, "--out", str(tmp_path), "--shard", "2/2"]) == 2
    assert "need 0 <= I < N" in capsys.readouterr().err
    assert main(["ablate", config, "--out", str(tmp_path), "--shard", "x"]) == 2
