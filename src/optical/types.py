"""Typed records passed between the pipeline stages.

Records are frozen dataclasses. Relevance judgments and runs use the
``{query_id: {doc_id: value}}`` dictionaries that ``ir_measures`` and
``pytrec_eval`` accept directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Qrels = dict[str, dict[str, int]]
"""query id → passage id → relevance grade (int ≥ 0)."""

Run = dict[str, dict[str, float]]
"""query id → passage id → score (higher is better)."""


@dataclass(frozen=True)
class Query:
    """A question in one language. ``english`` keeps a human English translation when known."""

    id: str
    text: str
    lang: str
    english: str | None = None


@dataclass(frozen=True)
class Passage:
    """An English passage of a retrieval collection."""

    id: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class XorQuestion:
    """One XOR-TyDi XOR-Retrieve question with its English answer strings."""

    id: str
    question: str
    answers: tuple[str, ...]
    lang: str
    split: str
    english: str | None = None


@dataclass(frozen=True)
class BitextPair:
    """A sentence in ``lang`` and its English translation (``english``).

    ``origin`` names the corpus; ``where`` is the place it was read from,
    ``path:line`` (the source-language file), so an error about a pair can point at it.
    """

    source: str
    english: str
    lang: str
    id: str = ""
    origin: str = ""
    where: str = ""


@dataclass(frozen=True)
class Translation:
    """A translated text that keeps its source beside it."""

    source: str
    text: str
    source_lang: str
    target_lang: str
    backend: str


@dataclass(frozen=True)
class CorpusIndex:
    """A collection left on disk: the DPR TSV ``corpus`` (its offset table in ``table``)
    searched through a sharded FAISS index per encoder (:mod:`optical.index`) built with
    ``factory`` (trained on ``train_sample`` vectors), probed with ``nprobe`` (0 = FAISS's
    default) and re-ranked exactly to depth ``rerank`` (0 = off)."""

    corpus: str
    table: str
    factory: str = "Flat"
    nprobe: int = 0
    rerank: int = 0
    train_sample: int = 262_144


@dataclass(frozen=True)
class RetrievalBenchmark:
    """Queries per language against one English collection with graded qrels.

    ``answers`` maps query id → answer strings where the benchmark has them
    (XOR-TyDi answer recall); it is empty otherwise. ``passage_role`` is the role the
    collection is encoded in (``"passage"``, or ``"query"`` for a symmetric task such
    as bitext retrieval, where both sides are sentences). ``collection`` names a
    user-supplied collection (its file, line count and content hash; empty for the
    reference data's); ``skipped`` says why a configured benchmark could not be built
    (then it has no queries and no cells run). ``index``: the collection stays on disk
    (``passages`` is empty; dense systems search a sharded index, passages are read back
    by offset).
    """

    name: str
    passages: tuple[Passage, ...]
    queries: dict[str, tuple[Query, ...]]
    qrels: Qrels
    answers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    passage_role: str = "passage"
    collection: str = ""
    skipped: str = ""
    index: CorpusIndex | None = None

    @property
    def languages(self) -> list[str]:
        return sorted(self.queries)
