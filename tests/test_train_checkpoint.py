"""Checkpoint files: atomic writes, the newest one, pruning, damaged files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from optical.errors import OpticalError
from optical.train.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)


def _state(step: int) -> dict:
    return {
        "format": 1,
        "step": step,
        "model": {"w": torch.full((2, 2), float(step))},
        "projection": {},
        "optimizer": {"state": {}, "param_groups": []},
        "scheduler": {"last_epoch": step},
        "rng": {"torch": torch.get_rng_state(), "sampler": {"step": step, "drawn": {"xx": 3}}},
        "config": {"name": "t"},
    }


def test_round_trip_latest_and_pruning(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path / "none") is None
    for step in (2, 4, 10):
        save_checkpoint(tmp_path, _state(step), keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4, 10]
    latest = latest_checkpoint(tmp_path)
    assert latest == checkpoint_path(tmp_path, 10)
    state = load_checkpoint(latest)
    assert state["step"] == 10
    assert torch.equal(state["model"]["w"], torch.full((2, 2), 10.0))
    assert state["rng"]["sampler"] == {"step": 10, "drawn": {"xx": 3}}


def test_interrupted_write_is_ignored(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, _state(2))
    (tmp_path / ".checkpoint-0000004.pt.abc.tmp").write_bytes(b"half a file")
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 2)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".pt"] == ["checkpoint-0000002.pt"]


def test_damaged_or_foreign_files(tmp_path: Path) -> None:
    bad = checkpoint_path(tmp_path, 3)
    bad.write_bytes(b"not a torch file")
    with pytest.raises(OpticalError, match="cannot read checkpoint"):
        load_checkpoint(bad)
    torch.save({"format": 99}, bad)
    with pytest.raises(OpticalError, match="not an optical distillation checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(ValueError, match="lacks"):
        save_checkpoint(tmp_path, {"format": 1, "step": 1})
