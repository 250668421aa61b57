"""Distillation config: TOML in, validated dataclasses out; every mistake is a ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from optical.configfile import differences
from optical.errors import ConfigError
from optical.train.config import (
    DistillConfig,
    load_distill_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["distill-quick.toml", "distill-full.toml"])
def test_shipped_configs_load(name: str) -> None:
    config = load_distill_config(CONFIGS / name)
    assert config.loss.name == "ot"
    assert config.model.student == "multilingual-e5-small"
    assert config.optim.batch_size % config.optim.grad_accum == 0
    assert DistillConfig.from_dict(config.to_dict()) == config


def test_defaults_and_partial_file(tmp_path: Path) -> None:
    config = load_distill_config(
        _write(
            tmp_path,
            'name = "x"\n[loss]\nname = "mse-pooled"\n[optim]\nlr = 1\nmax_steps = 5\n'
            "[loss.options]\n",
        )
    )
    assert config.name == "x"
    assert config.loss.name == "mse-pooled"
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)  # int → float
    assert config.optim.max_steps == 5
    assert config.model == DistillConfig().model
    assert config.model.teacher_layer is None


def test_ot_options_are_passed_and_checked(tmp_path: Path) -> None:
    ok = load_distill_config(_write(tmp_path, "[loss.options]\neps = 0.1\ntau = 2.0\n"))
    assert ok.loss.options == {"eps": 0.1, "tau": 2.0}
    with pytest.raises(ConfigError, match="bad options"):
        load_distill_config(_write(tmp_path, "[loss.options]\nepsilon = 0.1\n"))
    with pytest.raises(ConfigError, match="eps must be > 0"):
        load_distill_config(_write(tmp_path, "[loss.options]\neps = -1.0\n"))
    with pytest.raises(ConfigError, match="unknown loss"):
        load_distill_config(_write(tmp_path, '[loss]\nname = "kl"\n'))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[model]\nstudnet = 'x'\n", r"unknown key\(s\) studnet"),
        ("[optimizer]\nlr = 1e-4\n", r"unknown section\(s\) or key\(s\) optimizer"),
        ("seed = 3\n", "unknown section"),
        ("[optim]\nmax_steps = 'ten'\n", "expected an integer"),
        ("[optim]\nmax_steps = 2.5\n", "expected an integer"),
        ("[model]\nbf16 = 1\n", "expected true or false"),
        ("[optim]\nlr = true\n", "expected a number"),
        ("[data]\nlanguages = 'sw'\n", "expected a list of strings"),
        ("[optim]\nbatch_size = 10\ngrad_accum = 4\n", "divisible"),
        ("[optim]\nmax_steps = 0\n", "max_steps must be >= 1"),
        ("[data]\nfraction = 0.0\n", r"fraction must be in \(0, 1\]"),
        ("[data]\nfraction = 1.5\n", r"fraction must be in \(0, 1\]"),
        ("[data]\ntemperature = 0\n", "temperature must be > 0"),
        ("[data]\nsources = ['ntrex']\n", "evaluation data"),
        ("[data]\nsources = ['opus']\n", "unknown bitext source"),
        ("[model]\nprojection = 'mlp'\n", "projection must be"),
        ("[model]\nmax_length = 4\n", "max_length must be >= 8"),
        ("[model]\nfreeze_layers = -1\n", "freeze_layers must be >= 0"),
        ("[loss]\nanchor_weight = -0.5\n", "anchor_weight must be"),
        ("[loss]\noptions = 3\n", "expected a table"),
        ("[run]\nkeep_checkpoints = 0\n", "keep_checkpoints"),
        ("[model\n", "invalid TOML"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_distill_config(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_distill_config(tmp_path / "nope.toml")


def test_overrides_and_differences() -> None:
    base = DistillConfig()
    changed = base.with_overrides(optim={"max_steps": 7}, loss={"options": {"eps": 0.2}})
    assert changed.optim.max_steps == 7 and changed.optim.lr == base.optim.lr
    assert differences(base.to_dict(), changed.to_dict()) == [
        "loss.options",
        "optim.max_steps",
    ]
    with pytest.raises(ConfigError, match="unknown key"):
        base.with_overrides(optim={"learning_rate": 1.0})
    with pytest.raises(ConfigError, match="unknown config section"):
        base.with_overrides(optimizer={"lr": 1.0})


def test_distill_step_bench_uses_the_quick_settings() -> None:
    import inspect

    from optical.perf.distill_step import run

    quick = load_distill_config(CONFIGS / "distill-quick.toml")
    defaults = {k: p.default for k, p in inspect.signature(run).parameters.items()}
    assert defaults["eps"] == quick.loss.options["eps"]
    assert defaults["max_iter"] == quick.loss.options["max_iter"]
    assert defaults["max_length"] == quick.model.max_length
    assert defaults["freeze_layers"] == quick.model.freeze_layers
    assert defaults["student"] == quick.model.student
    assert defaults["teacher"] == quick.model.teacher
