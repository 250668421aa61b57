"""Alignment heatmaps from a tiny distilled student and from a plain encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optical.align import compute_alignment, plot_alignment
from optical.train.distill import train_distill
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    root = tmp_path_factory.mktemp("align")
    student = build_tiny_encoder(root / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(root / "teacher", hidden=24, layers=2, seed=1)
    config = tiny_config(student, teacher, optim={"max_steps": 2}, run={"checkpoint_every": 0})
    return train_distill(config, root / "run", bitext=tiny_bitext())


def test_heatmap_of_a_distilled_student(tiny_student: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "align.png"
    alignment = plot_alignment(tiny_student, "le kato dormas", "the cat sleeps near", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["align.png"]  # no temp file left
    assert alignment.source_tokens == ["le", "kato", "dormas"]  # no query: prefix, no specials
    assert alignment.english_tokens == ["the", "cat", "sleeps", "near"]
    assert alignment.plan.shape == (3, 4)
    assert (alignment.plan >= 0).all()
    assert alignment.plan.sum(1) == pytest.approx(np.full(3, 1 / 3), abs=1e-4)
    assert alignment.plan.sum(0) == pytest.approx(np.full(4, 1 / 4), abs=1e-4)
    assert alignment.eps == 0.1  # the eps the student was trained with
    assert 0.0 <= alignment.cost <= 2.0


def test_prefix_can_be_kept_and_plain_encoders_align(tmp_path: Path) -> None:
    from optical.models.encoder import Encoder
    from optical.models.registry import resolve_encoder

    folder = build_tiny_encoder(tmp_path / "plain", hidden=16, layers=2, seed=3)
    encoder = Encoder.load(resolve_encoder(str(folder)))
    kept = compute_alignment(encoder, "un hundo", "a dog", exclude_prefix=False, eps=0.2)
    assert kept.source_tokens == ["query", ":", "un", "hundo"]
    assert kept.english_tokens == ["query", ":", "a", "dog"]
    assert kept.eps == 0.2
    with pytest.raises(ValueError, match="dim"):
        compute_alignment(
            encoder, "un hundo", "a dog", teacher=build_tiny_encoder(tmp_path / "t", hidden=24)
        )
