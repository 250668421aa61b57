"""The Translator contract, checked on every backend (tiny models, synthetic oracle data).

Every backend: one Translation per text, in input order, each keeping its source text;
``[]`` for ``[]``; an empty, blank or non-string text is a clear error; language aliases
are normalised. Apertium runs only where it is installed (skipped with the reason).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from optical.errors import ConfigError
from optical.translate import (
    CachedTranslator,
    TranslationInputError,
    Translator,
    build_translator,
)
from optical.types import Translation
from tiny_mt import (
    MKQA_ES,
    SPANISH,
    XQUAD_ES,
    build_tiny_m2m100,
    build_tiny_marian,
    build_tiny_nllb,
    write_oracle_data,
)

pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

BACKENDS = ["oracle", "hf-marian", "hf-m2m100", "hf-nllb", "apertium", "cached-hf"]


@dataclass
class Case:
    translator: Translator
    texts: list[str]
    source: str
    target: str


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-mt")
    return {
        "marian": build_tiny_marian(root / "marian"),
        "m2m100": build_tiny_m2m100(root / "m2m100"),
        "nllb": build_tiny_nllb(root / "nllb"),
    }


@pytest.fixture(scope="module")
def oracle_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_oracle_data(tmp_path_factory.mktemp("oracle-data"))


def _apertium_or_skip() -> Translator:
    if shutil.which("apertium") is None:
        pytest.skip("apertium is not installed: apt-get install apertium apertium-eng-spa")
    translator = build_translator("apertium")
    if "spa-eng" not in translator.installed_modes():  # type: ignore[attr-defined]
        pytest.skip("the apertium spa-eng pair is not installed: apt-get install apertium-eng-spa")
    return translator


@pytest.fixture(params=BACKENDS)
def case(
    request: pytest.FixtureRequest, models: dict[str, Path], oracle_data: Path, tmp_path: Path
) -> Case:
    name = request.param
    if name == "oracle":
        texts = [es for _, es, _ in XQUAD_ES] + [MKQA_ES[0][1]]
        return Case(build_translator("oracle", data_dir=oracle_data), texts, "es", "en")
    if name == "apertium":
        return Case(_apertium_or_skip(), SPANISH[:4], "es", "en")
    if name == "cached-hf":
        inner = build_translator("hf", model=str(models["marian"]), max_new_tokens=6)
        return Case(CachedTranslator(inner, root=tmp_path / "cache"), SPANISH, "es", "en")
    family = name.removeprefix("hf-")
    translator = build_translator("hf", model=str(models[family]), max_new_tokens=6, batch_size=2)
    return Case(translator, SPANISH, "es", "en")


def test_results_keep_source_beside_translation(case: Case) -> None:
    results = case.translator.translate(case.texts, case.source, case.target)
    assert len(results) == len(case.texts)
    for text, result in zip(case.texts, results, strict=True):
        assert isinstance(result, Translation)
        assert result.source == text
        assert isinstance(result.text, str)
        assert (result.source_lang, result.target_lang) == (case.source, case.target)
        assert result.backend == case.translator.name


def test_order_is_preserved(case: Case) -> None:
    forward = case.translator.translate(case.texts, case.source, case.target)
    backward = case.translator.translate(case.texts[::-1], case.source, case.target)
    assert backward[::-1] == forward
    one_by_one = [case.translator.translate([t], case.source, case.target)[0] for t in case.texts]
    assert one_by_one == forward


def test_repeated_text_gives_repeated_result(case: Case) -> None:
    text = case.texts[0]
    results = case.translator.translate([text, case.texts[1], text], case.source, case.target)
    assert [r.source for r in results] == [text, case.texts[1], text]
    assert results[0] == results[2]


def test_empty_input_gives_empty_output(case: Case) -> None:
    assert case.translator.translate([], case.source, case.target) == []


@pytest.mark.parametrize("bad", ["", "   \n", None])
def test_empty_text_is_a_clear_error(case: Case, bad: object) -> None:
    with pytest.raises(TranslationInputError, match="position 1"):
        case.translator.translate([case.texts[0], bad], case.source, case.target)  # type: ignore[list-item]


def test_a_single_string_is_rejected(case: Case) -> None:
    with pytest.raises(TranslationInputError, match="not one string"):
        case.translator.translate(case.texts[0], case.source, case.target)  # type: ignore[arg-type]


def test_language_aliases_are_normalised(case: Case) -> None:
    results = case.translator.translate(case.texts[:1], "spa", "ENG")
    assert (results[0].source_lang, results[0].target_lang) == ("es", "en")


def test_unknown_or_identical_languages_are_config_errors(case: Case) -> None:
    with pytest.raises(ConfigError, match="unknown language"):
        case.translator.translate(case.texts[:1], "xx", "en")
    with pytest.raises(ConfigError, match="both 'es'"):
        case.translator.translate(case.texts[:1], "es", "es")


def test_fingerprint_is_stable(case: Case) -> None:
    first = case.translator.fingerprint()
    assert isinstance(first, str) and first
    assert case.translator.fingerprint() == first
    assert isinstance(case.translator, Translator)
