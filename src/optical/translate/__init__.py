"""Machine translation for translate-test and back-translation baselines.

:func:`build_translator` builds a backend by name (``oracle``, ``hf``, ``apertium``);
wrap it in :class:`CachedTranslator` to keep every translation on disk. Backends are
imported only when built: importing this package loads neither torch nor transformers.
"""

from __future__ import annotations

from ..errors import (
    BackendUnavailableError,
    NoTranslationError,
    TranslationError,
    TranslationInputError,
)
from .base import (
    Translator,
    available_translators,
    build_translator,
    register_translator,
)
from .cache import CachedTranslator, CacheStats, CorruptTranslationCacheWarning, TranslationCache

__all__ = [
    "BackendUnavailableError",
    "CacheStats",
    "CachedTranslator",
    "CorruptTranslationCacheWarning",
    "NoTranslationError",
    "TranslationCache",
    "TranslationError",
    "TranslationInputError",
    "Translator",
    "available_translators",
    "build_translator",
    "register_translator",
]
