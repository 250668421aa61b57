"""report.html: the explorer's data (gold ranks, top-10 truncation, translations, heatmaps),
the tables, and the page a tiny experiment writes (re-rendered from its folder)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from optical.experiment.cells import Cell
from optical.experiment.explorer import (
    TOP_K,
    PassageTable,
    SystemRuns,
    cached_translations,
    explorer_data,
    gold_ranks,
    heatmap_examples,
    heatmap_of,
    language_translations,
    query_entry,
    system_result,
    words,
)
from optical.experiment.report_html import (
    PageHeader,
    _json_for_script,
    render_html_report,
    result_table,
    table_html,
)
from optical.experiment.results import ResultRow, SignificanceRow
from optical.runs import write_run
from optical.types import Passage, Query, RetrievalBenchmark
from tiny_report import MACHINE, run_tiny_experiment, tiny_bench

# --------------------------------------------------------------------------- pure data


def test_gold_rank_follows_trec_eval_ties_and_misses() -> None:
    docs = {"a": 0.5, "b": 0.9, "c": 0.5, "d": 0.1}
    # b, then the tie a/c by doc id descending (c before a), then d
    assert gold_ranks(docs, ["a", "c", "b", "d"]) == [3, 2, 1, 4]
    assert gold_ranks(docs, ["zz"]) == [None]
    assert gold_ranks({}, ["a"]) == [None]


def test_top_k_is_truncated_but_the_gold_rank_reads_the_whole_run() -> None:
    passages = {f"p{i}": Passage(f"p{i}", f"text {i}") for i in range(15)}
    table = PassageTable(passages)
    docs = {f"p{i}": 1.0 - i / 100 for i in range(15)}  # p0 best … p14 worst
    top, scores, ranks, n = system_result(docs, ["p12"], table)
    assert len(top) == len(scores) == TOP_K == 10
    assert [table.rows[i][0] for i in top] == [f"p{i}" for i in range(10)]
    assert ranks == [13] and n == 15
    assert scores[:2] == [1.0, 0.99]
    # only what is shown enters the passage table (plus gold passages)
    assert len(table.rows) == 10


def test_passage_table_deduplicates_and_keeps_gold_text() -> None:
    long = " ".join(f"w{i}" for i in range(400))
    table = PassageTable({"p": Passage("p", long, title="T")})
    assert table.add("p") == table.add("p") == 0
    assert table.rows[0][3] is None  # not gold yet: no text beyond the snippet
    assert table.add("p", gold=True) == 0 and len(table.rows) == 1
    assert table.rows[0][:2] == ["p", "T"]
    assert table.rows[0][2] == words(long, 30) and table.rows[0][2].endswith(" …")
    assert len(table.rows[0][3].split()) == 251  # 250 words and the ellipsis
    assert words("a b", 30) == "a b"


def _bench() -> RetrievalBenchmark:
    passages = tuple(Passage(f"p{i}", f"passage {i}") for i in range(3))
    queries = {
        "de": (Query("q0", "die katze", "de", "the cat"), Query("q1", "ein hund", "de", "a dog")),
        "en": (Query("e0", "the cat", "en"),),
    }
    qrels = {"q0": {"p2": 1, "p1": 0}, "q1": {"p0": 1}, "e0": {"p2": 1}}
    return RetrievalBenchmark("xquad", passages, queries, qrels)


def test_query_entry_gold_results_and_missing_runs() -> None:
    bench = _bench()
    table = PassageTable({p.id: p for p in bench.passages})
    runs = SystemRuns([{"q0": {"p0": 0.9, "p2": 0.5}}, None, {"q1": {"p0": 1.0}}], [None] * 3)
    entry = query_entry(bench.queries["de"][0], bench, runs, {}, None, table)
    assert [table.rows[i][0] for i in entry["gold"]] == ["p2"]  # grade 0 is not gold
    assert table.rows[entry["gold"][0]][3] == "passage 2"
    first, second, third = entry["results"]
    assert first[2] == [2] and second is None and third is None  # q0 not in run 3
    assert entry["english"] == "the cat" and entry["heatmap"] is None


def test_translations_attached_per_system_and_query() -> None:
    bench = _bench()
    systems = ["zero-shot", "tt-nmt-dense", "tt-oracle-dense", "tt-apertium-dense"]
    runs = SystemRuns([{}, {}, {}, None], [None] * 4)  # apertium did not run

    def lookup(benchmark: str, system: str, lang: str, texts: list[str]) -> dict | None:
        assert (benchmark, lang) == ("xquad", "de")
        if system == "tt-oracle-dense":
            return None  # no cache: the human translations
        return {"die katze": "the kitty"}  # "ein hund" not cached

    found, notes = language_translations(lookup, "xquad", systems, bench.queries["de"], runs)
    assert found["q0"] == {1: "the kitty", 2: "the cat"}
    assert found["q1"] == {1: None, 2: "a dog"}
    assert notes["tt-nmt-dense"] == "translation cache: 1 of 2 found"
    assert "human translations" in notes["tt-oracle-dense"]
    english, _ = language_translations(lookup, "xquad", systems, bench.queries["en"], runs)
    assert english == {"e0": {}}


def test_cached_translations_read_the_cell_fingerprint(tmp_path: Path) -> None:
    from optical.translate.cache import CachedTranslator
    from tiny_report import FakeNmt

    out, cache = tmp_path / "out", tmp_path / "cache"
    CachedTranslator(FakeNmt(), root=cache / "translations").translate(["katt"], "sv", "en")
    record = Cell("xquad", "tt-nmt-dense", "sv").record_path(out)
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"settings": {"translator": FakeNmt().fingerprint()}}))
    lookup = cached_translations(out, cache)
    assert lookup("xquad", "tt-nmt-dense", "sv", ["katt", "hund"]) == {"katt": MACHINE["katt"]}
    assert lookup("xquad", "tt-nmt-bm25", "sv", ["katt"]) == {}  # no record
    assert lookup("xquad", "tt-oracle-dense", "sv", ["katt"]) is None


def test_missing_heatmaps_are_left_out(tmp_path: Path) -> None:
    assert heatmap_examples(tmp_path) == {}  # no alignments folder
    folder = tmp_path / "alignments"
    folder.mkdir()
    examples = {"de": ["die katze", "the cat"], "sv": ["katt", "the cat"]}
    (folder / "alignments.json").write_text(json.dumps({"examples": examples}))
    (folder / "de.png").write_bytes(b"\x89PNG")
    found = heatmap_examples(tmp_path)
    assert found == {"de": ("die katze", "the cat")}  # sv.png missing
    bench = _bench()
    assert heatmap_of(bench.queries["de"][0], found) == "alignments/de.png"
    assert heatmap_of(bench.queries["de"][1], found) is None
    (folder / "alignments.json").write_text("{not json")
    assert heatmap_examples(tmp_path) == {}


def test_explorer_data_from_a_folder_without_heatmaps(tmp_path: Path) -> None:
    bench = _bench()
    write_run(Cell("xquad", "zero-shot", "de").run_path(tmp_path), {"q0": {"p2": 0.3, "p0": 0.1}})
    seeded = Cell("xquad", "optical-ot", "de", seed=1).run_path(tmp_path)
    write_run(seeded, {"q0": {"p1": 0.9, "p2": 0.2}})
    data = explorer_data(tmp_path, {"xquad": bench}, {"xquad": ["zero-shot", "optical-ot"]})
    (xquad,) = data["benchmarks"]
    assert [lang["lang"] for lang in xquad["languages"]] == ["de", "en"]  # English last
    de = xquad["languages"][0]
    assert de["seeds"] == [None, 1]
    q0 = de["queries"][0]
    assert [r[2] for r in q0["results"]] == [[1], [2]]
    assert q0["heatmap"] is None and q0["translations"] == {}
    assert de["queries"][1]["results"] == [None, None]  # q1 in no run
    assert xquad["languages"][1]["queries"][0]["results"] == [None, None]  # no en runs


def test_result_table_marks_and_html() -> None:
    rows = [
        ResultRow("xquad", "zero-shot", "de", "RR@10", 0.5, 4),
        ResultRow("xquad", "zero-shot", "macro", "RR@10", 0.5, 1),
        ResultRow("xquad", "oracle", "de", "RR@10", 0.9, 4),
        ResultRow("xquad", "oracle", "macro", "RR@10", 0.9, 1),
        ResultRow("xquad", "distill-mse", "de", "RR@10", 0.7, 4, std=0.01, seeds=3),
    ]
    sig = [
        SignificanceRow("xquad", "RR@10", "de", "oracle", "zero-shot", 0.4, 0.01, 0.02, 4),
        SignificanceRow("xquad", "RR@10", "de", "distill-mse", "tt-nmt-dense", -0.1, 0.01, 0.2, 4),
    ]
    table = result_table(rows, sig, "xquad", "RR@10", "zero-shot")
    assert table is not None and table["columns"] == ["de", "macro", "gap to oracle"]
    by_system = {r["system"]: r["cells"] for r in table["rows"]}
    assert table["rows"][0]["system"] == "oracle"
    assert by_system["oracle"][0] == ["0.900▲", 0.9]
    assert by_system["zero-shot"][2][0] == "0.400"  # gap to oracle
    assert by_system["distill-mse"][0][0] == "0.700±0.010"  # Holm p 0.2: no mark
    assert by_system["distill-mse"][1] == ["", None]
    page = table_html(table)
    assert 'data-v="0.9">0.900▲</td>' in page and 'data-v=""></td>' in page
    odd = table_html({"columns": ["<i>"], "rows": [{"system": "<b>x", "cells": [["<", 1]]}]})
    assert "&lt;b&gt;x" in odd and "&lt;i&gt;" in odd and "<b>" not in odd
    assert result_table(rows, sig, "ntrex", "P@1", "zero-shot") is None


def test_json_for_script_cannot_close_the_script() -> None:
    text = _json_for_script({"t": "</script><!-- \u2028"})
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == {"t": "</script><!-- \u2028"}


def test_page_header_from_resolved_config() -> None:
    header = PageHeader.from_resolved({"name": "q", "seed": 3, "benchmarks": ["xquad"]})
    assert (header.name, header.seeds, header.benchmarks) == ("q", (3,), ("xquad",))


# --------------------------------------------------------------------------- tiny experiment


@pytest.fixture(scope="module")
def tiny_out(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("tiny-report")
    (root / "data").mkdir()
    run_tiny_experiment(root / "out", root / "data", tiny_model_dir, root / "cache")
    return root / "out"


def _embedded(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert found is not None
    return json.loads(found.group(1))


def test_the_experiment_writes_one_self_contained_page(tiny_out: Path) -> None:
    page = (tiny_out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched
    assert "<link" not in page and page.count("data:image/png;base64,") >= 2
    assert "@@" not in page
    data = _embedded(page)
    (xquad,) = data["explorer"]["benchmarks"]
    assert xquad["systems"][0] == "oracle" and "tt-nmt-dense" in xquad["systems"]
    assert sorted(data["images"]) == ["alignments/de.png", "alignments/sv.png"]
    de = next(lang for lang in xquad["languages"] if lang["lang"] == "de")
    tt = str(xquad["systems"].index("tt-nmt-dense"))
    assert de["queries"][0]["translations"][tt] == MACHINE["die katze"]
    assert de["queries"][0]["heatmap"] == "alignments/de.png"  # the example question
    assert de["queries"][1]["heatmap"] is None
    passages = data["explorer"]["passages"]
    assert len({row[0] for row in passages}) == len(passages) == 4
    assert "<th" in page and "RR@10" in page and "▲/▼" in page


def test_rerendered_from_the_folder(tiny_out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optical.experiment.benchmarks import BENCHMARKS

    before = _embedded((tiny_out / "report.html").read_text(encoding="utf-8"))
    (tiny_out / "report.html").unlink()
    monkeypatch.setitem(BENCHMARKS, "xquad", replace(BENCHMARKS["xquad"], build=tiny_bench))
    path = render_html_report(
        tiny_out, data=tiny_out.parent / "data", cache=tiny_out.parent / "cache"
    )
    assert path == tiny_out / "report.html"
    assert _embedded(path.read_text(encoding="utf-8")) == before
