"""Error types with messages a user can act on.

Every error the command line shows without a traceback derives from
:class:`OpticalError`; an operating-system failure on a file (permission, full disk,
a directory where a file is expected, …), undecodable text or a corrupt compressed file
is shown as one line by :func:`describe_os_error` (``PATH: cause``).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path


class OpticalError(Exception):
    """Base class: a problem the user can fix (bad input, missing data, bad config)."""


class MissingDataError(OpticalError):
    """A data file is absent.

    The message names the file, the directory that was searched and where the
    data comes from upstream.
    """

    def __init__(self, path: Path | str, searched: Path | str, upstream: str) -> None:
        self.path = Path(path)
        self.searched = Path(searched)
        self.upstream = upstream
        super().__init__(
            f"missing data file: {self.path}\n"
            f"  searched in: {self.searched}\n"
            f"  upstream source: {upstream}\n"
            "  set the data directory with --data-dir or OPTICAL_DATA_DIR"
        )


class DataFormatError(OpticalError):
    """A malformed record: the message is ``FILE:LINE: what is wrong``."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {problem}")


class ConfigError(OpticalError):
    """An invalid configuration value or an unknown name."""


class UnsupportedLanguageError(ConfigError):
    """A translation backend that does not serve a language pair (the oracle has no human
    translations for it, the NMT model no tag for the target): nothing is translated."""


class LeakError(ConfigError):
    """A training pool contains evaluation text (:func:`optical.data.evaluation_text.check_pool`).

    Like naming a benchmark as a training source, it is refused before any training. The
    message names, for the first overlaps, the pair's origin, its ``file:line``, the
    language, the text and the evaluation set(s); ``overlaps`` holds those records and
    ``total`` the number of pairs that overlap.
    """

    def __init__(self, message: str, overlaps: tuple[object, ...] = (), total: int = 0) -> None:
        self.overlaps = overlaps
        self.total = total
        super().__init__(message)


class TranslationError(OpticalError):
    """A translation request that cannot be served."""


class TranslationInputError(TranslationError, ValueError):
    """Bad input to :meth:`Translator.translate` (an empty or non-string text)."""


class NoTranslationError(TranslationError):
    """A backend that only knows some texts (the oracle) was asked for another one."""


class BackendUnavailableError(TranslationError):
    """A backend's model or program is not installed or cannot be loaded here."""


class FileError(OpticalError, OSError):
    """An operating-system failure on a file, as ``PATH: cause``.

    ``cause`` is the system's words (``No space left on device``, ``Permission denied``,
    …) where there are any. Also an :class:`OSError` (``errno``, ``filename``), so code
    that handles OS errors keeps handling it.
    """

    def __init__(self, path: Path | str, cause: str, errno: int | None = None) -> None:
        self.path = Path(path)
        self.cause = cause
        OSError.__init__(self, errno, cause, str(path))

    def __str__(self) -> str:
        return f"{self.path}: {self.cause}"

    def __reduce__(self) -> tuple[type, tuple[str, str, int | None]]:
        return (type(self), (str(self.path), self.cause, self.errno))


DECODE_ERRORS: tuple[type[Exception], ...] = (UnicodeDecodeError, EOFError, zlib.error)
"""Errors of reading text or compressed data that is not what it claims to be."""


def _cause(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, EOFError | zlib.error | gzip.BadGzipFile):
        return f"corrupt compressed data ({exc})"
    return str(exc) or type(exc).__name__


def describe_os_error(exc: BaseException, path: Path | str | None = None) -> str:
    """One line for an OS or decoding error: ``PATH: cause`` (``path`` when the error names
    no file; the error's own file otherwise, with its second file for a rename)."""
    if isinstance(exc, FileError):
        return str(exc)
    name = getattr(exc, "filename", None) or path
    other = getattr(exc, "filename2", None)
    where = f"{name} -> {other}" if name and other else name
    return f"{where}: {_cause(exc)}" if where else _cause(exc)


def file_error(exc: BaseException, path: Path | str) -> FileError:
    """``exc`` (an OS or decoding error) as a :class:`FileError` naming ``path``."""
    if isinstance(exc, FileError):
        return exc
    return FileError(path, _cause(exc), getattr(exc, "errno", None))
