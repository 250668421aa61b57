"""The larger bitext corpora (OPUS Tatoeba, newstest, LAFAND-MT, MENYO-20k, small_parallel_enja)
and the training-source registry: real-data counts against the data README, and tiny
temporary files for dedup across sources, errors, the enja warning and the registry.

The real-data tests read ``$OPTICAL_DATA_DIR`` (else ``../shared/data``) and skip with the
reason when it is absent.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import pytest

from optical.data import DATASETS, describe, record_skips, training_bitext
from optical.data.more_bitext import (
    ENJA_NOTE,
    load_lafand,
    load_menyo20k,
    load_newstest,
    load_opus_tatoeba,
    load_small_parallel_enja,
)
from optical.data.skips import Skip
from optical.data.training import (
    BENCHMARK_SOURCES,
    DEFAULT_SOURCES,
    SOURCES,
    TRAINING_SOURCE_SPECS,
    TRAINING_SOURCES,
    _check_sources,
    text_key,
)
from optical.errors import ConfigError, DataFormatError, MissingDataError
from optical.train.config import DataConfig
from test_data_synthetic import build_mini

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The data README's counts (bitext/); no file of these corpora has an empty line, so
# every line is a pair.
OPUS_TATOEBA = {
    "ar": 10010, "bn": 2050, "fi": 10582, "ja": 13810, "ko": 1925, "ru": 19390, "hi": 4518,
    "tl": 2271, "te": 27, "sw": 46, "ta": 15,
}  # fmt: skip
NEWSTEST = {"ru": 22822, "fi": 10352}
LAFAND_TRAIN = {
    "ha": 3044, "ig": 6795, "tw": 3337, "yo": 6571, "zu": 3500, "sw": 30333, "lg": 4066,
    "pcm": 4788, "tn": 2099,
}  # fmt: skip
LAFAND_DEV = {
    "ha": 1282, "ig": 1484, "rw": 460, "tw": 1270, "yo": 1544, "zu": 1239, "sw": 1784,
    "am": 898, "lg": 1419, "pcm": 1482, "tn": 1342, "xh": 469, "sn": 556, "ny": 483,
}  # fmt: skip
MENYO = {"train": 9990, "dev": 3352}
ENJA = {"train": 49996, "dev": 500, "test": 500}
# Every language of the default training pool (XOR, Tatoeba, MKQA and the new corpora).
DEFAULT_POOL_LANGS = {
    *("am", "ar", "bn", "es", "fi", "ha", "hi", "ig", "ja", "km", "ko", "lg", "ms", "ny"),
    *("pcm", "ru", "rw", "sn", "sv", "sw", "ta", "te", "tl", "tn", "tr", "tw", "xh", "yo"),
    *("zh", "zu", "bem"),
}


def _split_counts(pairs: dict[str, list]) -> dict[str, Counter[str]]:
    """Pairs per language and split (the split is the id part after the origin)."""
    return {lang: Counter(p.id.split("-")[-3] for p in ps) for lang, ps in pairs.items()}


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def data() -> Path:
    path = Path(os.environ.get("OPTICAL_DATA_DIR") or DEFAULT_DIR)
    if not (path / "bitext" / "lafand-mt").is_dir():
        pytest.skip(
            f"real reference data not found at {path}: set OPTICAL_DATA_DIR to the shared data "
            "directory (it holds bitext/opus-tatoeba, bitext/lafand-mt …)"
        )
    return path


def test_opus_tatoeba_counts(data: Path) -> None:
    pairs = load_opus_tatoeba(data)
    assert {lang: len(p) for lang, p in pairs.items()} == OPUS_TATOEBA
    assert {p.origin for ps in pairs.values() for p in ps} == {"opus-tatoeba"}
    first = pairs["ja"][0]
    assert first.id == "opus-tatoeba-ja-1"
    assert first.where.endswith("opus-tatoeba/tatoeba-v2021-08-07.jpn-eng.jpn:1")


def test_newstest_counts(data: Path) -> None:
    pairs = load_newstest(data)
    assert {lang: len(p) for lang, p in pairs.items()} == NEWSTEST
    assert pairs["ru"][-1].id == "newstest-ru-22822"


def test_lafand_counts_per_split(data: Path) -> None:
    pairs = load_lafand(data)
    expected = {
        lang: Counter({"train": LAFAND_TRAIN.get(lang, 0), "dev": LAFAND_DEV[lang]})
        for lang in LAFAND_DEV
    }
    assert _split_counts(pairs) == {lang: +c for lang, c in expected.items()}
    assert set(pairs) == set(LAFAND_DEV) >= set(LAFAND_TRAIN)  # pcm has no ISO 639-1 code
    ids = [p.id for ps in pairs.values() for p in ps]
    assert len(set(ids)) == len(ids)  # the split is part of the id
    assert pairs["yo"][0].id == "lafand-mt-train-yo-1"
    assert pairs["yo"][LAFAND_TRAIN["yo"]].id == "lafand-mt-dev-yo-1"
    train_only = load_lafand(data, ["pcm"], splits=("train",))
    assert {lang: len(p) for lang, p in train_only.items()} == {"pcm": LAFAND_TRAIN["pcm"]}


def test_menyo20k_counts(data: Path) -> None:
    pairs = load_menyo20k(data)
    assert _split_counts(pairs) == {"yo": Counter(MENYO)}
    assert {p.origin for p in pairs["yo"]} == {"menyo20k"}


def test_small_parallel_enja_counts_and_form(data: Path) -> None:
    default = load_small_parallel_enja(data)
    assert _split_counts(default) == {"ja": Counter({"train": ENJA["train"]})}  # train only
    every = load_small_parallel_enja(data, splits=("train", "dev", "test"))
    assert _split_counts(every) == {"ja": Counter(ENJA)}
    # Tokenized and lowercased, as the README says: no upper case, split clitics.
    english = [p.english for p in default["ja"]]
    assert all(text == text.lower() for text in english)
    assert sum(" 's " in f" {text} " or " 't " in f" {text} " for text in english) > 1000


def test_catalog_entries(data: Path) -> None:
    lafand = describe("lafand-mt", data)
    assert lafand["languages"]["yo"] == {"pairs": LAFAND_TRAIN["yo"] + LAFAND_DEV["yo"]}
    assert lafand["languages"]["rw"] == {"pairs": LAFAND_DEV["rw"]}
    assert lafand["total"] == {"pairs": sum(LAFAND_TRAIN.values()) + sum(LAFAND_DEV.values())}
    assert describe("opus-tatoeba", data)["total"] == {"pairs": sum(OPUS_TATOEBA.values())}
    assert describe("newstest", data)["languages"] == {
        lang: {"pairs": n} for lang, n in sorted(NEWSTEST.items())
    }
    assert describe("menyo20k", data)["total"] == {"pairs": sum(MENYO.values())}
    enja = describe("small-parallel-enja", data)
    assert enja["total"] == {"pairs": ENJA["train"]}
    assert "tokenized and lowercased" in enja["description"]
    assert all((data / f).is_file() for f in DATASETS["training-bitext"].files)


@pytest.mark.slow
def test_default_training_pool_languages_and_dedup(data: Path) -> None:
    with record_skips() as skips:
        pairs = training_bitext(data)
    assert set(pairs) == DEFAULT_POOL_LANGS
    assert {"ha", "ig", "yo", "zu", "tw", "sw"} <= set(pairs)
    flat = [p for ps in pairs.values() for p in ps]
    assert {p.origin for p in flat} == set(DEFAULT_SOURCES)
    assert len({(p.lang, text_key(p.source), text_key(p.english)) for p in flat}) == len(flat)
    dups = {(s.source, s.lang): s.count for s in skips if s.reason == "duplicate pair"}
    # About 5,300 of LAFAND's Yoruba train pairs are in MENYO-20k (data README); measured:
    # 5,944 MENYO pairs (train and dev) repeat a LAFAND pair, 3 more repeat a MENYO pair.
    assert 5300 <= dups[("training-bitext/menyo20k", "yo")] <= 6000
    # OPUS Tatoeba had the LASER Tatoeba pairs removed upstream: no pair repeats.
    assert not any(source == "training-bitext/opus-tatoeba" for source, _lang in dups)
    assert not any(p.origin == "small-parallel-enja" for p in flat)


# --------------------------------------------------------------------------- tiny files


def _write_pair(folder: Path, stem: str, code: str, source: list[str], english: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.{code}").write_text("".join(f"{t}\n" for t in source), encoding="utf-8")
    (folder / f"{stem}.eng").write_text("".join(f"{t}\n" for t in english), encoding="utf-8")


def _variant(text: str) -> str:
    """The same text for :func:`text_key`: other case, other whitespace."""
    return "  " + text.upper().replace(" ", " \t ") + " "


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """The synthetic data directory, with one Yoruba pair in LAFAND and (varied) in MENYO."""
    build_mini(tmp_path)
    yo_source, yo_english = "ẹ káàárọ̀ o", "Good morning to you."
    _write_pair(
        tmp_path / "bitext/lafand-mt",
        "lafand.train.yor-eng",
        "yor",
        [yo_source, "báwo ni"],
        [yo_english, "How are you?"],
    )
    _write_pair(
        tmp_path / "bitext/menyo20k",
        "menyo20k.train.yor-eng",
        "yor",
        # the same source with another English is not a duplicate
        [_variant(yo_source), "ó dàbọ̀", "báwo ni"],
        [_variant(yo_english), "Goodbye.", "How do you do?"],
    )
    # The same pair under another language is not a duplicate (the key has the language).
    _write_pair(
        tmp_path / "bitext/lafand-mt",
        "lafand.train.twi-eng",
        "twi",
        [yo_source, "mepa wo kyɛw"],
        [yo_english, "Please."],
    )
    return tmp_path


def _morning(pairs: dict[str, list]) -> list:
    key = (text_key("ẹ káàárọ̀ o"), text_key("Good morning to you."))
    return [p for p in pairs["yo"] if (text_key(p.source), text_key(p.english)) == key]


def test_dedup_across_sources_first_source_wins(mini: Path) -> None:
    bitext_sources = [s for s in DEFAULT_SOURCES if s != "afriqa-questions"]
    with record_skips() as skips:
        pairs = training_bitext(mini, sources=bitext_sources)
    (kept,) = _morning(pairs)
    assert kept.origin == "lafand-mt"
    assert kept.source == "ẹ káàárọ̀ o"
    assert len(pairs["yo"]) == 2 + 2 + (3 - 1) + 2  # LAFAND train, dev; MENYO train, dev
    assert len(pairs["tw"]) == 2 + 2  # the Yoruba texts under Twi are kept
    dups = [s for s in skips if s.reason == "duplicate pair" and s.lang in ("yo", "tw")]
    assert dups == [Skip("training-bitext/menyo20k", "duplicate pair", 1, lang="yo")]

    with record_skips() as skips:
        reverse = training_bitext(mini, sources=("menyo20k", "lafand-mt"))
    (kept,) = _morning(reverse)
    assert kept.origin == "menyo20k"
    assert kept.source == _variant("ẹ káàárọ̀ o").strip()
    dups = [s for s in skips if s.reason == "duplicate pair" and s.lang in ("yo", "tw")]
    assert dups == [Skip("training-bitext/lafand-mt", "duplicate pair", 1, lang="yo")]


def test_a_pair_without_visible_text_is_skipped_and_reported(mini: Path) -> None:
    """A side holding only a bidi mark (U+200E, U+200F: lines of the real LAFAND-MT
    Swahili train file) or other format characters tokenizes to nothing: the pool drops
    the pair by design, with its reason, instead of handing the trainer an empty text."""
    from optical.data.training import visible

    assert not visible("\u200e") and not visible(" \u200f\t\ufeff ") and visible("a\u200e")
    _write_pair(
        mini / "bitext/lafand-mt",
        "lafand.train.twi-eng",
        "twi",
        ["mepa wo kyɛw", "\u200e", "ɛte sɛn"],
        ["Please.", "\u200f", "\u200b"],
    )
    with record_skips() as skips:
        pairs = training_bitext(mini, sources=["lafand-mt"])
    train = [p.source for p in pairs["tw"] if ".train." in p.where]
    assert train == ["mepa wo kyɛw"]
    assert Skip("training-bitext/lafand-mt", "no visible text", 2, lang="tw") in skips


def test_every_source_loads_with_its_own_origin(mini: Path) -> None:
    for spec in TRAINING_SOURCE_SPECS:
        pairs = spec.loader(mini)
        assert pairs, spec.name
        assert {p.origin for ps in pairs.values() for p in ps} == {spec.name}
        for lang, lang_pairs in pairs.items():  # (MKQA ids are shared across languages)
            assert len({p.id for p in lang_pairs}) == len(lang_pairs), (spec.name, lang)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError) as info:
        load_lafand(tmp_path, ["hau"])
    assert "lafand.train.hau-eng.hau" in str(info.value)
    assert "LAFAND-MT" in str(info.value)  # the upstream note
    _write_pair(tmp_path / "bitext/menyo20k", "menyo20k.train.yor-eng", "yor", ["a"], ["b"])
    (tmp_path / "bitext/menyo20k/menyo20k.train.yor-eng.eng").unlink()
    with pytest.raises(MissingDataError, match=r"menyo20k\.train\.yor-eng\.eng"):
        load_menyo20k(tmp_path)


def test_unequal_line_counts(tmp_path: Path) -> None:
    _write_pair(
        tmp_path / "bitext/newstest",
        "newstest-2012-2020-no2019.fi-eng",
        "fi",
        ["yksi", "kaksi", "kolme"],
        ["one", "two"],
    )
    _write_pair(tmp_path / "bitext/newstest", "newstest-2012-2020-no2019.ru-eng", "ru", [], [])
    with pytest.raises(DataFormatError, match="line counts differ") as info:
        load_newstest(tmp_path, ["fi"])
    assert "newstest-2012-2020-no2019.fi-eng.fi" in str(info.value)


def test_empty_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    _write_pair(
        tmp_path / "bitext/opus-tatoeba",
        "tatoeba-v2021-08-07.swa-eng",
        "swa",
        ["habari", "", "asante"],
        ["hello", "nothing", "thanks"],
    )
    with record_skips() as skips:
        pairs = load_opus_tatoeba(tmp_path, ["sw"])
    assert [p.id for p in pairs["sw"]] == ["opus-tatoeba-sw-1", "opus-tatoeba-sw-3"]
    assert [(s.reason, s.lang, s.lines) for s in skips] == [("empty line", "sw", (2,))]


def test_splits_and_languages_are_checked(mini: Path) -> None:
    with pytest.raises(ConfigError, match="no split 'test'"):
        load_lafand(mini, splits=("test",))
    with pytest.raises(ConfigError, match="has no rw"):
        load_lafand(mini, ["kin"], splits=("train",))  # Kinyarwanda has a dev split only
    assert list(load_lafand(mini, ["kin"])) == ["rw"]
    with pytest.raises(ConfigError, match="MENYO-20k has no ha"):
        load_menyo20k(mini, ["ha"])


def test_enja_is_marked_off_by_default_and_warns(
    mini: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = SOURCES["small-parallel-enja"]
    assert not spec.natural_text and not spec.default
    assert spec.note == ENJA_NOTE
    assert "tokenized and lowercased" in ENJA_NOTE
    assert "small-parallel-enja" not in DEFAULT_SOURCES
    with caplog.at_level(logging.WARNING, logger="optical.data.training"):
        training_bitext(mini)
    assert not caplog.records  # not chosen: no warning
    with caplog.at_level(logging.WARNING, logger="optical.data.training"):
        pairs = training_bitext(mini, sources=("small-parallel-enja",))
    assert list(pairs) == ["ja"]
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "small-parallel-enja" in record.getMessage()
    assert "tokenized and lowercased" in record.getMessage()


def test_registry_names_defaults_and_refusals(mini: Path) -> None:
    assert (
        *("xor", "tatoeba", "mkqa", "opus-tatoeba", "newstest", "lafand-mt", "menyo20k"),
        *("afriqa-questions", "small-parallel-enja"),
    ) == TRAINING_SOURCES
    assert tuple(s.name for s in TRAINING_SOURCE_SPECS if s.natural_text) == DEFAULT_SOURCES
    assert DataConfig().sources == DEFAULT_SOURCES
    assert not set(BENCHMARK_SOURCES) & set(TRAINING_SOURCES)
    for benchmark in BENCHMARK_SOURCES:
        with pytest.raises(ConfigError, match="evaluation data and never training"):
            _check_sources(["lafand-mt", benchmark])
        with pytest.raises(ConfigError, match="never training"):
            DataConfig(sources=(benchmark,))
        with pytest.raises(ConfigError, match="never training"):
            training_bitext(mini, sources=(benchmark,))
    with pytest.raises(ConfigError, match="unknown bitext source 'afriqa-test'") as info:
        _check_sources(["afriqa-test"])
    assert all(name in str(info.value) for name in TRAINING_SOURCES)
