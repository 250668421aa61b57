"""``optical export STUDENT --format sentence-transformers``: a folder that
``SentenceTransformer`` loads offline and that encodes a query as optical's student does.

Tiny random students (``tests/tiny_models.py``): a distilled one (mean pooling, learned
projection, validated) and an untrained one with CLS pooling and no projection; the slow
test exports a 2-step e5-small student and encodes NTREX sentences in six languages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from optical.cli import main
from optical.errors import OpticalError
from optical.models.export import MIN_COSINE, export_sentence_transformers
from optical.models.student import (
    STUDENT_FILE,
    StudentModule,
    load_student,
    save_student,
)
from optical.train.distill import train_distill
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config

SENTENCES = [
    "le kato dormas sub le arbo",
    "un granda hundo kuras apud le domo",
    "de katt sover",
    "the cat sees the dog",
    "the old red house near the big tree",
    "a small dog eats",
    "words the tiny vocabulary has never seen",
    " ".join(["le granda hundo vidas un eta kato"] * 6),  # 42 words: truncated to 32 tokens
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def sentence_transformer(folder: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``SentenceTransformer(folder)`` with the hub switched off: it must load offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


def assert_same_queries(folder: Path, student: Path, texts: list[str], mp) -> float:  # type: ignore[no-untyped-def]
    model = sentence_transformer(folder, mp)
    ours = load_student(student).encode(texts, "query").pooled
    theirs = np.asarray(model.encode(texts), np.float32)
    assert theirs.shape == ours.shape
    worst = float(cosines(theirs, ours).min())
    assert worst >= 0.9999, worst
    # encode_query applies the same prompt; the vectors are unit length like optical's
    query = np.asarray(model.encode_query(texts), np.float32)
    assert float(cosines(query, ours).min()) >= 0.9999
    assert np.allclose(np.linalg.norm(theirs, axis=1), 1.0, atol=1e-5)
    return worst


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    """3 steps, a learned 16 → 24 projection, validated at the end."""
    root = tmp_path_factory.mktemp("export")
    base = build_tiny_encoder(root / "base", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(root / "teacher", hidden=24, layers=2, seed=1)
    config = tiny_config(
        base, teacher, optim={"max_steps": 3}, run={"checkpoint_every": 0, "eval_every": 3}
    )
    return train_distill(config, root / "run", bitext=tiny_bitext())


def test_export_encodes_queries_like_the_student(
    distilled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = export_sentence_transformers(distilled, tmp_path / "st")
    assert exported.folder == tmp_path / "st" and exported.min_cosine >= MIN_COSINE
    folder = exported.folder
    assert_same_queries(folder, distilled, SENTENCES, monkeypatch)
    # full weights (the delta merged over its base) in safetensors, and the projection
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    assert "embeddings.word_embeddings.weight" in weights  # frozen in training: from the base
    student = load_student(distilled)
    for name, tensor in student.model.state_dict().items():
        assert np.array_equal(weights[name].numpy(), tensor.numpy()), name
    modules = json.loads((folder / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == [
        "Transformer",
        "Pooling",
        "Dense",
        "Normalize",
    ]
    dense = json.loads((folder / "2_Dense" / "config.json").read_text())
    assert dense["in_features"] == 16 and dense["out_features"] == 24
    assert dense["activation_function"].endswith("Identity")
    settings = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert settings["prompts"]["query"] == "query: " and settings["default_prompt_name"] == "query"
    assert settings["prompts"]["document"] == "passage: "
    assert not list(tmp_path.glob(".st.*"))  # no staging folder left


def test_the_model_card(distilled: Path, tmp_path: Path) -> None:
    folder = export_sentence_transformers(distilled, tmp_path / "st").folder
    card = (folder / "README.md").read_text(encoding="utf-8")
    info = json.loads((distilled / STUDENT_FILE).read_text())
    teacher = info["teacher"]
    for fragment in (
        f"teacher: `{teacher}`",
        "student base: `tiny-16x2-0`",
        "loss: `ot`",
        "bitext sources: xor, tatoeba, mkqa",
        "training pairs: 68 in 2 languages",
        "| xx | 34 |",
        "Validation on held-out training bitext (step 3)",
        f"P@1: {info['validation']['p_at_1']:.4f}",
        "Dense 16 → 24",
        f"optical index  --passages PASSAGES.jsonl --encoder {teacher}",
        f"--query-encoder {distilled}",
        "`passage: ` prefix",
    ):
        assert fragment in card, fragment
    assert "not recorded" not in card
    # a student whose run recorded no validation says so
    bare = Path(shutil.copytree(distilled, tmp_path / "bare" / "student"))
    info["validation"] = {}
    (bare / STUDENT_FILE).write_text(json.dumps(info))
    card = (export_sentence_transformers(bare, tmp_path / "st2").folder / "README.md").read_text()
    assert "Scores: not recorded" in card


@pytest.fixture(scope="module")
def cls_student(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    """An untrained delta student with CLS pooling and no projection."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from optical.models.registry import resolve_encoder

    root = tmp_path_factory.mktemp("export-cls")
    base = build_tiny_encoder(root / "base", hidden=16, layers=2, seed=3)
    spec_file = base / "optical-encoder.json"
    spec_file.write_text(json.dumps({**json.loads(spec_file.read_text()), "pooling": "cls"}))
    torch.manual_seed(0)
    module = StudentModule(
        AutoModel.from_pretrained(base, add_pooling_layer=False), None, "cls", True
    )
    tokenizer = AutoTokenizer.from_pretrained(base)
    metadata = {"steps": 0, "teacher": str(base)}
    return save_student(root / "student", module, tokenizer, resolve_encoder(str(base)), metadata)


def test_cls_pooling_without_projection(
    cls_student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = export_sentence_transformers(cls_student, tmp_path / "st").folder
    assert_same_queries(folder, cls_student, SENTENCES, monkeypatch)
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] == "cls"
    assert not (folder / "2_Dense").exists()
    card = (folder / "README.md").read_text()
    assert "cls pooling" in card and "training pairs and languages: not recorded" in card


def test_cli_export_and_its_errors(
    distilled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exported"
    out.mkdir()
    (out / "old-file").write_text("replaced")
    code = main(["export", str(distilled), "--format", "sentence-transformers", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"to {out}" in captured.out and not (out / "old-file").exists()
    assert (out / "modules.json").is_file()
    code = main(["export", str(tmp_path), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "not a distilled student folder" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        main(["export", str(distilled), "--format", "onnx", "--out", str(tmp_path / "y")])


def test_a_failed_check_writes_nothing(
    distilled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optical.models import export

    out = tmp_path / "st"
    out.mkdir()
    (out / "keep").write_text("the old folder stays")
    monkeypatch.setattr(export, "MIN_COSINE", 1.5)  # no export can pass this
    with pytest.raises(OpticalError, match="not written"):
        export.export_sentence_transformers(distilled, out)
    assert [p.name for p in out.iterdir()] == ["keep"]
    assert [p.name for p in tmp_path.iterdir()] == ["st"]


# --------------------------------------------------------------------------- real model

NTREX = Path("bitext/ntrex128")
LANGUAGES = ("eng-US", "ben", "tel", "arb", "jpn", "amh")


@pytest.mark.slow
def test_export_of_an_e5_small_student_on_real_sentences(
    real_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    """A 2-step distillation of multilingual-e5-small (learned projection) into its own
    space, exported: its queries in six languages encode as optical encodes them."""
    from optical.types import BitextPair

    tatoeba = real_data_dir / "bitext" / "opus-tatoeba"
    bitext = {}
    for lang, code in (("bn", "ben"), ("ar", "ara")):
        stem = f"tatoeba-v2021-08-07.{code}-eng"
        source = (tatoeba / f"{stem}.{code}").read_text(encoding="utf-8").splitlines()[:12]
        english = (tatoeba / f"{stem}.eng").read_text(encoding="utf-8").splitlines()[:12]
        bitext[lang] = [
            BitextPair(s, e, lang, f"{lang}-{i}", "tatoeba")
            for i, (s, e) in enumerate(zip(source, english, strict=True))
        ]
    config = tiny_config(
        Path("multilingual-e5-small"),
        Path("multilingual-e5-small"),
        model={"projection": "linear", "max_length": 32, "freeze_layers": 10},
        loss={"name": "ot", "options": {"eps": 0.1, "max_iter": 100}},
        data={"validation_pairs_per_language": 2},
        optim={"max_steps": 2, "batch_size": 4, "lr": 1e-4},
        run={"checkpoint_every": 0, "eval_every": 2},
    )
    student = train_distill(config, tmp_path / "run", bitext=bitext)
    folder = export_sentence_transformers(student, tmp_path / "e5-student-st").folder
    texts = []
    for lang in LANGUAGES:
        path = real_data_dir / NTREX / f"newstest2019-ref.{lang}.txt"
        texts += path.read_text(encoding="utf-8").splitlines()[:4]
    worst = assert_same_queries(folder, student, texts, monkeypatch)
    print(f"minimum cosine over {len(texts)} NTREX sentences: {worst:.9f}")
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "teacher: `multilingual-e5-small`" in card and "Dense 384 → 384" in card
    assert "optical's offline build of multilingual-e5-small" in card
