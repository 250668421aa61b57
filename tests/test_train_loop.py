"""The training loop is task-agnostic: a dummy regression task (neither distillation nor
NMT) trains, checkpoints, validates, logs and resumes exactly through ``fit``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from optical.errors import ConfigError, OpticalError
from optical.train.checkpoint import list_checkpoints, load_checkpoint
from optical.train.config import OptimConfig, RunConfig
from optical.train.loop import StepInfo, Task, fit
from optical.train.runtime import DistInfo
from optical.train.sampling import TemperatureSampler


@dataclass(frozen=True)
class _Config:
    name: str = "dummy"
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(lr=0.05, warmup_steps=1, max_steps=6, batch_size=8)
    )
    run: RunConfig = field(
        default_factory=lambda: RunConfig(
            checkpoint_every=2, eval_every=3, log_every=1, progress=False
        )
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Regression(Task):
    """Fit ``y = 3 x - 1`` with a dropout-regularised linear model; items are floats."""

    name = "dummy"
    artifact = "weights"

    def __init__(self, config: _Config, poison_at: int | None = None) -> None:
        self.config, self.poison_at, self.calls = config, poison_at, 0

    def setup(self, dist: DistInfo) -> None:
        pools = {"a": [i / 10 for i in range(20)], "b": [-i / 10 for i in range(20)]}
        self.sampler = TemperatureSampler(pools, 1.0, self.config.run.seed)
        self.model = nn.Sequential(nn.Dropout(0.1), nn.Linear(1, 1))

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.config.optim.lr)

    def loss(self, items: Any, module: nn.Module) -> tuple[torch.Tensor, dict[str, float]]:
        self.calls += 1
        x = torch.tensor(items)[:, None]
        loss = ((module(x) - (3 * x - 1)) ** 2).mean()
        if self.calls == self.poison_at:
            loss = loss * float("nan")
        return loss, {"loss": float(loss.detach()), "size": float(len(items))}

    @property
    def has_validation(self) -> bool:
        return True

    def validate(self) -> dict[str, Any]:
        x = torch.linspace(-1, 1, 5)[:, None]
        with torch.no_grad():
            self.model.eval()
            loss = float(((self.model(x) - (3 * x - 1)) ** 2).mean())
            self.model.train()
        return {"loss": loss}

    def save(self, folder: Path, validation: dict[str, Any], resolved: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "state.pt")
        (folder / "info.json").write_text(json.dumps({"steps": self.config.optim.max_steps}))

    def is_complete(self, folder: Path, steps: int) -> bool:
        info = folder / "info.json"
        return info.is_file() and json.loads(info.read_text())["steps"] == steps


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_dummy_task_trains_and_resumes_exactly(tmp_path: Path, one_thread: None) -> None:
    config = _Config()
    seen: list[StepInfo] = []
    folder = fit(_Regression(config), tmp_path / "whole", callbacks=[seen.append])
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
        fit(_Regression(config), cut, callbacks=[crash])
    with pytest.raises(OpticalError, match="already holds checkpoints"):
        fit(_Regression(config), cut)
    changed = _Config(optim=OptimConfig(lr=0.5, warmup_steps=1, max_steps=6, batch_size=8))
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        fit(_Regression(changed), cut, resume=True)
    steps: list[int] = []
    fit(_Regression(config), cut, resume=True, callbacks=[lambda i: steps.append(i.step)])
    assert steps == [3, 4, 5, 6]
    whole = torch.load(tmp_path / "whole" / "weights" / "state.pt", weights_only=True)
    resumed = torch.load(cut / "weights" / "state.pt", weights_only=True)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert [r["step"] for r in _records(cut)] == [r["step"] for r in records]
    state = load_checkpoint(list_checkpoints(cut / "checkpoints")[-1][1])
    assert state["step"] == 6 and state["metrics"] == records[-1]["validation"]
    # a finished run resumed: nothing trains, the artifact is kept
    before = (cut / "weights" / "state.pt").stat().st_mtime_ns
    assert fit(_Regression(config), cut, resume=True, callbacks=[crash]) == cut / "weights"
    assert (cut / "weights" / "state.pt").stat().st_mtime_ns == before


def test_accumulation_and_non_finite_loss(tmp_path: Path, one_thread: None) -> None:
    config = _Config(
        optim=OptimConfig(lr=0.05, warmup_steps=1, max_steps=2, batch_size=8, grad_accum=4)
    )
    task = _Regression(config)
    seen: list[StepInfo] = []
    fit(task, tmp_path / "accum", callbacks=[seen.append])
    assert task.calls == 8  # 2 steps × 4 micro-batches
    assert seen[0].record["size"] == 2.0  # the mean over the micro-batches
    with pytest.raises(OpticalError, match=r"non-finite training loss at step 1.*lower optim\.lr"):
        fit(_Regression(config, poison_at=2), tmp_path / "nan")
