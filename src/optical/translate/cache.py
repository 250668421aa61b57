"""Persistent translation cache, keyed by backend, model fingerprint, direction and text.

Layout: ``<root>/<backend>/<fingerprint digest>/<src>-<tgt>/shard-<id>.jsonl``, with
``fingerprint.txt`` beside the direction folders naming the fingerprint in clear.
Each line of a shard is one entry ``{"s": source, "t": translation, "h": hash}``
where ``h`` is a SHA-256 of the direction, the source and the translation, so every
entry checks itself. Shards are written whole with an atomic rename, so a shard is
complete or absent; an entry whose line does not parse or whose hash does not match
is reported (:class:`CorruptTranslationCacheWarning`), dropped from its shard and
translated again on the next request. A direction with more than
:data:`MAX_SHARDS` shards is compacted into one when it is opened.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import TranslationError
from ..io_utils import atomic_write, atomic_write_text
from ..settings import cache_dir
from ..types import Translation
from .base import Progress, Translator, check_request, make_translations

SHARD_TEXTS = 1024
"""Texts translated (and written as one shard) per backend call of :class:`CachedTranslator`."""

MAX_SHARDS = 32
"""A direction with more shards than this is compacted into one when opened."""


class CorruptTranslationCacheWarning(UserWarning):
    """Cache entries failed their integrity check: they are dropped and translated again."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(direction: str, source: str, text: str) -> str:
    """Integrity hash of one cache entry (``direction`` is ``"src-tgt"``)."""
    return _digest(f"{direction}\x00{source}\x00{text}")[:24]


@dataclass(frozen=True)
class CacheStats:
    """Texts served from the cache (``hits``) and unique texts sent to the backend (``misses``).

    A text repeated within one request is translated once and counts once as a miss.
    """

    hits: int = 0
    misses: int = 0

    def __add__(self, other: CacheStats) -> CacheStats:
        return CacheStats(self.hits + other.hits, self.misses + other.misses)


class TranslationCache:
    """The cached translations of one translator (one backend and fingerprint)."""

    def __init__(self, root: str | Path, backend: str, fingerprint: str) -> None:
        self.backend = backend
        self.fingerprint = fingerprint
        self.folder = Path(root) / backend / _digest(fingerprint)[:20]
        self._directions: dict[str, dict[str, str]] = {}

    def _direction_folder(self, direction: str) -> Path:
        return self.folder / direction

    def _load(self, direction: str) -> dict[str, str]:
        table = self._directions.get(direction)
        if table is not None:
            return table
        table = {}
        folder = self._direction_folder(direction)
        shards = sorted(folder.glob("shard-*.jsonl")) if folder.is_dir() else []
        for shard in shards:
            table.update(self._read_shard(shard, direction))
        if len(shards) > MAX_SHARDS:
            self._compact(shards, direction, table)
        self._directions[direction] = table
        return table

    @staticmethod
    def _read_shard(path: Path, direction: str) -> dict[str, str]:
        """Valid entries of one shard; a shard with bad entries is rewritten without them."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:  # removed by a concurrent compaction
            return {}
        entries: dict[str, str] = {}
        good: list[bytes] = []
        bad = 0
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"))
                source, text, check = record["s"], record["t"], record["h"]
                valid = (
                    isinstance(source, str)
                    and isinstance(text, str)
                    and check == entry_hash(direction, source, text)
                )
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
                valid = False
            if not valid:
                bad += 1
                continue
            entries[source] = text
            good.append(line)
        if bad:
            warnings.warn(
                f"translation cache shard {path} has {bad} corrupt entr"
                f"{'y' if bad == 1 else 'ies'}: dropping them; those texts will be "
                "translated again",
                CorruptTranslationCacheWarning,
                stacklevel=4,
            )
            if good:
                atomic_write(path, lambda tmp: tmp.write_bytes(b"\n".join(good) + b"\n"))
            else:
                path.unlink(missing_ok=True)
        return entries

    def _write_shard(self, direction: str, entries: dict[str, str]) -> None:
        folder = self._direction_folder(direction)
        if not (self.folder / "fingerprint.txt").is_file():
            atomic_write_text(
                self.folder / "fingerprint.txt", f"{self.backend}\n{self.fingerprint}\n"
            )
        lines = [
            json.dumps(
                {"s": source, "t": text, "h": entry_hash(direction, source, text)},
                ensure_ascii=False,
            )
            for source, text in entries.items()
        ]
        path = folder / f"shard-{uuid.uuid4().hex[:16]}.jsonl"
        atomic_write_text(path, "\n".join(lines) + "\n")

    def _compact(self, shards: list[Path], direction: str, table: dict[str, str]) -> None:
        """Replace ``shards`` by one shard holding ``table`` (written before any is deleted)."""
        if table:
            self._write_shard(direction, table)
        for shard in shards:
            shard.unlink(missing_ok=True)

    def get(self, source_lang: str, target_lang: str, texts: Sequence[str]) -> dict[str, str]:
        """The cached translations among ``texts``: source text → translation."""
        table = self._load(f"{source_lang}-{target_lang}")
        return {text: table[text] for text in texts if text in table}

    def put(self, source_lang: str, target_lang: str, translations: dict[str, str]) -> None:
        """Store ``translations`` (source text → translation) as one new shard."""
        if not translations:
            return
        direction = f"{source_lang}-{target_lang}"
        self._write_shard(direction, translations)
        self._load(direction).update(translations)

    def __len__(self) -> int:
        """Entries loaded so far (directions are loaded on first use)."""
        return sum(len(table) for table in self._directions.values())


def default_cache_root() -> Path:
    """``<cache dir>/translations`` (see :func:`optical.settings.cache_dir`)."""
    return cache_dir() / "translations"


class CachedTranslator:
    """A :class:`Translator` that answers from a :class:`TranslationCache` when it can.

    Only the texts missing from the cache reach the wrapped translator, in chunks of
    :data:`SHARD_TEXTS` that are each stored as soon as they are translated (an
    interrupted run keeps what it finished). ``last_stats`` describes the latest
    call, ``stats`` all calls so far. Results are the wrapped backend's
    (``Translation.backend`` is its name).
    """

    def __init__(self, translator: Translator, root: str | Path | None = None) -> None:
        self.translator = translator
        self.name = translator.name
        root = Path(root) if root is not None else default_cache_root()
        self.cache = TranslationCache(root, translator.name, translator.fingerprint())
        self.last_stats = CacheStats()
        self.stats = CacheStats()

    def fingerprint(self) -> str:
        """The wrapped translator's fingerprint."""
        return self.translator.fingerprint()

    def translate(
        self,
        texts: Sequence[str],
        source_lang: str,
        target_lang: str,
        progress: Progress = False,
    ) -> list[Translation]:
        """Translations of ``texts`` in order: cached ones read back, the rest translated."""
        items, source, target = check_request(texts, source_lang, target_lang)
        known = self.cache.get(source, target, items)
        missing = list(dict.fromkeys(text for text in items if text not in known))
        for start in range(0, len(missing), SHARD_TEXTS):
            chunk = missing[start : start + SHARD_TEXTS]
            label = progress
            if progress and len(missing) > SHARD_TEXTS:
                base = progress if isinstance(progress, str) else f"translate {source}→{target}"
                label = f"{base} [{start // SHARD_TEXTS + 1}/{-(-len(missing) // SHARD_TEXTS)}]"
            results = self.translator.translate(chunk, source, target, progress=label)
            fresh = make_translations(chunk, [r.text for r in results], source, target, self.name)
            if any(r.source != t.source for r, t in zip(results, fresh, strict=True)):
                raise TranslationError(
                    f"backend {self.name!r} returned its translations out of order"
                )
            new = {t.source: t.text for t in fresh}
            self.cache.put(source, target, new)
            known.update(new)
        translated = set(missing)
        self.last_stats = CacheStats(
            hits=sum(text not in translated for text in items), misses=len(missing)
        )
        self.stats = self.stats + self.last_stats
        return make_translations(items, [known[t] for t in items], source, target, self.name)
