r"""Probabilistic structured queries (PSQ; Darwish & Oard 2003): lexical translate-test.

A query term ``f`` of language X is replaced by its English translations ``e``, each
weighted by a translation probability ``p(e | f)`` learned from word alignments of the
training bitext, and English BM25 scores the weighted query:

    score(q, d) = Σ_{f ∈ q} Σ_e p(e | f) · bm25(e, d)

(the "weighted query" form of PSQ: each translation contributes its own BM25 weight
scaled by its probability; a term with no entry in the table is kept as itself, which
carries names and numbers across).

The table, from the links of :func:`align` (``eflomal``, both directions, symmetrised):

    p(e | f) = c(f, e) / Σ_{e'} c(f, e')

with ``c(f, e)`` the number of links between ``f`` and ``e`` over the bitext; then the
translations with ``p < threshold`` are dropped, at most ``top_k`` kept, and the rest
renormalised to sum to 1.

Tokenization: English terms are :func:`optical.search.bm25_terms` (stop words kept for
alignment), so every translation is a term the BM25 index can hold; source terms are
lowercased runs of letters, combining marks and digits (:func:`source_terms`), with each
Han / kana character a term of its own (no word segmenter for zh / ja).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import regex

from .errors import ConfigError, OpticalError
from .io_utils import atomic_write_json
from .search import BM25Index, bm25_terms
from .types import Run

logger = logging.getLogger(__name__)

_SOURCE_TERM = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]|[\p{L}\p{M}\p{N}]+")
SYMMETRISATIONS = ("intersection", "union")

Links = list[tuple[int, int]]
TranslationTable = dict[str, dict[str, float]]


def source_terms(text: str) -> list[str]:
    """Lowercased terms of a non-English text (see the module docstring)."""
    return _SOURCE_TERM.findall(text.lower())


@dataclass(frozen=True)
class PsqSettings:
    """``threshold``: the smallest ``p(e|f)`` kept; ``top_k``: translations per term;
    ``symmetrise``: how forward and reverse links combine."""

    threshold: float = 0.05
    top_k: int = 5
    symmetrise: str = "intersection"

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(f"psq threshold must be in [0, 1), got {self.threshold}")
        if self.top_k < 1:
            raise ConfigError(f"psq top_k must be >= 1, got {self.top_k}")
        if self.symmetrise not in SYMMETRISATIONS:
            raise ConfigError(
                f"psq symmetrise must be one of {', '.join(SYMMETRISATIONS)}, "
                f"got {self.symmetrise!r}"
            )


def _read_pharaoh(path: Path, count: int) -> list[Links]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) != count:
        raise OpticalError(f"{path}: eflomal wrote {len(lines)} link lines for {count} pairs")
    out: list[Links] = []
    for number, line in enumerate(lines, 1):
        try:
            out.append([tuple(map(int, link.split("-"))) for link in line.split()])  # type: ignore[misc]
        except ValueError as error:
            raise OpticalError(f"{path}:{number}: not Pharaoh links: {line!r}") from error
    return out


def align(
    sources: Sequence[Sequence[str]], targets: Sequence[Sequence[str]], symmetrise: str
) -> list[Links]:
    """Word links ``(i, j)`` (source token ``i`` — English token ``j``) of each pair by
    ``eflomal`` in both directions, combined by ``symmetrise``. Pairs empty on either side
    get no links. eflomal seeds its samplers from the system, so links may vary between
    runs on ambiguous pairs."""
    import eflomal

    if len(sources) != len(targets):
        raise OpticalError(f"{len(sources)} source sentences for {len(targets)} targets")
    kept = [i for i, (s, t) in enumerate(zip(sources, targets, strict=True)) if s and t]
    links: list[Links] = [[] for _ in sources]
    if not kept:
        return links
    with tempfile.TemporaryDirectory(prefix="optical-eflomal-") as tmp:
        forward, reverse = Path(tmp) / "fwd", Path(tmp) / "rev"
        eflomal.Aligner().align(
            [" ".join(sources[i]) for i in kept],
            [" ".join(targets[i]) for i in kept],
            links_filename_fwd=str(forward),
            links_filename_rev=str(reverse),
            quiet=True,
        )
        fwd, rev = _read_pharaoh(forward, len(kept)), _read_pharaoh(reverse, len(kept))
    for i, f, r in zip(kept, fwd, rev, strict=True):
        both = set(f) & set(r) if symmetrise == "intersection" else set(f) | set(r)
        links[i] = sorted(both)
    return links


def translation_table(
    sources: Sequence[Sequence[str]],
    targets: Sequence[Sequence[str]],
    links: Sequence[Links],
    settings: PsqSettings,
) -> TranslationTable:
    """``{f: {e: p(e|f)}}`` from linked token pairs (see the module docstring)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for number, (src, trg, pair_links) in enumerate(zip(sources, targets, links, strict=True)):
        for i, j in pair_links:
            if not (0 <= i < len(src) and 0 <= j < len(trg)):
                raise OpticalError(f"pair {number}: link {i}-{j} outside {len(src)}×{len(trg)}")
            counts[src[i]][trg[j]] += 1
    table: TranslationTable = {}
    for term, translations in counts.items():
        total = sum(translations.values())
        ranked = sorted(translations.items(), key=lambda item: (-item[1], item[0]))
        kept = [(e, c / total) for e, c in ranked if c / total >= settings.threshold]
        kept = kept[: settings.top_k]
        if kept:
            mass = sum(p for _, p in kept)
            table[term] = {e: p / mass for e, p in kept}
    return table


def build_table(
    pairs: Iterable[tuple[str, str]], settings: PsqSettings | None = None
) -> TranslationTable:
    """The table of ``(source text, English text)`` pairs: tokenize, align, count."""
    settings = settings or PsqSettings()
    pairs = list(pairs)
    sources = [source_terms(src) for src, _ in pairs]
    targets = bm25_terms([eng for _, eng in pairs], stopwords=None)
    links = align(sources, targets, settings.symmetrise)
    table = translation_table(sources, targets, links, settings)
    logger.info("PSQ table: %d pairs, %d source terms", len(pairs), len(table))
    return table


def expand_query(text: str, table: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """A query as weighted English terms ``{e: Σ_f p(e|f)}``; an unknown term is kept
    as itself with weight 1 per occurrence."""
    weights: dict[str, float] = defaultdict(float)
    for term in source_terms(text):
        for english, p in table.get(term, {term: 1.0}).items():
            weights[english] += p
    return dict(weights)


def psq_search(
    index: BM25Index,
    table: Mapping[str, Mapping[str, float]],
    query_ids: Sequence[str],
    queries: Sequence[str],
    k: int,
) -> Run:
    """Top-``k`` English passages per non-English query under PSQ scoring."""
    return index.search_weighted(query_ids, [expand_query(q, table) for q in queries], k)


class PsqTables:
    """The PSQ tables of one training pool, per language: built on first use from
    ``pairs()`` (language → ``(source, English)`` pairs, called at most once) and kept as
    ``folder/<lang>.json``, so a rerun reads them back. ``key`` names the pool and the
    settings (the folder's name is derived from it by the caller); :meth:`fingerprint`
    is what the experiment's cell keys record."""

    def __init__(
        self,
        folder: Path,
        key: str,
        pairs: Callable[[], Mapping[str, Sequence[tuple[str, str]]]],
        settings: PsqSettings,
    ) -> None:
        self.folder, self.key, self.settings = Path(folder), key, settings
        self._pairs = pairs
        self._pool: Mapping[str, Sequence[tuple[str, str]]] | None = None
        self._tables: dict[str, TranslationTable | None] = {}

    def fingerprint(self) -> str:
        return self.key

    def table(self, lang: str) -> TranslationTable | None:
        """The table of ``lang`` (None: the pool has no bitext of ``lang``)."""
        if lang not in self._tables:
            self._tables[lang] = self._load_or_build(lang)
        return self._tables[lang]

    def _load_or_build(self, lang: str) -> TranslationTable | None:
        path = self.folder / f"{lang}.json"
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                logger.warning("%s unreadable (%s): building the PSQ table again", path, exc)
        if self._pool is None:
            self._pool = self._pairs()
        pairs = self._pool.get(lang) or []
        if not pairs:
            return None
        table = build_table(pairs, self.settings)
        atomic_write_json(path, table)
        return table
