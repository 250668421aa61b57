"""The distillation trainer end to end on tiny random models and in-test bitext.

Student: BERT hidden 16 × 2 layers; teacher: hidden 24 × 2 layers (so a projection is
learned); both with a word-level tokenizer and e5-style ``query: `` prefixes
(``tests/tiny_models.py``). One slow test runs 3 real steps with multilingual-e5-small.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from optical.errors import ConfigError, OpticalError
from optical.models.encoder import tokenize_with_prefix
from optical.models.student import (
    DELTA_FILE,
    PROJECTION_FILE,
    StudentEncoder,
    load_any_encoder,
    load_student,
)
from optical.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from optical.train.distill import StepInfo, build_distiller, linear_schedule, train_distill
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config

_TEACHER_SHA: dict[Path, str] = {}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny-distill")
    student = build_tiny_encoder(root / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(root / "teacher", hidden=24, layers=2, seed=1)
    _TEACHER_SHA[teacher] = _sha(teacher)
    return student, teacher


@pytest.fixture(scope="module")
def finished(models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 4-step run (checkpoints at 2 and 4); returns its output folder."""
    out = tmp_path_factory.mktemp("finished") / "run"
    train_distill(tiny_config(*models), out, bitext=tiny_bitext())
    return out


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    """The student's tensors (its transformer rebuilt from base + delta) and projection."""
    tensors = dict(load_student(folder).model.state_dict())
    if (folder / PROJECTION_FILE).is_file():
        tensors |= {
            f"projection.{k}": v for k, v in load_file(str(folder / PROJECTION_FILE)).items()
        }
    return tensors


def _sha(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_schedule_warms_up_then_decays() -> None:
    factor = linear_schedule(warmup_steps=3, max_steps=10)
    values = [factor(s) for s in range(10)]
    assert values[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert values[3:] == pytest.approx([(10 - s) / 7 for s in range(3, 10)])
    assert min(values) > 0


def test_prefix_tokens_are_marked(models: tuple[Path, Path]) -> None:
    from optical.models.encoder import Encoder
    from optical.models.registry import resolve_encoder

    encoder = Encoder.load(resolve_encoder(str(models[0])))
    batch = tokenize_with_prefix(encoder, ["kato hundo", "le kato dormas sub domo"], "query")
    tokens = [encoder.tokenizer.convert_ids_to_tokens(row) for row in batch["input_ids"]]
    marked = [
        [t for t, m in zip(row, mask, strict=True) if m]
        for row, mask in zip(tokens, batch["prefix_mask"].tolist(), strict=True)
    ]
    assert marked == [["query", ":"], ["query", ":"]]


def test_loss_decreases(models: tuple[Path, Path], tmp_path: Path) -> None:
    config = tiny_config(
        *models,
        optim={"max_steps": 40, "lr": 5e-3, "warmup_steps": 2},
        run={"eval_every": 40, "eval_at_start": True, "checkpoint_every": 0},
    )
    losses: list[float] = []
    train_distill(
        config,
        tmp_path / "run",
        bitext=tiny_bitext(),
        callbacks=[lambda info: losses.append(info.loss)],
    )
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in records if "validation" in r]
    assert [r["step"] for r in validation] == [0, 40]
    before, after = (r["validation"]["loss"] for r in validation)
    assert after < 0.85 * before, (before, after)
    assert sum(losses[-8:]) / 8 < 0.85 * sum(losses[:8]) / 8
    assert 0.0 <= validation[1]["validation"]["p_at_1"] <= 1.0
    assert set(validation[1]["validation"]["p_at_1_by_lang"]) == {"xx", "yy"}
    train = [r for r in records if "validation" not in r]
    assert {"transport_cost", "iterations", "marginal_error", "lr", "grad_norm"} <= set(train[0])


def test_frozen_parameters_and_teacher_unchanged(models: tuple[Path, Path], finished: Path) -> None:
    student_dir, teacher_dir = models
    base = load_file(str(student_dir / "model.safetensors"))
    trained = _weights(finished / "student")
    delta = load_file(str(finished / "student" / DELTA_FILE))
    assert set(delta) < set(base)
    for name, tensor in base.items():
        frozen = name.startswith("embeddings.") or name.startswith("encoder.layer.0.")
        same = torch.equal(tensor, trained[name])
        assert same == frozen, name  # frozen ones identical, the others trained
        assert (name in delta) != frozen, name  # the delta holds the trained ones only
    assert _sha(teacher_dir) == _TEACHER_SHA[teacher_dir]  # the teacher's files untouched
    teacher_before = load_file(str(teacher_dir / "model.safetensors"))
    distiller = build_distiller(tiny_config(*models))
    assert not any(p.requires_grad for p in distiller.teacher.model.parameters())
    loss, _, _ = distiller.loss_on(tiny_bitext()["xx"][:4])
    loss.backward()
    assert all(p.grad is None for p in distiller.teacher.model.parameters())
    assert all(
        p.grad is None for n, p in distiller.core.named_parameters() if n in distiller.frozen_names
    )
    assert distiller.core.projection is not None
    assert distiller.core.projection.weight.grad is not None
    after = distiller.teacher.model.state_dict()
    assert all(torch.equal(teacher_before[k], after[k]) for k in teacher_before)


def test_saved_student_loads_and_encodes(models: tuple[Path, Path], finished: Path) -> None:
    from optical.embed_cache import EmbeddingCache

    folder = finished / "student"
    student = load_student(folder)
    assert isinstance(student, StudentEncoder)
    assert isinstance(load_any_encoder(folder), StudentEncoder)
    assert student.dim == 24  # the teacher's space
    assert student.teacher_name == str(models[1])
    assert student.spec.query_prefix == "query: "
    encoded = student.encode(["le kato dormas", "un hundo"], "query", with_tokens=True)
    assert encoded.pooled.shape == (2, 24)
    assert encoded.pooled.dtype.name == "float32"
    assert abs(float((encoded.pooled**2).sum(1)[0]) - 1.0) < 1e-5
    assert encoded.tokens is not None and encoded.tokens[0].shape == (
        5,
        24,
    )  # query : le kato dormas
    cache = EmbeddingCache(finished / "cache", student)
    again = cache.encode(["le kato dormas", "un hundo"], "query")
    assert again.pooled == pytest.approx(encoded.pooled, abs=1e-6)
    info = json.loads((folder / "optical-student.json").read_text())
    assert info["loss"] == "ot" and info["projection"] == [24, 16]
    assert info["config"]["optim"]["max_steps"] == 4


def test_fingerprint_follows_the_weights(models: tuple[Path, Path], tmp_path: Path) -> None:
    config = tiny_config(*models, optim={"max_steps": 2}, run={"checkpoint_every": 0})
    first = train_distill(config, tmp_path / "a", bitext=tiny_bitext())
    same = train_distill(config, tmp_path / "b", bitext=tiny_bitext())
    other = train_distill(
        config.with_overrides(optim={"lr": 1e-2}), tmp_path / "c", bitext=tiny_bitext()
    )
    fingerprints = [load_student(f).spec.fingerprint() for f in (first, same, other)]
    names = [load_student(f).spec.name for f in (first, same, other)]
    assert names[0] == names[1] != names[2]
    assert fingerprints[0] != fingerprints[2]


class _Crash(RuntimeError):
    pass


def test_resume_after_a_crash_equals_the_uninterrupted_run(
    models: tuple[Path, Path], finished: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    config = tiny_config(*models)

    def crash_at_3(info: StepInfo) -> None:
        if info.step == 3:
            raise _Crash

    with pytest.raises(_Crash):
        train_distill(config, out, bitext=tiny_bitext(), callbacks=[crash_at_3])
    assert [s for s, _ in list_checkpoints(out / "checkpoints")] == [2]
    assert not (out / "student").exists()
    with pytest.raises(OpticalError, match="already holds checkpoints"):
        train_distill(config, out, bitext=tiny_bitext())
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        train_distill(
            config.with_overrides(optim={"lr": 1.0}), out, bitext=tiny_bitext(), resume=True
        )
    steps: list[int] = []
    folder = train_distill(
        config, out, bitext=tiny_bitext(), resume=True, callbacks=[lambda i: steps.append(i.step)]
    )
    assert steps == [3, 4]
    resumed, uninterrupted = _weights(folder), _weights(finished / "student")
    assert resumed.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        assert torch.equal(resumed[name], tensor), name
    state = load_checkpoint(latest_checkpoint(out / "checkpoints"))
    assert state["step"] == 4 and state["config"]["name"] == "tiny"
    assert "embeddings.word_embeddings.weight" not in state["model"]  # frozen: not stored
    assert set(state["projection"]) == {"weight", "bias"}
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in metrics] == [1, 2, 3, 4]  # the crashed step 3 logged once
    fingerprint = load_student(folder).spec.fingerprint()
    assert train_distill(config, out, bitext=tiny_bitext(), resume=True) == folder  # done
    assert load_student(folder).spec.fingerprint() == fingerprint


def test_gradient_accumulation_matches_one_big_batch(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tiny_config(*models, model={"dropout": False}, run={"checkpoint_every": 0})
    one = train_distill(config, tmp_path / "one", bitext=tiny_bitext())
    accum = train_distill(
        config.with_overrides(optim={"grad_accum": 4}), tmp_path / "accum", bitext=tiny_bitext()
    )
    a, b = _weights(one), _weights(accum)
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name


@pytest.mark.parametrize(
    ("loss", "extra", "expected"),
    [
        ({"name": "mse-pooled", "options": {}}, {}, {"mse"}),
        ({"name": "greedy-align", "options": {}}, {}, {"mse", "matched_pairs"}),
        (
            {"name": "ot", "anchor_weight": 1.0, "pooled_mse_weight": 0.5},
            {},
            {"transport_cost", "anchor_mse", "pooled_mse"},
        ),
        ({"name": "ot"}, {"layer": 1, "teacher_layer": -2}, {"transport_cost"}),
        ({"name": "ot"}, {"exclude_prefix": False, "exclude_special": False}, {"transport_cost"}),
    ],
)
def test_losses_and_options_train(
    models: tuple[Path, Path],
    tmp_path: Path,
    loss: dict[str, Any],
    extra: dict[str, Any],
    expected: set[str],
) -> None:
    config = tiny_config(
        *models, loss=loss, model=extra, optim={"max_steps": 2}, run={"checkpoint_every": 0}
    )
    seen: list[dict[str, float]] = []
    train_distill(
        config,
        tmp_path / "run",
        bitext=tiny_bitext(),
        callbacks=[lambda info: seen.append(info.diagnostics)],
    )
    assert expected <= set(seen[-1])
    assert all(math.isfinite(d["loss"]) for d in seen)


def test_projection_modes(models: tuple[Path, Path]) -> None:
    student, teacher = models
    same_dims = tiny_config(student, student)
    assert build_distiller(same_dims).core.projection is None
    linear = build_distiller(same_dims.with_overrides(model={"projection": "linear"}))
    assert torch.equal(linear.core.projection.weight, torch.eye(16))
    assert torch.equal(linear.core.projection.bias, torch.zeros(16))
    with pytest.raises(ConfigError, match="dim"):
        build_distiller(tiny_config(student, teacher, model={"projection": "none"}))
    with pytest.raises(ConfigError, match="only 2 layers"):
        build_distiller(tiny_config(student, teacher, model={"freeze_layers": 3}))
    with pytest.raises(ConfigError, match=r"model\.teacher_layer = 3"):
        build_distiller(tiny_config(student, teacher, model={"teacher_layer": 3}))


def test_run_level_errors(models: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(OpticalError, match="no training bitext"):
        train_distill(
            tiny_config(*models, data={"languages": ["sw"]}), tmp_path / "r", bitext=tiny_bitext()
        )


# ------------------------------------------------------------------ slow: the real model


@pytest.mark.slow
def test_real_model_smoke(real_data_dir: Path, tmp_path: Path) -> None:
    """Three OT steps of multilingual-e5-small on a few real training pairs."""
    from optical.train.config import DistillConfig

    config = DistillConfig.from_dict(
        {
            "name": "smoke",
            "model": {"max_length": 32, "bf16": True, "freeze_layers": 8},
            "data": {
                "languages": ["sw", "te"],
                "max_pairs_per_language": 16,
                "validation_pairs_per_language": 4,
            },
            "optim": {"max_steps": 3, "batch_size": 4, "warmup_steps": 1},
            "run": {"checkpoint_every": 2, "eval_every": 3, "progress": False},
        }
    )
    losses: list[float] = []
    folder = train_distill(
        config,
        tmp_path / "run",
        data_dir=real_data_dir,
        callbacks=[lambda info: losses.append(info.loss)],
    )
    assert len(losses) == 3 and all(math.isfinite(x) and x > 0 for x in losses)
    assert [s for s, _ in list_checkpoints(tmp_path / "run" / "checkpoints")] == [2, 3]
    student = load_student(folder, bf16=True)
    assert student.dim == 384 and student.projection is None
    # a delta: the 4 trained layers (≈ 28 MB), not the 470 MB base
    assert student.metadata["format"] == 2
    assert sum(p.stat().st_size for p in folder.iterdir()) < 40e6
    pooled = student.encode(["Habari ya asubuhi"], "query").pooled
    assert pooled.shape == (1, 384) and math.isfinite(float(pooled.sum()))
    validation = json.loads((folder / "optical-student.json").read_text())["validation"]
    assert 0.0 <= validation["p_at_1"] <= 1.0


def test_threads_setting_is_restored(models: tuple[Path, Path], tmp_path: Path) -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    config = tiny_config(*models, optim={"max_steps": 1}, run={"threads": 2})
    train_distill(
        config,
        tmp_path / "run",
        bitext=tiny_bitext(),
        callbacks=[lambda info: seen.append(torch.get_num_threads())],
    )
    assert seen == [2]
    assert torch.get_num_threads() == before
