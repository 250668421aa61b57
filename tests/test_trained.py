"""Trained systems of an experiment: config derivation, cache keys, system resolution."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from optical.config import ExperimentConfig, load_config
from optical.errors import ConfigError
from optical.systems import resolve_systems
from optical.trained import base_system, distill_config_for, is_trained, student_folder

QUICK = Path(__file__).resolve().parents[1] / "configs" / "quick.toml"


def test_base_system_and_is_trained() -> None:
    assert base_system("optical-ot-maxsim") == "optical-ot"
    assert is_trained("optical-ot") and is_trained("distill-greedy-maxsim")
    assert not is_trained("zero-shot") and not is_trained("zero-shot-maxsim")


def test_each_trained_system_gets_its_loss_and_the_experiment_models() -> None:
    cfg = load_config(QUICK)
    ot = distill_config_for("optical-ot", cfg)
    mse = distill_config_for("distill-mse", cfg)
    greedy = distill_config_for("distill-greedy-maxsim", cfg)
    assert (ot.loss.name, mse.loss.name, greedy.loss.name) == ("ot", "mse-pooled", "greedy-align")
    assert ot.loss.options.get("eps") == pytest.approx(0.02)
    assert mse.loss.options == {} and greedy.loss.options == {}
    assert ot.model.student == cfg.models.student and ot.model.teacher == cfg.models.teacher
    assert distill_config_for("optical-ot", cfg, seed=7).run.seed == 7


def test_student_folders_are_keyed_by_the_resolved_config(tmp_path: Path) -> None:
    cfg = load_config(QUICK)
    ot, _ = student_folder("optical-ot", cfg, tmp_path)
    again, _ = student_folder("optical-ot-maxsim", cfg, tmp_path)
    mse, _ = student_folder("distill-mse", cfg, tmp_path)
    other_seed, _ = student_folder("optical-ot", replace(cfg, seed=1), tmp_path)
    assert ot == again  # the MaxSim variant shares the dense system's student
    assert len({ot, mse, other_seed}) == 3
    assert ot.parent == tmp_path / "students" and ot.name.startswith("optical-ot-")


def test_systems_resolve_trained_names_and_reject_unknown_ones() -> None:
    cfg = ExperimentConfig(systems=("oracle", "zero-shot", "optical-ot", "optical-ot-maxsim"))
    systems = resolve_systems(cfg)
    assert {"optical-ot", "optical-ot-maxsim", "oracle@all-MiniLM-L6-v2"} <= set(systems)
    assert "oracle@multilingual-e5-small" not in systems  # the teacher's oracle is `oracle`
    with pytest.raises(ConfigError, match="unknown system 'optical-sinkhorn'"):
        resolve_systems(replace(cfg, systems=("oracle", "optical-sinkhorn")))
