"""bf16 is a request, honoured where the CPU computes bf16 natively ($OPTICAL_BF16 overrides)."""

from __future__ import annotations

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
