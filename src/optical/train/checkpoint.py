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
      "content_sha256": SHA-256 of everything above (:func:`content_digest`),
    }

Frozen parameters are not stored: they are the base model's and are rebuilt from it
(``frozen.base`` is checked on resume). The file is written to a temporary name in the
same directory, fsynced and renamed (:func:`optical.io_utils.atomic_write`), so a crash
leaves the previous checkpoint intact and never a torn file; a failed write (a full disk)
raises :class:`~optical.errors.FileError` naming the checkpoint and the cause
("No space left on device"). Temporary files of killed writers older than
:data:`optical.io_utils.STALE_S` are removed when the next checkpoint is saved.

Damage after the write (a disk error, a zeroed block) is caught on load:
:func:`load_checkpoint` recomputes ``content_sha256`` over the loaded tensors and values
(checkpoints written before it existed are checked against the zip archive's CRC-32
instead), and :func:`load_newest_intact` falls back from a damaged newest checkpoint to
the newest intact one with a logged warning, or raises an error naming every file when
none is intact.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

from ..errors import OpticalError
from ..io_utils import atomic_write, remove_stale

__all__ = [
    "CHECKPOINT_FORMAT",
    "checkpoint_path",
    "content_digest",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_newest_intact",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = 1
_NAME = re.compile(r"^checkpoint-(\d{7,})\.pt$")
_HASH_KEY = "content_sha256"
_REQUIRED = ("format", "step", "model", "projection", "optimizer", "scheduler", "rng", "config")


logger = logging.getLogger(__name__)


def _feed(digest: Any, value: Any) -> None:
    """Add ``value`` (nested dicts / lists / tuples of tensors and plain values) to
    ``digest`` in a canonical order (dict keys sorted by their repr)."""
    import torch

    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"V{type(value).__name__}:{value!r};".encode())


def content_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's content (every tensor's dtype, shape and bytes and every
    plain value), ``content_sha256`` itself left out."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in state.items() if k != _HASH_KEY})
    return digest.hexdigest()


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
    state = {**state, _HASH_KEY: content_digest(state)}
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

    Raises :class:`OpticalError` for an unreadable or damaged file (its content does
    not match ``content_sha256``) or an unknown format.
    """
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OpticalError(f"cannot read checkpoint {path}: {first}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise OpticalError(
            f"{path} is not an optical distillation checkpoint (format {CHECKPOINT_FORMAT})"
        )
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise OpticalError(f"checkpoint {path} lacks {missing}")
    recorded = state.pop(_HASH_KEY, None)
    if recorded is None:
        _check_archive(path)
    elif content_digest(state) != recorded:
        raise OpticalError(
            f"checkpoint {path} is damaged: its content does not match its recorded SHA-256"
        )
    return state


def _check_archive(path: Path) -> None:
    """A checkpoint without ``content_sha256`` (older format 1): check the CRC-32 of
    every member of its zip archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError) as exc:
        raise OpticalError(f"checkpoint {path} is damaged: {exc}") from exc
    if bad is not None:
        raise OpticalError(f"checkpoint {path} is damaged: {bad} fails its CRC-32 check")


def load_newest_intact(directory: str | Path) -> tuple[dict[str, Any], Path] | None:
    """The newest checkpoint of ``directory`` that loads intact, and its path.

    A damaged newer checkpoint is skipped with a logged warning that names it and the
    one resumed from instead; ``None`` when there is no checkpoint at all.

    Raises:
        OpticalError: there are checkpoints but none is intact (the message names each
            file and what is wrong with it).
    """
    found = list_checkpoints(directory)
    failures: list[str] = []
    for _step, path in reversed(found):
        try:
            state = load_checkpoint(path)
        except OpticalError as exc:
            failures.append(str(exc))
            logger.warning("%s; trying the previous checkpoint", exc)
            continue
        if failures:
            logger.warning(
                "resuming from %s (step %d) instead of the newest checkpoint, which is damaged",
                path,
                int(state["step"]),
            )
        return state, path
    if not found:
        return None
    raise OpticalError(
        f"no intact checkpoint in {directory}: {'; '.join(failures)}; "
        "delete them to start over, or choose another output folder"
    )
