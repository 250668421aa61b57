"""The ``apertium`` backend: Debian's rule-based MT through the ``apertium`` command.

A direction is an installed Apertium *mode* such as ``spa-eng`` (ISO 639-3 codes, or
the two-letter codes of older pairs). Debian packages the pairs with English that
matter here as ``apertium-eng-spa`` (Spanish, used for the Spanish XQuAD questions);
install with ``apt-get install apertium apertium-eng-spa`` (as root). A missing
program or pair raises :class:`~optical.translate.base.BackendUnavailableError` with
that advice.

Texts go through one ``apertium -u -f txt MODE`` process per chunk, one text per
paragraph: texts are separated by a blank line, so that a text's translation does not
depend on its neighbours (joined by single line breaks, a text's capitalisation would);
whitespace inside a text is collapsed to single spaces. ``-u`` drops the ``*`` that
marks unknown words (``mark_unknown=True`` keeps it). Should the output ever come back
with another number of paragraphs, that chunk is translated again one text per process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import BackendUnavailableError, ConfigError, TranslationError
from ..languages import NAMES
from ..types import Translation
from .base import Progress, check_request, make_translations

APERTIUM_CODES: dict[str, str] = {
    "am": "amh",
    "ar": "ara",
    "bn": "ben",
    "de": "deu",
    "en": "eng",
    "es": "spa",
    "fi": "fin",
    "ha": "hau",
    "hi": "hin",
    "ja": "jpn",
    "km": "khm",
    "ko": "kor",
    "ms": "msa",
    "ru": "rus",
    "so": "som",
    "sv": "swe",
    "sw": "swa",
    "ta": "tam",
    "te": "tel",
    "tl": "tgl",
    "tr": "tur",
    "yo": "yor",
    "zh": "zho",
}
"""Canonical code → Apertium's (ISO 639-3) code."""

DEBIAN_PACKAGES: dict[frozenset[str], str] = {frozenset({"en", "es"}): "apertium-eng-spa"}
"""Debian packages of the Apertium pairs between English and this project's languages."""

INSTALL_HINT = "apt-get install apertium apertium-eng-spa"


def _package_hint(source: str, target: str) -> str:
    package = DEBIAN_PACKAGES.get(frozenset({source, target}))
    if package:
        return f"install it with `apt-get install apertium {package}` (Debian/Ubuntu, as root)"
    return (
        f"Debian has no Apertium pair for {NAMES[source]}–{NAMES[target]}; pairs with English "
        "that it has: `apt-cache search apertium | grep -i eng` (for this project's languages "
        f"only Spanish: {INSTALL_HINT})"
    )


def find_apertium(executable: str = "apertium") -> str:
    """Path of the ``apertium`` program; BackendUnavailableError saying how to install it."""
    found = shutil.which(executable)
    if found is None:
        raise BackendUnavailableError(
            f"the apertium program ({executable!r}) is not installed or not on PATH: "
            f"install it with `{INSTALL_HINT}` (Debian/Ubuntu, as root)"
        )
    return found


class ApertiumTranslator:
    """Rule-based MT with the locally installed Apertium pairs (see the module docstring).

    ``data_dir`` is Apertium's data folder (``-d``; default ``$APERTIUM_DATADIR`` or
    ``/usr/share/apertium``); ``chunk_texts`` texts go through one process, which
    must finish within ``timeout_s`` seconds.
    """

    name = "apertium"

    def __init__(
        self,
        *,
        executable: str = "apertium",
        data_dir: str | Path | None = None,
        mark_unknown: bool = False,
        chunk_texts: int = 500,
        timeout_s: float = 600.0,
    ) -> None:
        if not isinstance(chunk_texts, int) or chunk_texts < 1:
            raise ConfigError("apertium option chunk_texts must be an integer ≥ 1")
        self.executable = executable
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.mark_unknown = mark_unknown
        self.chunk_texts = chunk_texts
        self.timeout_s = timeout_s
        self._modes: list[str] | None = None

    def _base_command(self) -> list[str]:
        command = [find_apertium(self.executable)]
        if self.data_dir is not None:
            command += ["-d", str(self.data_dir)]
        return command

    def _modes_dir(self) -> Path:
        base = self.data_dir or Path(os.environ.get("APERTIUM_DATADIR", "/usr/share/apertium"))
        return base / "modes"

    def installed_modes(self) -> list[str]:
        """Directions the local Apertium can translate (``apertium -l``, read once), sorted."""
        if self._modes is None:
            result = self._run([*self._base_command(), "-l"], "")
            self._modes = sorted(line.strip() for line in result.splitlines() if line.strip())
        return list(self._modes)

    def mode(self, source: str, target: str) -> str:
        """The installed mode for ``source``→``target``; BackendUnavailableError if none."""
        installed = set(self.installed_modes())
        # a language without a three-letter Apertium code is looked up by its own code
        coded = f"{APERTIUM_CODES.get(source, source)}-{APERTIUM_CODES.get(target, target)}"
        candidates = list(dict.fromkeys([coded, f"{source}-{target}"]))
        for candidate in candidates:
            if candidate in installed:
                return candidate
        raise BackendUnavailableError(
            f"no Apertium pair for {source}→{target} is installed (looked for "
            f"{' or '.join(candidates)}; installed: {', '.join(sorted(installed)) or 'none'}): "
            + _package_hint(source, target)
        )

    def fingerprint(self) -> str:
        """Apertium's version, the installed modes and the data files they use."""
        parts = [f"apertium:v1:unknown-marks={self.mark_unknown}"]
        parts.append(self._run([*self._base_command(), "-V"], "").strip())
        for mode_file in sorted(self._modes_dir().glob("*.mode")):
            text = mode_file.read_text(encoding="utf-8", errors="replace")
            parts.append(f"{mode_file.name}:{text}")
            for token in text.replace("'", " ").replace('"', " ").split():
                path = Path(token)
                if path.is_absolute() and path.is_file():
                    stat = path.stat()
                    parts.append(f"{path}:{stat.st_size}:{int(stat.st_mtime)}")
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        return f"apertium:{digest[:20]}"

    def _run(self, command: list[str], text: str) -> str:
        try:
            done = subprocess.run(
                command,
                input=text,
                capture_output=True,
                text=True,
                encoding="utf-8",
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TranslationError(
                f"apertium did not finish within {self.timeout_s:g} s: lower chunk_texts or "
                "raise timeout_s"
            ) from exc
        except OSError as exc:
            raise BackendUnavailableError(f"cannot run apertium: {exc}; {INSTALL_HINT}") from exc
        if done.returncode != 0:
            raise TranslationError(
                f"`{' '.join(command)}` failed (exit {done.returncode}): {done.stderr.strip()}"
            )
        return done.stdout

    def _translate_lines(self, mode: str, lines: list[str]) -> list[str]:
        command = [*self._base_command(), "-f", "txt"]
        if not self.mark_unknown:
            command.append("-u")
        command.append(mode)
        # a blank line between texts makes each one a paragraph of its own (module docstring)
        output = self._run(command, "\n\n".join(lines) + "\n").strip("\n").split("\n\n")
        if len(output) == len(lines):
            return [" ".join(line.split()) for line in output]
        warnings.warn(
            f"apertium {mode} returned {len(output)} texts for {len(lines)}: translating "
            "this chunk one text at a time",
            RuntimeWarning,
            stacklevel=3,
        )
        return [" ".join(self._run(command, line + "\n").split()) for line in lines]

    def translate(
        self,
        texts: Sequence[str],
        source_lang: str,
        target_lang: str,
        progress: Progress = False,
    ) -> list[Translation]:
        """Translate with the installed mode for the direction; results in input order."""
        items, source, target = check_request(texts, source_lang, target_lang)
        if not items:
            return []
        mode = self.mode(source, target)
        lines = [" ".join(text.split()) for text in items]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            label = progress if isinstance(progress, str) else f"apertium {mode}"
            bar = tqdm(total=len(lines), desc=label, unit="text", leave=False)
        outputs: list[str] = []
        for start in range(0, len(lines), self.chunk_texts):
            chunk = lines[start : start + self.chunk_texts]
            outputs += self._translate_lines(mode, chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        return make_translations(items, outputs, source, target, self.name)
