"""The on-disk translation cache: hits, misses, keys, corruption and compaction."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pytest

from optical.translate import (
    CachedTranslator,
    CacheStats,
    CorruptTranslationCacheWarning,
    TranslationError,
    TranslationInputError,
)
from optical.translate import cache as cache_module
from optical.translate.base import check_request, make_translations
from optical.types import Translation


class CountingTranslator:
    """Reverses each text; records every batch it is asked to translate."""

    name = "toy"

    def __init__(self, version: str = "1") -> None:
        self.version = version
        self.calls: list[list[str]] = []

    def fingerprint(self) -> str:
        return f"toy:{self.version}"

    def translate(
        self, texts: Sequence[str], source_lang: str, target_lang: str, progress: bool | str = False
    ) -> list[Translation]:
        items, source, target = check_request(texts, source_lang, target_lang)
        self.calls.append(items)
        outputs = [f"{text[::-1]}/{target}/{self.version}" for text in items]
        return make_translations(items, outputs, source, target, self.name)


TEXTS = ["el gato", "la casa", "el perro come", "¿Quién escribió Don Quijote?", "日本の首都は?"]


def _shards(root: Path) -> list[Path]:
    return sorted(root.rglob("shard-*.jsonl"))


def test_miss_then_hit_across_instances(tmp_path: Path) -> None:
    inner = CountingTranslator()
    cached = CachedTranslator(inner, root=tmp_path)
    first = cached.translate(TEXTS, "es", "en")
    assert cached.last_stats == CacheStats(hits=0, misses=len(TEXTS))
    assert inner.calls == [TEXTS]
    assert first == inner.translate(TEXTS, "es", "en")

    again = CountingTranslator()
    reopened = CachedTranslator(again, root=tmp_path)
    assert reopened.translate(TEXTS, "es", "en") == first
    assert again.calls == []
    assert reopened.last_stats == CacheStats(hits=len(TEXTS), misses=0)


def test_only_missing_texts_reach_the_backend(tmp_path: Path) -> None:
    inner = CountingTranslator()
    cached = CachedTranslator(inner, root=tmp_path)
    cached.translate(TEXTS[:2], "es", "en")
    results = cached.translate([TEXTS[1], TEXTS[2], TEXTS[2], TEXTS[0]], "es", "en")
    assert inner.calls == [TEXTS[:2], [TEXTS[2]]]
    assert [r.source for r in results] == [TEXTS[1], TEXTS[2], TEXTS[2], TEXTS[0]]
    assert cached.last_stats == CacheStats(hits=2, misses=1)
    assert cached.stats == CacheStats(hits=2, misses=3)


def test_keys_separate_direction_fingerprint_and_backend(tmp_path: Path) -> None:
    cached = CachedTranslator(CountingTranslator(), root=tmp_path)
    cached.translate(TEXTS[:2], "es", "en")
    cached.translate(TEXTS[:2], "es", "fi")
    assert cached.last_stats.misses == 2  # another target language
    other_model = CountingTranslator(version="2")
    results = CachedTranslator(other_model, root=tmp_path).translate(TEXTS[:2], "es", "en")
    assert other_model.calls == [TEXTS[:2]]  # another fingerprint: nothing reused
    assert results[0].text.endswith("/en/2")
    renamed = CountingTranslator()
    renamed.name = "toy2"
    CachedTranslator(renamed, root=tmp_path).translate(TEXTS[:1], "es", "en")
    assert renamed.calls == [TEXTS[:1]]
    # the key is the exact text: a variant is translated anew
    variant = CountingTranslator()
    CachedTranslator(variant, root=tmp_path).translate([TEXTS[0] + " "], "es", "en")
    assert variant.calls == [[TEXTS[0] + " "]]


def test_default_root_is_under_the_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTICAL_CACHE_DIR", str(tmp_path))
    cached = CachedTranslator(CountingTranslator())
    cached.translate(TEXTS[:1], "es", "en")
    assert _shards(tmp_path / "translations" / "toy")
    assert (cached.cache.folder / "fingerprint.txt").read_text().splitlines() == ["toy", "toy:1"]


def test_corrupt_entry_is_reported_and_recomputed(tmp_path: Path) -> None:
    CachedTranslator(CountingTranslator(), root=tmp_path).translate(TEXTS, "es", "en")
    (shard,) = _shards(tmp_path)
    raw = bytearray(shard.read_bytes())
    where = raw.index(b"la casa")
    raw[where : where + 2] = b"LA"  # a changed source text: the entry hash no longer matches
    shard.write_bytes(bytes(raw))

    inner = CountingTranslator()
    cached = CachedTranslator(inner, root=tmp_path)
    with pytest.warns(CorruptTranslationCacheWarning, match="1 corrupt entry"):
        results = cached.translate(TEXTS, "es", "en")
    assert inner.calls == [["la casa"]]
    assert results == CountingTranslator().translate(TEXTS, "es", "en")
    assert cached.last_stats == CacheStats(hits=len(TEXTS) - 1, misses=1)
    # the shard was rewritten without the bad entry: a third run is clean and all hits
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptTranslationCacheWarning)
        third = CachedTranslator(CountingTranslator(), root=tmp_path)
        assert third.translate(TEXTS, "es", "en") == results
    assert third.last_stats.misses == 0


def test_flipped_bytes_and_torn_lines_are_detected(tmp_path: Path) -> None:
    CachedTranslator(CountingTranslator(), root=tmp_path).translate(TEXTS, "es", "en")
    (shard,) = _shards(tmp_path)
    raw = bytearray(shard.read_bytes())
    for offset in (5, len(raw) // 2, len(raw) - 5):  # flip bits: invalid UTF-8, JSON, hashes
        raw[offset] ^= 0xFF
    shard.write_bytes(bytes(raw))
    inner = CountingTranslator()
    with pytest.warns(CorruptTranslationCacheWarning, match="corrupt entr"):
        results = CachedTranslator(inner, root=tmp_path).translate(TEXTS, "es", "en")
    assert results == CountingTranslator().translate(TEXTS, "es", "en")
    assert 1 <= len(inner.calls[0]) <= len(TEXTS)


def test_wholly_corrupt_shard_is_deleted(tmp_path: Path) -> None:
    CachedTranslator(CountingTranslator(), root=tmp_path).translate(TEXTS[:2], "es", "en")
    (shard,) = _shards(tmp_path)
    shard.write_bytes(b"\x00garbage\xff\n{not json}\n")
    inner = CountingTranslator()
    with pytest.warns(CorruptTranslationCacheWarning, match="2 corrupt entries"):
        CachedTranslator(inner, root=tmp_path).translate(TEXTS[:2], "es", "en")
    assert inner.calls == [TEXTS[:2]]
    assert not shard.exists()
    assert len(_shards(tmp_path)) == 1  # the recomputed entries


def test_missing_shard_is_a_plain_miss(tmp_path: Path) -> None:
    CachedTranslator(CountingTranslator(), root=tmp_path).translate(TEXTS[:2], "es", "en")
    for shard in _shards(tmp_path):
        shard.unlink()
    inner = CountingTranslator()
    CachedTranslator(inner, root=tmp_path).translate(TEXTS[:2], "es", "en")
    assert inner.calls == [TEXTS[:2]]


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    CachedTranslator(CountingTranslator(), root=tmp_path).translate(TEXTS, "es", "en")
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []


def test_large_requests_are_written_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "SHARD_TEXTS", 2)
    inner = CountingTranslator()
    CachedTranslator(inner, root=tmp_path).translate(TEXTS, "es", "en")
    assert [len(call) for call in inner.calls] == [2, 2, 1]
    assert len(_shards(tmp_path)) == 3


def test_many_shards_are_compacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "MAX_SHARDS", 3)
    cached = CachedTranslator(CountingTranslator(), root=tmp_path)
    for text in TEXTS:
        cached.translate([text], "es", "en")
    assert len(_shards(tmp_path)) == len(TEXTS)
    inner = CountingTranslator()
    reopened = CachedTranslator(inner, root=tmp_path)
    assert reopened.translate(TEXTS, "es", "en") == CountingTranslator().translate(
        TEXTS, "es", "en"
    )
    assert inner.calls == []
    assert len(_shards(tmp_path)) == 1


def test_bad_input_fails_before_the_backend(tmp_path: Path) -> None:
    inner = CountingTranslator()
    cached = CachedTranslator(inner, root=tmp_path)
    with pytest.raises(TranslationInputError):
        cached.translate(["ok", ""], "es", "en")
    assert cached.translate([], "es", "en") == []
    assert inner.calls == []


def test_a_backend_that_reorders_is_caught(tmp_path: Path) -> None:
    class Shuffling(CountingTranslator):
        def translate(self, texts, source_lang, target_lang, progress=False):  # type: ignore[override]
            results = super().translate(texts, source_lang, target_lang)
            return results[::-1]

    with pytest.raises(TranslationError, match="out of order"):
        CachedTranslator(Shuffling(), root=tmp_path).translate(TEXTS[:2], "es", "en")
