"""A sharded, resumable, memory-bounded dense index over a DPR TSV corpus of any size.

``build_shard`` encodes one shard's byte range chunk by chunk into fp16 vectors
(:mod:`.shards`); ``merge_index`` builds one FAISS index from all shards
(:mod:`.faiss_index`); ``ShardedIndex`` searches it and reads passages back by byte
offset (:mod:`.corpus`). ``optical index --out`` / ``index merge`` / ``search --index``
are these calls.
"""

from __future__ import annotations

from .corpus import CorpusInfo, OffsetTable, corpus_info, corpus_table, iter_chunks, shard_range
from .faiss_index import ShardedIndex, merge_index
from .manifest import IndexManifest, MergedIndex, read_manifest
from .shards import CHUNK_PASSAGES, ShardResult, build_shard

__all__ = [
    "CHUNK_PASSAGES",
    "CorpusInfo",
    "IndexManifest",
    "MergedIndex",
    "OffsetTable",
    "ShardResult",
    "ShardedIndex",
    "build_shard",
    "corpus_info",
    "corpus_table",
    "iter_chunks",
    "merge_index",
    "read_manifest",
    "shard_range",
]
