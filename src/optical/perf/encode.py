"""Benchmark ``encode``: bf16 autocast (candidate) against fp32 (baseline) passage encoding.

Both encode the same 48 XQuAD-sized synthetic passages with the offline
multilingual-e5-small in length-bucketed batches; ``ratio`` = fp32 time /
bf16 time, ``min_cosine`` = the lowest cosine between the two embeddings.
bf16 is forced here (whatever ``$OPTICAL_BF16`` says), and ``native_bf16`` reports
whether the CPU computes bf16 natively: without it the ratio is below 1, which is why
``bf16 = true`` in a configuration is honoured only on such CPUs (:mod:`optical.precision`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def _passages(n: int = 48, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [
        "the",
        "river",
        "city",
        "museum",
        "was",
        "founded",
        "in",
        "century",
        "by",
        "a",
        "king",
        "who",
        "ruled",
        "the",
        "northern",
        "province",
        "and",
        "built",
        "roads",
        "bridges",
        "temples",
        "markets",
        "schools",
        "for",
        "its",
        "people",
    ]
    return [" ".join(rng.choice(words, size=int(rng.integers(60, 140)))) for _ in range(n)]


def run() -> dict[str, Any]:
    from ..models.encoder import Encoder
    from ..models.registry import resolve_encoder
    from ..precision import native_bf16

    spec = resolve_encoder("multilingual-e5-small")
    texts = _passages()
    timings: dict[bool, float] = {}
    outputs: dict[bool, np.ndarray] = {}
    for bf16 in (False, True):
        encoder = Encoder.load(spec)
        encoder.bf16 = bf16  # forced: this benchmark measures bf16 on any CPU
        encoder.encode(texts[:4], "passage")  # warm-up
        start = time.perf_counter()
        outputs[bf16] = encoder.encode(texts, "passage").pooled
        timings[bf16] = time.perf_counter() - start
    tokens = sum(Encoder.load(spec).token_lengths(texts, "passage"))
    return {
        "name": "encode",
        "ratio": timings[False] / timings[True],
        "baseline_s": timings[False],
        "candidate_s": timings[True],
        "tokens": tokens,
        "bf16_tokens_per_s": tokens / timings[True],
        "min_cosine": float((outputs[False] * outputs[True]).sum(1).min()),
        "native_bf16": native_bf16(),
    }
