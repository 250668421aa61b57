"""DDP: two gloo processes on CPU see disjoint shards of every global batch and end with
identical weights — the weights a single process gets on the whole batch."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from optical.models.student import load_student
from optical.train.distill import train_distill
from tiny_models import build_tiny_encoder, ddp_worker, tiny_bitext, tiny_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_two_ranks_split_the_data_and_agree(tmp_path: Path, one_thread: None) -> None:
    student = build_tiny_encoder(tmp_path / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(tmp_path / "teacher", hidden=24, layers=2, seed=1)
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(
        ddp_worker,
        args=(2, _free_port(), str(student), str(teacher), str(out)),
        nprocs=2,
        join=True,
    )
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    config = tiny_config(student, teacher, model={"dropout": False}, run={"checkpoint_every": 0})

    # a single process on the same config sees each global batch whole
    single_seen: dict[int, list[str]] = {}
    folder = train_distill(
        config,
        tmp_path / "single",
        bitext=tiny_bitext(),
        callbacks=[
            lambda i: single_seen.__setitem__(i.step, [f"{p.lang}/{p.id}" for p in i.pairs])
        ],
    )
    assert sorted(ranks[0]["seen"]) == list(range(1, config.optim.max_steps + 1))
    for step, whole in single_seen.items():
        first, second = ranks[0]["seen"][step], ranks[1]["seen"][step]
        assert len(first) == len(second) == config.optim.batch_size // 2
        assert first != second
        assert sorted(first + second) == sorted(whole)  # the shards partition the batch

    w0, w1 = ranks[0]["weights"], ranks[1]["weights"]
    assert w0 and w0.keys() == w1.keys()
    for name in w0:
        assert torch.equal(w0[name], w1[name]), name  # identical on both ranks

    single = dict(load_student(folder).model.state_dict())
    single |= {
        f"projection.{k}": v
        for k, v in load_file(str(folder / "optical-projection.safetensors")).items()
    }
    for name, tensor in w0.items():
        key = name.removeprefix("model.")
        assert torch.allclose(tensor, single[key], atol=1e-5), name
    resolved = json.loads((out / "run" / "config.json").read_text())["resolved"]
    assert resolved["world_size"] == 2 and resolved["per_rank_micro_batch"] == 4
    # rank 0 wrote the student and the final checkpoint
    assert (out / "run" / "student" / "optical-student.json").is_file()
    assert (out / "run" / "checkpoints" / "checkpoint-0000004.pt").is_file()
    assert not (out / "run" / "student.tmp").exists()
