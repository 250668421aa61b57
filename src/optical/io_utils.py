"""Atomic file writes (a temp file in the same directory, fsync, then rename), checks of
output locations, and the removal of stale temporary files and staging folders.

Every OS failure of a write is raised as :class:`~optical.errors.FileError` naming the
file it was meant for and the system's cause (``No space left on device``, …); the
temporary file or staging folder is removed, so no half-written output is left.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import FileError, file_error

STALE_S = 6 * 3600
"""A temporary file or staging folder older than this is debris of a killed run and is
removed; a younger one may belong to another process writing beside it (a write of the
largest artifact takes minutes, never hours)."""


def age_s(path: Path) -> float:
    """Seconds since ``path`` was last modified (0 when it is gone meanwhile)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:  # removed meanwhile by its writer
        return 0.0


def remove_stale(folder: str | Path, pattern: str, max_age_s: float | None = None) -> list[Path]:
    """Delete the entries of ``folder`` matching ``pattern`` (files or folders) that are
    older than ``max_age_s`` (default :data:`STALE_S`); return the ones removed.

    The one cleanup of temporary names (``.name.*.tmp`` files and staging folders): a
    young entry is kept, since a running process may still own it.
    """
    limit = STALE_S if max_age_s is None else max_age_s
    removed = []
    try:
        entries = sorted(Path(folder).glob(pattern))
    except OSError:
        return []
    for path in entries:
        if age_s(path) <= limit:
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue  # another process removed or owns it; not ours to fail on
        removed.append(path)
    return removed


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OS error behind ``exc`` (itself, or its cause/context chain), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _write_failure(exc: BaseException, path: Path) -> FileError | None:
    """A :class:`FileError` naming ``path`` for a failed write, or ``None`` when ``exc`` is
    not an OS failure (a library such as torch may hide ``ENOSPC`` behind its own error:
    a full disk is then recognised by its free space)."""
    found = _os_error_in(exc)
    if found is not None:
        return file_error(found, path)
    try:
        full = shutil.disk_usage(path.parent).free == 0
    except OSError:
        full = False
    if full:
        return FileError(path, os.strerror(errno.ENOSPC), errno.ENOSPC)
    return None


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise file_error(exc, folder) from exc


def _new_temp_file(path: Path) -> Path:
    """Create an empty ``.<name>.<random>.tmp`` beside ``path`` with the mode of a new file
    (``0o666`` less the umask, like ``open``: not ``mkstemp``'s ``0600``)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise file_error(exc, path) from exc
        return tmp
    raise FileError(path, "cannot create a temporary file beside it")  # pragma: no cover


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temp file onto ``path``.

    A crash leaves either the old file or the new one, never a torn file. A failure
    raises :class:`FileError` naming ``path`` (``No space left on device``, …) and removes
    the temp file; stale temp files of ``path`` left by killed writers are removed.
    """
    path = Path(path)
    if path.is_dir():
        raise FileError(path, os.strerror(errno.EISDIR), errno.EISDIR)
    _mkdir(path.parent)
    remove_stale(path.parent, f".{path.name}.*.tmp")
    tmp_path = _new_temp_file(path)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except Exception as exc:
        failure = _write_failure(exc, path)
        if failure is None:
            raise
        raise failure from exc
    finally:
        tmp_path.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def atomic_folder(folder: str | Path) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``folder``, then swap it into place.

    ``with atomic_folder(out) as staging: write files into staging``. On success the old
    folder (if any) is renamed aside, the staging folder renamed onto ``folder`` and the
    old one deleted; on an exception the staging folder is removed and ``folder`` is
    left as it was (an OS failure is raised as :class:`FileError` naming ``folder``).
    A reader never sees a half-written folder. Staging and old folders of ``folder``
    left by killed runs (older than :data:`STALE_S`) are removed first.
    """
    folder = Path(folder)
    _mkdir(folder.parent)
    for suffix in ("tmp", "old"):
        remove_stale(folder.parent, f".{folder.name}.*.{suffix}")
    staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        staging.mkdir()
        yield staging
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
            folder.rename(old)
        staging.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except Exception as exc:
        failure = _write_failure(exc, folder)
        if failure is None:
            raise
        raise failure from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _require_writable_dir(folder: Path) -> None:
    if not folder.is_dir():
        raise FileError(folder, os.strerror(errno.ENOTDIR), errno.ENOTDIR)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FileError(folder, os.strerror(errno.EACCES), errno.EACCES)


def check_output_file(path: str | Path) -> Path:
    """Check, before any work, that ``path`` can be written as a file: not a directory,
    writable itself when it exists, and in a writable directory — or one that can be
    created: its nearest existing parent is a writable directory (not a file).

    Raises :class:`FileError` naming the path and the cause.
    """
    path = Path(path)
    if path.is_dir():
        raise FileError(path, os.strerror(errno.EISDIR), errno.EISDIR)
    _require_writable_dir(_nearest_existing(path.parent))
    if path.exists() and not os.access(path, os.W_OK):
        raise FileError(path, os.strerror(errno.EACCES), errno.EACCES)
    return path


def check_output_dir(folder: str | Path) -> Path:
    """Check, before any work, that ``folder`` is (or can be created as) a writable
    directory: an existing file there, or an unwritable nearest existing parent, raises
    :class:`FileError` naming it."""
    folder = Path(folder)
    if folder.exists():
        _require_writable_dir(folder)
    else:
        _require_writable_dir(_nearest_existing(folder.parent))
    return folder
