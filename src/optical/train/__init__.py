"""Training: OPTICAL distillation of an English teacher into a multilingual student.

Public entry points (imported lazily, so ``import optical.train`` stays light):

* :func:`fit`, :class:`Task` — the one training loop, for any task (:mod:`optical.train.loop`);
* :func:`train_distill` — distillation on it (:mod:`optical.train.distill`);
* :class:`DistillConfig`, :func:`load_distill_config` — its configuration;
* :func:`load_student`, :class:`StudentEncoder`, :func:`load_any_encoder` — a trained
  student as an encoder (projection included; :mod:`optical.models.student`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "fit": "optical.train.loop",
    "Task": "optical.train.loop",
    "train_distill": "optical.train.distill",
    "validate": "optical.train.distill",
    "StepInfo": "optical.train.distill",
    "DistillConfig": "optical.train.config",
    "load_distill_config": "optical.train.config",
    "load_student": "optical.models.student",
    "load_any_encoder": "optical.models.student",
    "StudentEncoder": "optical.models.student",
    "latest_checkpoint": "optical.train.checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
