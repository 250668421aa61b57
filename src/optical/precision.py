"""Whether bf16 autocast (and int8 encoding) is worth it on this CPU or device.

bf16 autocast is about 4× faster than fp32 on CPUs with native bf16 arithmetic
(AVX512-BF16 or AMX tiles), and several times *slower* where bf16 is emulated
(``optical bench encode --json`` on a 2-core AVX2-only AMD EPYC: e5-small passage
encoding 1,350 tok/s in fp32, 226 tok/s under bf16 autocast). A configuration's
``bf16 = true`` is therefore a request, honoured where the hardware has native bf16;
``$OPTICAL_BF16`` overrides:

* ``auto`` (default): bf16 only when the CPU has native bf16;
* ``on``: bf16 whenever it is requested (slow without native support);
* ``off``: never bf16.

Embedding and translation caches key on the precision actually used, so a cache
filled on one kind of machine is never mistaken for the other's.

int8: frozen encoders can *encode* (retrieval, the embedding cache) with their linear
layers dynamically quantised to int8 (:meth:`optical.models.encoder.Encoder.to_int8`);
training (the distillation teacher and student, the NMT model's encoder states) always
runs in fp32 / bf16. A configuration's ``[models] int8`` (default :data:`INT8_DEFAULT`)
is the request; ``$OPTICAL_INT8`` overrides:

* ``auto`` (default): int8 when requested and the CPU has an int8 engine (fbgemm / x86);
* ``on``: int8 encoding even where it was not requested;
* ``off``: never int8 (``--fp32`` of ``optical index`` / ``search`` also turns it off).

:func:`encode_precision` names what retrieval encoders run at (``int8`` wins over
``bf16``), and the embedding cache and the experiment's cells key on it.
"""

from __future__ import annotations

import functools
import os

from .errors import ConfigError

BF16_ENV = "OPTICAL_BF16"
INT8_ENV = "OPTICAL_INT8"
_MODES = ("auto", "on", "off")
INT8_DEFAULT = False
"""Whether configurations request int8 encoding by default: off, because where it was
measured (README, int8 encoding) it was 1.73× faster than fp32, not 2×, and cost zero-shot
XQuAD RR@10 0.015 (target: at most 0.005)."""


@functools.cache
def native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX)."""
    import torch  # here, not at module level: importing optical.translate stays cheap

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        check = getattr(cpu, name, None)
        if check is not None:
            try:
                if check():
                    return True
            except RuntimeError:  # pragma: no cover - defensive: a build without the probe
                continue
    return False


def _mode(env: str) -> str:
    mode = os.environ.get(env, "auto").strip().lower() or "auto"
    if mode not in _MODES:
        raise ConfigError(f"${env}={mode!r}: expected one of {', '.join(_MODES)}")
    return mode


def bf16_mode() -> str:
    """The ``$OPTICAL_BF16`` setting (``auto`` when unset)."""
    return _mode(BF16_ENV)


def int8_mode() -> str:
    """The ``$OPTICAL_INT8`` setting (``auto`` when unset)."""
    return _mode(INT8_ENV)


@functools.cache
def int8_engine() -> bool:
    """True when torch has a dynamic-int8 engine for this CPU (fbgemm or x86)."""
    import torch

    return bool({"fbgemm", "x86"} & set(torch.backends.quantized.supported_engines))


@functools.cache
def cuda_bf16() -> bool:
    """True when the current CUDA device computes bf16 (compute capability 8.0+)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def use_bf16(requested: bool, device_type: str = "cpu") -> bool:
    """Whether to run bf16 autocast on a ``device_type`` (``"cpu"``, ``"cuda"``, ``"mps"``)
    device, given what a configuration ``requested``. ``auto``: on CPUs with native bf16
    and on CUDA devices with bf16 (Ampere and later); never on MPS."""
    if not requested or device_type == "mps":
        return False
    mode = bf16_mode()
    if mode == "on":
        return True
    if mode == "off":
        return False
    return cuda_bf16() if device_type == "cuda" else native_bf16()


def precision_name(requested: bool, device_type: str = "cpu") -> str:
    """``"bf16"`` or ``"fp32"``: the precision actually used for a ``requested`` bf16."""
    return "bf16" if use_bf16(requested, device_type) else "fp32"


def precision_key(requested: bool, device_type: str = "cpu") -> dict[str, str]:
    """What a trained model's cache key adds for its precision: ``{"precision": "bf16"}``
    when bf16 is actually used, nothing in fp32 (so fp32 keys are those of models trained
    before precision was part of the key). A model trained under bf16 on one CPU is not
    reused on a CPU that runs fp32, nor the other way round."""
    name = precision_name(requested, device_type)
    return {"precision": name} if name == "bf16" else {}


def use_int8(requested: bool, device_type: str = "cpu") -> bool:
    """Whether frozen encoders encode in int8, given what a configuration ``requested``
    (dynamic int8 is a CPU engine: never on another device)."""
    mode = int8_mode()
    if mode == "off" or device_type != "cpu":
        return False
    return (requested or mode == "on") and int8_engine()


def encode_precision(bf16: bool, int8: bool, device_type: str = "cpu") -> str:
    """``"int8"``, ``"bf16"`` or ``"fp32"``: the precision retrieval encoders actually
    run at for the requests ``bf16`` and ``int8`` (int8 wins: no bf16 autocast on it)."""
    return "int8" if use_int8(int8, device_type) else precision_name(bf16, device_type)


def encode_precision_key(bf16: bool, int8: bool, device_type: str = "cpu") -> dict[str, str]:
    """What a key of something computed from encoder outputs (an experiment cell) adds
    for the encoding precision: ``{"precision": name}``, nothing in fp32 (the keys of
    before precision was keyed)."""
    name = encode_precision(bf16, int8, device_type)
    return {"precision": name} if name != "fp32" else {}
