"""AfriQA: the loader, the benchmark (collection, queries, qrels, the fixed quick subset),
its scorer, the training pairs and the catalog — on the real files (skipped without the
data dir) and on a tiny release written here; one tiny experiment run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from optical.data import describe, format_description, record_skips, skip_counts
from optical.data.afriqa import (
    AFRIQA_LANGUAGES,
    afriqa_question_pairs,
    gold_file,
    load_afriqa,
    load_afriqa_passages,
    parse_answer_list,
    queries_file,
)
from optical.errors import ConfigError, DataFormatError
from optical.experiment.benchmarks import (
    AFRIQA,
    BENCHMARKS,
    AfriqaConfig,
    afriqa_benchmark,
    afriqa_corpus,
    score_afriqa,
)
from optical.experiment.config import ExperimentConfig, load_config
from optical.types import Passage, Query, RetrievalBenchmark
from tiny_afriqa import PER_FILE, passage_text, write_afriqa

QUICK = Path(__file__).resolve().parents[1] / "configs" / "quick.toml"

# the data README's table: questions and questions with a gold passage (train, dev, test)
README_COUNTS = {
    "bem": ((502, 503, 314), (228, 235, 308)),
    "ha": ((435, 436, 300), (223, 222, 300)),
    "ig": ((417, 418, 409), (305, 307, 409)),
    "rw": ((407, 409, 347), (214, 230, 345)),
    "tw": ((451, 452, 490), (351, 348, 486)),
    "yo": ((360, 361, 332), (247, 0, 253)),  # Yorùbá dev: no gold file
    "zu": ((387, 388, 325), (242, 242, 325)),
}


# --------------------------------------------------------------------------- real files


@pytest.fixture
def real_passages(real_data_dir: Path) -> list[Passage]:
    return load_afriqa_passages(real_data_dir)


def test_real_counts_match_the_data_readme(real_data_dir: Path, real_passages: list) -> None:
    assert len(real_passages) == 5359
    assert real_passages[0].id == "afriqa-p00000"
    for index, split in enumerate(("train", "dev", "test")):
        found = load_afriqa(real_data_dir, split, passages=real_passages)
        assert tuple(found) == AFRIQA_LANGUAGES
        for lang, (questions, gold) in README_COUNTS.items():
            assert len(found[lang]) == questions[index], (lang, split)
            assert sum(q.gold is not None for q in found[lang]) == gold[index], (lang, split)


def test_real_apostrophe_answer_literal(real_data_dir: Path, real_passages: list) -> None:
    # "['People's Democratic Party']" is not a valid Python literal: the fallback reads it
    igbo = {q.id: q for q in load_afriqa(real_data_dir, "test", ["ig"], real_passages)["ig"]}
    question = igbo["afriqa-ig-test-352"]
    assert question.answers == ("People's Democratic Party",)
    assert question.english_answers == ("People's Democratic Party",)
    assert question.where.endswith("queries.afriqa.ibo.en.test.json:353")


def _check_qrels(bench: RetrievalBenchmark) -> None:
    """Every query has exactly one relevant passage, and it is in the collection."""
    ids = {p.id for p in bench.passages}
    assert len(ids) == len(bench.passages)
    qids = [q.id for queries in bench.queries.values() for q in queries]
    assert sorted(qids) == sorted(bench.qrels)
    for qid in qids:
        (gold,) = bench.qrels[qid]
        assert bench.qrels[qid][gold] == 1 and gold in ids


def test_real_full_benchmark(real_data_dir: Path) -> None:
    bench = AFRIQA.load(ExperimentConfig(), real_data_dir)
    assert bench.name == "afriqa" and bench.languages == list(AFRIQA_LANGUAGES)
    assert len(bench.passages) == 5359  # no distractors by default (0 = none)
    for lang, (_questions, gold) in README_COUNTS.items():
        assert len(bench.queries[lang]) == gold[2], lang
        assert all(q.id.startswith(f"afriqa-{lang}-test-") for q in bench.queries[lang])
        assert all(q.english and q.lang == lang for q in bench.queries[lang])
    _check_qrels(bench)
    assert set(bench.answers) == set(bench.qrels)
    with_vital = afriqa_benchmark(AfriqaConfig(wikipedia_vital_passages=10033), real_data_dir)
    assert len(with_vital.passages) == 5359 + 10033
    assert afriqa_corpus(with_vital).endswith(
        "5,359 AfriQA passages + 10,033 Wikipedia-vital distractors"
    )


def test_real_quick_subset_is_fixed_and_holds_its_gold_passages(real_data_dir: Path) -> None:
    cfg = load_config(QUICK)
    assert "afriqa" in cfg.benchmarks
    settings = cfg.afriqa
    bench = AFRIQA.load(cfg, real_data_dir)
    again = AFRIQA.load(cfg, real_data_dir)
    assert bench.queries == again.queries and bench.passages == again.passages
    assert len(bench.passages) == settings.afriqa_passages
    assert all(len(q) == settings.max_questions_per_language for q in bench.queries.values())
    _check_qrels(bench)
    full = AFRIQA.load(ExperimentConfig(), real_data_dir)
    order = [p.id for p in full.passages]
    # the collection keeps the file order; the non-gold passages are the first others
    chosen = [p.id for p in bench.passages]
    assert chosen == sorted(chosen, key=order.index)
    gold = {pid for rels in bench.qrels.values() for pid in rels}
    others = [pid for pid in order if pid not in gold]
    assert set(chosen) - gold == set(others[: len(chosen) - len(gold)])


def test_real_question_pairs_are_train_and_dev_only(real_data_dir: Path) -> None:
    with record_skips() as skips:
        pairs = afriqa_question_pairs(real_data_dir)
    assert tuple(pairs) == AFRIQA_LANGUAGES
    test_ids = {q.id for qs in load_afriqa(real_data_dir, "test").values() for q in qs}
    for lang, lang_pairs in pairs.items():
        assert lang_pairs and all(p.lang == lang for p in lang_pairs)
        assert all(p.origin == "afriqa-questions" and p.where for p in lang_pairs)
        assert all("-test-" not in p.id and p.id not in test_ids for p in lang_pairs)
    counts = skip_counts(skips)
    assert counts["identical to an AfriQA test question"] > 0
    total = sum(q + d for (q, d, _t), _g in (v for v in README_COUNTS.values()))
    assert sum(map(len, pairs.values())) == total - sum(counts.values())


# --------------------------------------------------------------------------- tiny release


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_afriqa(root)
    return root


def test_tiny_loader_and_benchmark(tiny: Path) -> None:
    found = load_afriqa(tiny, "test", ["hau", "tw"])  # file and canonical codes both work
    assert list(found) == ["ha", "tw"]
    hausa = found["ha"]
    assert [q.id for q in hausa] == [f"afriqa-ha-test-{i}" for i in range(PER_FILE)]
    assert hausa[1].english_answers == ("people's party",)  # the apostrophe fallback
    assert hausa[-1].gold is None and hausa[0].gold is not None
    bench = afriqa_benchmark(AfriqaConfig(languages=("ha", "tw")), tiny)
    assert [q.id for q in bench.queries["ha"]] == [q.id for q in hausa[:-1]]
    assert bench.queries["ha"][0].english == "what is the hau test 0"
    _check_qrels(bench)
    texts = {p.id: p.text for p in bench.passages}
    (gold,) = bench.qrels["afriqa-ha-test-2"]
    assert texts[gold] == passage_text("hau", "test", 2)


def test_tiny_subset_rules(tiny: Path) -> None:
    settings = AfriqaConfig(languages=("ha", "zu"), max_questions_per_language=2, afriqa_passages=6)
    bench = afriqa_benchmark(settings, tiny)
    assert all(len(q) == 2 for q in bench.queries.values())
    assert len(bench.passages) == 6
    _check_qrels(bench)
    assert afriqa_benchmark(settings, tiny).queries == bench.queries
    with pytest.raises(ConfigError, match=r"afriqa_passages = 3 is fewer than the 4 gold"):
        afriqa_benchmark(
            AfriqaConfig(languages=("ha", "zu"), max_questions_per_language=2, afriqa_passages=3),
            tiny,
        )


def test_malformed_answers_name_the_file_and_line(tiny: Path) -> None:
    path = tiny / queries_file("zul", "test")
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[2])
    record["translated_answer"] = "Durban"  # not a list literal
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load_afriqa(tiny, "test", ["zu"])
    assert f"{path}:3:" in str(info.value) and "'translated_answer'" in str(info.value)
    with pytest.raises(DataFormatError, match="must be a list of strings"):
        parse_answer_list("[1, 2]", path, 7, "answers")


def test_gold_context_missing_from_the_corpus_is_an_error(tiny: Path) -> None:
    path = tiny / gold_file("twi", "test")
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[1])
    record["context"] = "a passage that is nowhere in the corpus"
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"gold passage of question '1' is not in"):
        load_afriqa(tiny, "test", ["tw"])


def test_unknown_language_is_a_config_error(tiny: Path) -> None:
    with pytest.raises(ConfigError, match="AfriQA has no sw"):
        load_afriqa(tiny, "test", ["sw"])
    with pytest.raises(ConfigError, match=r"afriqa.languages: AfriQA has no hau"):
        AfriqaConfig(languages=("hau",))  # canonical codes in configs
    with pytest.raises(ConfigError, match="twice"):
        AfriqaConfig(languages=("ha", "ha"))
    with pytest.raises(ConfigError, match="wikipedia_vital_passages"):
        AfriqaConfig(wikipedia_vital_passages=-1)


def test_tiny_question_pairs(tiny: Path) -> None:
    pairs = afriqa_question_pairs(tiny, languages=["ha"])
    assert [p.id for p in pairs["ha"]] == [
        f"afriqa-ha-{split}-{i}" for split in ("train", "dev") for i in range(PER_FILE)
    ]
    first = pairs["ha"][0]
    assert (first.source, first.english) == ("hau train question 0", "what is the hau train 0")
    assert first.where.endswith("queries.afriqa.hau.en.train.json:1")
    with pytest.raises(ConfigError, match="test questions are evaluation-only"):
        afriqa_question_pairs(tiny, splits=("train", "test"))
    # a train question asked again in test (same text) is test text: not a pair
    path = tiny / queries_file("hau", "train")
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["question"] = "HAU  test question 3"
    lines[0] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with record_skips() as skips:
        pairs = afriqa_question_pairs(tiny, splits=("train",), languages=["ha"])
    assert [p.id for p in pairs["ha"]] == [f"afriqa-ha-train-{i}" for i in range(1, PER_FILE)]
    assert skip_counts(skips) == {"identical to an AfriQA test question": 1}


def test_catalog_counts_per_split(tiny: Path) -> None:
    summary = describe("afriqa", tiny)
    assert set(summary) == {"name", "description", "files", "languages", "total", "skipped"}
    langs = summary["languages"]
    # 3 train + 2 dev + 3 test gold passages per language (Yorùbá dev: none)
    assert langs["en"] == {"passages": 6 * 8 + 6}
    assert langs["ha"] == {
        "train_queries": 4,
        "train_qrels": 3,
        "dev_queries": 4,
        "dev_qrels": 2,
        "test_queries": 4,
        "test_qrels": 3,
    }
    assert "dev_qrels" not in langs["yo"]  # no gold file: no count, not 0
    assert summary["total"]["test_qrels"] == 7 * 3
    assert summary["skipped"] == {"gold row without a passage (context null)": 6}
    text = format_description(summary)
    header = next(line for line in text.splitlines() if line.startswith("lang"))
    assert header.split() == [
        "lang",
        "passages",
        *(f"{s}_{k}" for s in ("train", "dev", "test") for k in ("queries", "qrels")),
    ]
    pairs = describe("afriqa-questions", tiny)
    assert pairs["total"] == {"pairs": 7 * 2 * PER_FILE}
    assert all(f.endswith((".train.json", ".dev.json")) for f in pairs["files"])


# --------------------------------------------------------------------------- scoring


def test_scorer_on_a_toy_run() -> None:
    passages = (
        Passage("afriqa-p00000", "the capital of ghana is accra"),
        Passage("afriqa-p00001", "the river flows into the sea"),
        Passage("wiki-vital-00000", "a city by the sea"),
    )
    queries = {
        "tw": (
            Query("q1", "twi question", "tw", english="what is the capital of ghana"),
            Query("q2", "twi yes no", "tw", english="is the river long"),
        )
    }
    bench = RetrievalBenchmark(
        "afriqa",
        passages,
        queries,
        {"q1": {"afriqa-p00000": 1}, "q2": {"afriqa-p00001": 1}},
        {"q1": ("accra",), "q2": ("yes",)},
    )
    run = {
        "q1": {"afriqa-p00000": 3.0, "afriqa-p00001": 2.0},
        "q2": {"wiki-vital-00000": 3.0, "afriqa-p00001": 2.0},
    }
    found = score_afriqa(bench, "tw", run, None)
    assert set(AFRIQA.headline) <= set(found)
    assert {"RR@10", "nDCG@10", "R@1", "R@5", "R@100", "R@2kt", "R@5kt"} <= set(found)
    assert found["RR@10"] == {"q1": 1.0, "q2": 0.5}
    assert found["R@1"] == {"q1": 1.0, "q2": 0.0} and found["R@100"]["q2"] == 1.0
    # the yes/no-only question is not scored by answer recall (as the XOR metric does)
    assert found["R@2kt"] == {"q1": 100.0} and found["R@5kt"] == {"q1": 100.0}
    no_spans = RetrievalBenchmark("afriqa", passages, queries, bench.qrels, {"q1": ("no",)})
    assert "R@2kt" not in score_afriqa(no_spans, "tw", run, None)
    assert AFRIQA.primary == "RR@10" and BENCHMARKS["afriqa"] is AFRIQA
    assert afriqa_corpus(bench) == (
        "3 English passages: 2 AfriQA passages + 1 Wikipedia-vital distractors"
    )


# --------------------------------------------------------------------------- experiment


def test_tiny_experiment_has_afriqa_rows(
    tiny: Path, tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from optical.experiment.config import ModelsConfig, RetrievalConfig
    from optical.experiment.run import run_experiment

    name = str(tiny_model_dir)
    cfg = ExperimentConfig(
        name="tiny-afriqa",
        benchmarks=("afriqa",),
        systems=("oracle", "zero-shot", "bm25-human-translation", "tt-oracle-dense"),
        significance_test="t-test",
        models=ModelsConfig(student=name, teacher=name, oracle_candidates=(name,), bf16=False),
        retrieval=RetrievalConfig(depth=5, maxsim_depth=5),
        afriqa=AfriqaConfig(languages=("ha", "tw", "zu"), afriqa_passages=12),
    )
    out = tmp_path / "out"
    caplog.set_level(logging.INFO, logger="optical.experiment.run")
    result = run_experiment(cfg, out, data=tiny)
    rows = [r for r in result.rows if r.benchmark == "afriqa"]
    got = {(r.system, r.lang, r.measure): r for r in rows}
    for system in ("oracle", "zero-shot", "bm25-human-translation"):
        for lang in ("ha", "tw", "zu", "macro"):
            assert (system, lang, "RR@10") in got and (system, lang, "R@100") in got
        assert got[(system, "ha", "RR@10")].n == 3
        assert got[(system, "ha", "R@2kt")].n == 2  # the yes-only question is not scored
    # human translations: the oracle translator reads AfriQA's translated_question, so
    # translate-test with it reads the same English as the oracle and scores the same
    for lang in ("ha", "tw", "zu"):
        assert got[("tt-oracle-dense", lang, "RR@10")].value == got[("oracle", lang, "RR@10")].value
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## AfriQA" in report
    assert (
        "Collection: 12 English passages: 12 AfriQA passages + 0 Wikipedia-vital distractors."
        in report
    )
    assert "low-resource: ha; not in the encoder's pre-training: tw, zu." in report
    assert "| system | gap low | gap unseen | unseen − low | closed low | closed unseen |" in (
        report
    )
