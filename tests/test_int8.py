"""int8 encoding of frozen encoders: dynamic int8 linear layers, for retrieval only.

The embedding cache and the experiment's cells key on the precision actually used;
``[models] int8`` / ``$OPTICAL_INT8`` / ``--fp32`` switch it; training never sees it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from optical import precision
from optical.embed_cache import EmbeddingCache
from optical.errors import ConfigError, OpticalError
from optical.models.encoder import Encoder, quantize_int8
from optical.models.registry import resolve_encoder

TEXTS = ["the cat sat on the mat", "paris is the capital of france", "the river flows into the sea"]


@pytest.fixture
def fresh_encoder(tiny_model_dir: Path, one_thread: None) -> Encoder:
    """A tiny encoder of its own (``to_int8`` works in place: not the shared fixture)."""
    spec = resolve_encoder(str(tiny_model_dir), query_prefix="", passage_prefix="")
    return Encoder.load(spec)


def _quantised(model: torch.nn.Module) -> list[str]:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return [n for n, m in model.named_modules() if isinstance(m, DynamicLinear)]


def test_quantize_dynamic_on_a_tiny_bert(fresh_encoder: Encoder) -> None:
    before = fresh_encoder.encode(TEXTS, "passage").pooled
    fresh_encoder.to_int8()
    assert fresh_encoder.int8 and fresh_encoder.precision == "int8" and not fresh_encoder.bf16
    names = _quantised(fresh_encoder.model)
    # attention and the feed-forward up-projection; the down-projection stays fp32
    assert "encoder.layer.0.attention.self.query" in names
    assert "encoder.layer.1.intermediate.dense" in names
    assert "encoder.layer.0.attention.output.dense" in names
    assert not any(n.endswith("layer.0.output.dense") for n in names)
    assert isinstance(fresh_encoder.model.encoder.layer[0].output.dense, torch.nn.Linear)
    after = fresh_encoder.encode(TEXTS, "passage").pooled
    assert after.shape == before.shape and np.isfinite(after).all()
    assert float((after * before).sum(1).min()) > 0.95
    fresh_encoder.to_int8()  # idempotent
    assert _quantised(fresh_encoder.model) == names


def test_int8_model_refuses_training(fresh_encoder: Encoder) -> None:
    fresh_encoder.to_int8()
    batch = fresh_encoder.tokenize(TEXTS, "passage")
    with pytest.raises(OpticalError, match="int8 for encoding only"):
        fresh_encoder.forward(batch)  # gradients enabled: a training forward
    with torch.no_grad():
        fresh_encoder.forward(batch)  # inference (e.g. alignment heatmaps) is fine


def test_quantize_int8_returns_what_it_quantised(fresh_encoder: Encoder) -> None:
    names = quantize_int8(fresh_encoder.model)
    assert names == _quantised(fresh_encoder.model) and len(names) == 2 * 5


def test_int8_and_fp32_embedding_caches_are_apart(
    tmp_path: Path, tiny_model_dir: Path, fresh_encoder: Encoder
) -> None:
    fp32 = Encoder.load(fresh_encoder.spec)
    fresh_encoder.to_int8()
    a = EmbeddingCache(tmp_path, fp32)
    b = EmbeddingCache(tmp_path, fresh_encoder)
    assert a.folder.name == "fp32" and b.folder.name == "int8"
    assert a.folder.parent == b.folder.parent  # same encoder, another precision
    a.encode(TEXTS, "passage")
    b.encode(TEXTS, "passage")
    assert b.last_stats.encoded == len(TEXTS)  # nothing read from the fp32 entries
    reopened = EmbeddingCache(tmp_path, fresh_encoder)
    reopened.encode(TEXTS, "passage")
    assert reopened.last_stats.hits == len(TEXTS)


@pytest.mark.parametrize(
    ("mode", "requested", "expected"),
    [
        ("auto", True, True),
        ("auto", False, False),
        ("on", False, True),
        ("on", True, True),
        ("off", True, False),
        ("off", False, False),
    ],
)
def test_the_setting_switches_int8(
    monkeypatch: pytest.MonkeyPatch, mode: str, requested: bool, expected: bool
) -> None:
    monkeypatch.setenv("OPTICAL_INT8", mode)
    monkeypatch.setenv("OPTICAL_BF16", "off")
    assert precision.use_int8(requested) is expected
    assert precision.encode_precision(True, requested) == ("int8" if expected else "fp32")
    assert precision.encode_precision_key(True, requested) == (
        {"precision": "int8"} if expected else {}
    )


def test_no_engine_no_int8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "int8_engine", lambda: False)
    monkeypatch.setenv("OPTICAL_INT8", "on")
    assert precision.use_int8(True) is False


def test_bad_int8_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTICAL_INT8", "sometimes")
    with pytest.raises(ConfigError, match=r"\$OPTICAL_INT8='sometimes'.*auto, on, off"):
        precision.use_int8(True)


def test_workbench_encoders_follow_the_setting(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optical.experiment.workbench import Workbench

    monkeypatch.delenv("OPTICAL_INT8", raising=False)
    name = str(tiny_model_dir)
    assert Workbench(tmp_path, bf16=False, int8=True).encoder(name).precision == "int8"
    assert Workbench(tmp_path, bf16=False, int8=False).encoder(name).precision == "fp32"
    monkeypatch.setenv("OPTICAL_INT8", "off")
    assert Workbench(tmp_path, bf16=False, int8=True).encoder(name).precision == "fp32"
    monkeypatch.setenv("OPTICAL_INT8", "on")
    assert Workbench(tmp_path, bf16=False, int8=False).encoder(name).precision == "int8"
    # --fp32 of index / search: never int8, whatever the environment says
    assert Workbench(tmp_path, bf16=False, int8=None).encoder(name).precision == "fp32"


def test_cli_fp32_disables_int8(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from optical.cli import _int8

    assert _int8(argparse.Namespace(fp32=True)) is None
    assert _int8(argparse.Namespace(fp32=False)) is precision.INT8_DEFAULT


def test_config_switch_and_cell_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[models] int8`` is read; a cell's key carries the precision used, and fp32 keys
    are those of before int8 existed (the request alone changes nothing)."""
    from dataclasses import asdict, replace

    from optical.experiment.config import ExperimentConfig, load_config
    from optical.experiment.names import SystemSpec
    from optical.experiment.run import system_settings
    from optical.experiment.workbench import Workbench

    path = tmp_path / "c.toml"
    path.write_text(
        '[experiment]\nname = "c"\nsystems = ["oracle", "zero-shot"]\n[models]\nint8 = true\n'
    )
    assert load_config(path).models.int8 is True
    cfg = ExperimentConfig(name="k", systems=("oracle", "zero-shot"))
    assert cfg.models.int8 is precision.INT8_DEFAULT
    wb = Workbench(tmp_path, bf16=False)
    spec = SystemSpec.parse("zero-shot")
    monkeypatch.setenv("OPTICAL_BF16", "off")
    monkeypatch.setenv("OPTICAL_INT8", "auto")
    on, off = (replace(cfg, models=replace(cfg.models, int8=v)) for v in (True, False))
    fp32 = system_settings(wb, off, spec, None, tmp_path)
    legacy = {k: v for k, v in asdict(cfg.models).items() if k != "int8"}
    assert fp32 == {"models": legacy, "retrieval": asdict(cfg.retrieval)}
    assert system_settings(wb, on, spec, None, tmp_path) == {**fp32, "precision": "int8"}
    monkeypatch.setenv("OPTICAL_INT8", "off")
    assert system_settings(wb, on, spec, None, tmp_path) == fp32


def test_training_never_uses_int8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    """Under ``$OPTICAL_INT8=on`` the distillation teacher and student stay fp32."""
    from optical.train.distill import build_distiller
    from tiny_models import build_tiny_encoder, tiny_config

    monkeypatch.setenv("OPTICAL_INT8", "on")
    student = build_tiny_encoder(tmp_path / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(tmp_path / "teacher", hidden=24, layers=2, seed=1)
    distiller = build_distiller(tiny_config(student, teacher))
    assert not distiller.teacher.int8 and not _quantised(distiller.teacher.model)
    assert not _quantised(distiller.core)
