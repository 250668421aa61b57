"""Result rows on disk (optical.experiment.results) and how a score is written (MEASURES)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from optical.errors import DataFormatError
from optical.evaluate.errors import EvaluationError
from optical.evaluate.measures import MEASURES, format_score, reported_measure
from optical.experiment.results import (
    RESULTS_FILE,
    SIGNIFICANCE_FILE,
    ResultRow,
    ScoreKey,
    SignificanceRow,
    load_results,
    read_rows,
    rows_from_seed_scores,
    write_results,
)

# --------------------------------------------------------------------------- round trip


def _rows() -> list[ResultRow]:
    seed_scores = {
        ScoreKey("xquad", "optical-ot", "de", "RR@10"): {
            0: {"q1": 1.0, "q2": 0.5},
            1: {"q1": 0.5, "q2": 0.5},
            2: {"q1": 1.0, "q2": 1.0},
        },
        ScoreKey("xquad", "optical-ot", "en", "RR@10"): {0: {"q1": 1.0}, 1: {"q1": 1.0}},
        ScoreKey("xquad", "zero-shot", "de", "RR@10"): {None: {"q1": 1.0 / 3, "q2": 0.25}},
        ScoreKey("xquad", "zero-shot", "es", "RR@10"): {None: {"q1": 0.1}},
    }
    return [
        *rows_from_seed_scores(seed_scores),
        ResultRow("ntrex-mt", "nmt", "macro-xx-en", "BLEU", 5.383, 15),
        ResultRow("xor-tydi-heldout", "zero-shot", "macro", "R@2kt", 41.25, 7),
    ]


def _significance() -> list[SignificanceRow]:
    return [
        SignificanceRow("xquad", "RR@10", "de", "optical-ot", "zero-shot", 0.29, 0.012, 0.024, 2),
        SignificanceRow("xquad", "RR@10", "macro", "tt-nmt-dense", "zero-shot", -0.1, 1.0, 1.0, 3),
    ]


def test_written_results_load_back_equal(tmp_path: Path) -> None:
    rows, significance = _rows(), _significance()
    assert any(r.std is not None and r.seeds == 3 for r in rows)  # multi-seed rows
    assert any(r.lang == "macro" and r.seeds == 3 for r in rows)  # their macro
    assert any(r.std is None and r.seeds is None for r in rows)  # single-run rows
    write_results(tmp_path, rows, significance)
    loaded_rows, loaded_significance = load_results(tmp_path)
    assert loaded_rows == rows and loaded_significance == significance
    assert all(type(r) is ResultRow for r in loaded_rows)
    assert all(type(s) is SignificanceRow for s in loaded_significance)
    assert read_rows(tmp_path / RESULTS_FILE) == rows
    assert [r.key for r in loaded_rows] == [r.key for r in rows]
    # std / seeds are written only where they are set
    raw = json.loads((tmp_path / RESULTS_FILE).read_text(encoding="utf-8"))
    for written, row in zip(raw, rows, strict=True):
        assert written == row.to_dict()
        assert ("std" in written) == ("seeds" in written) == (row.seeds is not None)


def test_no_significance_file_means_no_tests(tmp_path: Path) -> None:
    write_results(tmp_path, _rows(), [])
    (tmp_path / SIGNIFICANCE_FILE).unlink()
    rows, significance = load_results(tmp_path)
    assert rows == _rows() and significance == []


def test_empty_results_round_trip(tmp_path: Path) -> None:
    write_results(tmp_path, [], [])
    assert load_results(tmp_path) == ([], [])


# --------------------------------------------------------------------------- malformed


def _good_row(**changes: object) -> dict:
    return {
        "benchmark": "xquad",
        "system": "zero-shot",
        "lang": "de",
        "measure": "RR@10",
        "value": 0.9,
        "n": 10,
        **changes,
    }


def _write(tmp_path: Path, text: str, name: str = RESULTS_FILE) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", r"unreadable results file"),
        ("", r"unreadable results file"),
        (json.dumps({"rows": []}), r"expected a list of rows"),
        (json.dumps([_good_row(), "a row"]), r"row 2: expected an object, got str"),
        (json.dumps([_good_row(), _good_row(), None]), r"row 3: expected an object, got NoneType"),
    ],
)
def test_unreadable_or_misshapen_file_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(path))}: .*{message}"):
        read_rows(path)
    with pytest.raises(DataFormatError, match=re.escape(str(path))):
        load_results(tmp_path)


def test_a_row_missing_a_field_names_the_file_the_row_and_the_field(tmp_path: Path) -> None:
    broken = _good_row()
    del broken["n"]
    path = _write(tmp_path, json.dumps([_good_row(), broken]))
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(path))}: row 2: missing n$"):
        read_rows(path)
    both = {k: v for k, v in _good_row().items() if k not in ("value", "measure")}
    path = _write(tmp_path, json.dumps([both]))
    with pytest.raises(DataFormatError, match=r"row 1: missing measure, value$"):
        read_rows(path)


def test_an_unknown_field_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps([_good_row(valeu=0.3)]))
    with pytest.raises(DataFormatError, match=rf"{re.escape(str(path))}: row 1: unknown valeu"):
        read_rows(path)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", "0.9"),
        ("value", None),
        ("n", 10.5),
        ("n", True),  # a bool is not a count
        ("system", 3),
        ("std", "small"),
        ("seeds", 2.0),
    ],
)
def test_a_wrong_type_names_the_file_row_and_field(
    tmp_path: Path, field: str, value: object
) -> None:
    path = _write(tmp_path, json.dumps([_good_row(), _good_row(), _good_row(**{field: value})]))
    expected = rf"^{re.escape(str(path))}: row 3: {field} = {re.escape(repr(value))} has the wrong"
    with pytest.raises(DataFormatError, match=expected):
        read_rows(path)


def test_a_malformed_significance_file_is_named(tmp_path: Path) -> None:
    write_results(tmp_path, _rows(), _significance())
    path = tmp_path / SIGNIFICANCE_FILE
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw[1]["p_holm"] = "0.5"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"{re.escape(str(path))}: row 2: p_holm"):
        load_results(tmp_path)
    del raw[1]["p_holm"]
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"row 2: missing p_holm$"):
        load_results(tmp_path)


def test_a_missing_results_file_is_a_data_format_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=rf"{re.escape(str(tmp_path))}.*no such results"):
        load_results(tmp_path)


# --------------------------------------------------------------------------- format_score


def test_digits_come_from_the_measures_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MEASURES["R@2kt"].digits == 1 and MEASURES["RR@10"].digits == 3
    assert format_score("R@2kt", 41.256) == "41.3"
    assert format_score("R@5kt", 50.0, 1.24) == "50.0±1.2"
    assert format_score("RR@10", 0.84449) == "0.844"
    assert format_score("RR@10", 0.8445, 0.0021) == "0.845±0.002"
    assert format_score("agreement-nDCG@10", 0.5) == "0.500"
    for name, measure in MEASURES.items():
        assert format_score(name, 1.0) == f"{1.0:.{measure.digits}f}", name
    # the registry is the one source: changing an entry changes how it is written
    monkeypatch.setitem(MEASURES, "RR@10", MEASURES["R@2kt"])
    assert format_score("RR@10", 0.84449) == "0.8"


def test_an_unlisted_ir_measures_name_gets_three_digits() -> None:
    assert "nDCG@20" not in MEASURES and "P@5" not in MEASURES
    assert format_score("nDCG@20", 0.12345) == "0.123"
    assert format_score("P@5", 0.5, 0.01) == "0.500±0.010"
    assert reported_measure("P@5").digits == 3


@pytest.mark.parametrize("name", ["nonsense", "R@2kx", ""])
def test_a_nonsense_measure_is_an_evaluation_error(name: str) -> None:
    with pytest.raises(EvaluationError, match=rf"unknown measure {re.escape(repr(name))}"):
        format_score(name, 0.5)
