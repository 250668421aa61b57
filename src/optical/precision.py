"""Whether bf16 autocast is worth it on this CPU.

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
"""

from __future__ import annotations

import functools
import os

from .errors import ConfigError

BF16_ENV = "OPTICAL_BF16"
_MODES = ("auto", "on", "off")


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


def bf16_mode() -> str:
    """The ``$OPTICAL_BF16`` setting (``auto`` when unset)."""
    mode = os.environ.get(BF16_ENV, "auto").strip().lower() or "auto"
    if mode not in _MODES:
        raise ConfigError(f"${BF16_ENV}={mode!r}: expected one of {', '.join(_MODES)}")
    return mode


def use_bf16(requested: bool) -> bool:
    """Whether to run bf16 autocast, given what a configuration ``requested``."""
    if not requested:
        return False
    mode = bf16_mode()
    if mode == "on":
        return True
    if mode == "off":
        return False
    return native_bf16()


def precision_name(requested: bool) -> str:
    """``"bf16"`` or ``"fp32"``: the precision actually used for a ``requested`` bf16."""
    return "bf16" if use_bf16(requested) else "fp32"


def precision_key(requested: bool) -> dict[str, str]:
    """What a trained model's cache key adds for its precision: ``{"precision": "bf16"}``
    when bf16 is actually used, nothing in fp32 (so fp32 keys are those of models trained
    before precision was part of the key). A model trained under bf16 on one CPU is not
    reused on a CPU that runs fp32, nor the other way round."""
    name = precision_name(requested)
    return {"precision": name} if name == "bf16" else {}
