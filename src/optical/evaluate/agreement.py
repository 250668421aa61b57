"""Agreement with the English oracle: how close a system's ranking is to the oracle's.

The oracle (the teacher on the human English question) has no relevance
judgments to be scored against on an unjudged corpus; instead its top
``depth`` passages become graded pseudo-judgments (rank 1 → grade ``depth``,
…, rank ``depth`` → grade 1) and a system's agreement is its nDCG@10 against
them, computed by ``ir_measures``. The oracle itself scores 1.0.
"""

from __future__ import annotations

from ..runs import ranked
from ..types import Qrels, Run
from .errors import EvaluationError
from .measures import aggregate, per_query

AGREEMENT_MEASURE = "nDCG@10"


def oracle_qrels(oracle_run: Run, depth: int = 10) -> Qrels:
    """Graded pseudo-qrels from the oracle's top ``depth`` passages of each query.

    Rank 1 gets grade ``depth``, rank ``depth`` gets grade 1 (ties ordered like
    ``trec_eval``: score descending, then doc id descending). A query with an
    empty ranking gets no judgments and is left out.
    """
    if depth < 1:
        raise EvaluationError(f"depth must be ≥ 1 (got {depth})")
    qrels: Qrels = {}
    for qid, docs in oracle_run.items():
        top = ranked(docs)[:depth]
        if top:
            qrels[qid] = {docid: depth - rank for rank, (docid, _score) in enumerate(top)}
    if not qrels:
        raise EvaluationError("the oracle run has no ranked passage: nothing to agree with")
    return qrels


def agreement(run: Run, oracle_run: Run, depth: int = 10) -> float:
    """Mean nDCG@10 of ``run`` against :func:`oracle_qrels` (1.0 = the oracle's ranking).

    Every oracle query counts; one the system did not answer scores 0.
    """
    qrels = oracle_qrels(oracle_run, depth)
    return aggregate(qrels, run, (AGREEMENT_MEASURE,))[AGREEMENT_MEASURE]


def agreement_per_query(run: Run, oracle_run: Run, depth: int = 10) -> dict[str, float]:
    """Per-query nDCG@10 against the oracle's pseudo-qrels (for significance tests)."""
    qrels = oracle_qrels(oracle_run, depth)
    return per_query(qrels, run, (AGREEMENT_MEASURE,))[AGREEMENT_MEASURE]
