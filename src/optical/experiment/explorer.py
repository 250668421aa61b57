"""The data of report.html's per-query explorer, built from an experiment's output folder.

For every benchmark, language and query: the query text, its human English translation,
each translate-test system's English translation of it (read from the translation
cache: the experiment does not copy translations into its output folder), the gold
passages (the benchmark's qrels), each system's top :data:`TOP_K` (passage, score) from
its TREC run with the rank of each gold passage in the whole run, and the OT alignment
heatmap of the query when the experiment drew one for it (``alignments/<lang>.png``,
named with its example in ``alignments/alignments.json``).

Passage texts are kept once, in one table (``passages``: id, title, the first
:data:`SNIPPET_WORDS` words and, for gold passages only, the text up to
:data:`GOLD_WORDS` words); queries refer to passages and systems by their index.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataFormatError, OpticalError
from ..languages import normalize_lang
from ..runs import ranked, read_run
from ..types import Passage, Query, RetrievalBenchmark, Run
from .cells import Cell
from .names import SystemSpec

logger = logging.getLogger(__name__)

TOP_K = 10
"""Passages shown per system and query."""
SNIPPET_WORDS = 30
GOLD_WORDS = 250

TranslationLookup = Callable[[str, str, str, Sequence[str]], "dict[str, str] | None"]
"""``lookup(benchmark, system, lang, texts)`` → source text → English translation, for
the texts found (None: the system's translations cannot be looked up at all)."""


def words(text: str, limit: int) -> str:
    """The first ``limit`` words of ``text`` (an ellipsis when some were cut)."""
    parts = text.split()
    return " ".join(parts[:limit]) + (" …" if len(parts) > limit else "")


def gold_ranks(docs: Mapping[str, float], gold: Iterable[str]) -> list[int | None]:
    """The 1-based rank of each gold passage in one query's run (ties ordered like
    ``trec_eval``, :func:`optical.runs.ranked`); None: not in the run."""
    order = {pid: rank for rank, (pid, _score) in enumerate(ranked(docs), start=1)}
    return [order.get(pid) for pid in gold]


def run_file(out_dir: Path, benchmark: str, system: str, lang: str) -> Path | None:
    """The TREC run of one cell: the seedless one, else that of the lowest seed (a
    multi-seed experiment writes one per seed); None when there is none."""
    path = Cell(benchmark, system, lang).run_path(out_dir)
    if path.is_file():
        return path
    seeded = []
    for candidate in path.parent.glob(f"{system}.seed*.{lang}.trec"):
        seed = candidate.name[len(system) + len(".seed") : -len(f".{lang}.trec")]
        if seed.isdigit():
            seeded.append((int(seed), candidate))
    return min(seeded)[1] if seeded else None


def run_seed(path: Path, system: str) -> int | None:
    """The seed in a run file's name (None: a seedless run)."""
    rest = path.name[len(system) :]
    if not rest.startswith(".seed"):
        return None
    digits = rest[len(".seed") :].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def is_translate_test(system: str) -> bool:
    """Whether a system searches with a machine (or oracle) translation of the query."""
    try:
        return SystemSpec.parse(system).kind == "translate-test"
    except OpticalError:
        return False


# --- translations --------------------------------------------------------------------


def cached_translations(out_dir: Path, cache_root: Path) -> TranslationLookup:
    """A lookup of translate-test translations in the translation cache (read only: nothing
    is translated). A cell's record names its translator's fingerprint; the cache keeps
    ``<cache>/translations/<backend>/<fingerprint digest>/<src>-en/``. The ``oracle``
    backend has no cache: it serves the human translations of the data, so its lookup
    is None (the explorer shows the query's human English translation for it)."""
    from ..translate.cache import TranslationCache

    root = Path(cache_root) / "translations"

    def lookup(benchmark: str, system: str, lang: str, texts: Sequence[str]) -> dict[str, str]:
        record = Cell(benchmark, system, lang).record_path(out_dir)
        try:
            settings = json.loads(record.read_text(encoding="utf-8")).get("settings", {})
        except (OSError, ValueError, AttributeError):
            return {}
        fingerprint = settings.get("translator") if isinstance(settings, dict) else None
        if not isinstance(fingerprint, str):
            return {}
        digest = hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:20]
        for folder in sorted(root.glob(f"*/{digest}")):
            cache = TranslationCache(root, folder.parent.name, fingerprint)
            found = cache.get(normalize_lang(lang), "en", texts)
            if found:
                return found
        return {}

    def guarded(benchmark: str, system: str, lang: str, texts: Sequence[str]) -> dict | None:
        if SystemSpec.parse(system).backend == "oracle":
            return None
        return lookup(benchmark, system, lang, texts)

    return guarded


# --- heatmaps ------------------------------------------------------------------------


def heatmap_examples(out_dir: Path) -> dict[str, tuple[str, str]]:
    """Language → (question, English) of each OT alignment heatmap drawn into
    ``alignments/`` (its ``alignments.json``; heatmaps whose PNG is missing are left out)."""
    folder = Path(out_dir) / "alignments"
    try:
        stamp = json.loads((folder / "alignments.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    examples = stamp.get("examples", {}) if isinstance(stamp, dict) else {}
    found = {}
    for lang, pair in examples.items() if isinstance(examples, dict) else ():
        if (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(p, str) for p in pair)
            and (folder / f"{lang}.png").is_file()
        ):
            found[lang] = (pair[0], pair[1])
    return found


def heatmap_of(query: Query, examples: Mapping[str, tuple[str, str]]) -> str | None:
    """The heatmap (``alignments/<lang>.png``, relative to the output folder) drawn for
    this query, if any: its language's example is this question and its translation."""
    pair = examples.get(query.lang)
    if pair is None or pair[0] != query.text or (query.english and pair[1] != query.english):
        return None
    return f"alignments/{query.lang}.png"


# --- the explorer's data -------------------------------------------------------------


@dataclass
class PassageTable:
    """Passages in first-use order: ``[id, title, snippet, gold text or None]``."""

    texts: Mapping[str, Passage]
    rows: list[list[Any]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def add(self, pid: str, gold: bool = False) -> int:
        """The index of ``pid``, added when new (a gold passage also keeps its text)."""
        at = self.index.get(pid)
        passage = self.texts.get(pid)
        if at is None:
            at = self.index[pid] = len(self.rows)
            text = passage.text if passage else ""
            title = passage.title if passage else ""
            self.rows.append([pid, title, words(text, SNIPPET_WORDS), None])
        if gold and self.rows[at][3] is None and passage is not None:
            self.rows[at][3] = words(passage.text, GOLD_WORDS)
        return at


@dataclass
class SystemRuns:
    """One language's runs of the systems of a benchmark (None: no run for the system)."""

    runs: list[Run | None]
    seeds: list[int | None]


def load_runs(out_dir: Path, benchmark: str, systems: Sequence[str], lang: str) -> SystemRuns:
    """The run of each system on one language (the lowest seed's when several)."""
    runs: list[Run | None] = []
    seeds: list[int | None] = []
    for system in systems:
        path = run_file(out_dir, benchmark, system, lang)
        run = None
        if path is not None:
            try:
                run = read_run(path)
            except (DataFormatError, OSError) as exc:
                logger.warning("report.html: %s left out of the explorer: %s", path, exc)
        runs.append(run)
        seeds.append(None if path is None else run_seed(path, system))
    return SystemRuns(runs, seeds)


def system_result(docs: Mapping[str, float], gold: Sequence[str], table: PassageTable) -> list:
    """One system's answer to one query, as ``[passages, scores, gold ranks, ranked]``:
    the passage indexes and scores (4 decimals) of its top :data:`TOP_K`, the rank of each
    gold passage in the whole run (None: not in it) and how many passages it ranked."""
    top = ranked(docs)[:TOP_K]
    return [
        [table.add(pid) for pid, _ in top],
        [round(score, 4) for _, score in top],
        gold_ranks(docs, gold),
        len(docs),
    ]


def query_entry(
    query: Query,
    bench: RetrievalBenchmark,
    runs: SystemRuns,
    translations: Mapping[int, str | None],
    heatmap: str | None,
    table: PassageTable,
) -> dict:
    """Everything the explorer shows for one query (systems by their index)."""
    judged = bench.qrels.get(query.id, {})
    gold = sorted(pid for pid, grade in judged.items() if grade > 0)
    return {
        "id": query.id,
        "text": query.text,
        "english": query.english,
        "answers": list(bench.answers.get(query.id, ())),
        "gold": [table.add(pid, gold=True) for pid in gold],
        "translations": {str(i): text for i, text in translations.items()},
        "heatmap": heatmap,
        "results": [
            system_result(run[query.id], gold, table) if run and query.id in run else None
            for run in runs.runs
        ],
    }


def language_translations(
    lookup: TranslationLookup | None,
    benchmark: str,
    systems: Sequence[str],
    queries: Sequence[Query],
    runs: SystemRuns,
) -> tuple[dict[str, dict[int, str | None]], dict[str, str]]:
    """Query id → system index → translation (None: not found) for the translate-test
    systems that ran, and system name → a note on where its translations come from."""
    per_query: dict[str, dict[int, str | None]] = {q.id: {} for q in queries}
    notes: dict[str, str] = {}
    if not queries or queries[0].lang == "en":
        return per_query, notes
    lang = queries[0].lang
    texts = [q.text for q in queries]
    for i, system in enumerate(systems):
        if runs.runs[i] is None or not is_translate_test(system):
            continue
        found = None if lookup is None else lookup(benchmark, system, lang, texts)
        for query in queries:
            if found is None:
                per_query[query.id][i] = query.english
            else:
                per_query[query.id][i] = found.get(query.text)
        if found is None:
            notes[system] = "human translations of the data (the oracle backend)"
        else:
            notes[system] = f"translation cache: {len(found)} of {len(set(texts))} found"
    return per_query, notes


def benchmark_explorer(
    out_dir: Path,
    bench_id: str,
    bench: RetrievalBenchmark,
    systems: Sequence[str],
    table: PassageTable,
    lookup: TranslationLookup | None = None,
    heatmaps: Mapping[str, tuple[str, str]] | None = None,
) -> dict:
    """The explorer's data of one benchmark: its systems and, per language, its queries."""
    languages = []
    for lang in sorted(bench.queries, key=lambda code: (code == "en", code)):
        queries = bench.queries[lang]
        runs = load_runs(out_dir, bench_id, systems, lang)
        translations, notes = language_translations(lookup, bench_id, systems, queries, runs)
        entries = [
            query_entry(q, bench, runs, translations[q.id], heatmap_of(q, heatmaps or {}), table)
            for q in queries
        ]
        languages.append(
            {
                "lang": lang,
                "seeds": runs.seeds,
                "translation_notes": notes,
                "queries": entries,
            }
        )
    return {
        "id": bench_id,
        "judged": bool(bench.qrels),
        "systems": list(systems),
        "languages": languages,
    }


def explorer_data(
    out_dir: Path,
    benches: Mapping[str, RetrievalBenchmark],
    systems: Mapping[str, Sequence[str]],
    lookup: TranslationLookup | None = None,
) -> dict:
    """The explorer's data of every benchmark (``systems``: benchmark → systems shown, in
    order), with the passages they refer to in one table."""
    out_dir = Path(out_dir)
    heatmaps = heatmap_examples(out_dir)
    texts: dict[str, Passage] = {}
    for bench in benches.values():
        texts.update({p.id: p for p in bench.passages})
    table = PassageTable(texts)
    found = [
        benchmark_explorer(
            out_dir, bench_id, bench, systems.get(bench_id, ()), table, lookup, heatmaps
        )
        for bench_id, bench in benches.items()
    ]
    return {"top_k": TOP_K, "benchmarks": found, "passages": table.rows}
