"""The translator registry, request checks and the cheap import of ``optical.translate``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

import pytest

from optical.errors import ConfigError, OpticalError
from optical.translate import (
    TranslationError,
    TranslationInputError,
    available_translators,
    base,
    build_translator,
    register_translator,
)
from optical.translate.base import check_request, make_translations, snippet
from optical.types import Translation


class UpperTranslator:
    """A toy backend: 'translates' by upper-casing."""

    name = "upper"

    def __init__(self, *, suffix: str = "") -> None:
        self.suffix = suffix

    def fingerprint(self) -> str:
        return f"upper:{self.suffix}"

    def translate(
        self, texts: Sequence[str], source_lang: str, target_lang: str, progress: bool | str = False
    ) -> list[Translation]:
        items, source, target = check_request(texts, source_lang, target_lang)
        outputs = [t.upper() + self.suffix for t in items]
        return make_translations(items, outputs, source, target, self.name)


def test_builtin_backends_are_listed() -> None:
    assert {"oracle", "hf", "apertium"} <= set(available_translators())


def test_unknown_translator_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown translator 'deepl'.*apertium.*hf.*oracle"):
        build_translator("deepl")


def test_bad_option_is_a_config_error_listing_the_options() -> None:
    with pytest.raises(ConfigError, match=r"bad options for translator 'hf'.*num_beams"):
        build_translator("hf", model="x", beams=4)
    with pytest.raises(ConfigError, match="num_beams must be an integer"):
        build_translator("hf", model="x", num_beams=0)


def test_registered_backend_is_built_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_REGISTERED", {})
    register_translator("upper", UpperTranslator)
    translator = build_translator("Upper", suffix="!")
    assert "upper" in available_translators()
    results = translator.translate(["hola", "adiós"], "es", "en")
    assert [(r.source, r.text) for r in results] == [("hola", "HOLA!"), ("adiós", "ADIÓS!")]


def test_check_request_normalises_languages_and_rejects_bad_texts() -> None:
    assert check_request(("a", "b"), "ENG", " bn ") == (["a", "b"], "en", "bn")
    with pytest.raises(TranslationInputError, match="position 2"):
        check_request(["a", "b", "\t"], "en", "bn")
    with pytest.raises(TranslationInputError, match="position 0 is a int"):
        check_request([3], "en", "bn")  # type: ignore[list-item]
    # the input error is both an OpticalError and a ValueError
    assert issubclass(TranslationInputError, OpticalError)
    assert issubclass(TranslationInputError, ValueError)


def test_make_translations_refuses_a_count_mismatch() -> None:
    with pytest.raises(TranslationError, match="returned 1 translations for 2 texts"):
        make_translations(["a", "b"], ["x"], "es", "en", "toy")


def test_snippet_truncates_on_one_line() -> None:
    assert snippet("a\nb") == "a b"
    cut = snippet("x" * 200, limit=20)
    assert len(cut) == 20 and cut.endswith("…")


def test_import_is_cheap() -> None:
    code = (
        "import sys, optical.translate, optical.translate.cache, optical.translate.hf,"
        " optical.translate.oracle, optical.translate.apertium;"
        "heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
