"""Training checkpoints: one ``torch.save`` dict per step, written atomically.

A checkpoint ``<dir>/checkpoint-<step:07d>.pt`` holds::

    {
      "format": 1,
      "step": int,                     # optimizer steps completed
      "model": {name: tensor},         # the student's *trainable* parameters only
      "projection": {name: tensor},    # the linear map student → teacher space ({} if none)
      "optimizer": AdamW state_dict,
      "scheduler": LambdaLR state_dict,
      "rng": {"torch": ByteTensor, "sampler": {"step", "drawn"}},
      "config": resolved config dict,
      "frozen": {"base": fingerprint of the student's base weights, "names": [...]},
      "metrics": last validation metrics ({} if none),
    }

Frozen parameters are not stored: they are the base model's and are rebuilt from it
(``frozen.base`` is checked on resume). The file is written to a temporary name in the
same directory, fsynced and renamed (:func:`optical.io_utils.atomic_write`), so a crash
leaves the previous checkpoint intact and never a torn file; a failed write (a full disk)
raises :class:`~optical.errors.FileError` naming the checkpoint and the cause
("No space left on device"). Temporary files of killed writers older than
:data:`optical.io_utils.STALE_S` are removed when the next checkpoint is saved.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import OpticalError
from ..io_utils import atomic_write, remove_stale

__all__ = [
    "CHECKPOINT_FORMAT",
    "checkpoint_path",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = 1
_NAME = re.compile(r"^checkpoint-(\d{7,})\.pt$")
_REQUIRED = ("format", "step", "model", "projection", "optimizer", "scheduler", "rng", "config")


def checkpoint_path(directory: str | Path, step: int) -> Path:
    """``<directory>/checkpoint-<step:07d>.pt``."""
    return Path(directory) / f"checkpoint-{step:07d}.pt"


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``directory`` as ``(step, path)``, oldest first.

    Temporary files of an interrupted write (``.checkpoint-….tmp``) are ignored.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The checkpoint with the highest step in ``directory``, or ``None``."""
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def save_checkpoint(directory: str | Path, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` atomically as the checkpoint of ``state["step"]``; keep the newest
    ``keep`` checkpoints and delete older ones (only after the new one is in place)."""
    import torch

    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    path = checkpoint_path(directory, int(state["step"]))
    remove_stale(directory, ".checkpoint-*.tmp")
    atomic_write(path, lambda tmp: _save(torch, state, tmp))
    for _step, old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def _save(torch: Any, state: dict[str, Any], tmp: Path) -> None:
    # through a Python file object, so that a failed write (ENOSPC, EFBIG) surfaces as the
    # OSError behind torch's own error instead of only "unexpected pos …"
    with open(tmp, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors on CPU).

    Raises :class:`OpticalError` for an unreadable file or an unknown format.
    """
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise OpticalError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise OpticalError(
            f"{path} is not an optical distillation checkpoint (format {CHECKPOINT_FORMAT})"
        )
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise OpticalError(f"checkpoint {path} lacks {missing}")
    return state
