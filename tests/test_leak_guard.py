"""The leak guard: one index of evaluation text, checked on every training pool.

Unit tests plant evaluation text (from a tiny data directory, and from the real data when
``$OPTICAL_DATA_DIR`` is set) in a training file and show the guard refuses it, naming
the source, the file and line, and the evaluation set. The slow tests run the guard over
the real default pool, the new bitext folders and the AfriQA train/dev questions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from optical.data import evaluation_text as et
from optical.data.bitext import read_line_aligned
from optical.data.evaluation_text import (
    MIN_PASSAGE_WORDS,
    check_pool,
    evaluation_index,
    find_overlaps,
    split_sentences,
    text_key,
)
from optical.data.passages import WIKI_VITAL_FILE
from optical.data.skips import record_skips
from optical.data.training import protected_text, training_bitext
from optical.errors import ConfigError, LeakError
from optical.train.config import DataConfig
from optical.train.sampling import load_bitext, pool_sha256, pool_summary, training_split
from optical.types import BitextPair
from test_data_synthetic import build_mini
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config

LEAD = (
    "Dr. John Smith went home early. Early life. He was born in 1950 in a small town near the "
    'sea. He said "it is over." Then he left.'
)
"""A Wikipedia-vital lead: an abbreviation, a heading, a quote."""


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic data directory of ``test_data_synthetic`` with one richer lead."""
    root = tmp_path_factory.mktemp("leak-mini")
    build_mini(root)
    wiki = {"Smith": {"title": "Smith", "extract": LEAD}, "A": {"title": "A", "extract": "Ay."}}
    (root / WIKI_VITAL_FILE).write_text(json.dumps(wiki), encoding="utf-8")
    return root


def _plant(folder: Path, lines: list[tuple[str, str]], lang: str = "fi") -> list[BitextPair]:
    """A line-aligned training file pair holding ``lines`` (source, English)."""
    folder.mkdir(parents=True, exist_ok=True)
    source, english = folder / f"train.{lang}", folder / "train.en"
    source.write_text("".join(f"{s}\n" for s, _ in lines), encoding="utf-8")
    english.write_text("".join(f"{e}\n" for _, e in lines), encoding="utf-8")
    return read_line_aligned(source, english, lang, "planted")


def _refusal(pool: dict[str, list[BitextPair]], data: Path) -> LeakError:
    with pytest.raises(LeakError) as caught:
        load_bitext(DataConfig(), data, bitext=pool)
    return caught.value


# --- the index -----------------------------------------------------------------------------


def test_index_covers_every_evaluation_set(mini: Path) -> None:
    index = evaluation_index(mini)
    assert index.covered == et.EVALUATION_SETS
    assert evaluation_index(mini) is index  # cached per data directory and file state
    assert protected_text(mini) is index  # ProtectedText is this index
    assert index.sets("  which XQUAD   question? ") == ("XQuAD question",)
    assert index.sets("fin news 2") == ("NTREX sentence",)
    assert index.sets("what is the hau test 0") == ("AfriQA test question (human English)",)
    assert index.sets("ibo test question 0") == ("AfriQA test question",)
    assert index.sets("bn dev question") == ("XOR-TyDi dev question",)
    assert index.sets("Extra ar.") == ()  # training text
    gold = "the city of hau test 2 is hautest2"
    assert index.sets(gold) == ("AfriQA passage", "AfriQA passage sentence")
    assert text_key("A  b\tC") == "a b c"


def test_passage_sentences_are_punkt_sentences_of_five_words_or_more(mini: Path) -> None:
    index = evaluation_index(mini)
    sentence = ("Wikipedia-vital passage sentence",)
    assert index.sets("Dr. John Smith went home early.") == sentence  # punkt keeps "Dr." inside
    assert index.sets("He was born in 1950 in a small town near the sea.") == sentence
    assert index.sets('He said "it is over."') == sentence  # the closing quote stays inside
    # a heading of fewer than MIN_PASSAGE_WORDS words is kept, but is not evidence of a leak
    assert MIN_PASSAGE_WORDS == 5
    assert index.all_sets("Early life.") == sentence and index.sets("Early life.") == ()
    assert index.sets("John Smith went home early.") == ()  # no sentence: "Dr." starts it
    assert index.sets("Dr. John Smith went home early. Early life.") == ()  # two sentences
    assert index.sets(LEAD) == ("Wikipedia-vital passage",)


def test_sentences_are_nltk_sent_tokenize(tmp_path: Path) -> None:
    import nltk

    from optical.evaluate.punkt_offline import ensure_punkt

    ensure_punkt(tmp_path)
    for text in (
        LEAD,
        "Mr. and Mrs. J. K. Rowling live in the U.S. They moved in 2003. (It rained.) Yes!",
        'The "face book" is a directory... "Everyone\'s been talking." Right?',
    ):
        assert split_sentences(text) == nltk.sent_tokenize(text)


def test_index_is_rebuilt_when_a_file_changes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    build_mini(root)
    first = evaluation_index(root)
    path = root / "bitext/ntrex128/newstest2019-src.eng.txt"
    path.write_text("News one.\nA brand new news sentence.\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))
    second = evaluation_index(root)
    assert second is not first and second.sets("a brand new NEWS sentence.") == ("NTREX sentence",)


def test_reading_the_index_reports_no_skips_to_the_caller(tmp_path: Path) -> None:
    """A count never depends on whether the (cached) index was built inside the block."""
    root = tmp_path / "data"
    build_mini(root)
    with record_skips() as cold:
        training_bitext(root)
    with record_skips() as warm:
        training_bitext(root)
    assert cold == warm


# --- the guard -----------------------------------------------------------------------------


def test_planted_ntrex_sentence_and_afriqa_question_are_refused(mini: Path, tmp_path: Path) -> None:
    pairs = _plant(
        tmp_path / "corpus",
        [
            ("fi one", "A harmless sentence."),
            ("fin news 2", "The Finnish side is an NTREX reference."),
            ("fi three", "what is the twi test 0"),
        ],
    )
    error = _refusal({"fi": pairs}, mini)
    assert isinstance(error, ConfigError) and error.total == 2
    message = str(error)
    assert "2 pair(s) overlap" in message
    source = tmp_path / "corpus" / "train.fi"
    assert f"planted {source}:2 [fi] source 'fin news 2' — in NTREX sentence" in message
    assert (
        f"planted {source}:3 [fi] English 'what is the twi test 0' — in AfriQA test "
        "question (human English)" in message
    )
    assert [o.where for o in error.overlaps] == [f"{source}:2", f"{source}:3"]
    check_pool({"fi": pairs[:1]}, evaluation_index(mini))  # the harmless pair passes


def test_planted_real_evaluation_text_is_refused(real_data_dir: Path, tmp_path: Path) -> None:
    from optical.data.afriqa import load_afriqa
    from optical.data.bitext import load_ntrex
    from optical.data.xquad import read_xquad_questions

    ntrex = load_ntrex(real_data_dir, languages=["fi"])["fi"][10]
    question = read_xquad_questions(real_data_dir, "ru")[7][1]
    afriqa = load_afriqa(real_data_dir, "test", languages=["yo"])["yo"][3]
    pairs = _plant(
        tmp_path / "corpus",
        [
            ("tavallinen lause", "An ordinary sentence of the corpus."),
            ("käännös", ntrex.english),
            (question, "A Russian XQuAD question on the source side."),
            ("kysymys", afriqa.english),
        ],
    )
    error = _refusal({"fi": pairs}, real_data_dir)
    assert error.total == 3
    where = tmp_path / "corpus" / "train.fi"
    sets = {o.where: o.sets for o in error.overlaps}
    assert "NTREX sentence" in sets[f"{where}:2"]
    assert sets[f"{where}:3"] == ("XQuAD question",)
    assert "AfriQA test question (human English)" in sets[f"{where}:4"]
    assert f"planted {where}:3 [fi] source" in str(error)


def test_the_data_path_is_guarded_too(mini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool read from the data directory is checked after its loader, not trusted."""
    from optical.data import training

    leaked = BitextPair("fi text", "Which XQuAD question?", "fi", "x-1", "new-source", "f:7")
    monkeypatch.setattr(training, "training_bitext", lambda *args: {"fi": [leaked]})
    with pytest.raises(LeakError, match=r"new-source f:7 \[fi\] English .* XQuAD question"):
        load_bitext(DataConfig(), mini)


def test_training_bitext_drops_afriqa_test_questions_and_passage_text(tmp_path: Path) -> None:
    root = tmp_path / "data"
    build_mini(root)
    folder = root / "bitext/tatoeba"
    extra = [
        ("fin afriqa", "what is the yor test 0"),
        ("fin gold", "the city of hau test 2 is hautest2"),
    ]
    for suffix, column in (("fin", 0), ("eng", 1)):
        with (folder / f"tatoeba.fin-eng.{suffix}").open("a", encoding="utf-8") as handle:
            handle.writelines(f"{pair[column]}\n" for pair in extra)
    with record_skips() as skips:
        bitext = training_bitext(root, sources=("tatoeba",))
    reasons = Counter(s.reason for s in skips if s.lang == "fi")
    assert reasons == {
        "NTREX sentence": 1,
        "AfriQA test question (human English)": 1,
        "AfriQA passage": 1,
    }
    load_bitext(DataConfig(sources=("tatoeba",)), root)  # what is left passes the guard
    assert all(p.source != "fin gold" for p in bitext["fi"])


def test_a_pool_without_data_directory_is_not_checked_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OPTICAL_DATA_DIR", raising=False)
    split = training_split(DataConfig(), 0, bitext=tiny_bitext(10))
    assert split.pool is not None and split.pool.leak_check == "not checked: no data directory"
    assert "not checked for evaluation text" in caplog.text


# --- the pool summary and the artifact key -----------------------------------------------


def test_pool_summary_hash_ignores_order_ids_and_files() -> None:
    pool = tiny_bitext(12)
    summary = pool_summary(pool)
    moved = {
        lang: [
            BitextPair(p.source, p.english, p.lang, f"other-{i}", p.origin, f"/elsewhere:{i}")
            for i, p in enumerate(reversed(pairs))
        ]
        for lang, pairs in reversed(list(pool.items()))
    }
    assert pool_summary(moved).sha256 == summary.sha256
    assert summary.pairs == {"xx": 12, "yy": 12} and summary.sources == {"test": 24}
    assert summary.total == 24
    fewer = {lang: pairs[1:] for lang, pairs in pool.items()}
    assert pool_summary(fewer).sha256 != summary.sha256


def test_pool_hash_is_the_same_in_every_process(mini: Path) -> None:
    """The pool key of the data directory: no PYTHONHASHSEED, no path, no order in it."""
    code = (
        "import sys; from optical.train.config import DataConfig; "
        "from optical.train.sampling import pool_sha256; "
        "print(pool_sha256(DataConfig(), sys.argv[1]))"
    )
    src = str(Path(et.__file__).resolve().parents[2])
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": src}
        out = subprocess.run(
            [sys.executable, "-c", code, str(mini)], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert digests == {pool_sha256(DataConfig(), mini)}


def test_artifact_keys_hold_the_pool(mini: Path, tmp_path: Path) -> None:
    from optical.experiment.artifacts import student_folder
    from optical.experiment.config import ExperimentConfig
    from optical.experiment.names import SystemSpec
    from optical.nmt.config import NmtConfig
    from optical.nmt.package import nmt_folder

    other = tmp_path / "other"
    build_mini(other)
    (other / "bitext/tatoeba/tatoeba.tgl-eng.tgl").write_text("tgl a\ntgl b\n", encoding="utf-8")
    assert pool_sha256(DataConfig(), other) != pool_sha256(DataConfig(), mini)
    cfg = ExperimentConfig(name="k", systems=("optical-ot",))
    spec = SystemSpec.parse("optical-ot")
    here = student_folder(spec, cfg, tmp_path, data_dir=mini)
    assert student_folder(spec, cfg, tmp_path, data_dir=mini) == here  # stable
    assert student_folder(spec, cfg, tmp_path, data_dir=other) != here  # the data changed
    assert student_folder(spec, cfg, tmp_path) != here  # no data: the config's key alone
    assert nmt_folder(NmtConfig(), tmp_path, mini) != nmt_folder(NmtConfig(), tmp_path, other)


# --- the resolved config records the pool --------------------------------------------------


def test_tiny_distillation_records_its_pool(mini: Path, tmp_path: Path, one_thread: None) -> None:
    from optical.train.distill import train_distill

    student = build_tiny_encoder(tmp_path / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(tmp_path / "teacher", hidden=24, layers=2, seed=1)
    config = tiny_config(student, teacher, optim={"max_steps": 2}, run={"checkpoint_every": 0})
    bitext = tiny_bitext()
    folder = train_distill(config, tmp_path / "run", data_dir=mini, bitext=bitext)
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())["resolved"]
    pool = resolved["pool"]
    assert pool == {
        "sources": {"test": 80},
        "pairs": {"xx": 40, "yy": 40},
        "total": 80,
        "sha256": pool_summary(bitext).sha256,
        "leak_check": "no evaluation text (12 evaluation sets)",
    }
    saved = json.loads((folder / "optical-student.json").read_text())
    assert saved["config"]["resolved"]["pool"] == pool
    assert sum(resolved["train_pairs"].values()) < pool["total"]  # before the split


def test_tiny_nmt_records_its_pool(mini: Path, tmp_path: Path, one_thread: None) -> None:
    from optical.nmt.config import NmtConfig
    from optical.nmt.train import train_nmt

    encoder = build_tiny_encoder(tmp_path / "encoder", hidden=16, layers=1)
    config = NmtConfig.from_dict(
        {
            "model": {
                "encoder": str(encoder),
                "layers": 1,
                "hidden": 16,
                "heads": 2,
                "ffn": 32,
                "vocab_size": 60,
                "max_source_length": 12,
                "max_target_length": 10,
                "bf16": False,
            },
            "data": {"validation_pairs_per_language": 4},
            "optim": {"max_steps": 2, "batch_size": 8, "warmup_steps": 1},
            "run": {"checkpoint_every": 0, "eval_every": 0, "progress": False},
        }
    )
    bitext = {
        "fi": [BitextPair(p.source, p.english, "fi", p.id, p.origin) for p in tiny_bitext(20)["xx"]]
    }
    train_nmt(config, tmp_path / "run", data_dir=mini, bitext=bitext, cache=tmp_path / "c")
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())["resolved"]
    assert resolved["pool"]["sha256"] == pool_summary(bitext).sha256
    assert resolved["pool"]["pairs"] == {"fi": 20}


def test_planted_text_stops_a_training_run(mini: Path, tmp_path: Path) -> None:
    from optical.train.distill import train_distill

    bitext = tiny_bitext(10)
    leaked = BitextPair("kato", "what is the zul test 0", "xx", "xx-leak", "test", "t:1")
    bitext["xx"].append(leaked)
    config = tiny_config(tmp_path / "none", tmp_path / "none")
    with pytest.raises(LeakError, match="AfriQA test question"):
        train_distill(config, tmp_path / "run", data_dir=mini, bitext=bitext)
    assert not (tmp_path / "run" / "config.json").exists()  # refused before any training


# --- the real pools (slow) -----------------------------------------------------------------

NEW_FOLDERS = ("opus-tatoeba", "newstest", "lafand-mt", "menyo20k", "small_parallel_enja")

KNOWN_OVERLAPS = {
    "tatoeba-v2021-08-07.hin-eng.hin:3639": "AfriQA passage sentence",
    "tatoeba-v2021-08-07.jpn-eng.jpn:10610": "AfriQA passage sentence",
    "tatoeba-v2021-08-07.rus-eng.rus:1008": "Wikipedia-vital passage sentence",
    "tatoeba-v2021-08-07.tgl-eng.tgl:1304": "Wikipedia-vital passage sentence",
    "lafand.dev.swa-eng.swa:168": "Wikipedia-vital passage sentence",
}
"""English sides of the new folders that are sentences of the evaluation collections
(Tatoeba and LAFAND sentences identical to Wikipedia text: ``"Poyang Lake is the largest
freshwater lake in China."``). The README's pre-filtering covered XQuAD paragraph
sentences, not the AfriQA corpus or the Wikipedia-vital leads: a loader drops these."""


def _folder_pool(root: Path, name: str) -> dict[str, list[BitextPair]]:
    """Every line-aligned file pair of a bitext folder, read raw (no loader, no filter)."""
    folder = root / "bitext" / name
    pool: dict[str, list[BitextPair]] = {}
    for path in sorted(folder.iterdir()):
        stem, code = path.name.rsplit(".", 1)
        english = folder / f"{stem}.eng"
        if code != "eng" and english.is_file():
            for pair in read_line_aligned(path, english, code, name):
                pool.setdefault(pair.lang, []).append(pair)
    return pool


@pytest.mark.slow
def test_the_default_pool_has_no_evaluation_text(real_data_dir: Path) -> None:
    pool = load_bitext(DataConfig(), real_data_dir)  # raises LeakError on any overlap
    assert find_overlaps(pool, evaluation_index(real_data_dir)) == ([], 0)
    assert sum(map(len, pool.values())) == 286357  # 2 LAFAND-MT sw pairs have no visible text


@pytest.mark.slow
def test_new_bitext_folders_overlap_only_where_known(real_data_dir: Path) -> None:
    index = evaluation_index(real_data_dir)
    found: dict[str, tuple[str, ...]] = {}
    for name in NEW_FOLDERS:
        pool = _folder_pool(real_data_dir, name)
        assert pool, name
        overlaps, total = find_overlaps(pool, index, keep=100)
        assert total == len(overlaps)
        found |= {Path(o.where).name: o.sets for o in overlaps if o.side == "English"}
        assert all(o.side == "English" for o in overlaps)
        clean = {
            lang: [p for p in pairs if not index.reason(p.source, p.english)]
            for lang, pairs in pool.items()
        }
        check_pool(clean, index)  # dropped as training_bitext drops: nothing else overlaps
    assert found == {where: (name,) for where, name in KNOWN_OVERLAPS.items()}


@pytest.mark.slow
def test_afriqa_train_and_dev_questions_that_are_evaluation_text(real_data_dir: Path) -> None:
    """AfriQA train/dev questions are training text by design, but 103 of them repeat a
    test question (same language) or a held-out XOR question: a loader must drop those."""
    from optical.data.afriqa import load_afriqa

    pool: dict[str, list[BitextPair]] = {}
    for split in ("train", "dev"):
        for lang, questions in load_afriqa(real_data_dir, split).items():
            pool.setdefault(lang, []).extend(
                BitextPair(q.question, q.english, lang, q.id, f"afriqa-{split}", q.where)
                for q in questions
            )
    overlaps, total = find_overlaps(pool, evaluation_index(real_data_dir), keep=1000)
    assert total == 103
    assert Counter(o.sets for o in overlaps) == {
        ("AfriQA test question (human English)",): 80,
        ("AfriQA test question",): 70,
        ("held-out XOR-TyDi question",): 7,
    }
