"""Fonts for labels in any script: a matplotlib font-family list that covers given strings.

Matplotlib draws each character with the first font of a text's family list that has a glyph
for it, and a character no font of the list has comes out as a box (with one "Glyph … missing
from font(s)" warning per character). :func:`fonts_for` picks, from the fonts matplotlib knows,
the default font (DejaVu Sans unless ``rcParams`` say otherwise), then each installed font
that has some of the characters still uncovered, tried in order: the Noto script fonts in
:data:`PREFERRED` order, then every other installed family. Characters no installed font has
are named in one logged warning. On Debian, ``scripts/install-fonts`` (run by ``make test``,
``make experiment`` …) installs ``fonts-noto-core`` and ``fonts-noto-cjk``, which cover the
scripts of every language in :mod:`optical.languages`.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_log = logging.getLogger(__name__)

__all__ = ["PREFERRED", "FontChoice", "fonts_for"]

# Tried in this order for the characters the default font lacks.
PREFERRED = (
    "Noto Sans",
    "Noto Sans Arabic",
    "Noto Sans Bengali",
    "Noto Sans Devanagari",
    "Noto Sans Telugu",
    "Noto Sans Tamil",
    "Noto Sans Ethiopic",
    "Noto Sans Khmer",
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Sans CJK SC",
)
# Never used as a fallback: matplotlib's box-drawing last resort and the TeX fonts (their
# cmaps put math symbols at Latin code points).
_NOT_A_FALLBACK = re.compile(r"^(Last Resort|cm[a-z]+\d+$|STIXNonUnicode)")
_MAX_NAMED = 24  # characters named in the warning


@dataclass(frozen=True)
class FontChoice:
    """``families``: the ``fontfamily`` list to draw the labels with (default font first);
    ``missing``: the characters (sorted) that no installed font has."""

    families: list[str]
    missing: str


def fonts_for(labels: Iterable[str]) -> FontChoice:
    """The font families that together have a glyph for every character of ``labels``.

    Logs one warning naming the characters (with their Unicode script) that no installed
    font covers; never raises.
    """
    from matplotlib import font_manager

    needed = {ord(c) for label in labels for c in label if not c.isspace()}
    default_path = font_manager.findfont(font_manager.FontProperties())
    faces = _regular_faces()
    default = next(
        (name for name, face in faces.items() if face == _face_of(default_path)), "DejaVu Sans"
    )
    families = [default]
    missing = needed - _cmap(*_face_of(default_path))
    others = sorted(name for name in faces if name not in PREFERRED)
    for family in (*PREFERRED, *others) if missing else ():
        if family == default or family not in faces or _NOT_A_FALLBACK.match(family):
            continue
        covered = missing & _cmap(*faces[family])
        if covered:
            families.append(family)
            missing -= covered
            if not missing:
                break
    if missing:
        _log.warning(
            "no installed font has a glyph for these label characters, drawn as boxes: %s "
            "(scripts/install-fonts installs Debian's fonts-noto-core and fonts-noto-cjk)",
            _describe(missing),
        )
    return FontChoice(families, "".join(chr(c) for c in sorted(missing)))


def _face_of(path: str) -> tuple[str, int]:
    return os.path.realpath(path), int(getattr(path, "face_index", 0))


def _regular_faces() -> dict[str, tuple[str, int]]:
    """Each installed family's most regular face (upright, normal width, weight nearest
    400), as matplotlib's ``findfont`` picks it for a plain label: ``(path, face index)``."""
    from matplotlib import font_manager

    best: dict[str, tuple[tuple[bool, bool, float], tuple[str, int]]] = {}
    for entry in font_manager.fontManager.ttflist:
        weight = font_manager.weight_dict.get(entry.weight, entry.weight)
        rank = (entry.style != "normal", entry.stretch != "normal", abs(float(weight) - 400))
        if entry.name not in best or rank < best[entry.name][0]:
            best[entry.name] = (rank, (os.path.realpath(entry.fname), int(entry.index)))
    return {name: face for name, (_, face) in best.items()}


@lru_cache(maxsize=256)
def _cmap(path: str, face_index: int) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(FT2Font(path, face_index=face_index).get_charmap())
    except (OSError, RuntimeError, ValueError) as error:
        _log.debug("cannot read the character map of %s: %s", path, error)
        return frozenset()


def _describe(code_points: set[int]) -> str:
    """``ETHIOPIC ሰ (U+1230), U+10FFFD`` grouped by script (the first word of the
    character's Unicode name)."""
    by_script: dict[str, list[str]] = {}
    for code in sorted(code_points)[:_MAX_NAMED]:
        name = unicodedata.name(chr(code), "")
        label = f"{chr(code)} (U+{code:04X})" if name else f"U+{code:04X}"
        by_script.setdefault(name.split(" ")[0] if name else "unnamed", []).append(label)
    parts = [f"{script} {', '.join(chars)}" for script, chars in by_script.items()]
    more = len(code_points) - _MAX_NAMED
    return "; ".join(parts) + (f" and {more} more characters" if more > 0 else "")
