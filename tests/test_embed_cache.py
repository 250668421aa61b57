"""The on-disk embedding cache, with the tiny random encoder of ``conftest.py``."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from optical.embed_cache import CacheStats, CorruptCacheWarning, EmbeddingCache, text_key
from optical.models.encoder import Encoded, Encoder

TEXTS = [
    "the cat sat on the mat",
    "paris is the capital of france",
    "blue water flows into the sea",
    "dog",
    "what is the capital of france?",
]


class CountingEncoder(Encoder):
    """The tiny encoder, recording every batch of texts it is asked to encode."""

    def __init__(self, base: Encoder, **spec_options: object) -> None:
        spec = base.spec.with_options(**spec_options) if spec_options else base.spec
        super().__init__(spec, base.model, base.tokenizer, bf16=base.bf16)
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str], kind, with_tokens: bool = False, **kw) -> Encoded:  # type: ignore[override]
        self.calls.append(list(texts))
        return super().encode(texts, kind, with_tokens=with_tokens, **kw)


@pytest.fixture
def encoder(tiny_encoder: Encoder) -> CountingEncoder:
    return CountingEncoder(tiny_encoder)


def shards(cache: EmbeddingCache) -> list[Path]:
    return sorted(p for p in cache.folder.iterdir() if p.name.startswith("shard-"))


def assert_same(a: Encoded, b: Encoded) -> None:
    np.testing.assert_array_equal(a.pooled, b.pooled)
    assert (a.tokens is None) == (b.tokens is None)
    if a.tokens is not None and b.tokens is not None:
        assert len(a.tokens) == len(b.tokens)
        for x, y in zip(a.tokens, b.tokens, strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_second_call_is_all_hits(tmp_path: Path, encoder: CountingEncoder) -> None:
    cache = EmbeddingCache(tmp_path, encoder)
    first = cache.encode(TEXTS, "passage")
    assert cache.last_stats == CacheStats(hits=0, encoded=len(TEXTS))
    assert encoder.calls == [TEXTS]
    second = cache.encode(TEXTS, "passage")
    assert cache.last_stats == CacheStats(hits=len(TEXTS), encoded=0)
    assert len(encoder.calls) == 1
    assert_same(first, second)
    # the cached values are exactly the encoder's
    np.testing.assert_array_equal(first.pooled, encoder.encode(TEXTS, "passage").pooled)


def test_changed_text_is_reencoded_alone(tmp_path: Path, encoder: CountingEncoder) -> None:
    cache = EmbeddingCache(tmp_path, encoder)
    before = cache.encode(TEXTS, "query")
    changed = [*TEXTS]
    changed[2] = "green water flows into the sea"
    after = cache.encode(changed, "query")
    assert cache.last_stats == CacheStats(hits=len(TEXTS) - 1, encoded=1)
    assert encoder.calls[-1] == [changed[2]]
    unchanged = [0, 1, 3, 4]
    np.testing.assert_array_equal(after.pooled[unchanged], before.pooled[unchanged])
    np.testing.assert_allclose(
        after.pooled[2], encoder.encode([changed[2]], "query").pooled[0], atol=1e-6
    )
    assert not np.allclose(after.pooled[2], before.pooled[2])


def test_kind_is_part_of_the_key(tmp_path: Path, encoder: CountingEncoder) -> None:
    assert text_key("query", "x") != text_key("passage", "x")
    cache = EmbeddingCache(tmp_path, encoder)
    cache.encode(TEXTS[:2], "passage")
    cache.encode(TEXTS[:2], "query")
    assert cache.last_stats.encoded == 2


def test_order_and_duplicates(tmp_path: Path, encoder: CountingEncoder) -> None:
    cache = EmbeddingCache(tmp_path, encoder)
    out = cache.encode([TEXTS[1], TEXTS[0], TEXTS[1]], "passage")
    assert encoder.calls == [[TEXTS[1], TEXTS[0]]]  # each distinct text encoded once
    assert cache.last_stats == CacheStats(hits=0, encoded=2)  # a repeat is not a cache hit
    np.testing.assert_array_equal(out.pooled[0], out.pooled[2])
    reversed_out = cache.encode(TEXTS[::-1], "passage")
    forward = cache.encode(TEXTS, "passage")
    np.testing.assert_array_equal(reversed_out.pooled, forward.pooled[::-1])


def test_reopened_cache_gives_identical_results(tmp_path: Path, encoder: CountingEncoder) -> None:
    first = EmbeddingCache(tmp_path, encoder).encode(TEXTS, "passage", with_tokens=True)
    reopened = EmbeddingCache(tmp_path, encoder)
    again = reopened.encode(TEXTS, "passage", with_tokens=True)
    assert reopened.last_stats == CacheStats(hits=len(TEXTS), encoded=0)
    assert len(encoder.calls) == 1
    assert_same(first, again)
    assert again.tokens is not None
    assert [len(t) for t in again.tokens] == [
        len(encoder.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TEXTS
    ]


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in (-1, -5, -9):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        lambda shard: _flip_bytes(shard / "pooled.npy"),
        lambda shard: (shard / "meta.json").unlink(),
        lambda shard: (shard / "meta.json").write_text("{not json"),
        lambda shard: _flip_bytes(shard / "tokens.npy"),
        lambda shard: (shard / "offsets.npy").unlink(),
    ],
    ids=["flipped-pooled", "no-meta", "bad-meta", "flipped-tokens", "no-offsets"],
)
def test_corrupt_shard_is_rebuilt(tmp_path: Path, encoder: CountingEncoder, damage) -> None:
    cache = EmbeddingCache(tmp_path, encoder)
    good = cache.encode(TEXTS, "passage", with_tokens=True)
    (shard,) = shards(cache)
    damage(shard)
    with pytest.warns(CorruptCacheWarning, match="corrupt"):
        reopened = EmbeddingCache(tmp_path, encoder)
    assert not shard.exists()
    again = reopened.encode(TEXTS, "passage", with_tokens=True)
    assert reopened.last_stats == CacheStats(hits=0, encoded=len(TEXTS))
    assert encoder.calls[-1] == TEXTS
    np.testing.assert_allclose(again.pooled, good.pooled, atol=1e-6)
    # the rebuilt shard is sound: a third opening is quiet and all hits
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptCacheWarning)
        third = EmbeddingCache(tmp_path, encoder)
    third.encode(TEXTS, "passage", with_tokens=True)
    assert third.last_stats.hits == len(TEXTS)


def test_leftover_staging_folder_is_removed(tmp_path: Path, encoder: CountingEncoder) -> None:
    import os

    cache = EmbeddingCache(tmp_path, encoder)
    staging = cache.folder / "shard-deadbeef.tmp"
    staging.mkdir()
    (staging / "keys.npy").write_bytes(b"half written")
    long_ago = time.time() - 7 * 3600  # a killed run's debris, not a live writer's
    os.utime(staging, (long_ago, long_ago))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptCacheWarning)
        EmbeddingCache(tmp_path, encoder)
    assert not staging.exists()


def test_with_tokens_upgrades_entries_without_tokens(
    tmp_path: Path, encoder: CountingEncoder
) -> None:
    cache = EmbeddingCache(tmp_path, encoder)
    pooled_only = cache.encode(TEXTS, "passage")
    assert pooled_only.tokens is None
    part = cache.encode(TEXTS[:2], "passage", with_tokens=True)
    assert cache.last_stats == CacheStats(hits=0, encoded=2)
    assert part.tokens is not None and all(len(t) for t in part.tokens)
    full = cache.encode(TEXTS, "passage", with_tokens=True)
    assert cache.last_stats == CacheStats(hits=2, encoded=3)
    assert encoder.calls[-1] == TEXTS[2:]
    np.testing.assert_allclose(full.pooled, pooled_only.pooled, atol=1e-6)
    # after reopening, the entries with tokens win over the older ones without
    for _ in range(3):
        reopened = EmbeddingCache(tmp_path, encoder)
        again = reopened.encode(TEXTS, "passage", with_tokens=True)
        assert reopened.last_stats == CacheStats(hits=len(TEXTS), encoded=0)
        assert_same(again, full)
    # and a pooled-only request is served from them too
    reopened.encode(TEXTS, "passage")
    assert reopened.last_stats.hits == len(TEXTS)


def test_different_specs_do_not_share_entries(tmp_path: Path, tiny_encoder: Encoder) -> None:
    mean = CountingEncoder(tiny_encoder)
    cls = CountingEncoder(tiny_encoder, pooling="cls")
    prefixed = CountingEncoder(tiny_encoder, passage_prefix="passage: ")
    mean_cache = EmbeddingCache(tmp_path, mean)
    cls_cache = EmbeddingCache(tmp_path, cls)
    prefixed_cache = EmbeddingCache(tmp_path, prefixed)
    assert len({mean_cache.folder, cls_cache.folder, prefixed_cache.folder}) == 3
    a = mean_cache.encode(TEXTS, "passage")
    b = cls_cache.encode(TEXTS, "passage")
    c = prefixed_cache.encode(TEXTS, "passage")
    for cache in (cls_cache, prefixed_cache):
        assert cache.last_stats == CacheStats(hits=0, encoded=len(TEXTS))
    assert not np.allclose(a.pooled, b.pooled)
    assert not np.allclose(a.pooled, c.pooled)


def test_bf16_and_fp32_do_not_share_entries(tmp_path: Path, tiny_encoder: Encoder) -> None:
    fp32 = CountingEncoder(tiny_encoder)
    bf16 = CountingEncoder(tiny_encoder)
    bf16.bf16 = True
    a = EmbeddingCache(tmp_path, fp32)
    b = EmbeddingCache(tmp_path, bf16)
    assert a.folder != b.folder and a.folder.parent == b.folder.parent
    a.encode(TEXTS, "query")
    b.encode(TEXTS, "query")
    assert b.last_stats.encoded == len(TEXTS)


def test_large_requests_are_split_into_shards(
    tmp_path: Path, encoder: CountingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optical.embed_cache as embed_cache

    monkeypatch.setattr(embed_cache, "SHARD_TEXTS", 2)
    cache = EmbeddingCache(tmp_path, encoder)
    out = cache.encode(TEXTS, "passage", with_tokens=True)
    assert len(shards(cache)) == 3
    assert [len(call) for call in encoder.calls] == [2, 2, 1]
    reopened = EmbeddingCache(tmp_path, encoder)
    assert_same(reopened.encode(TEXTS, "passage", with_tokens=True), out)
    assert reopened.last_stats.hits == len(TEXTS)


def test_staging_folders_of_other_writers_are_kept_stale_ones_removed(
    tmp_path: Path, encoder: CountingEncoder
) -> None:
    """A young ``shard-*.tmp`` may be another process writing into the same cache: opening
    the cache must not delete it under that writer; debris of a killed run is removed."""
    import os

    folder = EmbeddingCache(tmp_path, encoder).folder
    young = folder / "shard-young.tmp"
    old = folder / "shard-old.tmp"
    young.mkdir()
    old.mkdir()
    long_ago = time.time() - 7 * 3600
    os.utime(old, (long_ago, long_ago))
    cache = EmbeddingCache(tmp_path, encoder)
    assert young.is_dir() and not old.exists()
    assert cache.encode(TEXTS[:2], "query").pooled.shape[0] == 2
