"""Language codes: one canonical code per language across every data source.

Canonical codes are ISO 639-1 where one exists (``ar``, ``bn`` …); Filipino /
Tagalog is ``tl`` for both NTREX's ``fil`` and Tatoeba's ``tgl``.
"""

from __future__ import annotations

from .errors import ConfigError

NAMES: dict[str, str] = {
    "am": "Amharic",
    "ar": "Arabic",
    "bn": "Bengali",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fi": "Finnish",
    "ha": "Hausa",
    "hi": "Hindi",
    "ja": "Japanese",
    "km": "Khmer",
    "ko": "Korean",
    "ms": "Malay",
    "ru": "Russian",
    "so": "Somali",
    "sv": "Swedish",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "tl": "Tagalog/Filipino",
    "tr": "Turkish",
    "yo": "Yoruba",
    "zh": "Chinese",
}

ALIASES: dict[str, str] = {
    "amh": "am",
    "ara": "ar",
    "arb": "ar",
    "ben": "bn",
    "deu": "de",
    "eng": "en",
    "spa": "es",
    "fin": "fi",
    "fil": "tl",
    "tgl": "tl",
    "hau": "ha",
    "hin": "hi",
    "jpn": "ja",
    "kor": "ko",
    "rus": "ru",
    "som": "so",
    "swa": "sw",
    "swh": "sw",
    "tam": "ta",
    "tel": "te",
    "yor": "yo",
    "zho": "zh",
    "zh_cn": "zh",
}

HIGH_RESOURCE: frozenset[str] = frozenset({"ar", "de", "es", "fi", "ja", "ko", "ru", "zh"})
LOW_RESOURCE: frozenset[str] = frozenset(
    {"bn", "te", "hi", "sw", "so", "tl", "am", "ha", "yo", "ta"}
)


def normalize_lang(code: str) -> str:
    """Return the canonical code for ``code`` (strips spaces, maps aliases).

    Raises :class:`ConfigError` for a code this project does not know.
    """
    key = code.strip().lower()
    key = ALIASES.get(key, key)
    if key not in NAMES:
        raise ConfigError(f"unknown language code {code!r}; known: {', '.join(sorted(NAMES))}")
    return key


def is_known(code: str) -> bool:
    """True when :func:`normalize_lang` would accept ``code``."""
    key = code.strip().lower()
    return ALIASES.get(key, key) in NAMES
