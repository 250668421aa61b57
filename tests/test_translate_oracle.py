"""The oracle backend: human translations from XOR-TyDi, XQuAD and MKQA; never a pass-through."""

from __future__ import annotations

from pathlib import Path

import pytest

from optical.errors import ConfigError, MissingDataError
from optical.translate import NoTranslationError, build_translator
from optical.translate.oracle import OracleTranslator, oracle_key
from tiny_mt import MKQA_ES, MKQA_FI, XOR_FI, XQUAD_ES, write_oracle_data


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_oracle_data(tmp_path_factory.mktemp("oracle-data"))


def test_lookups_in_both_directions(data: Path) -> None:
    oracle = build_translator("oracle", data_dir=data)
    fi, en = XOR_FI[0]
    assert oracle.translate([fi], "fi", "en")[0].text == en
    assert oracle.translate([en], "en", "fi")[0].text == fi
    es_q, en_q = XQUAD_ES[1][1], XQUAD_ES[1][2]
    assert oracle.translate([es_q], "es", "en")[0].text == en_q
    assert oracle.translate([en_q], "en", "es")[0].text == es_q
    assert oracle.translate([MKQA_ES[0][2]], "en", "es")[0].text == MKQA_ES[0][1]
    assert oracle.translate([MKQA_FI], "fi", "en")[0].text == MKQA_ES[0][2]


def test_first_translation_wins_and_sources_set_precedence(data: Path) -> None:
    # XOR has two English wordings of one Finnish question: the first line wins
    oracle = OracleTranslator(data)
    assert oracle.translate([XOR_FI[1][0]], "fi", "en")[0].text == XOR_FI[1][1]
    # one Spanish question is in XQuAD and (translated differently) in MKQA
    question = XQUAD_ES[0][1]
    assert oracle.translate([question], "es", "en")[0].text == XQUAD_ES[0][2]
    mkqa_first = OracleTranslator(data, sources=["mkqa", "xquad"])
    assert mkqa_first.translate([question], "es", "en")[0].text == MKQA_ES[1][2]


def test_lookup_ignores_whitespace_and_unicode_form(data: Path) -> None:
    oracle = OracleTranslator(data)
    decomposed = "  ¿Quién escribio\u0301   Don Quijote? "
    assert oracle_key(decomposed) == XQUAD_ES[1][1]
    result = oracle.translate([decomposed], "es", "en")[0]
    assert result.source == decomposed  # the source is kept exactly as given
    assert result.text == XQUAD_ES[1][2]


def test_unknown_text_is_an_error_naming_text_and_direction(data: Path) -> None:
    oracle = OracleTranslator(data)
    long_text = "¿Cuántos habitantes tiene la ciudad de Buenos Aires? " * 5
    with pytest.raises(NoTranslationError) as caught:
        oracle.translate([XQUAD_ES[0][1], long_text, "otra"], "es", "en")
    message = str(caught.value)
    assert "¿Cuántos habitantes" in message and "…" in message  # named, truncated
    assert "(and 1 more)" in message
    assert "es→en" in message
    assert "xquad, mkqa" in message


def test_unsupported_directions_are_config_errors(data: Path) -> None:
    oracle = OracleTranslator(data)
    with pytest.raises(ConfigError, match="between English and another language"):
        oracle.translate(["hola"], "es", "fi")
    with pytest.raises(ConfigError, match=r"no human translations for sw→en"):
        oracle.translate(["habari"], "sw", "en")
    with pytest.raises(ConfigError, match="unknown oracle source"):
        OracleTranslator(data, sources=["wmt"])


def test_missing_data_file_names_the_file(tmp_path: Path) -> None:
    oracle = OracleTranslator(tmp_path, sources=["xor"])
    with pytest.raises(MissingDataError, match=r"fi\.txt"):
        oracle.translate(["Mikä?"], "fi", "en")


def test_fingerprint_follows_the_data(tmp_path: Path) -> None:
    root = write_oracle_data(tmp_path / "data")
    before = OracleTranslator(root).fingerprint()
    assert OracleTranslator(root, sources=["xor"]).fingerprint() != before
    with open(root / "xquad" / "xquad.es.json", "a", encoding="utf-8") as handle:
        handle.write("\n")
    assert OracleTranslator(root).fingerprint() != before


# ---- the real reference data (skipped when OPTICAL_DATA_DIR is unset) -----------------------


def _first(pairs: list[tuple[str, str]]) -> dict[str, str]:
    table: dict[str, str] = {}
    for text, translation in pairs:
        table.setdefault(oracle_key(text), translation)
    return table


def test_real_xor_translations(real_data_dir: Path) -> None:
    from optical.data.xor_tydi import (
        XOR_LANGUAGES,
        load_xor_train,
        load_xor_translations,
        translation_lookup,
    )

    oracle = OracleTranslator(real_data_dir)
    questions = [q for q in load_xor_train(real_data_dir) if q.english]
    assert questions
    for lang in XOR_LANGUAGES:
        chosen = [q for q in questions if q.lang == lang][:50]
        results = oracle.translate([q.question for q in chosen], lang, "en")
        assert [r.text for r in results] == [q.english for q in chosen], lang
        back = oracle.translate([q.english for q in chosen[:10]], "en", lang)
        assert all(r.text.strip() for r in back)
    # en→xx gives a question that the data translates with that English
    lookup = translation_lookup(load_xor_translations(real_data_dir, ["bn"]))
    sample = [q.english for q in questions if q.lang == "bn"][:20]
    for result in oracle.translate(sample, "en", "bn"):
        assert result.source in lookup[("bn", result.text)]


def test_real_xquad_english_originals(real_data_dir: Path) -> None:
    from optical.data.xquad import load_xquad

    benchmark = load_xquad(real_data_dir, languages=["es", "hi", "zh"])
    oracle = OracleTranslator(real_data_dir)
    for lang, queries in benchmark.queries.items():
        expected = _first([(q.text, q.english) for q in queries])
        results = oracle.translate([q.text for q in queries], lang, "en")
        assert [r.text for r in results] == [expected[oracle_key(q.text)] for q in queries]


def test_real_mkqa_english(real_data_dir: Path) -> None:
    from optical.data.bitext import load_mkqa

    pairs = load_mkqa(real_data_dir, ["sv", "tr"])
    oracle = OracleTranslator(real_data_dir)
    for lang, lang_pairs in pairs.items():
        expected = _first([(p.source, p.english) for p in lang_pairs])
        chosen = lang_pairs[:300]
        results = oracle.translate([p.source for p in chosen], lang, "en")
        assert [r.text for r in results] == [expected[oracle_key(p.source)] for p in chosen]


def test_real_unknown_question_is_an_error(real_data_dir: Path) -> None:
    oracle = OracleTranslator(real_data_dir)
    with pytest.raises(NoTranslationError, match=r"'Hvem vant VM i fotball 1954\?'.*sv→en"):
        oracle.translate(["Hvem vant VM i fotball 1954?"], "sv", "en")
