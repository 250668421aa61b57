"""Benchmark ``nmt-step``: the NMT training step of today (candidate) against the step
``configs/nmt-quick.toml`` shipped with before (baseline).

Both train the quick NMT model (frozen multilingual-e5-small states, 3-layer decoder)
on the same examples of the training bitext — ``nmt-quick``'s own pool (its
``max_pairs_per_language``, so the vocabulary and the output layer have the size that
config trains; the source states are encoded once and cached) — for ``STEPS``
optimizer steps (of 64 examples, or of the token budget) after one warm-up step each.

* baseline: batches as the temperature sampler draws them, a full softmax with label
  smoothing 0.1 (:data:`BASELINE_LABEL_SMOOTHING`) and logits at every target position
  (pads ignored by the loss), per-tensor AdamW;
* candidate: the step ``nmt-quick`` ships with: its batches (``[data] length_buckets``
  and ``max_tokens``: :class:`optical.train.sampling.LengthBucketedSampler` or
  :class:`~optical.train.sampling.TokenBudgetSampler` over the same sampler), its output
  layer (``[model] adaptive_cutoffs``: :class:`optical.nmt.model.AdaptiveOutput`, else a
  full softmax with logits only at the predicted positions, ``packed``), fused AdamW
  (:func:`optical.train.runtime.adamw`).

``ratio`` = target tokens per second of the candidate / of the baseline (tokens =
predicted non-padding pieces); ``padding`` = the share of padded target positions of
each; ``*_optimizer_share`` = the share of a step spent in the optimizer.
"""

from __future__ import annotations

import time
from typing import Any

CONFIG = "configs/nmt-quick.toml"
STEPS = 16
BASELINE_LABEL_SMOOTHING = 0.1
"""The baseline step's label smoothing (its full softmax's; an adaptive one takes none)."""


def _timed(
    task: Any, model: Any, sampler: Any, steps: int, packed: bool, fused: bool
) -> dict[str, float]:
    """``steps`` optimizer steps of ``model`` (an ``NmtModel``) on ``sampler``'s batches
    (64 examples nominal): seconds (of them in the optimizer), predicted target tokens
    and padded target positions."""
    from ..nmt.model import sequence_loss
    from ..nmt.train import nmt_optimizer

    optimizer = nmt_optimizer(model, task.config, fused=fused)
    settings = model.config
    tokens = padded = 0
    seconds = in_optimizer = 0.0
    for step in range(steps + 1):
        batch = sampler.next_batch(64)
        started = time.perf_counter()
        loss, count = sequence_loss(
            model, *task.batcher(batch), settings.label_smoothing, settings.bf16, packed=packed
        )
        loss.backward()
        stepping = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:  # the first step warms up
            ended = time.perf_counter()
            seconds += ended - started
            in_optimizer += ended - stepping
            tokens += count
            lengths = [task.target_length(e) + 1 for e in batch]
            padded += max(lengths) * len(lengths) - sum(lengths)
    return {"seconds": seconds, "optimizer": in_optimizer, "tokens": tokens, "padded": padded}


def run(steps: int = STEPS, pairs: int | None = None) -> dict[str, Any]:
    """The benchmark's JSON record; ``pairs`` (pairs per language and direction) replaces
    the config's pool only for a smoke run (its vocabulary is smaller)."""
    import dataclasses

    from ..nmt.config import load_nmt_config
    from ..nmt.train import NmtTask
    from ..settings import data_dir
    from ..train.runtime import DistInfo

    config = load_nmt_config(CONFIG).with_overrides(run={"progress": False})
    if pairs is not None:
        config = config.with_overrides(data={"max_pairs_per_language": pairs})
    task = NmtTask(config, data_dir())
    task.setup(DistInfo(0, 1, False))
    full_softmax = dataclasses.replace(
        config.model, adaptive_cutoffs=(), label_smoothing=BASELINE_LABEL_SMOOTHING
    )
    baseline_model = task.build_model(full_softmax)[0].train()
    shipped = task.sampler
    plain = getattr(shipped, "inner", shipped)  # the batches before bucketing
    state = shipped.state_dict()
    baseline = _timed(task, baseline_model, plain, steps, packed=False, fused=False)
    shipped.load_state_dict(state)  # the inner sampler back at the start
    candidate = _timed(task, task.model, shipped, steps, packed=True, fused=True)
    rate = {name: r["tokens"] / r["seconds"] for name, r in (("b", baseline), ("c", candidate))}
    return {
        "name": "nmt-step",
        "steps": steps,
        "batch": 64,
        "bucket_pool": config.data.length_buckets,
        "max_tokens": config.data.max_tokens,
        "pairs_per_language": config.data.max_pairs_per_language,
        "vocab_size": task.vocab.size,
        "adaptive_cutoffs": list(config.model.adaptive_cutoffs),
        "baseline_s": round(baseline["seconds"], 3),
        "candidate_s": round(candidate["seconds"], 3),
        "baseline_tokens_per_s": round(rate["b"], 1),
        "candidate_tokens_per_s": round(rate["c"], 1),
        "ratio": round(rate["c"] / rate["b"], 3),
        "baseline_padding": round(_share(baseline["padded"], baseline["tokens"]), 3),
        "candidate_padding": round(_share(candidate["padded"], candidate["tokens"]), 3),
        "baseline_optimizer_share": round(baseline["optimizer"] / baseline["seconds"], 3),
        "candidate_optimizer_share": round(candidate["optimizer"] / candidate["seconds"], 3),
    }


def _share(part: float, rest: float) -> float:
    return part / (part + rest) if part + rest else 0.0
