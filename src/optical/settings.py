"""Where data and caches live: command-line flag, then environment, then default."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OpticalError

DATA_ENV = "OPTICAL_DATA_DIR"
CACHE_ENV = "OPTICAL_CACHE_DIR"


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

    ``explicit``, else ``$OPTICAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/optical``
    (``~/.cache/optical``).
    """
    value = explicit if explicit is not None else os.environ.get(CACHE_ENV)
    if value:
        path = Path(value).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "optical"
    path.mkdir(parents=True, exist_ok=True)
    return path
