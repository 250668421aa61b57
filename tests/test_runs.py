"""TREC run / qrels and XOR prediction files: round trips and malformed input."""

from __future__ import annotations

import json

import pytest

from optical.errors import DataFormatError, OpticalError
from optical.runs import (
    XorPrediction,
    ctxs_by_id,
    predictions_from_run,
    ranked,
    read_qrels,
    read_run,
    read_xor_predictions,
    write_qrels,
    write_run,
    write_xor_predictions,
)


def test_run_round_trip_sorted_by_score_with_ranks_from_one(tmp_path):
    run = {"q2": {"d1": 0.5, "d2": 2.25, "d3": -1.0}, "q1": {"a": 1e-7, "b": 0.1}}
    path = write_run(tmp_path / "run.trec", run, tag="sys")
    lines = path.read_text().splitlines()
    assert lines == [
        "q1 Q0 b 1 0.1 sys",
        "q1 Q0 a 2 1e-07 sys",
        "q2 Q0 d2 1 2.25 sys",
        "q2 Q0 d1 2 0.5 sys",
        "q2 Q0 d3 3 -1.0 sys",
    ]
    assert read_run(path) == run


def test_run_ties_follow_trec_eval_order_and_depth_cuts(tmp_path):
    # trec_eval breaks score ties by doc id, descending.
    run = {"q": {"a": 1.0, "c": 1.0, "b": 1.0, "z": 0.5}}
    assert [d for d, _ in ranked(run["q"])] == ["c", "b", "a", "z"]
    path = write_run(tmp_path / "r.trec", run, depth=2)
    assert [line.split()[2:4] for line in path.read_text().splitlines()] == [["c", "1"], ["b", "2"]]


def test_write_run_is_atomic_and_overwrites(tmp_path):
    path = tmp_path / "sub" / "run.trec"
    write_run(path, {"q": {"d": 1.0}})
    write_run(path, {"q": {"e": 2.0}})
    assert read_run(path) == {"q": {"e": 2.0}}
    assert [p.name for p in path.parent.iterdir()] == ["run.trec"]  # no temp file left


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("q Q0 d 1 1.0 t\nq Q0 e 2 0.5\n", 2, "expected 6 columns"),
        ("q Q0 d one 1.0 t\n", 1, "rank 'one' is not an integer"),
        ("\nq Q0 d 1 high t\n", 2, "score 'high' is not a number"),
        ("q Q0 d 1 nan t\n", 1, "not finite"),
        ("q Q0 d 1 1.0 t\nq Q0 d 2 0.5 t\n", 2, "appears twice"),
    ],
)
def test_read_run_malformed_line_names_file_and_line(tmp_path, text, line, problem):
    path = tmp_path / "bad.trec"
    path.write_text(text)
    with pytest.raises(DataFormatError) as info:
        read_run(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert problem in str(info.value)


def test_read_missing_file_is_data_format_error(tmp_path):
    with pytest.raises(DataFormatError, match="file not found"):
        read_run(tmp_path / "nope.trec")


def test_write_run_rejects_whitespace_ids_and_nonfinite_scores(tmp_path):
    with pytest.raises(DataFormatError, match="whitespace"):
        write_run(tmp_path / "r", {"q 1": {"d": 1.0}})
    with pytest.raises(DataFormatError, match="finite"):
        write_run(tmp_path / "r", {"q": {"d": float("inf")}})
    with pytest.raises(DataFormatError, match="run tag"):
        write_run(tmp_path / "r", {"q": {"d": 1.0}}, tag="my run")


def test_qrels_round_trip(tmp_path):
    qrels = {"q2": {"b": 0, "a": 2}, "q1": {"x": 1}}
    path = write_qrels(tmp_path / "qrels.txt", qrels)
    assert path.read_text() == "q1 0 x 1\nq2 0 a 2\nq2 0 b 0\n"
    assert read_qrels(path) == qrels


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("q 0 d\n", 1, "expected 4 columns"),
        ("q 0 d 1\nq 0 e yes\n", 2, "not an integer"),
        ("q 0 d 1\nq 0 d 0\n", 2, "judged twice"),
    ],
)
def test_read_qrels_malformed(tmp_path, text, line, problem):
    path = tmp_path / "qrels"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=problem) as info:
        read_qrels(path)
    assert info.value.line == line


def test_write_qrels_rejects_non_integer_grades(tmp_path):
    with pytest.raises(DataFormatError, match="need an int"):
        write_qrels(tmp_path / "q", {"q": {"d": 0.5}})


def test_xor_predictions_round_trip(tmp_path):
    preds = [
        XorPrediction(id="1", lang="ja", ctxs=("first passage", "second — ünïcode")),
        XorPrediction(id="2", lang="te", ctxs=()),
    ]
    path = write_xor_predictions(tmp_path / "pred.json", preds)
    assert json.loads(path.read_text())[0] == {
        "id": "1",
        "lang": "ja",
        "ctxs": ["first passage", "second — ünïcode"],
    }
    assert read_xor_predictions(path) == preds
    assert ctxs_by_id(preds) == {"1": ("first passage", "second — ünïcode"), "2": ()}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"id": "1"}, "expected a JSON list"),
        ([{"id": "1", "lang": "ja", "ctxs": []}, ["x"]], "item 1: expected an object"),
        ([{"id": "1", "ctxs": []}], "item 0: missing key 'lang'"),
        ([{"id": 1, "lang": "ja", "ctxs": []}], "item 0: 'id' and 'lang' must be strings"),
        ([{"id": "1", "lang": "ja", "ctxs": "text"}], "item 0 (1): 'ctxs' must be a list"),
        (
            [{"id": "1", "lang": "ja", "ctxs": ["a", {"text": "b", "title": "t"}]}],
            "item 0 (1): ctxs[1] is dict",
        ),
        (
            [{"id": "1", "lang": "ja", "ctxs": []}, {"id": "1", "lang": "ja", "ctxs": []}],
            "item 1: id '1' repeats",
        ),
    ],
)
def test_read_xor_predictions_malformed_names_item(tmp_path, data, problem):
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError) as info:
        read_xor_predictions(path)
    assert problem in str(info.value)


def test_read_xor_predictions_invalid_json_names_line(tmp_path):
    path = tmp_path / "pred.json"
    path.write_text('[\n{"id": "1",\n oops}\n]')
    with pytest.raises(DataFormatError, match="invalid JSON") as info:
        read_xor_predictions(path)
    assert info.value.line == 3


def test_predictions_from_run_takes_top_passage_texts_in_rank_order():
    run = {"q1": {"p1": 0.1, "p2": 0.9, "p3": 0.5}}
    texts = {"p1": "one", "p2": "two", "p3": "three"}
    preds = predictions_from_run(run, texts, {"q1": "fi"}, depth=2)
    assert preds == [XorPrediction(id="q1", lang="fi", ctxs=("two", "three"))]
    with pytest.raises(OpticalError, match="not in 'texts'"):
        predictions_from_run({"q1": {"p9": 1.0}}, texts, {"q1": "fi"})
    with pytest.raises(OpticalError, match="no language"):
        predictions_from_run(run, texts, {})
