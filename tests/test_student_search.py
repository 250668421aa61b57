"""A distilled student as the query encoder of ``optical index`` / ``optical search``.

``--query-encoder STUDENT`` searches the teacher's passage index (the teacher the
student records), through the experiment's own dense search: the CLI's run is the
experiment's run for the same queries, and the teacher's cached passage embeddings are
read back, not encoded again. Tiny random models from ``tests/tiny_models.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optical.cli import main
from optical.experiment.config import ExperimentConfig, ModelsConfig, RetrievalConfig
from optical.experiment.systems import resolve_systems, run_system
from optical.experiment.workbench import Workbench
from optical.models.encoder import Encoder
from optical.runs import read_run
from optical.train.distill import train_distill
from optical.types import Passage, Query, RetrievalBenchmark
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config

PASSAGES = [
    "the cat sleeps under the tree",
    "a big dog runs near the house",
    "the old red house",
    "a small cat eats",
    "the dog sees the big tree",
    "the red tree near the old house",
]
QUERIES = {  # the tiny pseudo-language "xx": word-by-word translations of English
    "q1": "le kato dormas sub le arbo",
    "q2": "un granda hundo kuras",
    "q3": "le ruga domo",
    "q4": "le hundo vidas",
}
K = 4


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> dict[str, Path]:
    """A tiny student (hidden 16) distilled for 3 steps from a tiny teacher (hidden 24)."""
    root = tmp_path_factory.mktemp("student-search")
    base = build_tiny_encoder(root / "base", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(root / "teacher", hidden=24, layers=2, seed=1)
    config = tiny_config(base, teacher, optim={"max_steps": 3}, run={"checkpoint_every": 0})
    student = train_distill(config, root / "run", bitext=tiny_bitext())
    return {"base": base, "teacher": teacher, "student": student, "root": root}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    passages = tmp_path / "passages.jsonl"
    passages.write_text(
        "".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(PASSAGES))
    )
    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"{qid}\t{text}\n" for qid, text in QUERIES.items()))
    return passages, queries


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def _search(passages: Path, queries: Path, cache: Path, out: Path, *options: str) -> list[str]:
    return [
        "search",
        "--passages", str(passages),
        "--queries", str(queries),
        "--k", str(K),
        "--maxsim-depth", str(K),
        "--fp32",
        "--cache-dir", str(cache),
        "--out", str(out),
        *options,
    ]  # fmt: skip


def _experiment_run(distilled: dict[str, Path], system: str, cache: Path) -> dict:
    """The student system of the experiment on the same queries (its own cache)."""
    cfg = ExperimentConfig(
        name="student-search",
        systems=(system,),
        models=ModelsConfig(
            student=str(distilled["base"]),
            teacher=str(distilled["teacher"]),
            oracle_candidates=(str(distilled["teacher"]),),
            bf16=False,
            int8=False,
        ),
        retrieval=RetrievalConfig(depth=K, maxsim_depth=K),
    )
    chosen = resolve_systems(cfg)[system]
    assert chosen.first.query == "trained" and chosen.first.index == "teacher"
    wb = Workbench(cache, bf16=False, int8=None, token_encoders=[str(distilled["teacher"])])
    wb.students[(chosen.spec.student_id or "", cfg.seed)] = distilled["student"]
    passages = tuple(Passage(f"p{i}", t) for i, t in enumerate(PASSAGES))
    queries = tuple(Query(qid, text, "xx") for qid, text in QUERIES.items())
    bench = RetrievalBenchmark("tiny", passages, {"xx": queries}, {})
    return run_system(chosen, wb, cfg, bench, queries)


@pytest.mark.parametrize(
    ("method", "system"), [("dense", "optical-ot"), ("maxsim", "optical-ot-maxsim")]
)
def test_cli_student_search_is_the_experiments_run(
    capsys: pytest.CaptureFixture[str],
    distilled: dict[str, Path],
    files: tuple[Path, Path],
    tmp_path: Path,
    method: str,
    system: str,
) -> None:
    passages, queries = files
    out = tmp_path / "run.trec"
    student = str(distilled["student"])
    _, err = cli(
        capsys,
        *_search(passages, queries, tmp_path / "cli-cache", out, "--query-encoder", student),
        "--method", method,
    )  # fmt: skip
    assert f"passages: {distilled['teacher']} (the teacher the student records)" in err
    expected = _experiment_run(distilled, system, tmp_path / "experiment-cache")
    run = read_run(out)
    assert set(run) == set(QUERIES) and all(len(docs) == K for docs in run.values())
    assert run == expected  # the same passages, in the same order, with the same scores


def test_the_teachers_passage_cache_serves_the_student(
    capsys: pytest.CaptureFixture[str],
    distilled: dict[str, Path],
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passages, queries = files
    cache = tmp_path / "cache"
    teacher, student = str(distilled["teacher"]), str(distilled["student"])
    common = ("--passages", str(passages), "--fp32", "--cache-dir", str(cache))
    out, _ = cli(capsys, "index", "--encoder", teacher, *common)
    assert f"with {teacher}: {len(PASSAGES)} encoded, 0 from cache" in out
    # the student's index is the teacher's: nothing to encode
    out, err = cli(capsys, "index", "--query-encoder", student, *common)
    assert f"with {teacher}: 0 encoded, {len(PASSAGES)} from cache" in out
    assert "the teacher the student records" in err

    encoded: list[tuple[str, str, int]] = []
    encode = Encoder.encode

    def counted(self: Encoder, texts, kind, *args, **kwargs):  # type: ignore[no-untyped-def]
        encoded.append((self.spec.name, kind, len(texts)))
        return encode(self, texts, kind, *args, **kwargs)

    monkeypatch.setattr(Encoder, "encode", counted)
    run_file = tmp_path / "run.trec"
    _, err = cli(capsys, *_search(passages, queries, cache, run_file, "--query-encoder", student))
    assert [kind for _, kind, _ in encoded] == ["query"]  # the passages are read back
    assert f"passage index ({teacher}): {len(PASSAGES)} from cache, 0 encoded" in err
    assert set(read_run(run_file)) == set(QUERIES)


def test_passage_encoder_defaults_and_overrides(
    capsys: pytest.CaptureFixture[str],
    distilled: dict[str, Path],
    files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    passages, queries = files
    cache = tmp_path / "cache"
    teacher, student = str(distilled["teacher"]), str(distilled["student"])
    # a plain model as the query encoder searches its own index: the same as --encoder
    both, alone = tmp_path / "both.trec", tmp_path / "alone.trec"
    cli(capsys, *_search(passages, queries, cache, both, "--encoder", teacher))
    _, err = cli(capsys, *_search(passages, queries, cache, alone, "--query-encoder", teacher))
    assert f"passages: {teacher} (the query encoder, not a distilled student)" in err
    assert read_run(alone) == read_run(both)
    # an explicit passage encoder is used (here: the teacher, the default, named)
    default, explicit = tmp_path / "default.trec", tmp_path / "explicit.trec"
    cli(capsys, *_search(passages, queries, cache, default, "--query-encoder", student))
    _, err = cli(
        capsys,
        *_search(passages, queries, cache, explicit, "--query-encoder", student),
        "--passage-encoder", teacher,
    )  # fmt: skip
    assert f"passages: {teacher} (--passage-encoder)" in err
    assert read_run(explicit) == read_run(default)
    # --encoder STUDENT still means the student on both sides (its own 24-dim space)
    _, err = cli(
        capsys, *_search(passages, queries, cache, tmp_path / "s.trec", "--encoder", student)
    )
    assert "a distilled student is a query encoder" in err


@pytest.mark.parametrize("command", ["search", "index"])
def test_encoder_and_query_encoder_together_are_a_user_error(
    capsys: pytest.CaptureFixture[str],
    distilled: dict[str, Path],
    files: tuple[Path, Path],
    tmp_path: Path,
    command: str,
) -> None:
    passages, queries = files
    argv = [command, "--passages", str(passages), "--cache-dir", str(tmp_path / "c")]
    if command == "search":
        argv += ["--queries", str(queries), "--out", str(tmp_path / "run.trec")]
    extras = (["--query-encoder", "x"], ["--passage-encoder", "y"])
    if command == "search":
        extras += (["--query-encoder", "x", "--method", "bm25"],)
    for extra in extras:
        code = main([*argv, "--encoder", str(distilled["teacher"]), *extra])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("optical: error: ") and "Traceback" not in err
        assert "--encoder" in err and "not both" in err
    assert not (tmp_path / "run.trec").exists()


def test_a_student_without_a_recorded_teacher_needs_a_passage_encoder(
    capsys: pytest.CaptureFixture[str],
    distilled: dict[str, Path],
    files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    import shutil

    from optical.models.student import STUDENT_FILE

    passages, queries = files
    folder = Path(shutil.copytree(distilled["student"], tmp_path / "student"))
    info = json.loads((folder / STUDENT_FILE).read_text())
    del info["teacher"]
    (folder / STUDENT_FILE).write_text(json.dumps(info))
    argv = _search(passages, queries, tmp_path / "c", tmp_path / "r.trec", "--query-encoder")
    code = main([*argv, str(folder)])
    err = capsys.readouterr().err
    assert code == 2 and "records no teacher" in err and "--passage-encoder" in err


def test_recorded_teacher_of_a_relative_folder_name(
    distilled: dict[str, Path], tmp_path: Path
) -> None:
    """A teacher named by a path relative to where training ran: the folder it resolved to."""
    import shutil

    from optical.models.student import STUDENT_FILE, recorded_teacher

    assert recorded_teacher(distilled["student"]) == str(distilled["teacher"])
    assert recorded_teacher(distilled["teacher"]) is None  # not a student
    folder = Path(shutil.copytree(distilled["student"], tmp_path / "student"))
    info = json.loads((folder / STUDENT_FILE).read_text())
    (folder / STUDENT_FILE).write_text(json.dumps({**info, "teacher": "models/teacher"}))
    assert recorded_teacher(folder) == info["teacher_spec"]["path"]
    (folder / STUDENT_FILE).write_text(json.dumps({**info, "teacher": "e5-small"}))
    assert recorded_teacher(folder) == "e5-small"  # an alias stays the alias
