"""Students stored as deltas over their base model (format 2).

A delta holds only the tensors training changed and names its base by content hash;
loading rebuilds base + delta bit for bit, refuses a base whose hash differs, and still
reads full folders (format 1). Tiny models from ``tests/tiny_models.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from optical.errors import OpticalError
from optical.models.registry import resolve_encoder
from optical.models.student import (
    DELTA_FILE,
    FORMAT_DELTA,
    FORMAT_FULL,
    STUDENT_FILE,
    StudentEncoder,
    StudentModule,
    base_content_sha256,
    load_any_encoder,
    load_student,
    save_student,
    student_is_complete,
)
from optical.train.checkpoint import latest_checkpoint, load_checkpoint
from optical.train.distill import StepInfo, train_distill
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config

TEXTS = ["le kato dormas", "un hundo", "the cat sat on the mat"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny-delta")
    student = build_tiny_encoder(root / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(root / "teacher", hidden=24, layers=2, seed=1)
    return student, teacher


@pytest.fixture(scope="module")
def trained(
    models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, StudentModule]:
    """A 3-step run (embeddings and layer 0 frozen): its output folder and the trained
    module as it was in memory when it was saved."""
    out = tmp_path_factory.mktemp("delta") / "run"
    modules: list[StudentModule] = []

    def keep(info: StepInfo) -> None:
        if info.student is not None:
            modules[:] = [info.student]

    config = tiny_config(*models, optim={"max_steps": 3})
    train_distill(config, out, bitext=tiny_bitext(), callbacks=[keep])
    return out, modules[0]


def _encode(encoder: StudentEncoder) -> tuple[np.ndarray, list[np.ndarray]]:
    encoded = encoder.encode(TEXTS, "query", with_tokens=True)
    assert encoded.tokens is not None
    return encoded.pooled, encoded.tokens


def _assert_same(a: StudentEncoder, b: StudentEncoder) -> None:
    (pa, ta), (pb, tb) = _encode(a), _encode(b)
    assert np.array_equal(pa, pb)  # bit for bit
    assert all(np.array_equal(x, y) for x, y in zip(ta, tb, strict=True))


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def test_delta_round_trip_is_bit_identical_to_the_trained_model(
    models: tuple[Path, Path], trained: tuple[Path, StudentModule], tmp_path: Path
) -> None:
    out, module = trained
    folder = out / "student"
    info = json.loads((folder / STUDENT_FILE).read_text())
    assert info["format"] == FORMAT_DELTA
    assert info["delta"]["base"]["sha256"] == base_content_sha256(models[0])
    assert not (folder / "model.safetensors").exists()
    loaded = load_student(folder)
    in_memory = StudentEncoder(loaded.spec, module.model, loaded.tokenizer, module.projection)
    _assert_same(loaded, in_memory)
    for name, tensor in module.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name]), name
    # the full folder it replaces encodes the same
    spec = resolve_encoder(str(models[0]))
    full = save_student(
        tmp_path / "full", module, loaded.tokenizer, spec, {"steps": 3}, delta=False
    )
    _assert_same(loaded, load_student(full))
    assert isinstance(load_any_encoder(folder), StudentEncoder)


def test_delta_holds_no_frozen_tensors_and_is_smaller(
    models: tuple[Path, Path], trained: tuple[Path, StudentModule], tmp_path: Path
) -> None:
    out, module = trained
    folder = out / "student"
    delta = load_file(str(folder / DELTA_FILE))
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert set(delta) == trainable
    assert not any(n.startswith(("embeddings.", "encoder.layer.0.")) for n in delta)
    spec = resolve_encoder(str(models[0]))
    tokenizer = load_student(folder).tokenizer
    full = save_student(tmp_path / "full", module, tokenizer, spec, {"steps": 3}, delta=False)
    assert _size(folder) < _size(full)
    assert (folder / DELTA_FILE).stat().st_size < (full / "model.safetensors").stat().st_size


def test_unfrozen_embeddings_are_part_of_the_delta(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tiny_config(
        *models,
        model={"freeze_embeddings": False, "freeze_layers": 0},
        optim={"max_steps": 1},
        run={"checkpoint_every": 0},
    )
    folder = train_distill(config, tmp_path / "run", bitext=tiny_bitext())
    delta = load_file(str(folder / DELTA_FILE))
    assert "embeddings.word_embeddings.weight" in delta
    assert "encoder.layer.0.attention.self.query.weight" in delta


def test_checkpoints_hold_only_trainable_parameters(
    trained: tuple[Path, StudentModule],
) -> None:
    out, module = trained
    state = load_checkpoint(latest_checkpoint(out / "checkpoints"))
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert set(state["model"]) == trainable
    frozen = set(state["frozen"]["names"])
    assert frozen and not frozen & set(state["model"])
    # AdamW state: one entry per trainable parameter (transformer + projection), no more
    projection = sum(1 for _ in module.projection.parameters()) if module.projection else 0
    assert len(state["optimizer"]["state"]) == len(trainable) + projection


def _delta_over(base: Path, folder: Path) -> Path:
    """A delta student (untrained, all tensors trainable) over ``base``."""
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModel.from_pretrained(base, add_pooling_layer=False)
    module = StudentModule(model, torch.nn.Linear(16, 8), "mean", True)
    tokenizer = AutoTokenizer.from_pretrained(base)
    return save_student(folder, module, tokenizer, resolve_encoder(str(base)), {"steps": 0})


def test_a_changed_base_is_refused_naming_both_hashes(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    base = Path(shutil.copytree(models[0], tmp_path / "base"))
    folder = _delta_over(base, tmp_path / "student")
    recorded = json.loads((folder / STUDENT_FILE).read_text())["delta"]["base"]["sha256"]
    load_student(folder)  # the base as it was: fine
    weights = load_file(str(base / "model.safetensors"))
    weights["embeddings.word_embeddings.weight"][0, 0] += 1.0
    save_file(weights, str(base / "model.safetensors"), metadata={"format": "pt"})
    actual = base_content_sha256(base)
    assert actual != recorded
    with pytest.raises(OpticalError) as raised:
        load_student(folder)
    message = str(raised.value)
    assert recorded in message and actual in message
    assert str(base) in message and "train the student again" in message
    shutil.rmtree(base)
    with pytest.raises(OpticalError, match="no base folder found"):
        load_student(folder)


def test_full_format_folder_still_loads_and_both_count_as_complete(
    trained: tuple[Path, StudentModule], models: tuple[Path, Path], tmp_path: Path
) -> None:
    out, module = trained
    delta = out / "student"
    loaded = load_student(delta)
    spec = resolve_encoder(str(models[0]))
    full = save_student(tmp_path / "full", module, loaded.tokenizer, spec, {"steps": 3},
                        delta=False)  # fmt: skip
    assert json.loads((full / STUDENT_FILE).read_text())["format"] == FORMAT_FULL
    assert (full / "model.safetensors").is_file() and not (full / DELTA_FILE).exists()
    _assert_same(load_student(full), loaded)
    assert student_is_complete(full, 3) and student_is_complete(delta, 3)
    assert not student_is_complete(delta, 4)
    # an unknown (future) format is neither reused nor loaded
    future = Path(shutil.copytree(delta, tmp_path / "future"))
    info = json.loads((future / STUDENT_FILE).read_text())
    (future / STUDENT_FILE).write_text(json.dumps({**info, "format": 99}))
    assert not student_is_complete(future, 3)
    with pytest.raises(OpticalError, match="format 99"):
        load_student(future)
    # a delta folder without its delta file is not complete
    broken = Path(shutil.copytree(delta, tmp_path / "broken"))
    (broken / DELTA_FILE).unlink()
    assert not student_is_complete(broken, 3)


def test_distill_prints_the_student_size_and_base(
    trained: tuple[Path, StudentModule], models: tuple[Path, Path], tmp_path: Path
) -> None:
    from optical.models.student import describe_student as _student_summary

    out, module = trained
    line = _student_summary(out / "student")
    sha = base_content_sha256(models[0])
    assert "a delta of" in line and sha[:12] in line and "MB" in line
    spec = resolve_encoder(str(models[0]))
    full = save_student(tmp_path / "full", module, load_student(out / "student").tokenizer,
                        spec, {"steps": 3}, delta=False)  # fmt: skip
    assert "full model folder" in _student_summary(full)
