"""Benchmark ``encode``: int8 (candidate) against fp32 (baseline) passage encoding.

Both encode the same real passages (the first :data:`PASSAGES` English XQuAD
paragraphs of the data directory; XQuAD-sized synthetic passages when it has none) with
the offline multilingual-e5-small in length-bucketed batches, fp32 first, then the same
model after :meth:`~optical.models.encoder.Encoder.to_int8`; ``ratio`` = fp32 time /
int8 time (the tokens/s ratio), ``min_cosine`` = the lowest cosine between a passage's
int8 and fp32 embeddings. int8 is forced here, whatever ``$OPTICAL_INT8`` says.

bf16 autocast is measured too (``bf16_ratio``, ``bf16_min_cosine``) where the CPU
computes bf16 natively (``native_bf16``); where it is emulated it is several times slower
than fp32, which is why ``bf16 = true`` is honoured only on such CPUs
(:mod:`optical.precision`), and it is skipped (``null``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

PASSAGES = 96


def _synthetic(n: int = PASSAGES, seed: int = 0) -> list[str]:
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


def _passages() -> tuple[str, list[str]]:
    """``(source, texts)``: XQuAD English paragraphs, else synthetic ones."""
    from ..data.xquad import load_xquad
    from ..errors import OpticalError

    try:
        passages = load_xquad(None, languages=("en",)).passages
    except (OpticalError, OSError):
        return "synthetic", _synthetic()
    return "xquad", [p.text for p in passages[:PASSAGES]]


def _timed(encoder: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    encoder.encode(texts[:4], "passage")  # warm-up
    start = time.perf_counter()
    pooled = encoder.encode(texts, "passage").pooled
    return time.perf_counter() - start, pooled


def run() -> dict[str, Any]:
    from ..models.encoder import Encoder
    from ..models.registry import resolve_encoder
    from ..precision import native_bf16

    spec = resolve_encoder("multilingual-e5-small")
    source, texts = _passages()
    encoder = Encoder.load(spec)
    tokens = sum(encoder.token_lengths(texts, "passage"))
    fp32_s, fp32 = _timed(encoder, texts)
    bf16: dict[str, Any] = {"bf16_ratio": None, "bf16_min_cosine": None}
    if native_bf16():
        encoder.bf16 = True
        bf16_s, bf16_out = _timed(encoder, texts)
        bf16 = {
            "bf16_ratio": fp32_s / bf16_s,
            "bf16_min_cosine": float((fp32 * bf16_out).sum(1).min()),
        }
    encoder.to_int8()  # in place: the fp32 run is done
    int8_s, int8 = _timed(encoder, texts)
    return {
        "name": "encode",
        "ratio": fp32_s / int8_s,
        "baseline_s": fp32_s,
        "candidate_s": int8_s,
        "passages": source,
        "texts": len(texts),
        "tokens": tokens,
        "fp32_tokens_per_s": tokens / fp32_s,
        "int8_tokens_per_s": tokens / int8_s,
        "min_cosine": float((fp32 * int8).sum(1).min()),
        "mean_cosine": float((fp32 * int8).sum(1).mean()),
        **bf16,
        "native_bf16": native_bf16(),
    }
