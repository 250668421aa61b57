"""Source states of the frozen encoder, computed once and cached on disk.

A source text is encoded like a query (``query: `` prefix for e5) and its
L2-normalised content-token states (``[L, e]`` float16, special tokens removed) are
kept in the embedding cache (:class:`optical.embed_cache.EmbeddingCache`), the same
cache retrieval uses: a question already encoded by a retrieval system is not encoded
again for translation, and training states survive across runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..embed_cache import EmbeddingCache
from ..models.encoder import Encoder


class SourceStates:
    """``states(texts)`` → one ``[L_i, e]`` float16 array per text."""

    def __init__(self, encoder: Encoder, cache_root: str | Path) -> None:
        self.encoder = encoder
        self.cache = EmbeddingCache(Path(cache_root) / "embeddings", encoder)

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def __call__(self, texts: Sequence[str], progress: bool | str = False) -> list[np.ndarray]:
        encoded = self.cache.encode(list(texts), "query", with_tokens=True, progress=progress)
        if encoded.tokens is None:  # pragma: no cover - requested above
            raise RuntimeError("token states missing from the embedding cache")
        return encoded.tokens
