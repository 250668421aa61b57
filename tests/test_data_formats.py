"""Parsers on tiny hand-made files: every error names FILE:LINE and the problem."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from optical.data import (
    iter_dpr_tsv,
    iter_passages_jsonl,
    load_mkqa,
    load_ntrex,
    load_passages,
    load_tatoeba,
    load_wikipedia_vital,
    load_xor_dev,
    load_xor_train,
    load_xquad,
    read_line_aligned,
    read_tmx,
    read_xor_jsonl,
    record_skips,
    skip_counts,
)
from optical.errors import ConfigError, DataFormatError, MissingDataError
from optical.types import Passage


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def xor_record(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": "q1",
        "question": "Mikä on Suomen pääkaupunki?",
        "answers": ["Helsinki"],
        "lang": "fi",
        "split": "dev",
    }
    record.update(overrides)
    return record


# --- XOR-TyDi ------------------------------------------------------------------------------


def test_xor_reads_records_and_normalises_lang(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.jsonl",
        jsonl(xor_record(), xor_record(id="q2", lang=" ar", question="ما هي عاصمة مصر؟"))
        + "\n",  # a trailing blank line is not a record
    )
    questions = read_xor_jsonl(path)
    assert [q.lang for q in questions] == ["fi", "ar"]
    assert questions[0].answers == ("Helsinki",)
    assert questions[0].english is None


@pytest.mark.parametrize(
    ("record_line", "problem"),
    [
        ('{"id": "q2", "question": ', "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (
            json.dumps({k: v for k, v in xor_record(id="q2").items() if k != "answers"}),
            "missing field 'answers'",
        ),
        (json.dumps(xor_record(id="q2", question="  ")), "empty question"),
        (json.dumps(xor_record(id="q2", answers="Helsinki")), "field 'answers' must be list"),
        (json.dumps(xor_record(id="q2", answers=["a", 3])), "list of strings"),
        (json.dumps(xor_record(id=7)), "field 'id' must be str"),
        (json.dumps(xor_record(id="q2", lang="xx")), "unknown language code 'xx'"),
        (json.dumps(xor_record()), "duplicate id 'q1'"),
    ],
)
def test_xor_errors_name_file_and_line(tmp_path: Path, record_line: str, problem: str) -> None:
    path = write(tmp_path / "x.jsonl", jsonl(xor_record()) + record_line + "\n")
    with pytest.raises(DataFormatError) as info:
        read_xor_jsonl(path)
    assert str(info.value).startswith(f"{path}:2: ")
    assert problem in str(info.value)
    assert info.value.line == 2


def test_invalid_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(jsonl(xor_record()).encode() + b'{"id": "\xff"}\n')
    with pytest.raises(DataFormatError, match=r":2: not valid UTF-8"):
        read_xor_jsonl(path)


def test_missing_xor_file_names_file_dir_and_upstream(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError) as info:
        load_xor_dev(tmp_path)
    message = str(info.value)
    assert "xor_dev_retrieve_eng_span_v1_1.jsonl" in message
    assert str(tmp_path / "xor-tydi") in message
    assert "https://github.com/AkariAsai/XORQA" in message
    assert "v1.1" in message


def test_xor_train_joins_translations_by_exact_question(tmp_path: Path) -> None:
    root = tmp_path
    write(
        root / "xor-tydi/xor_train_retrieve_eng_span.jsonl",
        jsonl(
            xor_record(id="a", split="train"),
            xor_record(id="b", question="Kuka?", split="train"),
        ),
    )
    for lang in ("ar", "bn", "fi", "ja", "ko", "ru", "te"):
        source = "Mikä on Suomen pääkaupunki?\nmuu\n" if lang == "fi" else "x\n"
        english = "What is the capital of Finland?\nother\n" if lang == "fi" else "x\n"
        write(root / f"xor-tydi/translations/{lang}-en/{lang}.txt", source)
        write(root / f"xor-tydi/translations/{lang}-en/en.txt", english)
    questions = load_xor_train(root)
    assert [q.english for q in questions] == ["What is the capital of Finland?", None]


def test_xor_train_missing_translation_file(tmp_path: Path) -> None:
    write(tmp_path / "xor-tydi/xor_train_retrieve_eng_span.jsonl", jsonl(xor_record()))
    with pytest.raises(MissingDataError, match=r"ar\.txt"):
        load_xor_train(tmp_path)


# --- line-aligned bitext ------------------------------------------------------------------


def test_line_aligned_pairs_crlf_and_ids(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "Hei\r\nKiitos \r\n")
    eng = write(tmp_path / "e.txt", "Hello\r\nThanks\r\n")
    pairs = read_line_aligned(src, eng, "fin", "test")
    assert [(p.source, p.english, p.lang, p.id, p.origin) for p in pairs] == [
        ("Hei", "Hello", "fi", "test-fi-1", "test"),
        ("Kiitos", "Thanks", "fi", "test-fi-2", "test"),
    ]


def test_line_aligned_keeps_lone_cr_inside_a_line(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "a\rb\nc\n")
    eng = write(tmp_path / "e.txt", "A\nC\n")
    assert [p.source for p in read_line_aligned(src, eng, "fi", "t")] == ["a\rb", "c"]


def test_line_aligned_mismatched_counts(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "a\nb\nc\n")
    eng = write(tmp_path / "e.txt", "A\nB\n")
    with pytest.raises(DataFormatError) as info:
        read_line_aligned(src, eng, "fi", "t")
    assert str(info.value).startswith(f"{src}:3: line counts differ")
    eng3 = write(tmp_path / "e3.txt", "A\nB\nC\nD\n")
    with pytest.raises(DataFormatError, match=r"e3\.txt:4: line counts differ"):
        read_line_aligned(src, eng3, "fi", "t")


def test_line_aligned_empty_lines_are_skipped_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = write(tmp_path / "s.txt", "a\n\nc\nd\n")
    eng = write(tmp_path / "e.txt", "A\nB\n  \nD\n")
    with caplog.at_level(logging.INFO, logger="optical.data"), record_skips() as skips:
        pairs = read_line_aligned(src, eng, "fi", "t")
    assert [p.id for p in pairs] == ["t-fi-1", "t-fi-4"]
    assert skip_counts(skips) == {"empty line": 2}
    assert skips[0].lines == (2, 3)
    assert "skipped 2 record(s)" in caplog.text


def test_record_skips_nests_and_ignores_outside(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "a\n\n")
    eng = write(tmp_path / "e.txt", "A\nB\n")
    read_line_aligned(src, eng, "fi", "t")  # no collector: only logged
    with record_skips() as outer:
        with record_skips() as inner:
            read_line_aligned(src, eng, "fi", "t")
        read_line_aligned(src, eng, "fi", "t")
    assert len(inner) == 1
    assert len(outer) == 2


def test_unknown_language_code_for_bitext(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "a\n")
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        read_line_aligned(src, src, "xx", "t")


def test_bitext_missing_files(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError) as info:
        load_ntrex(tmp_path)
    assert "newstest2019-src.eng.txt" in str(info.value)
    assert str(tmp_path / "bitext/ntrex128") in str(info.value)
    assert "NTREX" in str(info.value)
    with pytest.raises(MissingDataError, match=r"tatoeba\.amh-eng\.amh"):
        load_tatoeba(tmp_path)
    with pytest.raises(MissingDataError, match=r"mkqa-en\.jsonl"):
        load_mkqa(tmp_path)


def test_ntrex_and_tatoeba_language_selection(tmp_path: Path) -> None:
    folder = tmp_path / "bitext/ntrex128"
    write(folder / "newstest2019-src.eng.txt", "One.\nTwo.\n")
    write(folder / "newstest2019-ref.fil.txt", "Isa.\nDalawa.\n")
    pairs = load_ntrex(tmp_path, languages=["tl"])
    assert list(pairs) == ["tl"]
    assert [p.id for p in pairs["tl"]] == ["ntrex-1", "ntrex-2"]
    with pytest.raises(ConfigError, match="NTREX-128 has no de"):
        load_ntrex(tmp_path, languages=["de"])
    write(tmp_path / "bitext/tatoeba/tatoeba.tgl-eng.tgl", "Salamat.\n")
    write(tmp_path / "bitext/tatoeba/tatoeba.tgl-eng.eng", "Thanks.\n")
    assert load_tatoeba(tmp_path, languages=["fil"])["tl"][0].english == "Thanks."


def mkqa_line(prefix: str, code: str, question: str) -> dict[str, object]:
    return {"id": f"{prefix}_{code}", "lang": code, "question": question, "answers": []}


def test_mkqa_joins_by_id_prefix(tmp_path: Path) -> None:
    folder = tmp_path / "bitext/mkqa"
    write(
        folder / "mkqa-en.jsonl", jsonl(mkqa_line("1", "en", "who"), mkqa_line("-2", "en", "why"))
    )
    write(
        folder / "mkqa-zh_cn.jsonl",
        jsonl(mkqa_line("-2", "zh_cn", " 为什么 "), mkqa_line("9", "zh_cn", "谁")),
    )
    with record_skips() as skips:
        pairs = load_mkqa(tmp_path, languages=["zh"])
    assert [(p.source, p.english, p.lang, p.id, p.origin) for p in pairs["zh"]] == [
        ("为什么", "why", "zh", "mkqa--2", "mkqa")
    ]
    assert skip_counts(skips) == {"no English counterpart": 1}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{bad json", "invalid JSON"),
        (json.dumps(mkqa_line("1", "en", "who")), "lang 'en' in a file of 'ar'"),
        (json.dumps({"id": "1_ar", "lang": "ar", "answers": []}), "missing field 'question'"),
        (json.dumps(mkqa_line("1", "ar", "x") | {"id": "1_es"}), "does not end with '_ar'"),
    ],
)
def test_mkqa_errors(tmp_path: Path, line: str, problem: str) -> None:
    folder = tmp_path / "bitext/mkqa"
    write(folder / "mkqa-en.jsonl", jsonl(mkqa_line("1", "en", "who")))
    path = write(folder / "mkqa-ar.jsonl", jsonl(mkqa_line("0", "ar", "من")) + line + "\n")
    with pytest.raises(DataFormatError) as info:
        load_mkqa(tmp_path, languages=["ar"])
    assert str(info.value).startswith(f"{path}:2: ")
    assert problem in str(info.value)


# --- TMX ----------------------------------------------------------------------------------

TMX = """<?xml version="1.0" encoding="UTF-8"?>
<tmx version="1.4">
  <header srclang="sw" datatype="plaintext" segtype="sentence" adminlang="en" o-tmf="x"
          creationtool="t" creationtoolversion="1"/>
  <body>
    <tu tuid="7">
      <tuv xml:lang="sw"><seg>Habari <ph>x</ph>yako?</seg></tuv>
      <tuv xml:lang="en-US"><seg>How are you?</seg></tuv>
    </tu>
    <tu>
      <tuv lang="SW"><seg>Asante</seg></tuv>
      <tuv lang="EN"><seg>Thanks</seg></tuv>
    </tu>
    <tu>
      <tuv xml:lang="sw"><seg>Peke yake</seg></tuv>
    </tu>
  </body>
</tmx>
"""


def test_read_tmx(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tmx", TMX)
    with record_skips() as skips:
        pairs = read_tmx(path, "swa")
    assert [(p.source, p.english, p.lang, p.id, p.origin) for p in pairs] == [
        ("Habari xyako?", "How are you?", "sw", "tmx-7", "tmx"),
        ("Asante", "Thanks", "sw", "tmx-2", "tmx"),
    ]
    assert sum(skip_counts(skips).values()) == 1


def test_malformed_tmx(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.tmx", TMX.replace("</tu>\n    <tu>", "</tuv>\n    <tu>", 1))
    with pytest.raises(DataFormatError) as info:
        read_tmx(path, "sw")
    assert str(info.value).startswith(f"{path}:9: malformed TMX")
    not_tmx = write(tmp_path / "x.tmx", "<root><a/></root>")
    with pytest.raises(DataFormatError, match="no <body>"):
        read_tmx(not_tmx, "sw")
    with pytest.raises(MissingDataError):
        read_tmx(tmp_path / "absent.tmx", "sw")


# --- passages -----------------------------------------------------------------------------


def test_dpr_tsv_header_quotes_and_titles(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.tsv",
        'id\ttext\ttitle\n1\t"Aaron ( or ; ""Ahärôn"") is a prophet"\tAaron\n2\tplain text\t\n',
    )
    passages = list(iter_dpr_tsv(path))
    assert [(p.id, p.text, p.title) for p in passages] == [
        ("1", 'Aaron ( or ; "Ahärôn") is a prophet', "Aaron"),
        ("2", "plain text", ""),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("3\tonly two columns", "expected 3 tab-separated columns (id, text, title), got 2"),
        ("3\ta\tb\tc", "got 4"),
        ("3\t  \tTitle", "empty text for passage '3'"),
        ("\ttext\tTitle", "empty passage id"),
        ("id\ttext\ttitle", "empty"),  # a header after line 1 is data (see below)
    ],
)
def test_dpr_tsv_errors_are_streamed_with_line(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path / "p.tsv", f"1\tfirst\tT\n2\tsecond\tT\n{line}\n")
    stream = iter_dpr_tsv(path)
    assert next(stream).id == "1"  # streamed: the bad line 3 is not read yet
    assert next(stream).id == "2"
    if line.startswith("id\t"):  # a late header is an ordinary passage with id 'id'
        assert next(stream).id == "id"
        return
    with pytest.raises(DataFormatError) as info:
        next(stream)
    assert str(info.value).startswith(f"{path}:3: ")
    assert problem in str(info.value)


def test_passages_jsonl(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.jsonl",
        jsonl({"id": 1, "text": "One"}, {"id": "b", "text": "Two", "title": "T"}),
    )
    assert [(p.id, p.text, p.title) for p in iter_passages_jsonl(path)] == [
        ("1", "One", ""),
        ("b", "Two", "T"),
    ]


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"id": "x"}, "missing field 'text'"),
        ({"id": "x", "text": ""}, "empty text for passage 'x'"),
        ({"id": "x", "text": 5}, "field 'text' must be str"),
        ({"id": True, "text": "t"}, "field 'id' must be str or int"),
        ({"id": "x", "text": "t", "title": None}, "field 'title' must be str"),
    ],
)
def test_passages_jsonl_errors(tmp_path: Path, record: dict[str, object], problem: str) -> None:
    path = write(tmp_path / "p.jsonl", jsonl({"id": "a", "text": "ok"}, record))
    with pytest.raises(DataFormatError) as info:
        list(iter_passages_jsonl(path))
    assert str(info.value).startswith(f"{path}:2: ")
    assert problem in str(info.value)


def test_load_passages_dispatches_by_extension(tmp_path: Path) -> None:
    tsv = write(tmp_path / "c.tsv", "1\tone\tT\n")
    assert load_passages(tsv)[0].text == "one"
    gz = tmp_path / "c.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as handle:
        handle.write(jsonl({"id": "g", "text": "zipped"}))
    assert load_passages(gz)[0].id == "g"
    with pytest.raises(DataFormatError, match="unknown passage file type"):
        load_passages(write(tmp_path / "c.csv", "1,one\n"))
    with pytest.raises(DataFormatError, match="duplicate passage id '1'"):
        load_passages(write(tmp_path / "d.tsv", "1\tone\tT\n1\tagain\tT\n"))
    with pytest.raises(MissingDataError) as info:
        load_passages(tmp_path / "absent.tsv")
    assert "absent.tsv" in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_wikipedia_vital_order_limit_and_empty(tmp_path: Path) -> None:
    write(
        tmp_path / "passages/wikipedia-vital/summaries_en-us.json",
        json.dumps(
            {
                "Zebra": {"title": "Zebra", "extract": "Striped."},
                "Empty": {"title": "Empty", "extract": " "},
                "Apple": {"title": "Apple", "extract": "A fruit.\nRed."},
            }
        ),
    )
    with record_skips() as skips:
        passages = load_wikipedia_vital(tmp_path)
    assert [(p.id, p.title, p.text) for p in passages] == [
        ("wiki-vital-00000", "Apple", "A fruit.\nRed."),
        ("wiki-vital-00001", "Zebra", "Striped."),
    ]
    assert skip_counts(skips) == {"empty extract": 1}
    assert [p.title for p in load_wikipedia_vital(tmp_path, limit=1)] == ["Apple"]
    with pytest.raises(ConfigError, match="limit"):
        load_wikipedia_vital(tmp_path, limit=-1)


def test_wikipedia_vital_bad_json(tmp_path: Path) -> None:
    path = write(tmp_path / "passages/wikipedia-vital/summaries_en-us.json", '{\n "a": \n')
    with pytest.raises(DataFormatError, match=r"summaries_en-us\.json:3: invalid JSON"):
        load_wikipedia_vital(tmp_path)
    assert path.exists()


# --- XQuAD --------------------------------------------------------------------------------


def squad(questions: list[list[tuple[str, str]]]) -> str:
    paragraphs = [
        {
            "context": f"Paragraph {i}.",
            "qas": [{"id": q, "question": t, "answers": []} for q, t in qs],
        }
        for i, qs in enumerate(questions)
    ]
    return json.dumps(
        {"version": "1.1", "data": [{"title": "Some_Title", "paragraphs": paragraphs}]}
    )


def test_xquad_small(tmp_path: Path) -> None:
    write(tmp_path / "xquad/xquad.en.json", squad([[("a", "Who? ")], [("b", "When?")]]))
    write(tmp_path / "xquad/xquad.de.json", squad([[("a", "Wer?")], [("b", "Wann?")]]))
    bench = load_xquad(tmp_path, languages=("de", "en"), distractors=[Passage("d1", "noise")])
    assert [p.id for p in bench.passages] == ["xquad-0000", "xquad-0001", "d1"]
    assert bench.passages[0].title == "Some Title"
    assert bench.qrels == {"a": {"xquad-0000": 1}, "b": {"xquad-0001": 1}}
    assert bench.queries["de"][0].english == "Who?"
    assert bench.queries["en"][0].text == "Who?"
    assert bench.languages == ["de", "en"]
    with pytest.raises(ConfigError, match="already in the collection"):
        load_xquad(tmp_path, languages=("en",), distractors=[Passage("xquad-0001", "x")])
    with pytest.raises(ConfigError, match="XQuAD has no fi"):
        load_xquad(tmp_path, languages=("fi",))
    with pytest.raises(MissingDataError, match=r"xquad\.ar\.json"):
        load_xquad(tmp_path, languages=("ar",))
    write(tmp_path / "xquad/xquad.es.json", squad([[("a", "¿Quién?")], [("zz", "¿Cuándo?")]]))
    with pytest.raises(DataFormatError, match="question id 'zz' is not in"):
        load_xquad(tmp_path, languages=("es",))
