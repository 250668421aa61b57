"""The training loop is task-agnostic: a dummy regression task (neither distillation nor
NMT) trains, checkpoints, validates, logs and resumes exactly through ``fit``."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from optical.errors import ConfigError, OpticalError
from optical.train.checkpoint import list_checkpoints, load_checkpoint
from optical.train.config import OptimConfig
from optical.train.loop import StepInfo, fit
from tiny_tasks import Regression, RegressionConfig


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_dummy_task_trains_and_resumes_exactly(tmp_path: Path, one_thread: None) -> None:
    config = RegressionConfig()
    seen: list[StepInfo] = []
    folder = fit(Regression(config), tmp_path / "whole", callbacks=[seen.append])
    assert folder == tmp_path / "whole" / "weights"
    assert [i.step for i in seen] == [1, 2, 3, 4, 5, 6]
    assert all(len(i.items) == 8 and i.world_size == 1 for i in seen)
    assert [i.validation is not None for i in seen] == [False, False, True, False, False, True]
    records = _records(tmp_path / "whole")
    train = [r for r in records if "validation" not in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "size", "lr", "grad_norm", "step_s"} <= set(train[0])
    assert [r["step"] for r in records if "validation" in r] == [3, 6]
    assert [s for s, _ in list_checkpoints(tmp_path / "whole" / "checkpoints")] == [4, 6]
    resolved = json.loads((tmp_path / "whole" / "config.json").read_text())["resolved"]
    assert resolved == {"world_size": 1, "per_rank_micro_batch": 8}

    class Crash(RuntimeError):
        pass

    def crash(info: StepInfo) -> None:
        if info.step == 3:
            raise Crash

    cut = tmp_path / "cut"
    with pytest.raises(Crash):
        fit(Regression(config), cut, callbacks=[crash])
    with pytest.raises(OpticalError, match="already holds checkpoints"):
        fit(Regression(config), cut)
    changed = RegressionConfig(optim=OptimConfig(lr=0.5, warmup_steps=1, max_steps=6, batch_size=8))
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        fit(Regression(changed), cut, resume=True)
    steps: list[int] = []
    fit(Regression(config), cut, resume=True, callbacks=[lambda i: steps.append(i.step)])
    assert steps == [3, 4, 5, 6]
    whole = torch.load(tmp_path / "whole" / "weights" / "state.pt", weights_only=True)
    resumed = torch.load(cut / "weights" / "state.pt", weights_only=True)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert [r["step"] for r in _records(cut)] == [r["step"] for r in records]
    state = load_checkpoint(list_checkpoints(cut / "checkpoints")[-1][1])
    timeless = {k: v for k, v in records[-1]["validation"].items() if k != "train_s"}
    assert (
        state["step"] == 6
        and {k: v for k, v in state["metrics"].items() if k != "train_s"} == timeless
    )
    # train_s: the training seconds so far, rising, and carried across the resume
    clocks = [r["train_s"] for r in _records(cut) if "validation" not in r]
    assert all(a < b for a, b in itertools.pairwise(clocks)) and clocks[0] > 0
    cut_records = _records(cut)
    assert state["train_s"] == pytest.approx(clocks[-1])
    assert cut_records[-1]["validation"]["train_s"] == pytest.approx(clocks[-1], abs=1e-3)
    # a finished run resumed: nothing trains, the artifact is kept
    before = (cut / "weights" / "state.pt").stat().st_mtime_ns
    assert fit(Regression(config), cut, resume=True, callbacks=[crash]) == cut / "weights"
    assert (cut / "weights" / "state.pt").stat().st_mtime_ns == before


def test_accumulation_and_non_finite_loss(tmp_path: Path, one_thread: None) -> None:
    config = RegressionConfig(
        optim=OptimConfig(lr=0.05, warmup_steps=1, max_steps=2, batch_size=8, grad_accum=4)
    )
    task = Regression(config)
    seen: list[StepInfo] = []
    fit(task, tmp_path / "accum", callbacks=[seen.append])
    assert task.calls == 8  # 2 steps × 4 micro-batches
    assert seen[0].record["size"] == 2.0  # the mean over the micro-batches
    with pytest.raises(OpticalError, match=r"non-finite training loss at step 1.*lower optim\.lr"):
        fit(Regression(config, poison_at=2), tmp_path / "nan")


def test_a_finished_run_can_drop_its_checkpoints(tmp_path: Path, one_thread: None) -> None:
    """``run.keep_checkpoints_when_done = false``: the artifact is all a finished run
    leaves; resuming it trains nothing (its ``config.json`` says it finished), and a
    changed config is refused as when resuming from a checkpoint."""
    from dataclasses import replace

    base = RegressionConfig()
    config = replace(base, run=replace(base.run, keep_checkpoints_when_done=False))
    out = tmp_path / "run"
    folder = fit(Regression(config), out)
    assert (folder / "state.pt").is_file() and not (out / "checkpoints").exists()
    kept = fit(Regression(base), tmp_path / "kept")
    assert list_checkpoints(tmp_path / "kept" / "checkpoints")  # the default keeps them
    saved = torch.load(kept / "state.pt", weights_only=True)
    dropped = torch.load(folder / "state.pt", weights_only=True)
    assert all(torch.equal(saved[k], dropped[k]) for k in saved)  # same training

    before = (folder / "state.pt").stat().st_mtime_ns
    task = Regression(config)
    assert fit(task, out, resume=True, callbacks=[pytest.fail]) == folder
    assert task.calls == 0 and (folder / "state.pt").stat().st_mtime_ns == before
    changed = replace(config, optim=replace(config.optim, lr=0.5))
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        fit(Regression(changed), out, resume=True)
    # without the artifact (deleted by hand) the run trains again from scratch
    (folder / "info.json").unlink()
    steps: list[int] = []
    fit(Regression(config), out, resume=True, callbacks=[lambda i: steps.append(i.step)])
    assert steps == [1, 2, 3, 4, 5, 6]
