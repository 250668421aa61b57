"""Every loader on the real reference data, checked against the counts of its README.

The data directory is ``$OPTICAL_DATA_DIR``, else ``../shared/data`` beside the
repository; the tests skip (with the reason) when neither exists.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import pytest

from optical.data import (
    describe,
    heldout_questions,
    heldout_sizes,
    is_heldout,
    load_mkqa,
    load_ntrex,
    load_tatoeba,
    load_wikipedia_vital,
    load_xor_dev,
    load_xor_train,
    load_xor_translations,
    load_xquad,
    protected_text,
    record_skips,
    skip_counts,
    training_bitext,
    training_questions,
)
from optical.data.training import DEFAULT_SOURCES, text_key
from optical.data.xquad import read_xquad_questions
from optical.types import Passage

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"

XOR_DEV = {"fi": 360, "ar": 350, "bn": 312, "ko": 299, "ja": 296, "ru": 255, "te": 238}
XOR_TRAIN = {"bn": 2582, "ar": 2574, "ko": 2469, "ja": 2288, "fi": 2088, "ru": 1941, "te": 1308}
TRANSLATION_LINES = {
    "ar": 4649, "bn": 4687, "fi": 4638, "ja": 4700, "ko": 4697, "ru": 4745, "te": 4761,
}  # fmt: skip
TATOEBA = {
    "ar": 1000, "bn": 1000, "fi": 1000, "hi": 1000, "ja": 1000, "ko": 1000, "ru": 1000,
    "tl": 1000, "sw": 390, "ta": 307, "te": 234, "am": 168,
}  # fmt: skip
NTREX_LANGS = {
    "am",
    "ar",
    "bn",
    "tl",
    "fi",
    "ha",
    "hi",
    "ja",
    "ko",
    "ru",
    "so",
    "sw",
    "ta",
    "te",
    "yo",
}
MKQA_LANGS = {"ar", "es", "fi", "ja", "km", "ko", "ms", "ru", "sv", "tr", "zh"}
# Pinned: the held-out split must be identical on every machine.
HELDOUT_SIZES = {"ar": 246, "bn": 260, "fi": 196, "ja": 210, "ko": 242, "ru": 196, "te": 118}
HELDOUT_IDS_SHA256 = "cf149382d53b34860b7a1f3a3bb88b513920db2674a34a408dab26447e2631ed"


@pytest.fixture(scope="module")
def data() -> Path:
    path = Path(os.environ.get("OPTICAL_DATA_DIR") or DEFAULT_DIR)
    if not (path / "xor-tydi").is_dir():
        pytest.skip(
            f"real reference data not found at {path}: set OPTICAL_DATA_DIR to the shared data "
            "directory (it holds xor-tydi/, xquad/, bitext/, passages/)"
        )
    return path


@pytest.fixture(scope="module")
def train(data: Path) -> list:
    return load_xor_train(data)


@pytest.fixture(scope="module")
def bitext(data: Path) -> tuple[dict, dict[str, int]]:
    with record_skips() as skips:
        pairs = training_bitext(data)
    return pairs, skip_counts(skips)


def test_xor_dev(data: Path) -> None:
    dev = load_xor_dev(data)
    assert len(dev) == 2110
    assert Counter(q.lang for q in dev) == XOR_DEV
    assert {q.split for q in dev} == {"dev"}
    yes_no_only = sum(all(a.lower() in {"yes", "no"} for a in q.answers) for q in dev)
    assert yes_no_only == 182


def test_xor_train_languages_and_translations(train: list) -> None:
    assert len(train) == 15250
    assert Counter(q.lang for q in train) == XOR_TRAIN  # " ar" normalised
    assert all(q.english for q in train)  # every train question has a human translation
    assert all(len(q.answers) == 1 for q in train)


def test_xor_translations(data: Path) -> None:
    with record_skips() as skips:
        pairs = load_xor_translations(data)
    # Every line is a pair except Arabic line 428, whose English side is empty.
    expected = dict(TRANSLATION_LINES, ar=TRANSLATION_LINES["ar"] - 1)
    assert {lang: len(p) for lang, p in pairs.items()} == expected
    assert [(s.lang, s.reason, s.lines) for s in skips] == [("ar", "empty line", (428,))]
    assert all(p.origin == "xor" for lang_pairs in pairs.values() for p in lang_pairs)


def test_xquad(data: Path) -> None:
    distractor = Passage("wiki-x", "Some distractor.")
    bench = load_xquad(data, distractors=[distractor])
    assert len(bench.passages) == 241
    assert bench.passages[0].id == "xquad-0000"
    assert bench.passages[239].id == "xquad-0239"
    assert bench.passages[-1] == distractor
    assert bench.languages == ["ar", "de", "en", "es", "hi", "ru", "zh"]
    assert all(len(queries) == 1190 for queries in bench.queries.values())
    assert len(bench.qrels) == 1190
    assert all(len(judged) == 1 for judged in bench.qrels.values())
    english = {q.id: q.text for q in bench.queries["en"]}
    for lang in ("ar", "de", "es", "hi", "ru", "zh"):
        assert all(q.english == english[q.id] for q in bench.queries[lang])
    assert all(q.english is None for q in bench.queries["en"])


def test_ntrex(data: Path) -> None:
    pairs = load_ntrex(data)
    assert set(pairs) == NTREX_LANGS
    assert all(len(p) == 1997 for p in pairs.values())
    assert pairs["tl"][0].id == pairs["yo"][0].id == "ntrex-1"
    assert pairs["tl"][0].english == pairs["yo"][0].english


def test_tatoeba(data: Path) -> None:
    assert {lang: len(p) for lang, p in load_tatoeba(data).items()} == TATOEBA


def test_mkqa(data: Path) -> None:
    pairs = load_mkqa(data)
    assert set(pairs) == MKQA_LANGS
    assert all(len(p) == 5000 for p in pairs.values())
    first = pairs["zh"][0]
    assert (first.id, first.english) == ("mkqa-3051930912491995402", pairs["ar"][0].english)


def test_wikipedia_vital(data: Path) -> None:
    with record_skips() as skips:
        passages = load_wikipedia_vital(data)
    assert len(passages) == 10033
    assert skip_counts(skips) == {}
    assert len({p.id for p in passages}) == 10033
    assert [p.title for p in passages] == sorted(p.title for p in passages)
    assert load_wikipedia_vital(data, limit=5) == passages[:5]


def test_heldout_split_is_pinned_and_about_ten_percent(data: Path, train: list) -> None:
    held = heldout_questions(data)
    assert heldout_sizes(data) == HELDOUT_SIZES
    ids = sorted(q.id for q in held)
    assert hashlib.sha256("\n".join(ids).encode()).hexdigest() == HELDOUT_IDS_SHA256
    for lang, total in XOR_TRAIN.items():
        assert 0.08 <= HELDOUT_SIZES[lang] / total <= 0.12
    assert all(q.english for q in held)
    assert {q.id for q in held} == {q.id for q in train if is_heldout(q.id)}


@pytest.mark.slow
def test_training_bitext_never_contains_evaluation_text(data: Path, bitext: tuple) -> None:
    pairs, dropped = bitext
    texts = {
        text_key(t)
        for lang_pairs in pairs.values()
        for p in lang_pairs
        for t in (p.source, p.english)
    }
    held = heldout_questions(data)
    assert held
    for question in held:
        assert text_key(question.question) not in texts
        assert text_key(question.english or "") not in texts
    for question in load_xor_dev(data):
        assert text_key(question.question) not in texts
    for lang in ("en", "ar", "de", "es", "hi", "ru", "zh"):
        assert not {text_key(t) for _id, t in read_xquad_questions(data, lang)} & texts
    ntrex = load_ntrex(data)
    assert not {text_key(p.source) for lang_pairs in ntrex.values() for p in lang_pairs} & texts
    assert not {text_key(p.english) for p in ntrex["am"]} & texts
    protected = protected_text(data)
    old_sets = ("held-out XOR-TyDi question", "XOR-TyDi dev question", "XQuAD question")
    assert not texts & protected.keys(*old_sets, "NTREX sentence")
    assert held[0].question in protected
    assert dropped["held-out XOR-TyDi question"] > 0


@pytest.mark.slow
def test_training_bitext_sources_and_counts(bitext: tuple) -> None:
    pairs, dropped = bitext
    flat = [p for lang_pairs in pairs.values() for p in lang_pairs]
    assert {p.origin for p in flat} == set(DEFAULT_SOURCES)
    keys = {(p.lang, text_key(p.source), text_key(p.english)) for p in flat}
    assert len(keys) == len(flat)  # deduplicated across sources
    assert dropped["duplicate pair"] > 0
    assert dropped["XOR-TyDi dev question"] > 0  # bn and ko dev questions are in the files
    xor = Counter(p.lang for p in flat if p.origin == "xor")
    for lang, lines in TRANSLATION_LINES.items():
        assert 0.85 * lines < xor[lang] < lines


@pytest.mark.slow
def test_training_questions(data: Path, train: list) -> None:
    questions = training_questions(data)
    held_text = {text_key(q.question) for q in heldout_questions(data)}
    assert not any(is_heldout(q.id) for q in questions)
    assert not {text_key(q.question) for q in questions} & held_text
    assert 0.85 * len(train) < len(questions) < 0.91 * len(train)


@pytest.mark.slow
def test_catalog_counts_match_readme(data: Path) -> None:
    dev = describe("xor-tydi-dev", data)
    assert dev["languages"] == {lang: {"queries": n} for lang, n in sorted(XOR_DEV.items())}
    assert dev["total"] == {"queries": 2110}
    train = describe("xor-tydi-train", data)
    assert train["total"] == {"queries": 15250, "pairs": 15250}
    assert train["skipped"] == {"empty line": 1}
    held = describe("xor-tydi-heldout", data)
    assert held["languages"] == {lang: {"queries": n} for lang, n in HELDOUT_SIZES.items()}
    xquad = describe("xquad", data)
    assert xquad["languages"]["en"] == {"queries": 1190, "qrels": 1190, "passages": 240}
    assert xquad["languages"]["hi"] == {"queries": 1190, "qrels": 1190}
    assert describe("ntrex", data)["total"] == {"pairs": 15 * 1997}
    assert describe("wikipedia-vital", data)["total"] == {"passages": 10033}
