"""The :class:`Translator` protocol, its errors, request checks and the backend registry.

A translator turns a batch of texts in ``source_lang`` into ``target_lang`` and
returns one :class:`~optical.types.Translation` per text, in input order, each
keeping its source text beside the translation (``Translation.source``).
Backends are built by name with :func:`build_translator`; the module of a
backend is imported only when that backend is built, so importing this module
is cheap (no torch, no transformers).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import (
    ConfigError,
    TranslationError,
    TranslationInputError,
)
from ..languages import normalize_lang
from ..types import Translation

Progress = bool | str
"""``False``: silent; ``True``: a progress bar with a default label; a string: its label."""


@runtime_checkable
class Translator(Protocol):
    """Batch machine translation between two languages of :data:`optical.languages.NAMES`.

    ``name`` is the backend's registry name (``"oracle"``, ``"hf"``, ``"apertium"`` …);
    :meth:`fingerprint` identifies everything that determines the output (backend,
    model files, decoding options), so that a cache keyed by it never serves a
    translation made by another model or with other settings.
    """

    name: str

    def fingerprint(self) -> str:
        """A stable string that changes whenever the translations could change."""
        ...

    def translate(
        self,
        texts: Sequence[str],
        source_lang: str,
        target_lang: str,
        progress: Progress = False,
    ) -> list[Translation]:
        """One :class:`Translation` per text, in input order; ``[]`` for ``[]``.

        Raises :class:`TranslationInputError` for an empty or non-string text and
        :class:`~optical.errors.ConfigError` for an unknown or unsupported language.
        """
        ...


def check_request(
    texts: Sequence[str], source_lang: str, target_lang: str
) -> tuple[list[str], str, str]:
    """Validate a translation request: ``(texts as a list, source code, target code)``.

    Language codes are normalised with :func:`optical.languages.normalize_lang`.
    Raises :class:`TranslationInputError` for a text that is not a string or is
    empty / whitespace only (naming its position), and :class:`ConfigError` for an
    unknown language or a source equal to the target.
    """
    if isinstance(texts, str):
        raise TranslationInputError(
            "translate() takes a sequence of texts, not one string: wrap it in a list"
        )
    items = list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise TranslationInputError(
                f"text at position {index} is a {type(text).__name__}, not a string"
            )
        if not text.strip():
            raise TranslationInputError(
                f"empty text at position {index}: there is nothing to translate "
                "(drop empty texts before translating)"
            )
    source, target = normalize_lang(source_lang), normalize_lang(target_lang)
    if source == target:
        raise ConfigError(f"source and target language are both {source!r}: nothing to translate")
    return items, source, target


def make_translations(
    sources: Sequence[str], outputs: Sequence[str], source: str, target: str, backend: str
) -> list[Translation]:
    """Pair each source with its output; a count mismatch is a backend bug (TranslationError)."""
    if len(sources) != len(outputs):
        raise TranslationError(
            f"backend {backend!r} returned {len(outputs)} translations for {len(sources)} "
            f"texts ({source}→{target})"
        )
    return [
        Translation(text, output, source, target, backend)
        for text, output in zip(sources, outputs, strict=True)
    ]


def snippet(text: str, limit: int = 80) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis (for messages)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


Factory = Callable[..., Translator]

_BUILTIN: dict[str, str] = {
    "oracle": "optical.translate.oracle:OracleTranslator",
    "hf": "optical.translate.hf:HFTranslator",
    "apertium": "optical.translate.apertium:ApertiumTranslator",
    "nmt": "optical.translate.nmt:NmtTranslator",
}
_REGISTERED: dict[str, Factory] = {}


def register_translator(name: str, factory: Factory) -> None:
    """Make ``build_translator(name, ...)`` call ``factory(**options)``.

    A later registration under the same name replaces the earlier one.
    """
    key = name.strip().lower()
    if not key:
        raise ConfigError("a translator needs a non-empty name")
    _REGISTERED[key] = factory


def available_translators() -> list[str]:
    """Names :func:`build_translator` accepts, sorted."""
    return sorted({*_BUILTIN, *_REGISTERED})


def _factory(key: str) -> Factory:
    if key in _REGISTERED:
        return _REGISTERED[key]
    module_name, _, attribute = _BUILTIN[key].partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def build_translator(name: str, **options: Any) -> Translator:
    """Build the translator backend ``name`` with its keyword ``options``.

    Raises :class:`ConfigError` for an unknown name (listing the known ones) or an
    option the backend does not take (listing the ones it does).
    """
    key = name.strip().lower()
    if key not in _BUILTIN and key not in _REGISTERED:
        raise ConfigError(
            f"unknown translator {name!r}; available: {', '.join(available_translators())}"
        )
    factory = _factory(key)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        params = [
            p.name
            for p in inspect.signature(factory).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        raise ConfigError(
            f"bad options for translator {key!r}: {exc}; it takes: {', '.join(params)}"
        ) from exc
    return factory(**options)
