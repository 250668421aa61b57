"""The whole data layer on a tiny synthetic data directory (no real data needed).

The mini directory mirrors the real layout; its texts are built so that every leak
rule of ``training_bitext`` fires a known number of times.
"""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

import pytest

from optical.data import (
    DATASETS,
    describe,
    format_description,
    heldout_questions,
    heldout_sizes,
    is_heldout,
    load_xor_train,
    load_xquad,
    record_skips,
    skip_counts,
    training_bitext,
    training_questions,
)
from optical.data.afriqa import AFRIQA_FILE_CODES, AFRIQA_PASSAGES, gold_file, queries_file
from optical.data.bitext import MKQA_CODES, NTREX_CODES, TATOEBA_CODES
from optical.errors import ConfigError

XOR = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
XQUAD_OTHER = ("ar", "de", "es", "hi", "ru", "zh")


def _ids(heldout: bool, n: int, start: int = 0) -> list[str]:
    """The first ``n`` ids ``syn-k`` (k >= start) whose held-out status is ``heldout``."""
    found: list[str] = []
    for k in count(start):
        if is_heldout(f"syn-{k}") == heldout:
            found.append(f"syn-{k}")
        if len(found) == n:
            return found
    raise AssertionError("unreachable")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _lines(*lines: str) -> str:
    return "".join(f"{line}\n" for line in lines)


def _jsonl(records: list[dict[str, set[str]]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def build_mini(root: Path) -> dict[str, set[str]]:
    """Write the mini data directory; return the texts the tests check against."""
    held = _ids(True, 2 * len(XOR))
    kept = _ids(False, 2 * len(XOR))
    train: list[dict[str, set[str]]] = []
    facts: dict[str, set[str]] = {"held": set(), "kept": set()}
    for i, lang in enumerate(XOR):
        src_lines: list[str] = []
        en_lines: list[str] = []
        for status, ids in (("held", held[2 * i : 2 * i + 2]), ("kept", kept[2 * i : 2 * i + 2])):
            for qid in ids:
                text, english = f"{lang} question {qid}?", f"English question {qid}?"
                train.append(
                    {
                        "id": qid,
                        "question": text,
                        "answers": ["x"],
                        "split": "train",
                        "lang": " ar" if lang == "ar" else lang,
                    }
                )
                src_lines.append(text)
                en_lines.append(english)
                facts[status].add(text)
                if status == "held":
                    facts[status].add(english)
        src_lines += [f"{lang} extra line", f"{lang} extra duplicate"]
        en_lines += [f"Extra {lang}.", f"Extra duplicate {lang}."]
        if lang == "bn":  # a dev question inside the translation file
            src_lines.append("bn dev question")
            en_lines.append("English of the bn dev question?")
        if lang == "ar":  # the one empty line of the real Arabic file
            src_lines.append("lh i,")
            en_lines.append("")
        _write(root / f"xor-tydi/translations/{lang}-en/{lang}.txt", _lines(*src_lines))
        _write(root / f"xor-tydi/translations/{lang}-en/en.txt", _lines(*en_lines))
    # A second train id repeating the text of a held-out Korean question.
    ko_held = next(r for r in train if r["lang"] == "ko" and r["id"] in held)
    train.append(dict(ko_held, id=_ids(False, 1, start=10_000)[0]))
    _write(root / "xor-tydi/xor_train_retrieve_eng_span.jsonl", _jsonl(train))
    dev = [
        {
            "id": f"dev-{lang}",
            "question": f"{lang} dev question",
            "answers": ["y"],
            "lang": lang,
            "split": "dev",
        }
        for lang in XOR
    ]
    _write(root / "xor-tydi/xor_dev_retrieve_eng_span_v1_1.jsonl", _jsonl(dev))

    def squad(texts: list[str]) -> str:
        paragraphs = [
            {"context": f"Context {k}.", "qas": [{"id": f"xq{k}", "question": t, "answers": []}]}
            for k, t in enumerate(texts)
        ]
        return json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": paragraphs}]})

    _write(root / "xquad/xquad.en.json", squad(["Which XQuAD question?", "Second XQuAD?"]))
    for lang in XQUAD_OTHER:
        _write(root / f"xquad/xquad.{lang}.json", squad([f"{lang} xq 0", f"{lang} xq 1"]))

    ntrex = root / "bitext/ntrex128"
    _write(ntrex / "newstest2019-src.eng.txt", _lines("News one.", "News two."))
    for code in NTREX_CODES:
        _write(ntrex / f"newstest2019-ref.{code}.txt", _lines(f"{code} news 1", f"{code} news 2"))

    tatoeba = root / "bitext/tatoeba"
    for code, lang in TATOEBA_CODES.items():
        src = [f"{code} sentence", f"{code} other"]
        eng = [f"Sentence {code}.", f"Other {code}."]
        if lang == "ar":
            eng[1] = "which xquad   QUESTION?"  # XQuAD text (spacing and case differ)
        if lang == "fi":
            src[1] = "fin news 2"  # an NTREX sentence
        if lang == "ja":
            src[1], eng[1] = "ja extra duplicate", "Extra duplicate ja."  # same as XOR
        _write(tatoeba / f"tatoeba.{code}-eng.{code}", _lines(*src))
        _write(tatoeba / f"tatoeba.{code}-eng.eng", _lines(*eng))

    mkqa = root / "bitext/mkqa"
    ko_held_english = f"English question {ko_held['id']}?"
    _write(
        mkqa / "mkqa-en.jsonl",
        _jsonl(
            [
                {"id": "1_en", "lang": "en", "question": "mkqa one", "answers": []},
                {"id": "2_en", "lang": "en", "question": ko_held_english, "answers": []},
            ]
        ),
    )
    for code in MKQA_CODES:
        rows = [
            {"id": f"1_{code}", "lang": code, "question": f"{code} mkqa one", "answers": []},
            {"id": f"2_{code}", "lang": code, "question": f"{code} mkqa two", "answers": []},
        ]
        _write(mkqa / f"mkqa-{code}.jsonl", _jsonl(rows))

    wiki = {"B": {"title": "B", "extract": "Bee."}, "A": {"title": "A", "extract": "Ay."}}
    _write(root / "passages/wikipedia-vital/summaries_en-us.json", json.dumps(wiki))
    write_afriqa_test(root)
    return facts


def write_afriqa_test(root: Path) -> None:
    """The AfriQA files the evaluation-text index reads: one test question per language
    (``"{code} afriqa question"`` / ``"English afriqa question {code}?"``) and its gold
    passage."""
    passage = "The gold passage of every mini AfriQA question, long enough to count."
    _write(root / AFRIQA_PASSAGES, _jsonl([{"id": "p0", "title": "Gold", "text": passage}]))
    for code in AFRIQA_FILE_CODES:
        question = {
            "id": 1,
            "question": f"{code} afriqa question",
            "translated_question": f"English afriqa question {code}?",
            "answers": "['x']",
            "translated_answer": "['x']",
            "lang": code,
            "split": "test",
            "translation_type": "human_translation",
        }
        _write(root / queries_file(code, "test"), _jsonl([question]))
        gold = {"id": "1", "context": passage, "title": "Gold"}
        _write(root / gold_file(code, "test"), _jsonl([gold]))


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, set[str]]]:
    root = tmp_path_factory.mktemp("mini-data")
    return root, build_mini(root)


def test_heldout_on_mini(mini: tuple[Path, dict[str, set[str]]]) -> None:
    root, _facts = mini
    held = heldout_questions(root)
    assert all(is_heldout(q.id) and q.english for q in held)
    assert heldout_sizes(root) == dict.fromkeys(XOR, 2)
    assert [q.lang for q in load_xor_train(root)][:1] == ["ar"]


def test_training_bitext_drops_every_leak(mini: tuple[Path, dict[str, set[str]]]) -> None:
    root, facts = mini
    with record_skips() as skips:
        bitext = training_bitext(root)
    assert skip_counts(skips) == {
        "NTREX sentence": 1,
        "XOR-TyDi dev question": 1,
        "XQuAD question": 1,
        "duplicate pair": 1,
        "empty line": 1,
        # 2 per language from the XOR translations, and the MKQA pairs whose English is
        # a held-out Korean question's translation (one per MKQA language).
        "held-out XOR-TyDi question": 2 * len(XOR) + len(MKQA_CODES),
    }
    texts = {text for pairs in bitext.values() for p in pairs for text in (p.source, p.english)}
    assert not texts & facts["held"]
    assert facts["kept"] <= texts
    assert {p.origin for pairs in bitext.values() for p in pairs} == {"xor", "tatoeba", "mkqa"}
    assert "bn dev question" not in texts
    assert len(bitext["ja"]) == 4 + 1 + 1  # XOR: 2 kept + 2 extra; Tatoeba: 2 - 1; MKQA: 2 - 1


def test_training_bitext_options(mini: tuple[Path, dict[str, set[str]]]) -> None:
    root, _facts = mini
    only = training_bitext(root, sources=("tatoeba",), languages=["swh", "tgl"])
    assert list(only) == ["sw", "tl"]
    assert {p.origin for pairs in only.values() for p in pairs} == {"tatoeba"}
    for forbidden in ("ntrex", "xquad", "xor-dev"):
        with pytest.raises(ConfigError, match="never training"):
            training_bitext(root, sources=(forbidden,))
    with pytest.raises(ConfigError, match="unknown bitext source 'opus'"):
        training_bitext(root, sources=("opus",))


def test_training_questions_exclude_heldout_text(mini: tuple[Path, dict[str, set[str]]]) -> None:
    root, facts = mini
    with record_skips() as skips:
        questions = training_questions(root)
    assert not {q.question for q in questions} & facts["held"]
    assert len(questions) == 2 * len(XOR)
    assert skip_counts(skips)["held-out XOR-TyDi question"] == 1  # the repeated Korean text


def test_xquad_on_mini(mini: tuple[Path, dict[str, set[str]]]) -> None:
    root, _facts = mini
    bench = load_xquad(root)
    assert bench.languages == sorted(("en", *XQUAD_OTHER))
    assert bench.queries["zh"][1].english == "Second XQuAD?"


@pytest.mark.parametrize("name", list(DATASETS))
def test_catalog_describes_every_dataset(mini: tuple[Path, dict[str, set[str]]], name: str) -> None:
    root, _facts = mini
    summary = describe(name, root)
    assert set(summary) == {"name", "description", "files", "languages", "total", "skipped"}
    json.dumps(summary)  # JSON-able
    assert all((root / f).is_file() for f in summary["files"])
    for row in summary["languages"].values():
        assert set(row) <= {"queries", "passages", "qrels", "pairs"}
    text = format_description(summary)
    assert text.startswith(f"{name}: ")
    assert "total" in text


def test_catalog_unknown_name(mini: tuple[Path, dict[str, set[str]]]) -> None:
    with pytest.raises(ConfigError) as info:
        describe("msmarco", mini[0])
    assert "xor-tydi-dev" in str(info.value)
    assert "training-bitext" in str(info.value)
