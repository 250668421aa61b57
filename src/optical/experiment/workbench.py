"""Shared, memoised resources of one experiment run: encoders, embedding caches, indexes.

Every system asks the workbench for what it needs; nothing is loaded or
encoded twice within a run, and embeddings persist on disk across runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..device import resolve_device
from ..embed_cache import EmbeddingCache
from ..errors import OpticalError
from ..index import ShardedIndex, build_shard, merge_index, read_manifest
from ..models.encoder import Encoded, Encoder, Kind
from ..precision import INT8_DEFAULT, use_int8
from ..psq import PsqTables
from ..search import BM25Index, DenseIndex
from ..timing import Timer
from ..translate.base import Translator
from ..types import CorpusIndex, RetrievalBenchmark, Run

logger = logging.getLogger(__name__)


class DiskIndex:
    """A sharded on-disk index searched like a :class:`DenseIndex`."""

    def __init__(self, index: ShardedIndex) -> None:
        self.index = index

    def search(self, query_ids: Sequence[str], queries: np.ndarray, k: int) -> Run:
        return self.index.run(query_ids, queries, k)


class Workbench:
    """Encoders by name, their on-disk embedding caches, and per-benchmark indexes."""

    def __init__(
        self,
        cache_root: Path,
        bf16: bool = True,
        timer: Timer | None = None,
        token_encoders: Sequence[str] = (),
        int8: bool | None = INT8_DEFAULT,
        device: str = "auto",
    ) -> None:
        """``token_encoders``: encoders whose passage token embeddings will be needed
        (MaxSim); their passages are encoded once with tokens instead of twice. ``bf16``
        and ``int8`` are requests (:mod:`optical.precision`; ``int8=None``: never int8,
        whatever ``$OPTICAL_INT8`` says). The workbench's encoders only encode, so they
        may run in int8; training loads its own fp32 models. ``device``: where the
        encoders run (:mod:`optical.device`; int8 is a CPU engine, so off elsewhere)."""
        self.cache_root = Path(cache_root)
        self.device = resolve_device(device, "run.device")
        self.token_encoders = set(token_encoders)
        self.bf16 = bf16
        self.int8 = int8
        self.timer = timer or Timer()
        self._encoders: dict[str, Encoder] = {}
        self._caches: dict[str, EmbeddingCache] = {}
        self._dense: dict[tuple[str, str], DenseIndex] = {}
        self._disk: dict[tuple[str, str], DiskIndex] = {}
        self._bm25: dict[str, BM25Index] = {}
        self._tokens: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self.students: dict[tuple[str, int], Path] = {}
        """(student id, seed) → its student folder (filled by the experiment)."""
        self.translators: dict[str, Translator] = {}
        """Backend name → its (cached) translator (filled by the experiment)."""
        self.psq_tables: PsqTables | None = None
        """The PSQ translation tables of ``tt-psq-bm25`` (set by the experiment)."""

    def translate(self, backend: str, texts: Sequence[str], source: str, target: str) -> list[str]:
        """``texts`` translated by ``backend`` (through its translation cache)."""
        if backend not in self.translators:
            raise OpticalError(f"translator {backend!r} is not set up in this experiment")
        with self.timer(f"translate ({backend})"):
            done = self.translators[backend].translate(
                texts, source, target, progress=f"{backend} {source}→{target}"
            )
        return [t.text for t in done]

    def encoder(self, name: str) -> Encoder:
        """The encoder called ``name`` (alias, folder or hub id), loaded once."""
        if name not in self._encoders:
            from ..models.student import load_any_encoder

            with self.timer(f"load {self.label(name)}"):
                encoder = load_any_encoder(name, bf16=self.bf16, device=self.device)
                if self.int8 is not None and use_int8(self.int8, self.device.type):
                    encoder.to_int8()
                self._encoders[name] = encoder
        return self._encoders[name]

    def release(self, name: str) -> None:
        """Forget encoder ``name`` and what was built with it (its embedding cache handle,
        indexes, token tables), so its memory can be freed; it loads again on next use.
        The on-disk caches are kept."""
        self._encoders.pop(name, None)
        self._caches.pop(name, None)
        for key in [k for k in self._dense if k[0] == name]:
            del self._dense[key]
        for key in [k for k in self._disk if k[0] == name]:
            del self._disk[key]
        for key in [k for k in self._tokens if k[0] == name]:
            del self._tokens[key]

    def label(self, name: str) -> str:
        """Short display name: a student folder ``…/<system>-<hash>/student`` shows as
        ``<system>-<hash>``."""
        path = Path(name)
        return path.parent.name if path.name == "student" and path.is_dir() else name

    def cache(self, name: str) -> EmbeddingCache:
        if name not in self._caches:
            self._caches[name] = EmbeddingCache(self.cache_root / "embeddings", self.encoder(name))
        return self._caches[name]

    def embed(
        self,
        name: str,
        texts: Sequence[str],
        kind: Kind,
        with_tokens: bool = False,
        label: str | None = None,
    ) -> Encoded:
        """Embeddings of ``texts`` by encoder ``name``, through the disk cache.

        Queries always keep their (small) token embeddings, so a MaxSim system never
        re-encodes a query that a dense system already encoded.
        """
        with_tokens = with_tokens or kind == "query"
        stage = f"encode {'queries' if kind == 'query' else 'passages'} ({self.label(name)})"
        with self.timer(stage):
            return self.cache(name).encode(
                texts, kind, with_tokens=with_tokens, progress=label or stage
            )

    def passage_embeddings(
        self, name: str, benchmark: RetrievalBenchmark, with_tokens: bool = False
    ) -> Encoded:
        with_tokens = with_tokens or name in self.token_encoders
        return self.embed(
            name,
            [p.text for p in benchmark.passages],
            "query" if benchmark.passage_role == "query" else "passage",
            with_tokens,
            label=f"{benchmark.name} passages ({name})",
        )

    def dense_index(self, name: str, benchmark: RetrievalBenchmark) -> DenseIndex | DiskIndex:
        """The passage index of encoder ``name`` over ``benchmark``'s collection: in
        memory, or (a collection on disk) a sharded index in the cache."""
        key = (name, benchmark.name)
        if benchmark.index is not None:
            if key not in self._disk:
                self._disk[key] = self.disk_index(name, benchmark.index)
            return self._disk[key]
        if key not in self._dense:
            encoded = self.passage_embeddings(name, benchmark)
            with self.timer("build indexes"):
                self._dense[key] = DenseIndex(encoded.pooled, [p.id for p in benchmark.passages])
        return self._dense[key]

    def passage_tokens(self, name: str, benchmark: RetrievalBenchmark) -> dict[str, np.ndarray]:
        """Passage id → ``[m, d]`` float32 token embeddings of encoder ``name``.

        Read from the disk cache (float16) and converted once per benchmark into one
        contiguous float32 array, so MaxSim re-ranking does no per-query conversion.
        """
        key = (name, benchmark.name)
        if key not in self._tokens:
            encoded = self.passage_embeddings(name, benchmark, with_tokens=True)
            if encoded.tokens is None:  # pragma: no cover - requested above
                raise RuntimeError("token embeddings missing from the embedding cache")
            lengths = [len(t) for t in encoded.tokens]
            flat = np.concatenate(encoded.tokens).astype(np.float32)
            starts = np.concatenate([[0], np.cumsum(lengths)])
            self._tokens[key] = {
                p.id: flat[a:b]
                for p, a, b in zip(benchmark.passages, starts[:-1], starts[1:], strict=True)
            }
        return self._tokens[key]

    def disk_index_folder(self, name: str, corpus: CorpusIndex) -> Path:
        """Where :meth:`disk_index` keeps encoder ``name``'s index of ``corpus``:
        ``cache/indexes/<corpus>/<encoder>-<factory>-<weights hash>-<precision>``."""
        import re

        encoder = self.encoder(name)
        tag = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.label(name)}-{corpus.factory}")
        stamp = f"{encoder.spec.fingerprint()[:12]}-{encoder.precision}"
        return self.cache_root / "indexes" / Path(corpus.table).name / f"{tag}-{stamp}"

    def disk_index(self, name: str, corpus: CorpusIndex) -> DiskIndex:
        """Encoder ``name``'s sharded index of ``corpus`` under ``cache/indexes/``: its
        shards encoded on this workbench's device (resumed chunk by chunk after an
        interruption), merged with the corpus's factory; a finished index is opened."""
        from ..index.manifest import FAISS_FILE, MANIFEST_FILE, read_merged

        encoder = self.encoder(name)
        folder = self.disk_index_folder(name, corpus)
        merged = None
        if (folder / FAISS_FILE).is_file():
            merged = read_merged(folder)
        logger.info("index of %s over %s: %s", self.label(name), corpus.corpus, folder)
        if merged is None or merged.factory != corpus.factory:
            # shards encoded beforehand into this folder (``torchrun … optical index
            # --out FOLDER``) are kept: only unfinished ones are encoded here
            shards = read_manifest(folder).shards if (folder / MANIFEST_FILE).is_file() else 1
            with self.timer(f"encode passages ({self.label(name)})"):
                for shard in range(shards):
                    build_shard(corpus.corpus, folder, encoder, (shard, shards), encoder_name=name)
            with self.timer("build indexes"):
                merge_index(folder, corpus.factory, corpus.train_sample, device=str(self.device))
        index = ShardedIndex(folder)
        if read_manifest(folder).encoder != name:  # pragma: no cover - keyed by name
            raise OpticalError(f"{folder} holds another encoder's index")
        index.set_parameters(nprobe=corpus.nprobe or None, rerank=corpus.rerank)
        return DiskIndex(index)

    def bm25(self, benchmark: RetrievalBenchmark) -> BM25Index:
        if benchmark.name not in self._bm25:
            with self.timer("build indexes"):
                self._bm25[benchmark.name] = BM25Index(benchmark.passages)
        return self._bm25[benchmark.name]
