"""NMT under DDP: two gloo processes on CPU train on disjoint shards of every global batch
and end with identical weights; rank 0 writes the model."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tiny_models import build_tiny_encoder, nmt_ddp_worker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_two_ranks_split_the_data_and_agree(tmp_path: Path, one_thread: None) -> None:
    encoder = build_tiny_encoder(tmp_path / "encoder", hidden=16, layers=1)
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(nmt_ddp_worker, args=(2, _free_port(), str(encoder), str(out)), nprocs=2, join=True)
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for step in (1, 2, 3):
        first, second = ranks[0]["seen"][step], ranks[1]["seen"][step]
        assert len(first) == len(second) == 4  # batch 8 split over 2 ranks
        assert first != second
    w0, w1 = ranks[0]["weights"], ranks[1]["weights"]
    assert w0 and w0.keys() == w1.keys()
    for name in w0:
        assert torch.equal(w0[name], w1[name]), name
    resolved = json.loads((out / "run" / "config.json").read_text())["resolved"]
    assert resolved["world_size"] == 2 and resolved["per_rank_micro_batch"] == 4
    assert (out / "run" / "model" / "nmt.json").is_file()
