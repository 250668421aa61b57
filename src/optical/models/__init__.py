"""Encoders: offline defaults, local folders and hub ids (loaded lazily)."""

from .registry import EncoderSpec, resolve_encoder

__all__ = ["EncoderSpec", "resolve_encoder"]
