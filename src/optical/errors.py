"""Error types with messages a user can act on.

Every error the command line shows without a traceback derives from
:class:`OpticalError`.
"""

from __future__ import annotations

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


class TranslationError(OpticalError):
    """A translation request that cannot be served."""


class TranslationInputError(TranslationError, ValueError):
    """Bad input to :meth:`Translator.translate` (an empty or non-string text)."""


class NoTranslationError(TranslationError):
    """A backend that only knows some texts (the oracle) was asked for another one."""


class BackendUnavailableError(TranslationError):
    """A backend's model or program is not installed or cannot be loaded here."""
