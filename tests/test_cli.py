"""The command line: exit codes, one clear message per user error, outputs on tiny files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optical.cli import main
from optical.runs import ranked, read_run


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    assert err.startswith("optical: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# --------------------------------------------------------------------------- data show


def test_data_show_missing_data_dir(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "data", "show", "xquad", "--data-dir", "/nonexistent")
    assert_user_error(code, err, "data directory not found: /nonexistent", "--data-dir")
    assert out == ""


def test_data_show_without_any_data_dir(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPTICAL_DATA_DIR", raising=False)
    code, _, err = run_cli(capsys, "data", "show", "xquad")
    assert_user_error(code, err, "no data directory", "--data-dir", "OPTICAL_DATA_DIR")


def test_data_show_env_points_nowhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPTICAL_DATA_DIR", str(tmp_path / "gone"))
    code, _, err = run_cli(capsys, "data", "show", "xquad")
    assert_user_error(code, err, "data directory not found", "OPTICAL_DATA_DIR")


def test_data_show_empty_data_dir_names_the_missing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "data", "show", "xquad", "--data-dir", str(tmp_path))
    assert_user_error(code, err, "missing data file", "xquad")


def test_data_show_xquad_json(capsys: pytest.CaptureFixture[str], real_data_dir: Path) -> None:
    code, out, err = run_cli(
        capsys, "data", "show", "xquad", "--json", "--data-dir", str(real_data_dir)
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["name"] == "xquad"
    languages = summary["languages"]
    assert set(languages) == {"ar", "de", "en", "es", "hi", "ru", "zh"}
    for lang, counts in languages.items():
        assert counts["queries"] == 1190, lang
        assert counts["qrels"] == 1190, lang
    assert languages["en"]["passages"] == 240


def test_data_show_xquad_text(capsys: pytest.CaptureFixture[str], real_data_dir: Path) -> None:
    code, out, _ = run_cli(capsys, "data", "show", "xquad", "--data-dir", str(real_data_dir))
    assert code == 0
    assert "1,190" in out and "240" in out


def test_data_show_unknown_dataset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "data", "show", "xquadd", "--data-dir", str(tmp_path))
    assert_user_error(code, err, "unknown dataset 'xquadd'", "xquad")


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["data"])
    assert info.value.code == 2
    assert "usage" in capsys.readouterr().err


# --------------------------------------------------------------------------- xor-eval

FILLER = " ".join(["word"] * 2500)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def gold_record(qid: str, answers: list[str], lang: str) -> dict:
    return {"id": qid, "question": f"question {qid}?", "answers": answers, "lang": lang,
            "split": "dev"}  # fmt: skip


@pytest.fixture
def xor_files(tmp_path: Path) -> tuple[Path, Path]:
    gold = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            gold_record("j1", ["Tokyo"], "ja"),  # hit at 2k and 5k
            gold_record("j2", ["Kyoto"], "ja"),  # answer after 2,500 tokens: 5k only
            gold_record("r1", ["Moscow"], "ru"),  # miss
            gold_record("r2", ["yes"], "ru"),  # yes/no only: not scored
            gold_record("r3", ["Volga"], "ru"),  # no prediction: a miss
            gold_record("r4", ["no", "Neva"], "ru"),  # hit
        ],
    )
    predictions = tmp_path / "predictions.json"
    predictions.write_text(
        json.dumps(
            [
                {"id": "j1", "lang": "ja", "ctxs": ["The capital of Japan is Tokyo."]},
                {"id": "j2", "lang": "ja", "ctxs": [FILLER, "The old capital is Kyoto."]},
                {"id": "r1", "lang": "ru", "ctxs": ["Nothing relevant here."]},
                {"id": "r2", "lang": "ru", "ctxs": ["yes"]},
                {"id": "r4", "lang": "ru", "ctxs": ["The Neva flows through the city."]},
                {"id": "extra", "lang": "ru", "ctxs": ["ignored"]},
            ]
        )
    )
    return gold, predictions


def test_xor_eval_json(capsys: pytest.CaptureFixture[str], xor_files: tuple[Path, Path]) -> None:
    gold, predictions = xor_files
    code, out, err = run_cli(
        capsys, "xor-eval", "--gold", str(gold), "--predictions", str(predictions), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == {"ja": 2, "ru": 3}
    assert report["R@2kt"]["ja"] == pytest.approx(50.0)
    assert report["R@5kt"]["ja"] == pytest.approx(100.0)
    assert report["R@2kt"]["ru"] == pytest.approx(100 / 3)
    assert report["R@5kt"]["ru"] == pytest.approx(100 / 3)
    assert report["R@2kt"]["macro"] == pytest.approx((50 + 100 / 3) / 2)
    assert report["R@5kt"]["macro"] == pytest.approx((100 + 100 / 3) / 2)


def test_xor_eval_table(capsys: pytest.CaptureFixture[str], xor_files: tuple[Path, Path]) -> None:
    gold, predictions = xor_files
    code, out, _ = run_cli(
        capsys, "xor-eval", "--gold", str(gold), "--predictions", str(predictions)
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["lang", "ja", "ru", "macro"]
    assert lines[1].split() == ["R@2kt", "50.00", "33.33", "41.67"]
    assert lines[2].split() == ["R@5kt", "100.00", "33.33", "66.67"]


def test_xor_eval_unknown_language(
    capsys: pytest.CaptureFixture[str], xor_files: tuple[Path, Path], tmp_path: Path
) -> None:
    _, predictions = xor_files
    gold = write_jsonl(
        tmp_path / "bad-gold.jsonl", [gold_record("a", ["x"], "ja"), gold_record("b", ["y"], "xx")]
    )
    code, _, err = run_cli(
        capsys, "xor-eval", "--gold", str(gold), "--predictions", str(predictions)
    )
    assert_user_error(code, err, f"{gold}:2", "unknown language code 'xx'")


def test_xor_eval_missing_files(
    capsys: pytest.CaptureFixture[str], xor_files: tuple[Path, Path], tmp_path: Path
) -> None:
    gold, predictions = xor_files
    code, _, err = run_cli(
        capsys, "xor-eval", "--gold", str(tmp_path / "no.jsonl"), "--predictions", str(predictions)
    )
    assert_user_error(code, err, "no.jsonl")
    code, _, err = run_cli(
        capsys, "xor-eval", "--gold", str(gold), "--predictions", str(tmp_path / "no.json")
    )
    assert_user_error(code, err, "no.json")


# --------------------------------------------------------------------------- search


@pytest.fixture
def passages_file(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "passages.jsonl",
        [
            {"id": "paris", "title": "Paris", "text": "Paris is the capital of France."},
            {"id": "nile", "title": "Nile", "text": "The Nile is a river in Africa."},
            {"id": 7, "text": "Jupiter is the largest planet of the Solar System."},
        ],
    )


def test_search_bm25_writes_a_trec_run(
    capsys: pytest.CaptureFixture[str], passages_file: Path, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.tsv"
    queries.write_text(
        "q1\tWhat is the capital of France?\nq2\tlargest planet\n\nq3\triver in Africa\n"
    )
    out_file = tmp_path / "runs" / "bm25.trec"
    code, out, err = run_cli(
        capsys,
        "search",
        "--passages", str(passages_file),
        "--queries", str(queries),
        "--method", "bm25",
        "--k", "2",
        "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert f"to {out_file}" in out
    lines = out_file.read_text().splitlines()
    first = lines[0].split()
    assert first[:4] == ["q1", "Q0", "paris", "1"] and first[5] == "bm25"
    run = read_run(out_file)
    assert set(run) == {"q1", "q2", "q3"}
    assert ranked(run["q1"])[0][0] == "paris"
    assert ranked(run["q2"])[0][0] == "7"
    assert ranked(run["q3"])[0][0] == "nile"
    assert all(len(docs) <= 2 for docs in run.values())


def test_search_jsonl_queries_and_tag(
    capsys: pytest.CaptureFixture[str], passages_file: Path, tmp_path: Path
) -> None:
    queries = write_jsonl(tmp_path / "queries.jsonl", [{"id": 1, "text": "Nile river"}])
    out_file = tmp_path / "run.trec"
    code, _, err = run_cli(
        capsys,
        "search",
        "--passages", str(passages_file),
        "--queries", str(queries),
        "--method", "bm25",
        "--tag", "mine",
        "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert out_file.read_text().split()[:3] == ["1", "Q0", "nile"]
    assert out_file.read_text().split()[5] == "mine"


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("q1\tcapital of France\nq2\t   \n", 2, "empty query text for query 'q2'"),
        ("q1\tcapital\tof France\n", 1, "expected 2 tab-separated columns"),
        ("q1 capital of France\n", 1, "expected 2 tab-separated columns"),
    ],
)
def test_search_bad_queries_file(
    capsys: pytest.CaptureFixture[str],
    passages_file: Path,
    tmp_path: Path,
    content: str,
    line: int,
    message: str,
) -> None:
    queries = tmp_path / "queries.tsv"
    queries.write_text(content)
    out_file = tmp_path / "run.trec"
    code, _, err = run_cli(
        capsys,
        "search",
        "--passages", str(passages_file),
        "--queries", str(queries),
        "--method", "bm25",
        "--out", str(out_file),
    )  # fmt: skip
    assert_user_error(code, err, f"{queries}:{line}", message)
    assert not out_file.exists()


def test_search_k_zero_is_a_user_error(
    capsys: pytest.CaptureFixture[str], passages_file: Path, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tNile\n")
    code, _, err = run_cli(
        capsys, "search", "--passages", str(passages_file), "--queries", str(queries),
        "--method", "bm25", "--k", "0", "--out", str(tmp_path / "run.trec"),
    )  # fmt: skip
    assert_user_error(code, err, "at least 1")


def test_search_bad_jsonl_queries(
    capsys: pytest.CaptureFixture[str], passages_file: Path, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"id": "q1", "text": "Nile"}\n{"id": "q2"}\n')
    code, _, err = run_cli(
        capsys, "search", "--passages", str(passages_file), "--queries", str(queries),
        "--method", "bm25", "--out", str(tmp_path / "run.trec"),
    )  # fmt: skip
    assert_user_error(code, err, f"{queries}:2", "id and text")


def test_search_missing_inputs(
    capsys: pytest.CaptureFixture[str], passages_file: Path, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tNile\n")
    code, _, err = run_cli(
        capsys, "search", "--passages", str(passages_file), "--queries", str(tmp_path / "no.tsv"),
        "--method", "bm25", "--out", str(tmp_path / "run.trec"),
    )  # fmt: skip
    assert_user_error(code, err, "queries file not found", "no.tsv")
    code, _, err = run_cli(
        capsys, "search", "--passages", str(tmp_path / "none.jsonl"), "--queries", str(queries),
        "--method", "bm25", "--out", str(tmp_path / "run.trec"),
    )  # fmt: skip
    assert_user_error(code, err, "none.jsonl")
    bad = passages_file.with_suffix(".csv")
    bad.write_text("x")
    code, _, err = run_cli(
        capsys, "search", "--passages", str(bad), "--queries", str(queries),
        "--method", "bm25", "--out", str(tmp_path / "run.trec"),
    )  # fmt: skip
    assert_user_error(code, err, "unknown passage file type")


def test_search_dense_with_a_tiny_encoder(
    capsys: pytest.CaptureFixture[str], passages_file: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """Dense and MaxSim search end to end through the embedding cache (random model)."""
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tparis is the capital of france\nq2\tthe river\n")
    cache = tmp_path / "cache"
    for method in ("dense", "maxsim"):
        out_file = tmp_path / f"{method}.trec"
        code, _, err = run_cli(
            capsys,
            "search",
            "--passages", str(passages_file),
            "--queries", str(queries),
            "--encoder", str(tiny_model_dir),
            "--method", method,
            "--fp32",
            "--cache-dir", str(cache),
            "--out", str(out_file),
        )  # fmt: skip
        assert code == 0, err
        run = read_run(out_file)
        assert set(run) == {"q1", "q2"}
        assert all(set(docs) == {"paris", "nile", "7"} for docs in run.values())
    assert (cache / "embeddings").is_dir()


# --------------------------------------------------------------------------- logging


def test_library_messages_go_to_stderr_with_a_prefix(
    capsys: pytest.CaptureFixture[str], xor_files: tuple[Path, Path]
) -> None:
    """``main`` sends the library's INFO messages to stderr; ``--quiet`` keeps warnings only."""
    import logging

    from optical import cli

    logger = logging.getLogger("optical.data.test")
    gold, predictions = xor_files
    args = ("xor-eval", "--gold", str(gold), "--predictions", str(predictions))
    code, out, err = run_cli(capsys, *args)
    assert code == 0 and "R@2kt" in out and err == ""
    logger.info("a library message")
    logger.debug("a debug message")
    assert capsys.readouterr() == ("", "[optical] a library message\n")
    cli.configure_logging(-1)
    cli.configure_logging(-1)  # idempotent: one handler
    logger.info("hidden")
    logger.warning("shown")
    assert capsys.readouterr().err == "[optical] shown\n"
    code, _, _ = run_cli(capsys, "-v", *args)
    logger.debug("a debug message")
    assert capsys.readouterr().err == "[optical] a debug message\n"
    with pytest.raises(SystemExit) as info:
        main(["-q", "-v", *args])
    assert info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
