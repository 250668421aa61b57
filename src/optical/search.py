"""Retrieval: FAISS inner-product search, MaxSim late-interaction re-ranking, BM25.

Every searcher returns a :data:`~optical.types.Run` (``{qid: {pid: score}}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .errors import OpticalError
from .runs import ranked
from .types import Passage, Run


class DenseIndex:
    """Exact inner-product search over L2-normalised passage embeddings (FAISS ``IndexFlatIP``).

    ``embeddings``: float32 ``[N, d]``; ``ids``: the N passage ids in the same order.
    """

    def __init__(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        import faiss

        if embeddings.ndim != 2 or len(embeddings) != len(ids):
            raise OpticalError(
                f"index needs [N, d] embeddings for N ids, got {embeddings.shape} for {len(ids)}"
            )
        _check_finite(embeddings, ids, "passage")
        self.ids = list(ids)
        self.dim = embeddings.shape[1]
        self.index = faiss.IndexFlatIP(self.dim)
        self.index.add(np.ascontiguousarray(embeddings, dtype=np.float32))

    def search(self, query_ids: Sequence[str], queries: np.ndarray, k: int) -> Run:
        """Top-``k`` passages per query by inner product; ``queries`` is ``[Q, d]``."""
        if queries.shape[1:] != (self.dim,):
            raise OpticalError(f"query embeddings are {queries.shape}, index dimension {self.dim}")
        _check_k(k)
        _check_finite(queries, query_ids, "query")
        if not self.ids:  # FAISS asserts on k = 0
            return {qid: {} for qid in query_ids}
        k = min(k, len(self.ids))
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return {
            qid: {self.ids[r]: float(s) for r, s in zip(row, score, strict=True) if r >= 0}
            for qid, row, score in zip(query_ids, rows, scores, strict=True)
        }


def _check_finite(embeddings: np.ndarray, ids: Sequence[str], kind: str) -> None:
    """Dense search never ranks by NaN: a non-finite row is an error naming its ids."""
    finite = np.isfinite(embeddings).all(axis=1) if embeddings.size else np.ones(len(ids), bool)
    if not finite.all():
        bad = [str(ids[i]) for i in np.flatnonzero(~finite)]
        shown = ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise OpticalError(
            f"{kind} embeddings of {len(bad)} of {len(ids)} {kind} texts are not finite "
            f"(NaN/inf; ids {shown}): the encoder or its cached embeddings are damaged"
        )


def _check_k(k: int, what: str = "k (passages per query)") -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise OpticalError(f"{what} must be an integer of at least 1, got {k!r}")


def maxsim(query_tokens: np.ndarray, passage_tokens: np.ndarray) -> float:
    """ColBERT late interaction: ``Σ_i max_j ⟨q_i, p_j⟩``.

    ``query_tokens``: ``[n, d]``, ``passage_tokens``: ``[m, d]``, both L2-normalised rows.
    An empty side scores 0.
    """
    if len(query_tokens) == 0 or len(passage_tokens) == 0:
        return 0.0
    sim = np.asarray(query_tokens, np.float32) @ np.asarray(passage_tokens, np.float32).T
    return float(sim.max(axis=1).sum())


def maxsim_rerank(
    first_stage: Run,
    query_tokens: dict[str, np.ndarray],
    passage_tokens: Callable[[str], np.ndarray],
    depth: int = 100,
) -> Run:
    """Re-score each query's top-``depth`` first-stage passages by :func:`maxsim`.

    ``passage_tokens`` maps a passage id to its ``[m, d]`` token embeddings. Per query
    the candidates' tokens are stacked into one ``[Σm, d]`` matrix, so scoring is one
    matmul ``[n, d] × [d, Σm]`` and a segmented max. Passages below ``depth`` keep
    their order below the re-ranked ones. ``depth`` must be at least 1.
    """
    _check_k(depth, "MaxSim depth")
    reranked: Run = {}
    for qid, ranking in first_stage.items():
        ordered = ranked(ranking)  # ties in trec_eval's order, as the first stage is scored
        head, tail = ordered[:depth], ordered[depth:]
        query = np.asarray(query_tokens[qid], np.float32)
        blocks = [np.asarray(passage_tokens(pid), np.float32) for pid, _ in head]
        scores: dict[str, float] = {}
        if head and len(query) and all(len(b) for b in blocks):
            stacked = np.concatenate(blocks)
            starts = np.cumsum([0] + [len(b) for b in blocks[:-1]])
            best = np.maximum.reduceat(query @ stacked.T, starts, axis=1)  # [n, k]
            scores = {pid: float(v) for (pid, _), v in zip(head, best.sum(0), strict=True)}
        else:
            scores = {
                pid: maxsim(query, block) for (pid, _), block in zip(head, blocks, strict=True)
            }
        floor = min(scores.values(), default=0.0)
        for rank, (pid, _) in enumerate(tail, start=1):
            scores[pid] = floor - rank
        reranked[qid] = scores
    return reranked


def bm25_terms(texts: Sequence[str], stopwords: str | None = "en") -> list[list[str]]:
    """The terms BM25 indexes for each text: ``bm25s``'s lowercased ``\\w\\w+`` tokens,
    English stop words removed (``stopwords=None`` keeps them). The one English
    tokenization of the project's BM25: the index, its queries and the PSQ translation
    table (:mod:`optical.psq`) all use it, so expanded query terms match index terms."""
    import bm25s

    if not texts:
        return []
    tokens = bm25s.tokenize(list(texts), stopwords=stopwords, return_ids=False, show_progress=False)
    return [list(row) for row in tokens]


class BM25Index:
    """BM25 (``bm25s``, Lucene variant, English stop words) over passage title + text."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        import bm25s

        if not passages:
            raise OpticalError("a BM25 index needs at least one passage; the collection is empty")
        self.ids = [p.id for p in passages]
        corpus = [f"{p.title} {p.text}".strip() for p in passages]
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25_terms(corpus), show_progress=False)

    def search(self, query_ids: Sequence[str], queries: Sequence[str], k: int) -> Run:
        """Top-``k`` passages per English query."""
        _check_k(k)
        if len(query_ids) != len(queries):
            raise OpticalError(f"{len(query_ids)} query ids for {len(queries)} queries")
        if not query_ids:  # bm25s fails on an empty batch
            return {qid: {} for qid in query_ids}
        k = min(k, len(self.ids))
        tokens = bm25_terms(list(queries))
        rows, scores = self.retriever.retrieve(tokens, k=k, show_progress=False)
        run: Run = {}
        for qid, row, score in zip(query_ids, rows, scores, strict=True):
            run[qid] = {
                self.ids[int(r)]: float(s)
                for r, s in zip(row, score, strict=True)
                if float(s) > 0.0
            }
        return run

    def term_scores(self, term: str) -> np.ndarray | None:
        """``[N]`` float32: the BM25 weight of one index term in every passage
        (``idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl))``), ``None`` when no
        passage contains the term."""
        term_id = self.retriever.vocab_dict.get(term)
        if term_id is None:
            return None
        return np.asarray(self.retriever.get_scores_from_ids([term_id]), dtype=np.float32)

    def search_weighted(
        self, query_ids: Sequence[str], queries: Sequence[Mapping[str, float]], k: int
    ) -> Run:
        """Top-``k`` passages per *weighted* query ``{term: weight}``:
        ``score(q, d) = Σ_t weight(t) · bm25(t, d)`` (a plain query has weight 1 per
        occurrence, and then equals :meth:`search`). Terms no passage contains add 0."""
        _check_k(k)
        if len(query_ids) != len(queries):
            raise OpticalError(f"{len(query_ids)} query ids for {len(queries)} queries")
        k = min(k, len(self.ids))
        cached: dict[str, np.ndarray | None] = {}
        run: Run = {}
        for qid, weights in zip(query_ids, queries, strict=True):
            total = np.zeros(len(self.ids), dtype=np.float32)
            for term, weight in weights.items():
                if term not in cached:
                    cached[term] = self.term_scores(term)
                scores = cached[term]
                if scores is not None:
                    total += np.float32(weight) * scores
            top = np.argsort(-total, kind="stable")[:k]
            run[qid] = {self.ids[int(i)]: float(total[i]) for i in top if total[i] > 0.0}
        return run
