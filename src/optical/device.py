"""Where models and tensors live: the ``device`` setting, parsed once.

A configuration's ``[run] device`` (and ``--device`` on the command line) is one of

* ``auto`` (default): CUDA when ``torch.cuda.is_available()``, else the CPU;
* ``cpu``;
* ``cuda`` or ``cuda:N``: a CUDA device; an error (not a traceback deep in a forward
  pass) when this torch build or machine has none, or fewer than ``N + 1``;
* ``mps``: Apple's Metal backend.

Under ``torchrun`` (``LOCAL_RANK`` set), ``auto`` and ``cuda`` bind each process to
``cuda:LOCAL_RANK``, so eight ranks on an eight-GPU machine use eight GPUs; an explicit
``cuda:N`` is taken as given. :func:`process_group_backend` picks NCCL for CUDA and gloo
otherwise. :func:`autocast` is the one bf16 autocast context of the project, for the
device type a tensor lives on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "DEVICE_CHOICES",
    "autocast",
    "check_device_name",
    "process_group_backend",
    "resolve_device",
    "to_device",
]

DEVICE_CHOICES = "auto | cpu | cuda | cuda:N | mps"
_SYNTAX = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(name: str, where: str = "device") -> str:
    """``name`` normalised (stripped, lower case); a :class:`ConfigError` naming
    ``where`` unless it is one of :data:`DEVICE_CHOICES`."""
    text = str(name).strip().lower()
    if not _SYNTAX.fullmatch(text):
        raise ConfigError(f"{where}: {name!r} is not a device; expected {DEVICE_CHOICES}")
    return text


def _local_rank() -> int | None:
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value is not None and value.strip().isdigit() else None


def resolve_device(name: str = "auto", where: str = "device") -> torch.device:
    """The ``torch.device`` a setting ``name`` means on this machine (see the module
    docstring). Raises :class:`ConfigError` for a device this machine does not have."""
    import torch

    text = check_device_name(name, where)
    if text == "cpu" or (text == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"{where}: 'mps' requested, but this machine has no MPS device")
        return torch.device("mps")
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + (
            "" if torch.version.cuda else ", a build without CUDA"
        )
        raise ConfigError(
            f"{where}: {name!r} requested, but CUDA is not available here ({build}); "
            "use 'cpu' or 'auto'"
        )
    count = torch.cuda.device_count()
    index = int(text.split(":")[1]) if ":" in text else _local_rank() or 0
    if index >= count:
        raise ConfigError(
            f"{where}: {name!r} means cuda:{index}, but this machine has {count} CUDA "
            f"device(s) (cuda:0 … cuda:{count - 1})"
        )
    return torch.device("cuda", index)


def process_group_backend(device: torch.device) -> str:
    """``"nccl"`` for ranks on CUDA devices, ``"gloo"`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def autocast(device: torch.device | str, enabled: bool) -> AbstractContextManager:
    """bf16 autocast on ``device``'s type (``"cpu"``, ``"cuda"``, …) when ``enabled``;
    a no-op context otherwise."""
    import torch

    kind = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=enabled)


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """``batch`` with every tensor moved to ``device`` (other values as they are; a tensor
    already there is not copied)."""
    import torch

    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
