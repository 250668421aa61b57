"""A tiny training task for the one loop (``optical.train.loop.fit``): neither distillation
nor NMT, so tests show the loop is task-agnostic and exercise its checkpoints cheaply."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optical.train.config import OptimConfig, RunConfig
from optical.train.loop import Task
from optical.train.runtime import DistInfo
from optical.train.sampling import TemperatureSampler


@dataclass(frozen=True)
class RegressionConfig:
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


def dropout_linear() -> nn.Module:
    return nn.Sequential(nn.Dropout(0.1), nn.Linear(1, 1))


class Regression(Task):
    """Fit ``y = 3 x - 1``; items are floats. ``model`` builds the network (default: a
    dropout-regularised linear model); ``poison_at``: the loss call that returns NaN."""

    name = "dummy"
    artifact = "weights"

    def __init__(
        self,
        config: RegressionConfig,
        poison_at: int | None = None,
        model: Callable[[], nn.Module] = dropout_linear,
    ) -> None:
        self.config, self.poison_at, self.calls, self.build = config, poison_at, 0, model

    def setup(self, dist: DistInfo) -> None:
        pools = {"a": [i / 10 for i in range(20)], "b": [-i / 10 for i in range(20)]}
        self.sampler = TemperatureSampler(pools, 1.0, self.config.run.seed)
        self.model = self.build()

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
