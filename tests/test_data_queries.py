"""The queries-file reader of ``optical search``: TSV or JSON lines, FILE:LINE errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from optical.data.queries import is_jsonl, read_queries
from optical.errors import DataFormatError, OpticalError


def test_tsv_queries_in_file_order_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "queries.tsv"
    path.write_bytes("\ufeffq2\tlargest planet\r\n\nq1\tNile river\n".encode())
    assert read_queries(path) == (["q2", "q1"], ["largest planet", "Nile river"])


def test_jsonl_queries_ids_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text(json.dumps({"id": 1, "text": "Nile"}) + "\n\n" + '{"id": "b", "text": "x"}\n')
    assert read_queries(path) == (["1", "b"], ["Nile", "x"])


def test_gzipped_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write('{"id": "q", "text": "Paris"}\n')
    assert is_jsonl(path) and not is_jsonl(tmp_path / "queries.tsv")
    assert read_queries(path) == (["q"], ["Paris"])


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("q.tsv", "q1\tcapital\tof France\n", 1, "expected 2 tab-separated columns"),
        ("q.tsv", "q1\tok\nq2 no tab\n", 2, "expected 2 tab-separated columns (qid, text), got 1"),
        ("q.tsv", "q1\tok\n\nq2\t  \n", 3, "empty query text for query 'q2'"),
        ("q.tsv", "q1\tone\nq1\ttwo\n", 2, "duplicate query id 'q1' (first on line 1)"),
        ("q.jsonl", '{"id": "q1", "text": "a"}\n{"id": "q2"}\n', 2, "expected JSON with id"),
        ("q.jsonl", "{not json}\n", 1, "expected JSON with id and text"),
        ("q.jsonl", "[1, 2]\n", 1, "expected JSON with id and text"),
        ("q.jsonl", '{"id": "q1", "text": ""}\n', 1, "empty query text for query 'q1'"),
    ],
)
def test_malformed_lines_name_file_and_line(
    tmp_path: Path, name: str, content: str, line: int, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        read_queries(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_bytes(b"q1\tok\nq2\t\xff\n")
    with pytest.raises(DataFormatError, match=r"q\.tsv:2: not valid UTF-8"):
        read_queries(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OpticalError, match=r"queries file not found: .*no\.tsv"):
        read_queries(tmp_path / "no.tsv")
