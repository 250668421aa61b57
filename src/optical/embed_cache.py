"""On-disk cache of embeddings, keyed by encoder fingerprint, text kind and text.

Layout: ``<root>/<encoder fingerprint>/<precision>/shard-<id>/`` (precision: ``fp32``,
``bf16`` or ``int8``, :attr:`~optical.models.encoder.Encoder.precision`) holding ``keys.npy``
(text keys), ``pooled.npy`` (float32 ``[N, d]``), optionally ``tokens.npy``
(float16 ``[T, d]``, all texts' content tokens concatenated) with
``offsets.npy`` (``[N + 1]``), and ``meta.json`` with each file's SHA-256 and ``n``.
A shard is written into a temporary folder and renamed into place, so it is
complete or absent. A changed text has a new key and is encoded again; an
unchanged one is read back.

Integrity: opening a cache verifies every shard against what its ``meta.json``
records: the SHA-256 of each file (``keys.npy`` and ``pooled.npy`` must be listed, and
``tokens.npy`` / ``offsets.npy`` when present), the count ``n`` of keys and pooled rows,
the pooled shape ``[n, d]`` with ``d`` the encoder's dimension, finite pooled values,
and offsets ``[n + 1]`` rising from 0 to the token count. A shard that fails is a
:class:`CorruptCacheWarning` naming the shard and what failed; it is deleted and its
texts are re-encoded (the cache is derived data: rebuilding it is always safe, so a
damaged shard is repaired, not an error).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import file_error
from .io_utils import remove_stale, sha256_file
from .models.encoder import Encoded, Encoder, Kind

SHARD_TEXTS = 2048


def text_key(kind: str, text: str) -> str:
    """Cache key of one text of one kind (query or passage)."""
    return hashlib.sha256(f"{kind}\x00{text}".encode()).hexdigest()[:32]


class CorruptCacheWarning(UserWarning):
    """A cache shard failed its integrity check and is being rebuilt."""


class _Corrupt(Exception):
    """A shard failed its integrity check (the message says how)."""


def _verify_hashes(path: Path, recorded: dict[str, str]) -> None:
    files = {"keys.npy", "pooled.npy"}
    files |= {name for name in ("tokens.npy", "offsets.npy") if (path / name).exists()}
    unlisted = sorted(files - set(recorded))
    if unlisted:
        raise _Corrupt(f"meta.json records no SHA-256 for {', '.join(unlisted)}")
    for name, digest in sorted(recorded.items()):
        if sha256_file(path / name) != digest:
            raise _Corrupt(f"{name} does not match its recorded SHA-256")


def _verify_shapes(
    n: object,
    keys: np.ndarray,
    pooled: np.ndarray,
    tokens: np.ndarray | None,
    offsets: np.ndarray | None,
    dim: int,
) -> None:
    """The shard's arrays agree with each other, with ``meta.json``'s ``n`` and with the
    encoder's dimension ``dim``."""
    if n != len(keys):
        raise _Corrupt(f"meta.json records n = {n!r}, keys.npy holds {len(keys)} keys")
    if pooled.shape != (len(keys), dim):
        raise _Corrupt(f"pooled.npy is {pooled.shape}, expected ({len(keys)}, {dim})")
    if not np.isfinite(pooled).all():
        raise _Corrupt("pooled.npy holds non-finite values")
    if tokens is None:
        return
    if offsets is None or offsets.shape != (len(keys) + 1,) or tokens.ndim != 2:
        raise _Corrupt("offsets.npy / tokens.npy do not match the keys")
    if offsets[0] != 0 or offsets[-1] != len(tokens) or (np.diff(offsets) < 0).any():
        raise _Corrupt("offsets.npy does not index tokens.npy")
    if tokens.shape[1] != dim:
        raise _Corrupt(f"tokens.npy has dimension {tokens.shape[1]}, expected {dim}")


@dataclass
class _Shard:
    path: Path
    keys: np.ndarray
    pooled: np.ndarray
    tokens: np.ndarray | None
    offsets: np.ndarray | None


@dataclass(frozen=True)
class CacheStats:
    """How a lookup was served: texts read from disk and texts encoded now."""

    hits: int
    encoded: int


class EmbeddingCache:
    """Embeddings of one encoder, persisted under ``root``."""

    def __init__(self, root: Path, encoder: Encoder) -> None:
        self.encoder = encoder
        # int8, bf16 and fp32 embeddings never mix: one folder per precision used
        self.folder = Path(root) / encoder.spec.fingerprint() / encoder.precision
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise file_error(exc, self.folder) from exc
        self._shards: list[_Shard] = []
        self._index: dict[str, tuple[int, int]] = {}
        self.last_stats = CacheStats(0, 0)
        self._load()

    def _load(self) -> None:
        # a staging folder of a killed run is removed; a young one may be another
        # process's shard in the making (io_utils.STALE_S)
        remove_stale(self.folder, "shard-*.tmp")
        for path in sorted(self.folder.glob("shard-*")):
            if path.name.endswith(".tmp"):
                continue
            try:
                shard = self._open(path)
            except _Corrupt as exc:
                warnings.warn(
                    f"embedding cache shard {path} is corrupt ({exc}): deleting it; its texts "
                    "will be re-encoded",
                    CorruptCacheWarning,
                    stacklevel=3,
                )
                shutil.rmtree(path, ignore_errors=True)
                continue
            self._add(shard)

    def _open(self, path: Path) -> _Shard:
        """Read and verify one shard (:class:`_Corrupt` says what failed)."""
        try:
            meta = json.loads((path / "meta.json").read_text())
            _verify_hashes(path, meta["sha256"])
            keys = np.load(path / "keys.npy")
            pooled = np.load(path / "pooled.npy")
            tokens = offsets = None
            if (path / "tokens.npy").exists():
                tokens = np.load(path / "tokens.npy", mmap_mode="r")
                offsets = np.load(path / "offsets.npy")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _Corrupt(f"{type(exc).__name__}: {exc}") from exc
        _verify_shapes(meta.get("n"), keys, pooled, tokens, offsets, self.encoder.dim)
        return _Shard(path, keys, pooled, tokens, offsets)

    def _add(self, shard: _Shard) -> None:
        number = len(self._shards)
        self._shards.append(shard)
        has_tokens = shard.tokens is not None
        for row, key in enumerate(shard.keys.tolist()):
            known = self._index.get(key)
            # prefer entries that also carry token embeddings
            if known is None or (has_tokens and self._shards[known[0]].tokens is None):
                self._index[key] = (number, row)

    def _has(self, key: str, with_tokens: bool) -> bool:
        where = self._index.get(key)
        return where is not None and (not with_tokens or self._shards[where[0]].tokens is not None)

    def _write_shard(self, keys: list[str], encoded: Encoded) -> None:
        name = f"shard-{uuid.uuid4().hex[:12]}"
        staging = self.folder / f"{name}.tmp"
        try:
            self._stage(staging, keys, encoded)
            staging.rename(self.folder / name)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise file_error(exc, staging.with_name(name)) from exc
        self._add(self._open(self.folder / name))

    @staticmethod
    def _stage(staging: Path, keys: list[str], encoded: Encoded) -> None:
        staging.mkdir()
        np.save(staging / "keys.npy", np.array(keys))
        np.save(staging / "pooled.npy", encoded.pooled.astype(np.float32))
        files = ["keys.npy", "pooled.npy"]
        if encoded.tokens is not None:
            lengths = [len(t) for t in encoded.tokens]
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            np.save(staging / "offsets.npy", offsets)
            np.save(staging / "tokens.npy", np.concatenate(encoded.tokens).astype(np.float16))
            files += ["offsets.npy", "tokens.npy"]
        meta = {"sha256": {f: sha256_file(staging / f) for f in files}, "n": len(keys)}
        (staging / "meta.json").write_text(json.dumps(meta))

    def encode(
        self,
        texts: Sequence[str],
        kind: Kind,
        with_tokens: bool = False,
        progress: bool | str = False,
    ) -> Encoded:
        """Embeddings of ``texts``: cached ones read back, the rest encoded and stored."""
        keys = [text_key(kind, t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if not self._has(key, with_tokens):
                missing.setdefault(key, text)
        todo = list(missing.items())
        for start in range(0, len(todo), SHARD_TEXTS):
            chunk = todo[start : start + SHARD_TEXTS]
            label = progress
            if progress and len(todo) > SHARD_TEXTS:
                label = f"{progress if isinstance(progress, str) else kind} "
                label += f"[{start // SHARD_TEXTS + 1}/{-(-len(todo) // SHARD_TEXTS)}]"
            encoded = self.encoder.encode(
                [t for _, t in chunk], kind, with_tokens=with_tokens, progress=label
            )
            self._write_shard([k for k, _ in chunk], encoded)
        # a text repeated in ``texts`` is encoded once and is not a cache hit
        self.last_stats = CacheStats(
            hits=sum(key not in missing for key in keys), encoded=len(todo)
        )
        return self._gather(keys, with_tokens)

    def _gather(self, keys: list[str], with_tokens: bool) -> Encoded:
        dim = self.encoder.dim
        pooled = np.zeros((len(keys), dim), dtype=np.float32)
        tokens: list[np.ndarray] | None = [] if with_tokens else None
        for row, key in enumerate(keys):
            shard_no, shard_row = self._index[key]
            shard = self._shards[shard_no]
            pooled[row] = shard.pooled[shard_row]
            if tokens is not None:
                assert shard.tokens is not None and shard.offsets is not None
                a, b = shard.offsets[shard_row], shard.offsets[shard_row + 1]
                tokens.append(shard.tokens[a:b])
        return Encoded(pooled, tokens)
