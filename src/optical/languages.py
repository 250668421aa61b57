"""Language codes: one canonical code per language across every data source.

Canonical codes are ISO 639-1 where one exists (``ar``, ``bn`` …) and ISO 639-3
otherwise (Bemba ``bem``, Nigerian Pidgin ``pcm``); every ISO 639-3 code a data file
uses maps to it here (``hau`` → ``ha``, ``kin`` → ``rw``, ``swh`` → ``sw`` …), and
nowhere else. Filipino / Tagalog is ``tl`` for both NTREX's ``fil`` and Tatoeba's ``tgl``.

Each language belongs to one resource group (:func:`resource_group`): ``high``,
``low``, or ``unseen`` — not among the 100 languages of XLM-R's CC-100 pre-training
corpus, which multilingual-e5 inherits (Conneau et al. 2020, table 6). Hausa, Swahili,
Somali, Amharic and Xhosa are CC-100 languages and so ``low``, not ``unseen``.
"""

from __future__ import annotations

from .errors import ConfigError

NAMES: dict[str, str] = {
    "am": "Amharic",
    "bem": "Bemba",
    "ar": "Arabic",
    "bn": "Bengali",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fi": "Finnish",
    "ha": "Hausa",
    "hi": "Hindi",
    "ig": "Igbo",
    "ja": "Japanese",
    "km": "Khmer",
    "ko": "Korean",
    "lg": "Luganda",
    "ms": "Malay",
    "ny": "Chichewa",
    "pcm": "Nigerian Pidgin",
    "ru": "Russian",
    "rw": "Kinyarwanda",
    "sn": "Shona",
    "so": "Somali",
    "sv": "Swedish",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "tl": "Tagalog/Filipino",
    "tn": "Setswana",
    "tr": "Turkish",
    "tw": "Twi",
    "xh": "Xhosa",
    "yo": "Yoruba",
    "zh": "Chinese",
    "zu": "Zulu",
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
    "ibo": "ig",
    "kin": "rw",
    "lug": "lg",
    "nya": "ny",
    "sna": "sn",
    "tsn": "tn",
    "twi": "tw",
    "xho": "xh",
    "zul": "zu",
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

HIGH_RESOURCE: frozenset[str] = frozenset(
    {"ar", "de", "es", "fi", "ja", "ko", "ru", "sv", "tr", "zh"}
)
LOW_RESOURCE: frozenset[str] = frozenset(
    {"bn", "te", "hi", "sw", "so", "tl", "am", "ha", "ta", "km", "ms", "xh"}
)
UNSEEN: frozenset[str] = frozenset(
    {"bem", "ig", "lg", "ny", "pcm", "rw", "sn", "tn", "tw", "yo", "zu"}
)
"""Languages outside XLM-R's CC-100 pre-training corpus (the AfriQA languages but Hausa)."""
RESOURCE_GROUPS: dict[str, frozenset[str]] = {
    "high": HIGH_RESOURCE,
    "low": LOW_RESOURCE,
    "unseen": UNSEEN,
}
"""Resource group → its languages; every language of :data:`NAMES` but English is in one."""
GROUP_TITLES: dict[str, str] = {
    "high": "high-resource",
    "low": "low-resource",
    "unseen": "not in the encoder's pre-training",
}


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


def resource_group(code: str) -> str:
    """The resource group of a language (``high`` / ``low`` / ``unseen``; ``en`` is ``high``)."""
    lang = normalize_lang(code)
    if lang == "en":
        return "high"
    return next(name for name, members in RESOURCE_GROUPS.items() if lang in members)
