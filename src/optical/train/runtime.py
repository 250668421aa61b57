"""Run-level helpers shared by the trainers (distillation, NMT): LR schedule, seeds,
process group, metrics log."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..io_utils import atomic_write_text

__all__ = [
    "DistInfo",
    "append_metrics",
    "barrier",
    "derive_seed",
    "init_distributed",
    "linear_schedule",
    "run_start",
    "truncate_metrics",
    "validation_curve",
]


def linear_schedule(warmup_steps: int, max_steps: int) -> Callable[[int], float]:
    """LR multiplier of 0-based step ``s``: ``(s+1)/(K+1)`` for ``s < K``, then
    ``(S-s)/(S-K)`` (``K`` warm-up steps, ``S`` total): never exactly 0 during training."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))

    return factor


FUSED_ADAMW_DEVICES = ("cpu", "cuda")
"""Device types with torch's fused AdamW kernel: one pass over each tensor per step
instead of a dozen elementwise ops (part of the candidate step of `optical bench
nmt-step`)."""


def adamw(
    groups: list[dict[str, Any]], lr: float, fused: bool | None = None
) -> torch.optim.Optimizer:
    """AdamW over parameter ``groups`` (each ``{"params", "weight_decay"}``), fused where
    the parameters' device has the kernel (``fused=None``) or as asked. The fused and the
    per-tensor kernels compute the same update, up to floating-point rounding."""
    params = [p for g in groups for p in g["params"]]
    if fused is None:
        fused = bool(params) and all(
            p.device.type in FUSED_ADAMW_DEVICES and p.dtype.is_floating_point for p in params
        )
    return torch.optim.AdamW(groups, lr=lr, fused=fused or None)


def derive_seed(*parts: object) -> int:
    """A 63-bit seed derived from ``parts`` (stable across runs and platforms)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63 - 1)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: its rank, the world size, whether
    :func:`init_distributed` joined the process group (and so leaves it), and the device
    its models live on."""

    rank: int
    world_size: int
    initialised_here: bool
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistInfo:
    """Resolve the ``device`` setting (:func:`optical.device.resolve_device`: under
    torchrun ``auto``/``cuda`` mean ``cuda:LOCAL_RANK``) and, when ``WORLD_SIZE > 1``,
    join the torchrun process group on it: NCCL when the ranks are on CUDA devices (each
    bound to its own with ``torch.cuda.set_device``), gloo otherwise."""
    import torch.distributed as dist

    from ..device import process_group_backend, resolve_device

    where = resolve_device(device, "run.device")
    if where.type == "cuda":
        torch.cuda.set_device(where)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(0, 1, False, where)
    here = False
    if not dist.is_initialized():
        dist.init_process_group(backend=process_group_backend(where))
        here = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), here, where)


def barrier(dist_info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records after ``step`` (a resumed run logs those steps again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if int(json.loads(line).get("step", 0)) <= step:
                kept.append(line)
        except (json.JSONDecodeError, ValueError, TypeError, AttributeError):
            continue
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON record to a metrics log."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def validation_curve(path: Path) -> list[dict[str, Any]]:
    """The learning curve of a metrics log: ``{"step": s, **validation}`` for every
    record with a ``validation`` result, in step order (a later record of a step — a
    resumed run logs it again — replaces an earlier one); ``[]`` without a log."""
    if not Path(path).is_file():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("validation"), dict):
            step = int(record.get("step", 0))
            by_step[step] = {"step": step, **record["validation"]}
    return [by_step[step] for step in sorted(by_step)]


def run_start(
    batch_size: int, grad_accum: int, world: int, out_dir: Path, resume: bool
) -> tuple[int, Path | None]:
    """Checks shared by the trainers before anything is loaded: the per-rank micro-batch
    size (``batch_size / (grad_accum × world)``, a :class:`ConfigError` unless whole and
    ≥ 1) and the newest checkpoint in ``out_dir/checkpoints`` (an :class:`OpticalError`
    when there is one and ``resume`` is false)."""
    from ..errors import ConfigError, OpticalError
    from .checkpoint import latest_checkpoint

    per_rank, remainder = divmod(batch_size, grad_accum * world)
    if remainder or per_rank < 1:
        raise ConfigError(
            f"optim.batch_size ({batch_size}) must be a multiple of optim.grad_accum "
            f"× world size ({grad_accum} × {world})"
        )
    checkpoint = latest_checkpoint(Path(out_dir) / "checkpoints")
    if checkpoint is not None and not resume:
        raise OpticalError(
            f"{out_dir} already holds checkpoints ({checkpoint.name}): pass resume=True "
            "(--resume) to continue that run, or choose another output folder"
        )
    return per_rank, checkpoint
