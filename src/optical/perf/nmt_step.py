"""Benchmark ``nmt-step``: NMT training steps with length-bucketed batches (candidate)
against the batches of ``configs/nmt-quick.toml`` as it ships (baseline).

Both train the quick NMT model (frozen multilingual-e5-small states, 3-layer decoder)
on the same examples of the training bitext — ``PAIRS`` pairs per language and
direction, so the source states are encoded once and cached — for ``STEPS`` optimizer
steps of 64 examples after one warm-up step each; the baseline draws batches with the
temperature sampler, the candidate regroups every 16 of those batches by target length
(:class:`optical.train.sampling.LengthBucketedSampler`). ``ratio`` = target tokens per
second of the candidate / of the baseline (tokens = predicted non-padding pieces);
``padding`` = the share of padded target positions of each. The model, optimizer and
seed are the same; only the grouping of the examples changes.
"""

from __future__ import annotations

import time
from typing import Any

PAIRS = 40
STEPS = 16
BUCKET_POOL = 16


def _timed(task: Any, sampler: Any, steps: int) -> dict[str, float]:
    """``steps`` optimizer steps of 64 examples from ``sampler``: seconds, predicted
    target tokens and padded target positions."""
    optimizer = task.optimizer()
    tokens = padded = 0
    seconds = 0.0
    for step in range(steps + 1):
        batch = sampler.next_batch(64)
        started = time.perf_counter()
        loss, record = task.loss(batch, task.model)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:  # the first step warms up
            seconds += time.perf_counter() - started
            tokens += int(record["tokens"])
            lengths = [task.target_length(e) + 1 for e in batch]
            padded += max(lengths) * len(lengths) - sum(lengths)
    return {"seconds": seconds, "tokens": tokens, "padded": padded}


def run(steps: int = STEPS, pairs: int = PAIRS) -> dict[str, Any]:
    import copy

    from ..nmt.config import load_nmt_config
    from ..nmt.train import NmtTask
    from ..settings import data_dir
    from ..train.runtime import DistInfo
    from ..train.sampling import LengthBucketedSampler

    config = load_nmt_config("configs/nmt-quick.toml").with_overrides(
        data={"max_pairs_per_language": pairs}, run={"progress": False}
    )
    task = NmtTask(config, data_dir())
    task.setup(DistInfo(0, 1, False))
    start = copy.deepcopy(task.model.state_dict())
    baseline_sampler = task.sampler
    state = baseline_sampler.state_dict()
    baseline = _timed(task, baseline_sampler, steps)
    task.model.load_state_dict(start)
    baseline_sampler.load_state_dict(state)
    bucketed = LengthBucketedSampler(baseline_sampler, task.target_length, BUCKET_POOL, 0)
    candidate = _timed(task, bucketed, steps)
    rate = {name: r["tokens"] / r["seconds"] for name, r in (("b", baseline), ("c", candidate))}
    return {
        "name": "nmt-step",
        "steps": steps,
        "batch": 64,
        "bucket_pool": BUCKET_POOL,
        "baseline_s": round(baseline["seconds"], 3),
        "candidate_s": round(candidate["seconds"], 3),
        "baseline_tokens_per_s": round(rate["b"], 1),
        "candidate_tokens_per_s": round(rate["c"], 1),
        "ratio": round(rate["c"] / rate["b"], 3),
        "baseline_padding": round(
            baseline["padded"] / (baseline["padded"] + baseline["tokens"]), 3
        ),
        "candidate_padding": round(
            candidate["padded"] / (candidate["padded"] + candidate["tokens"]), 3
        ),
    }
