"""Nothing silently wrong: every size, count, depth and option is checked where it is read,
bad query records are errors naming FILE:LINE, xor-eval refuses predictions that match
no gold id, and ``optical translate`` keeps its output aligned with its input lines."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from optical.cli import main
from optical.data.queries import read_queries
from optical.errors import ConfigError, DataFormatError, OpticalError
from optical.experiment.ablation import load_ablation_config
from optical.experiment.config import ExperimentConfig, load_config
from optical.runs import predictions_from_run
from optical.search import BM25Index, DenseIndex, maxsim_rerank
from optical.train.config import load_distill_config
from optical.types import Passage

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    assert err.startswith("optical: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# --------------------------------------------------------------------------- experiment config


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[xquad]\nmax_questions_per_language = -5\n", "xquad.max_questions_per_language"),
        ("[xquad]\ndistractors = -1\n", "xquad.distractors"),
        ("[xquad]\nlanguages = []\n", "xquad.languages"),
        ("[xquad]\nlanguages = ['de', 'de']\n", "xquad.languages"),
        (
            "[xor-tydi-heldout]\nmax_questions_per_language = -1\n",
            "xor-tydi-heldout.max_questions_per_language",
        ),
        (
            "[xor-tydi-heldout]\nwikipedia_vital_passages = -2\n",
            "xor-tydi-heldout.wikipedia_vital_passages",
        ),
        ("[ntrex]\nmax_sentences = -3\n", "ntrex.max_sentences"),
        ("[retrieval]\ndepth = 0\n", "retrieval.depth"),
        ("[retrieval]\ndepth = -10\n", "retrieval.depth"),
        ("[retrieval]\nmaxsim_depth = 0\n", "retrieval.maxsim_depth"),
        ("[retrieval]\nmaxsim_depth = -1\n", "retrieval.maxsim_depth"),
        ("[translate]\nbeams = 0\n", "translate.beams"),
        ("[translate]\nbt_pairs_per_language = -1\n", "translate.bt_pairs_per_language"),
        (
            "[translate]\nroundtrip_pairs_per_language = -1\n",
            "translate.roundtrip_pairs_per_language",
        ),
        ("[translate]\napertium_languages = ['es', 'es']\n", "translate.apertium_languages"),
        ("[models]\nstudent = ' '\n", "models.student"),
        ("[models]\noracle_candidates = ['a', 'a']\n", "models.oracle_candidates"),
        ("[experiment]\nseed = -1\n", "experiment.seed"),
        ("[experiment]\nseeds = [0, -1]\n", "experiment.seeds"),
        ("[experiment]\nseeds = [0, 1, 0]\n", "experiment.seeds"),
        ("[experiment]\nseeds = [0, 1]\ncurve_seeds = [2]\n", "experiment.curve_seeds"),
        ("[experiment]\ncurve_seeds = [-1]\n", "experiment.curve_seeds"),
        ("[experiment]\nbenchmarks = []\n", "experiment.benchmarks"),
        ("[experiment]\nbenchmarks = ['xquad', 'xquad']\n", "experiment.benchmarks"),
        ("[experiment]\nsystems = []\n", "systems"),
        ("[experiment]\nname = ''\n", "name"),
        (
            "[experiment]\nsystems = ['oracle', 'zero-shot']\n"
            "significance_baseline = 'optical-ot'\n",
            "significance_baseline",
        ),
        (
            "[experiment]\nsystems = ['zero-shot']\nbenchmarks = ['xor-tydi-heldout']\n",
            "oracle",
        ),
    ],
)
def test_experiment_config_values_name_the_file_and_key(
    tmp_path: Path, toml: str, key: str
) -> None:
    path = write(tmp_path / "exp.toml", toml)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and key in str(info.value), str(info.value)


def test_zero_keeps_its_documented_all_meaning(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path / "exp.toml",
            "[xquad]\nmax_questions_per_language = 0\ndistractors = 0\n"
            "[xor-tydi-heldout]\nmax_questions_per_language = 0\nwikipedia_vital_passages = 0\n"
            "[ntrex]\nmax_sentences = 0\n[translate]\nbt_pairs_per_language = 0\n"
            "[retrieval]\ndepth = 1\nmaxsim_depth = 1\n"
            "[experiment]\nseeds = [0, 1]\ncurve_seeds = [1]\n",
        )
    )
    assert cfg.xquad.max_questions_per_language == 0 and cfg.ntrex.max_sentences == 0
    assert cfg.seeds_for(next(s for s in cfg.systems)) == (0, 1)


def test_message_names_the_value(tmp_path: Path) -> None:
    path = write(tmp_path / "exp.toml", "[xquad]\nmax_questions_per_language = -5\n")
    with pytest.raises(ConfigError, match=r"\[xquad\]: xquad\.max_questions_per_language must be "
                       r">= 0 \(0 = all\), not -5"):  # fmt: skip
        load_config(path)


def test_dataclasses_check_values_built_in_code() -> None:
    with pytest.raises(ConfigError, match=r"experiment\.seeds"):
        ExperimentConfig(seeds=(-1,))
    from optical.experiment.benchmarks import NtrexConfig

    with pytest.raises(ConfigError, match=r"ntrex\.max_sentences"):
        NtrexConfig(max_sentences=-3)


# --------------------------------------------------------------------------- distill / ablation


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[run]\nseed = -1\n", "run.seed"),
        ("[optim]\nweight_decay = nan\n", "optim.weight_decay"),
        ("[optim]\nmax_grad_norm = inf\n", "optim.max_grad_norm"),
    ],
)
def test_distill_config_gaps(tmp_path: Path, toml: str, key: str) -> None:
    path = write(tmp_path / "distill.toml", toml)
    with pytest.raises(ConfigError) as info:
        load_distill_config(path)
    assert str(path) in str(info.value) and key in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("seeds = [-1]\n", "seeds must be >= 0"),
        ("seeds = [0, 0]\n", "seeds lists 0 twice"),
        ("seeds = [true]\n", "seeds must be a non-empty list of integers"),
        ("seeds = []\n", "seeds must be a non-empty list of integers"),
        ("name = 3\n", "name must be a non-empty string"),
    ],
)
def test_ablation_config_values(tmp_path: Path, body: str, message: str) -> None:
    base = ROOT / "configs" / "distill-quick.toml"
    path = write(tmp_path / "abl.toml", f'base = "{base}"\n{body}[variants.a]\n')
    with pytest.raises(ConfigError) as info:
        load_ablation_config(path)
    assert str(path) in str(info.value) and message in str(info.value), str(info.value)


def test_ablation_config_needs_a_base_and_tables(tmp_path: Path) -> None:
    path = write(tmp_path / "abl.toml", "[variants.a]\n")
    with pytest.raises(ConfigError, match="base must be a non-empty string"):
        load_ablation_config(path)
    base = ROOT / "configs" / "distill-quick.toml"
    write(path, f'base = "{base}"\nvariants = {{a = 1}}\n')
    with pytest.raises(ConfigError, match=r"variants must hold \[variants.NAME\] tables"):
        load_ablation_config(path)


# --------------------------------------------------------------------------- CLI options


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    passages = write(tmp_path / "p.jsonl", json.dumps({"id": "a", "text": "Paris France"}) + "\n")
    queries = write(tmp_path / "q.tsv", "q1\tParis\n")
    return passages, queries


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--k", "0"), "--k must be at least 1, got 0"),
        (("--k", "-3"), "--k must be at least 1, got -3"),
        (("--method", "maxsim", "--maxsim-depth", "0"), "--maxsim-depth must be at least 1"),
        (("--method", "maxsim", "--maxsim-depth", "-5"), "--maxsim-depth must be at least 1"),
    ],
)
def test_search_options(
    capsys: pytest.CaptureFixture[str],
    corpus: tuple[Path, Path],
    tmp_path: Path,
    options: tuple[str, ...],
    message: str,
) -> None:
    passages, queries = corpus
    out = tmp_path / "run.trec"
    code, _, err = run_cli(
        capsys, "search", "--passages", str(passages), "--queries", str(queries),
        "--out", str(out), *options,
    )  # fmt: skip
    assert_one_line_error(code, err, message)
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ("repro", "record", "x", "--results", "r.json", "--command", "c", "--config", "c",
         "--tol", "-1"),
        ("repro", "record", "x", "--results", "r.json", "--command", "c", "--config", "c",
         "--tol", "nan"),
        ("translate", "--source", "de", "--target", "en", "--beams", "0", "Hallo"),
        ("align", "--model", "m", "a", "b", "--out", "x.png", "--eps", "0"),
        ("align", "--model", "m", "a", "b", "--out", "x.png", "--eps", "-0.5"),
        ("ablate", "missing.toml", "--out", "o", "--shard", "2/2"),
        ("ablate", "missing.toml", "--out", "o", "--shard=-1/2"),
        ("ablate", "missing.toml", "--out", "o", "--shard", "1/0"),
        ("ablate", "missing.toml", "--out", "o", "--shard", "x"),
    ],
)  # fmt: skip
def test_option_values_are_one_line_errors_before_any_work(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, _, err = run_cli(capsys, *argv)
    option = next(a for a in argv if a.split("=")[0] in ("--tol", "--beams", "--eps", "--shard"))
    assert_one_line_error(code, err, option.split("=")[0])
    assert "missing.toml" not in err  # the option is checked before the config is read


def test_only_seeds_must_be_non_negative(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["experiment", "c.toml", "--out", "o", "--only-seeds", "0,-1"])
    assert info.value.code == 2
    assert "expected integers >= 0" in capsys.readouterr().err


# --------------------------------------------------------------------------- search functions


def test_low_level_depths_must_be_positive() -> None:
    docs = np.eye(2, dtype=np.float32)
    for depth in (0, -1):
        with pytest.raises(OpticalError, match="at least 1"):
            DenseIndex(docs, ["a", "b"]).search(["q"], docs[:1], depth)
        with pytest.raises(OpticalError, match="MaxSim depth must be an integer of at least 1"):
            maxsim_rerank({"q": {"a": 1.0}}, {"q": docs[:1]}, lambda pid: docs[:1], depth=depth)
        with pytest.raises(OpticalError, match="at least 1"):
            BM25Index([Passage("a", "Paris")]).search(["q"], ["Paris"], depth)
        with pytest.raises(OpticalError, match="at least 1"):
            predictions_from_run({"q": {"a": 1.0}}, {"a": "Paris"}, {"q": "ja"}, depth=depth)


def test_bm25_empty_inputs() -> None:
    assert BM25Index([Passage("a", "Paris")]).search([], [], 3) == {}
    with pytest.raises(OpticalError, match="at least one passage"):
        BM25Index([])


# --------------------------------------------------------------------------- queries reader


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('{"id": "q1", "text": null}\n', 1, "field 'text' must be str, got NoneType"),
        ('{"id": "q1", "text": "ok"}\n{"id": "q2", "text": 42}\n', 2, "must be str, got int"),
        ('{"id": "q1", "text": ["a", "b"]}\n', 1, "must be str, got list"),
        ('{"id": null, "text": "a"}\n', 1, "field 'id' must be str or int, got NoneType"),
        ('{"id": true, "text": "a"}\n', 1, "field 'id' must be str or int, got bool"),
        ('{"id": " ", "text": "a"}\n', 1, "empty query id"),
        ('{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}\n', 2, "duplicate query id '1'"),
    ],
)
def test_bad_jsonl_records_name_file_and_line(
    tmp_path: Path, content: str, line: int, message: str
) -> None:
    path = write(tmp_path / "q.jsonl", content)
    with pytest.raises(DataFormatError) as info:
        read_queries(path)
    assert str(info.value).startswith(f"{path}:{line}: ") and message in str(info.value)


def test_bom_never_reaches_the_first_id(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_bytes("\ufeffq1\tParis\nq2\tNile\n".encode())
    assert read_queries(path) == (["q1", "q2"], ["Paris", "Nile"])
    path.write_bytes("\ufeffqid\ttext\nq1\tParis\n".encode())  # BOM and header together
    assert read_queries(path) == (["q1"], ["Paris"])
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_bytes('\ufeff{"id": "q1", "text": "Paris"}\n'.encode())
    assert read_queries(jsonl) == (["q1"], ["Paris"])


@pytest.mark.parametrize("header", ["qid\ttext", "id\ttext", "QID\tText", "\nqid\ttext"])
def test_tsv_header_is_skipped(tmp_path: Path, header: str) -> None:
    path = write(tmp_path / "q.tsv", f"{header}\nq1\tParis\n")
    assert read_queries(path) == (["q1"], ["Paris"])


def test_only_the_first_line_is_a_header(tmp_path: Path) -> None:
    path = write(tmp_path / "q.tsv", "q1\tParis\nid\ttext\n")
    assert read_queries(path) == (["q1", "id"], ["Paris", "text"])


@pytest.mark.parametrize(
    ("name", "content"),
    [("q.tsv", ""), ("q.tsv", "\n  \n"), ("q.tsv", "qid\ttext\n"), ("q.jsonl", "\n")],
)
def test_a_file_without_queries_is_an_error(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(path))}: no queries"):
        read_queries(path)


@pytest.mark.parametrize("method", ["bm25", "dense"])
def test_search_with_an_empty_queries_file(
    capsys: pytest.CaptureFixture[str], corpus: tuple[Path, Path], tmp_path: Path, method: str
) -> None:
    passages, _ = corpus
    queries = write(tmp_path / "empty.tsv", "")
    out = tmp_path / "run.trec"
    code, _, err = run_cli(
        capsys, "search", "--passages", str(passages), "--queries", str(queries),
        "--method", method, "--encoder", str(tmp_path / "no-encoder"), "--out", str(out),
    )  # fmt: skip
    assert_one_line_error(code, err, str(queries), "no queries")
    assert not out.exists()


# --------------------------------------------------------------------------- xor-eval


def _xor_files(tmp_path: Path, prediction_ids: list[str]) -> tuple[Path, Path]:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(
            json.dumps({"id": qid, "question": "q?", "answers": ["Tokyo"], "lang": "ja",
                        "split": "dev"}) + "\n"
            for qid in ("g1", "g2")
        )
    )  # fmt: skip
    predictions = tmp_path / "predictions.json"
    predictions.write_text(
        json.dumps([{"id": i, "lang": "ja", "ctxs": ["Tokyo"]} for i in prediction_ids])
    )
    return gold, predictions


@pytest.mark.parametrize("ids", [["other-1", "other-2"], []])
def test_xor_eval_with_no_matching_id_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ids: list[str]
) -> None:
    gold, predictions = _xor_files(tmp_path, ids)
    code, out, err = run_cli(
        capsys, "xor-eval", "--gold", str(gold), "--predictions", str(predictions)
    )
    assert_one_line_error(code, err, str(gold), str(predictions), "no prediction id")
    assert out == ""


def test_xor_eval_with_one_matching_id_still_scores(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gold, predictions = _xor_files(tmp_path, ["g1", "other"])
    code, out, err = run_cli(
        capsys, "xor-eval", "--gold", str(gold), "--predictions", str(predictions), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["R@2kt"]["ja"] == pytest.approx(50.0)


# --------------------------------------------------------------------------- translate stdin


class Upper:
    """A fake backend that records what it is sent."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []

    def translate(self, texts, source_lang, target_lang, progress=False):
        self.sent.append(list(texts))
        return [SimpleNamespace(text=text.upper()) for text in texts]


@pytest.fixture
def upper(monkeypatch: pytest.MonkeyPatch) -> Upper:
    backend = Upper()
    monkeypatch.setattr("optical.translate.base.build_translator", lambda name, **_: backend)
    return backend


TRANSLATE = ("translate", "--backend", "oracle", "--source", "de", "--target", "en", "--no-cache")


def test_translate_keeps_blank_stdin_lines_aligned(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, upper: Upper
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("eins\n\nzwei\n   \ndrei"))
    code, out, err = run_cli(capsys, *TRANSLATE)
    assert code == 0, err
    assert out.split("\n") == ["EINS", "", "ZWEI", "", "DREI", ""]
    assert upper.sent == [["eins", "zwei", "drei"]]  # blank lines never reach the backend


def test_translate_only_blank_lines_calls_no_backend(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, upper: Upper
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n\n"))
    code, out, _ = run_cli(capsys, *TRANSLATE)
    assert code == 0 and out == "\n\n" and upper.sent == []


def test_translate_arguments_unchanged(capsys: pytest.CaptureFixture[str], upper: Upper) -> None:
    code, out, _ = run_cli(capsys, *TRANSLATE, "eins", "zwei")
    assert code == 0 and out == "EINS\nZWEI\n" and upper.sent == [["eins", "zwei"]]
