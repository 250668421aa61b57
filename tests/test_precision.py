"""bf16 is a request, honoured where the CPU computes bf16 natively ($OPTICAL_BF16 overrides)."""

from __future__ import annotations

from pathlib import Path

import pytest

from optical import precision
from optical.errors import ConfigError
from optical.models.encoder import Encoder


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_hardware(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.delenv("OPTICAL_BF16", raising=False)
    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    assert precision.use_bf16(True) is native
    assert precision.use_bf16(False) is False


@pytest.mark.parametrize("native", [True, False])
def test_on_and_off_override_the_hardware(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    monkeypatch.setenv("OPTICAL_BF16", "on")
    assert precision.use_bf16(True) is True
    assert precision.use_bf16(False) is False  # never turns on what was not requested
    monkeypatch.setenv("OPTICAL_BF16", " OFF ")
    assert precision.use_bf16(True) is False


def test_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTICAL_BF16", "maybe")
    with pytest.raises(ConfigError, match=r"\$OPTICAL_BF16='maybe'.*auto, on, off"):
        precision.use_bf16(True)


def test_native_probe_is_a_bool() -> None:
    assert isinstance(precision.native_bf16(), bool)


def test_encoder_records_the_precision_it_runs(
    tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedding cache keys on ``encoder.bf16``, so it must be the precision used."""
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    monkeypatch.delenv("OPTICAL_BF16", raising=False)
    spec, model, tok = tiny_encoder.spec, tiny_encoder.model, tiny_encoder.tokenizer
    assert Encoder(spec, model, tok, bf16=True).bf16 is False
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    assert Encoder(spec, model, tok, bf16=True).bf16 is True
    monkeypatch.setenv("OPTICAL_BF16", "off")
    assert Encoder(spec, model, tok, bf16=True).bf16 is False


def test_trained_model_keys_follow_the_precision_actually_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fp32 keeps the keys models had before precision was keyed; bf16 gets its own."""
    import hashlib
    import json

    from optical.experiment.artifacts import distill_config_for, nmt_config_for, student_folder
    from optical.experiment.config import ExperimentConfig
    from optical.experiment.names import SystemSpec
    from optical.nmt.package import nmt_folder
    from optical.train.config import DEFAULT_FREE_KEYS, RESUME_FREE_KEYS

    cfg = ExperimentConfig(name="k", systems=("optical-ot",))
    spec = SystemSpec.parse("optical-ot")
    monkeypatch.setenv("OPTICAL_BF16", "off")
    fp32_student = student_folder(spec, cfg, tmp_path)
    fp32_nmt = nmt_folder(nmt_config_for(cfg), tmp_path)
    # fp32 adds nothing to the identity: the hash of the config less its run-only keys
    payload = {k: v for k, v in distill_config_for(spec, cfg).to_dict().items() if k != "name"}
    payload["run"] = {k: v for k, v in payload["run"].items() if f"run.{k}" not in RESUME_FREE_KEYS}
    # options added later are out of the identity at their defaults (old keys stay valid)
    for dotted, default in DEFAULT_FREE_KEYS.items():
        section, key = dotted.split(".")
        if payload.get(section, {}).get(key) == default:  # (decode.*: NMT configs only)
            del payload[section][key]
    legacy = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    assert fp32_student.name == f"optical-ot-{legacy}"
    monkeypatch.setenv("OPTICAL_BF16", "on")
    bf16_student = student_folder(spec, cfg, tmp_path)
    bf16_nmt = nmt_folder(nmt_config_for(cfg), tmp_path)
    assert bf16_student != fp32_student and bf16_nmt != fp32_nmt
