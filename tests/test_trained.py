"""Trained systems of an experiment: config derivation, cache keys, system resolution."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from optical.errors import ConfigError
from optical.experiment.artifacts import distill_config_for, student_folder
from optical.experiment.config import ExperimentConfig, load_config
from optical.experiment.names import SystemSpec
from optical.experiment.systems import BM25, Dense, MaxSim, build_system, resolve_systems

QUICK = Path(__file__).resolve().parents[1] / "configs" / "quick.toml"


def spec(name: str) -> SystemSpec:
    return SystemSpec.parse(name)


def test_student_id_and_is_trained() -> None:
    assert spec("optical-ot-maxsim").student_id == "optical-ot"
    assert spec("optical-ot").is_trained and spec("distill-greedy-maxsim").is_trained
    assert not spec("zero-shot").is_trained and not spec("zero-shot-maxsim").is_trained


def test_systems_are_composed_stages() -> None:
    assert build_system(spec("oracle")).first == Dense("teacher", "teacher")
    assert build_system(spec("oracle@all-MiniLM-L6-v2")).first == Dense(
        "all-MiniLM-L6-v2", "all-MiniLM-L6-v2"
    )
    zero = build_system(spec("zero-shot-maxsim"))
    assert (zero.text, zero.first, zero.rerank) == (
        "original",
        Dense("student", "student"),
        MaxSim(),
    )
    student = build_system(spec("optical-ot-maxsim"))
    assert student.first == Dense("trained", "teacher") and student.rerank == MaxSim()
    assert build_system(spec("optical-ot")).rerank is None
    assert build_system(spec("bm25-human-translation")).first == BM25()
    tt = build_system(spec("tt-nmt-bm25"))
    assert (tt.text, tt.first) == ("translated", BM25())
    cfg = ExperimentConfig()
    assert student.token_encoder(cfg) == cfg.models.teacher
    assert zero.token_encoder(cfg) == cfg.models.student
    assert build_system(spec("optical-ot")).token_encoder(cfg) is None


def test_each_trained_system_gets_its_loss_and_the_experiment_models() -> None:
    cfg = load_config(QUICK)
    ot = distill_config_for(spec("optical-ot"), cfg)
    mse = distill_config_for(spec("distill-mse"), cfg)
    greedy = distill_config_for(spec("distill-greedy-maxsim"), cfg)
    assert (ot.loss.name, mse.loss.name, greedy.loss.name) == ("ot", "mse-pooled", "greedy-align")
    assert ot.loss.options.get("eps") == pytest.approx(0.02)
    assert mse.loss.options == {} and greedy.loss.options == {}
    assert ot.model.student == cfg.models.student and ot.model.teacher == cfg.models.teacher
    assert distill_config_for(spec("optical-ot"), cfg, seed=7).run.seed == 7


def test_a_data_budget_trains_the_config_steps_or_its_share_of_them(tmp_path: Path) -> None:
    """``experiment.budget_steps``: "fixed" keeps the optimizer steps of every share (and
    the keys of existing students); "proportional" trains a share f for round(f · steps)
    steps and warm-up, the student and the back-translation systems' NMT model alike, and
    the whole bitext as before. Anything else is a config error naming the key."""
    from optical.experiment.artifacts import nmt_config_for

    fixed = load_config(QUICK)
    scaled = replace(fixed, budget_steps="proportional")
    base, nmt = fixed.distill.base.optim, fixed.translate.nmt_config.optim
    assert distill_config_for(spec("optical-ot-data10"), fixed).optim == base
    tenth = distill_config_for(spec("optical-ot-data10"), scaled).optim
    assert (tenth.max_steps, tenth.warmup_steps) == (
        max(1, round(0.1 * base.max_steps)),
        round(0.1 * base.warmup_steps),
    )
    assert tenth.batch_size == base.batch_size and tenth.lr == base.lr
    assert distill_config_for(spec("optical-ot"), scaled).optim == base
    assert nmt_config_for(fixed, 0.3).optim == nmt
    assert nmt_config_for(scaled, 0.3).optim.max_steps == round(0.3 * nmt.max_steps)
    assert student_folder(spec("optical-ot-data10"), fixed, tmp_path) != student_folder(
        spec("optical-ot-data10"), scaled, tmp_path
    )
    assert student_folder(spec("optical-ot"), fixed, tmp_path) == student_folder(
        spec("optical-ot"), scaled, tmp_path
    )
    with pytest.raises(ConfigError, match=r"experiment\.budget_steps must be one of"):
        replace(fixed, budget_steps="scaled")


def test_the_nmt_model_of_a_data_budget_can_follow_its_own_budget_policy() -> None:
    """``translate.budget_steps`` sets the NMT model's policy apart from the students'
    (empty: the experiment's); the students keep ``experiment.budget_steps``."""
    from optical.experiment.artifacts import nmt_config_for

    fixed = load_config(QUICK)
    nmt = fixed.translate.nmt_config.optim
    own = replace(fixed, translate=replace(fixed.translate, budget_steps="proportional"))
    assert (fixed.nmt_budget_steps, own.nmt_budget_steps) == ("fixed", "proportional")
    assert nmt_config_for(own, 0.1).optim.max_steps == max(1, round(0.1 * nmt.max_steps))
    assert nmt_config_for(own, None).optim == nmt
    student = fixed.distill.base.optim
    assert distill_config_for(spec("optical-ot-data10"), own).optim == student
    inherit = replace(fixed, budget_steps="proportional")
    assert inherit.nmt_budget_steps == "proportional"
    with pytest.raises(ConfigError, match=r"translate\.budget_steps must be one of"):
        replace(fixed.translate, budget_steps="scaled")


def test_student_folders_are_keyed_by_the_resolved_config(tmp_path: Path) -> None:
    cfg = load_config(QUICK)
    ot = student_folder(spec("optical-ot"), cfg, tmp_path)
    again = student_folder(spec("optical-ot-maxsim"), cfg, tmp_path)
    mse = student_folder(spec("distill-mse"), cfg, tmp_path)
    other_seed = student_folder(spec("optical-ot"), replace(cfg, seed=1), tmp_path)
    assert ot == again  # the MaxSim variant shares the dense system's student
    assert len({ot, mse, other_seed}) == 3
    assert ot.parent == tmp_path / "students" and ot.name.startswith("optical-ot-")


def test_systems_resolve_trained_names_and_reject_unknown_ones() -> None:
    cfg = ExperimentConfig(systems=("oracle", "zero-shot", "optical-ot", "optical-ot-maxsim"))
    systems = resolve_systems(cfg)
    assert {"optical-ot", "optical-ot-maxsim", "oracle@all-MiniLM-L6-v2"} <= set(systems)
    assert "oracle@multilingual-e5-small" not in systems  # the teacher's oracle is `oracle`
    with pytest.raises(ConfigError, match="unknown system 'optical-sinkhorn'"):
        replace(cfg, systems=("oracle", "optical-sinkhorn"))


def test_student_folders_ignore_run_only_keys(tmp_path: Path) -> None:
    cfg = load_config(QUICK)
    base = cfg.distill.base
    quiet = base.with_overrides(run={"log_every": 0, "threads": 1, "progress": False})
    assert quiet.to_dict() != base.to_dict()
    from optical.train.config import artifact_key

    assert artifact_key(quiet) == artifact_key(base)
    assert artifact_key(base.with_overrides(optim={"lr": 1e-3})) != artifact_key(base)
