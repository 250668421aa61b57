r"""One training loop, for any task: nothing here knows what is being trained.

A :class:`Task` (distillation: :mod:`optical.train.distill`; NMT:
:mod:`optical.nmt.train`; a test's dummy) supplies the model, the sampler, the loss of a
batch with its diagnostics, validation, its part of the checkpoint and the final
artifact. :func:`fit` runs, per optimizer step ``s`` (``G`` = ``optim.batch_size`` items,
``A`` = ``optim.grad_accum`` micro-steps, ``W`` ranks)::

    batch = sampler.next_batch(G)
    seed torch from (seed, "dropout", s, rank)
    for each of the A micro-batches (G / A items), this rank's shard (G / (A W) items):
        L, diagnostics = task.loss(shard, module)   # module: DDP-wrapped when W > 1
        stop on a non-finite L
        backward(L / A)                             # no_sync but on the last micro-batch
    clip ‖∇‖ ≤ max_grad_norm; optimizer step; LR schedule step; zero the gradients
    record = task.step_record(diagnostics) + lr, grad_norm, step_s, train_s

(``train_s``: the seconds of every training step so far, this one included, carried
across resumes — validation, checkpoints and start-up not counted), then logs
``record`` every ``run.log_every`` steps, validates (rank 0) every ``run.eval_every``
steps and after the last (the result gets ``train_s`` too), writes a checkpoint
(rank 0) every ``run.checkpoint_every`` steps and after the last, and calls the
callbacks. The LR of step ``s`` is ``lr · linear_schedule(K, S)(s)``
(:func:`optical.train.runtime.linear_schedule`).

The checkpoint (:mod:`optical.train.checkpoint`) is one explicit dict::

    {"format", "step", **task.checkpoint_state(),     # "model", "projection", extras
     "optimizer", "scheduler", "rng": {"torch", "sampler"}, "config": resolved,
     "metrics": last validation, "train_s"}

Resume: the config may differ from the checkpoint's only in
:data:`~optical.train.config.RESUME_FREE_KEYS`; :meth:`Task.restore` checks and loads its
part, then the optimizer, the scheduler, the sampler and the torch RNG are restored, so a
resumed run equals the uninterrupted one.

Early stopping (``run.early_stopping_patience`` = ``P`` > 0): after each validation the
score :meth:`Task.validation_score` (higher is better) is compared with the best so far;
a better one keeps a copy of :meth:`Task.checkpoint_state` (the best model), and after
``P`` validations in a row without one training stops (a checkpoint marks the run
stopped, so resuming it does not train on). The artifact is then saved from the best
model, with the best validation. The best copy and the counters are part of every
checkpoint (``"early_stopping"``), so resume stays exact.

Output folder: ``config.json`` (the resolved config), ``metrics.jsonl``, ``checkpoints/``
and ``<task.artifact>/`` (:meth:`Task.save`; a resumed finished run keeps it when
:meth:`Task.is_complete`). With ``run.keep_checkpoints_when_done = false``,
``checkpoints/`` is removed once the artifact is saved; resuming such a run is a no-op
when the artifact is complete and ``config.json`` matches (up to the resume-free keys).
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..configfile import differences
from ..data._io import read_json
from ..errors import ConfigError, OpticalError
from ..io_utils import atomic_write_json, check_output_dir, remove_stale
from .checkpoint import CHECKPOINT_FORMAT, load_newest_intact, save_checkpoint
from .config import RESUME_FREE_KEYS, OptimConfig, RunConfig
from .runtime import (
    DistInfo,
    append_metrics,
    barrier,
    derive_seed,
    init_distributed,
    linear_schedule,
    run_start,
    truncate_metrics,
)
from .sampling import micro_batches, shard

__all__ = ["Sampler", "StepInfo", "Task", "TrainConfig", "fit"]

logger = logging.getLogger(__name__)


class TrainConfig(Protocol):
    """What the loop reads of a run's config."""

    name: str
    optim: OptimConfig
    run: RunConfig

    def to_dict(self) -> dict[str, Any]: ...


class Sampler(Protocol):
    """A resumable source of global batches (e.g. ``TemperatureSampler``)."""

    def next_batch(self, size: int) -> list[Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class StepInfo:
    """After each optimizer step (every rank): steps done, the step's record, the items
    this rank trained on, the rank, the world size, the validation result when validation
    ran after this step (rank 0) and the (unwrapped) model."""

    step: int
    record: dict[str, float]
    items: tuple[Any, ...]
    rank: int
    world_size: int
    validation: dict[str, Any] | None
    model: nn.Module


class Task:
    """What :func:`fit` trains. :meth:`setup` sets :attr:`model` and :attr:`sampler`;
    :meth:`optimizer`, :meth:`loss` and :meth:`save` are required, the rest have defaults.
    """

    name = "train"
    """Label of the progress bar and of the log lines."""
    artifact = "model"
    """Folder of ``out_dir`` that :meth:`save` writes."""
    non_finite_hint = "lower optim.lr"
    """Advice in the error raised on a non-finite loss."""

    config: TrainConfig
    model: nn.Module
    sampler: Sampler

    def setup(self, dist: DistInfo) -> None:
        """Load the data, build :attr:`sampler` and :attr:`model` (torch is seeded with
        ``run.seed`` just before)."""
        raise NotImplementedError

    def optimizer(self) -> torch.optim.Optimizer:
        raise NotImplementedError

    def loss(
        self, items: Sequence[Any], module: nn.Module
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The scalar loss of one micro-batch shard and its float diagnostics (with
        ``"loss"``); ``module`` is :attr:`model`, DDP-wrapped under several ranks."""
        raise NotImplementedError

    def save(self, folder: Path, validation: dict[str, Any], resolved: dict[str, Any]) -> None:
        """Write the final artifact into ``folder`` (rank 0)."""
        raise NotImplementedError

    def ddp_options(self) -> dict[str, Any]:
        """Keyword arguments of ``DistributedDataParallel``."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What the run resolved (sizes, fingerprints): ``config.json``'s ``resolved``."""
        return {}

    def step_record(self, records: Sequence[Mapping[str, float]]) -> dict[str, float]:
        """One step's record from its micro-batches' diagnostics: the mean of each key."""
        keys = {key for record in records for key in record}
        return {key: float(np.mean([r[key] for r in records if key in r])) for key in sorted(keys)}

    def postfix(self, record: Mapping[str, float]) -> dict[str, str]:
        """What the progress bar shows of a step's record."""
        return {"loss": f"{record['loss']:.3g}", "lr": f"{record['lr']:.2g}"}

    def on_step(self, record: Mapping[str, float]) -> None:
        """Sees every step's record (e.g. to count solver warnings)."""

    def closing_note(self, steps: int) -> str | None:
        """A warning logged after the last of ``steps`` steps of this process, if any."""
        return None

    @property
    def has_validation(self) -> bool:
        return False

    def validate(self) -> dict[str, Any]:
        return {}

    def validation_message(self, result: Mapping[str, Any]) -> str:
        return f"validation loss {result.get('loss', float('nan')):.4g}"

    def validation_score(self, result: Mapping[str, Any]) -> float:
        """Early stopping's score of a validation result, higher is better (default: the
        negated validation loss)."""
        return -float(result.get("loss", math.inf))

    def checkpoint_state(self) -> dict[str, Any]:
        """The checkpoint's model part: at least ``"model"`` and ``"projection"``."""
        return {
            "model": {k: v.detach() for k, v in self.model.state_dict().items()},
            "projection": {},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Check and load :meth:`checkpoint_state`'s part of a checkpoint."""
        self.model.load_state_dict(state["model"])

    def step_info(self, info: StepInfo) -> Any:
        """What the callbacks receive."""
        return info

    def is_complete(self, folder: Path, steps: int) -> bool:
        """Whether ``folder`` already holds the artifact of ``steps`` steps."""
        return False


def fit(
    task: Task,
    out_dir: str | Path,
    resume: bool = False,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> Path:
    """Train ``task`` into ``out_dir``; return the artifact folder ``out_dir/<task.artifact>``.

    Joins the torchrun process group when ``WORLD_SIZE > 1`` (and leaves it if it joined
    it) and uses ``run.threads`` torch threads meanwhile. ``resume``: continue from the
    newest intact checkpoint (a damaged newer one is skipped with a warning; without
    ``resume``, a folder with checkpoints is an error). ``callbacks``
    get :meth:`Task.step_info` after every step; an exception from one stops training
    (the last checkpoint stays usable).

    Raises:
        ConfigError: batch not divisible by ``grad_accum × world size``, resuming with a
            changed config.
        OpticalError: non-finite loss, no intact checkpoint to resume from.
    """
    dist_info = init_distributed(task.config.run.device)
    threads = torch.get_num_threads()
    if task.config.run.threads:
        torch.set_num_threads(task.config.run.threads)
    try:
        return _Run(task, Path(out_dir), callbacks, dist_info).run(resume)
    finally:
        torch.set_num_threads(threads)
        if dist_info.initialised_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _cloned(value: Any) -> Any:
    """``value`` with every tensor cloned (nested dicts and lists followed)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, Mapping):
        return {k: _cloned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cloned(v) for v in value)
    return value


def _broadcast_flag(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank."""
    import torch.distributed as dist

    box = [flag]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])


def _describe(items: Sequence[Any], shown: int = 3) -> str:
    """A short description of a batch for an error message: its size and first items."""
    head = ", ".join(repr(item)[:60] for item in list(items)[:shown])
    more = ", ..." if len(items) > shown else ""
    return f"{len(items)} items: {head}{more}"


class _Run:
    """The state of one :func:`fit` call."""

    def __init__(
        self,
        task: Task,
        out_dir: Path,
        callbacks: Sequence[Callable[[Any], None]],
        dist_info: DistInfo,
    ) -> None:
        self.task, self.out_dir, self.callbacks, self.dist = task, out_dir, callbacks, dist_info
        self.optim: OptimConfig = task.config.optim
        self.run_cfg: RunConfig = task.config.run
        self.metrics_path = out_dir / "metrics.jsonl"
        self.last_validation: dict[str, Any] = {}
        self.train_s = 0.0  # seconds spent in training steps (module docstring)
        self.best: dict[str, Any] = {"score": -math.inf, "step": None, "bad": 0, "state": None}
        self.stopped = False

    def run(self, resume: bool) -> Path:
        task, optim, world = self.task, self.optim, self.dist.world_size
        if self.dist.main:
            self._prepare_out_dir()
        per_rank, checkpoint = run_start(
            optim.batch_size, optim.grad_accum, world, self.out_dir, resume
        )
        if checkpoint is None and resume and (done := self._finished_artifact()) is not None:
            return done
        torch.manual_seed(self.run_cfg.seed)
        task.setup(self.dist)
        self.optimizer = task.optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, linear_schedule(optim.warmup_steps, optim.max_steps)
        )
        start = 0
        intact = load_newest_intact(checkpoint.parent) if checkpoint is not None else None
        if intact is not None:
            start = self._restore(intact[0])
        self.module: nn.Module = task.model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            device = self.dist.device
            ids = {"device_ids": [device.index]} if device.type == "cuda" else {}
            self.module = DistributedDataParallel(task.model, **ids, **task.ddp_options())
        self.resolved = {
            **task.config.to_dict(),
            "resolved": {**task.describe(), "world_size": world, "per_rank_micro_batch": per_rank},
        }
        if self.dist.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.out_dir / "config.json", self.resolved)
            truncate_metrics(self.metrics_path, start)
        barrier(self.dist)
        self._train(start)
        return self._finish(start)

    def _prepare_out_dir(self) -> None:
        """Check ``out_dir`` is writable before any expensive work, and remove the staging
        folders and checkpoint temp files of killed runs (older than ``io_utils.STALE_S``)."""
        check_output_dir(self.out_dir)
        for suffix in ("tmp", "old"):
            remove_stale(self.out_dir, f".{self.task.artifact}.*.{suffix}")
        remove_stale(self.out_dir / "checkpoints", ".checkpoint-*.tmp")

    def _finished_artifact(self) -> Path | None:
        """The artifact of a finished run whose checkpoints were removed
        (``run.keep_checkpoints_when_done = false``): complete for ``optim.max_steps`` and
        trained under this config (``config.json``, up to :data:`RESUME_FREE_KEYS`, else a
        :class:`ConfigError`, as when resuming from a checkpoint); ``None`` otherwise."""
        folder = self.out_dir / self.task.artifact
        saved_path = self.out_dir / "config.json"
        if not (saved_path.is_file() and self.task.is_complete(folder, self.optim.max_steps)):
            return None
        saved = {k: v for k, v in read_json(saved_path).items() if k != "resolved"}
        self._check_resumable(saved, f"{saved_path} (its finished run)")
        if self.dist.main:
            logger.info("[%s] %s is finished: nothing to train", self.task.name, folder)
        return folder

    def _check_resumable(self, saved: Mapping[str, Any], what: str) -> None:
        changed = [
            k for k in differences(saved, self.task.config.to_dict()) if k not in RESUME_FREE_KEYS
        ]
        if changed:
            raise ConfigError(
                f"cannot resume: the config differs from {what} in {', '.join(changed)}; "
                "restore those values or start a new output folder"
            )

    def _drop_checkpoints(self) -> None:
        """Remove ``checkpoints/`` of a finished run unless ``run.keep_checkpoints_when_done``."""
        if not self.run_cfg.keep_checkpoints_when_done and self.dist.main:
            shutil.rmtree(self.out_dir / "checkpoints", ignore_errors=True)

    def _restore(self, state: dict[str, Any]) -> int:
        """Load a checkpoint into the freshly built run; return its step."""
        saved = {k: v for k, v in state["config"].items() if k != "resolved"}
        self._check_resumable(saved, "the checkpoint's")
        self.task.restore(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.task.sampler.load_state_dict(state["rng"]["sampler"])
        torch.set_rng_state(state["rng"]["torch"])
        self.last_validation = dict(state.get("metrics") or {})
        self.train_s = float(state.get("train_s", 0.0))
        if "early_stopping" in state:
            self.best = dict(state["early_stopping"])
            self.stopped = bool(self.best.pop("stopped", False))
        return int(state["step"])

    def _train(self, start: int) -> None:
        from tqdm.auto import tqdm

        run = self.run_cfg
        self.trainable = [p for p in self.task.model.parameters() if p.requires_grad]
        self.bar = tqdm(
            total=self.optim.max_steps,
            initial=start,
            desc=f"{self.task.name} {self.task.config.name}",
            disable=not (run.progress and self.dist.main),
            dynamic_ncols=True,
        )
        self.validating = self.dist.main and self.task.has_validation
        if run.eval_at_start and start == 0 and self.validating:
            self.last_validation = self._validate(0)
        barrier(self.dist)
        try:
            for step in range(start, self.optim.max_steps):
                if self.stopped:
                    break
                record, seen = self._step(step)
                self._after_step(step + 1, record, seen)
        finally:
            self.bar.close()

    def _step(self, step: int) -> tuple[dict[str, float], list[Any]]:
        """One optimizer step (0-based ``step``); returns its record and this rank's items."""
        optim, rank, world = self.optim, self.dist.rank, self.dist.world_size
        started = time.perf_counter()
        global_batch = self.task.sampler.next_batch(optim.batch_size)
        torch.manual_seed(derive_seed(self.run_cfg.seed, "dropout", step, rank))
        records, seen = [], []
        for index, micro in enumerate(micro_batches(global_batch, optim.grad_accum)):
            local = shard(micro, rank, world)
            seen.extend(local)
            sync = world == 1 or index == optim.grad_accum - 1
            context = contextlib.nullcontext() if sync else self.module.no_sync()
            with context:
                loss, diagnostics = self.task.loss(local, self.module)
                if not torch.isfinite(loss):
                    raise OpticalError(
                        f"non-finite training loss at step {step + 1} (micro-batch "
                        f"{index + 1} of {optim.grad_accum}, {_describe(local)}): "
                        f"{diagnostics}; {self.task.non_finite_hint}"
                    )
                (loss / optim.grad_accum).backward()
            records.append(diagnostics)
        max_norm = optim.max_grad_norm if optim.max_grad_norm > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.trainable, max_norm))
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        record = self.task.step_record(records)
        step_s = time.perf_counter() - started
        self.train_s += step_s
        record.update(lr=lr, grad_norm=grad_norm, step_s=step_s, train_s=self.train_s)
        return record, seen

    def _after_step(self, done: int, record: dict[str, float], seen: list[Any]) -> None:
        """Progress, metrics log, validation, checkpoint and callbacks after step ``done``."""
        run, main = self.run_cfg, self.dist.main
        self.task.on_step(record)
        self.bar.set_postfix(self.task.postfix(record), refresh=False)
        self.bar.update(1)
        if main and run.log_every and done % run.log_every == 0:
            append_metrics(self.metrics_path, {"step": done, **record})
        validation = None
        final = done == self.optim.max_steps
        if self.validating and run.eval_every and (done % run.eval_every == 0 or final):
            validation = self.last_validation = self._validate(done)
            self._early_stopping(done, validation)
        if run.early_stopping_patience and self.dist.world_size > 1:
            self.stopped = _broadcast_flag(self.stopped)
        final = final or self.stopped
        if main and (final or (run.checkpoint_every and done % run.checkpoint_every == 0)):
            self._checkpoint(done)
        barrier(self.dist)
        info = StepInfo(
            done,
            record,
            tuple(seen),
            self.dist.rank,
            self.dist.world_size,
            validation,
            self.task.model,
        )
        delivered = self.task.step_info(info)
        for callback in self.callbacks:
            callback(delivered)

    def _early_stopping(self, step: int, validation: dict[str, Any]) -> None:
        """Keep the best model; stop after ``patience`` validations without a better one."""
        patience = self.run_cfg.early_stopping_patience
        if not patience:
            return
        score = float(self.task.validation_score(validation))
        if score > self.best["score"]:
            state = {key: _cloned(value) for key, value in self.task.checkpoint_state().items()}
            self.best = {"score": score, "step": step, "bad": 0, "state": state}
            self.best["validation"] = dict(validation)
        else:
            self.best["bad"] += 1
            if self.best["bad"] >= patience and step < self.optim.max_steps:
                self.stopped = True
                self.bar.write(
                    f"[{self.task.name}] early stop at step {step}: no better validation "
                    f"in {patience} (best at step {self.best['step']})"
                )

    def _validate(self, step: int) -> dict[str, Any]:
        result = {**self.task.validate(), "train_s": round(self.train_s, 3)}
        append_metrics(self.metrics_path, {"step": step, "validation": result})
        self.bar.write(f"[{self.task.name}] step {step}: {self.task.validation_message(result)}")
        return result

    def _checkpoint(self, step: int) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": step,
            **self.task.checkpoint_state(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "sampler": self.task.sampler.state_dict()},
            "config": self.resolved,
            "metrics": self.last_validation,
            "train_s": self.train_s,
        }
        if self.run_cfg.early_stopping_patience:
            state["early_stopping"] = {**self.best, "stopped": self.stopped}
        save_checkpoint(self.out_dir / "checkpoints", state, keep=self.run_cfg.keep_checkpoints)

    def _finish(self, start: int) -> Path:
        max_steps = self.optim.max_steps
        note = self.task.closing_note(max_steps - start)
        if note and self.dist.main:
            logger.warning("[%s] %s", self.task.name, note)
        folder = self.out_dir / self.task.artifact
        finished = start == max_steps or (self.stopped and self.best["step"] is not None)
        if finished and start > 0 and self.task.is_complete(folder, max_steps):
            self._drop_checkpoints()
            return folder  # resumed a finished run: keep the saved artifact
        validation = self.last_validation
        if self.run_cfg.early_stopping_patience and self.best["state"] is not None:
            self.task.restore(self.best["state"])
            validation = {**self.best["validation"], "best_step": self.best["step"]}
            if self.dist.main:
                logger.info(
                    "[%s] saving the best validation's model (step %s)",
                    self.task.name,
                    self.best["step"],
                )
        if self.dist.main:
            self.task.save(folder, validation, self.resolved)
        self._drop_checkpoints()
        barrier(self.dist)
        return folder
