"""Where data and caches live: command-line flag, then environment, then default."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import FileError, OpticalError, file_error

DATA_ENV = "OPTICAL_DATA_DIR"
CACHE_ENV = "OPTICAL_CACHE_DIR"

_cache_override: list[Path] = []
"""The cache roots chosen for the work in progress (:func:`use_cache_dir`), innermost last."""


def data_dir(explicit: str | Path | None = None) -> Path:
    """The reference-data directory: ``explicit``, else ``$OPTICAL_DATA_DIR``.

    Raises :class:`OpticalError` when neither is set or the directory is missing.
    """
    value = explicit if explicit is not None else os.environ.get(DATA_ENV)
    if not value:
        raise OpticalError(
            f"no data directory: pass --data-dir DIR or set {DATA_ENV} "
            "(the Makefile points it at ../shared/data when present)"
        )
    path = Path(value).expanduser()
    if not path.is_dir():
        raise OpticalError(
            f"data directory not found: {path} (from {'--data-dir' if explicit else DATA_ENV})"
        )
    return path


def cache_dir(explicit: str | Path | None = None) -> Path:
    """Cache root for built models, embeddings and translations (created on demand).

    ``explicit``, else the root of the innermost :func:`use_cache_dir` (the command's
    ``--cache-dir``), else ``$OPTICAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/optical``
    (``~/.cache/optical``). A root that cannot be created or written raises
    :class:`~optical.errors.FileError` naming it.
    """
    value = explicit if explicit is not None else _chosen_root()
    if value:
        path = Path(value).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "optical"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise file_error(exc, path) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise FileError(
            path, f"cache directory is not writable ({os.strerror(errno.EACCES)})", errno.EACCES
        )
    return path


def _chosen_root() -> str | Path | None:
    return _cache_override[-1] if _cache_override else os.environ.get(CACHE_ENV)


@contextmanager
def use_cache_dir(explicit: str | Path | None) -> Iterator[None]:
    """Within the block, :func:`cache_dir` without an argument — every cache, the model
    folder of :mod:`optical.models.registry` included — uses ``explicit`` (no change
    when it is ``None``)."""
    if explicit is None:
        yield
        return
    _cache_override.append(Path(explicit).expanduser())
    try:
        yield
    finally:
        _cache_override.pop()
