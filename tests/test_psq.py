"""PSQ (probabilistic structured queries): the translation table, query expansion and the
weighted BM25 ranking, on hand-made bitext and passages."""

from __future__ import annotations

import pytest

from optical.errors import ConfigError, OpticalError
from optical.psq import (
    PsqSettings,
    align,
    build_table,
    expand_query,
    psq_search,
    source_terms,
    translation_table,
)
from optical.search import BM25Index, bm25_terms
from optical.types import Passage

# Three sentences of a made-up language and their English sides, with the links a human
# would draw: "kato" = cat (twice) and once "kitty", "hundo" = dog, "la" = the.
SOURCES = [["la", "kato", "dormas"], ["la", "hundo", "kuras"], ["kato", "kuras"]]
TARGETS = [["the", "cat", "sleeps"], ["the", "dog", "runs"], ["kitty", "runs"]]
LINKS = [[(0, 0), (1, 1), (2, 2)], [(0, 0), (1, 1), (2, 2)], [(0, 0), (1, 1)]]


def test_table_from_hand_links() -> None:
    table = translation_table(SOURCES, TARGETS, LINKS, PsqSettings(threshold=0.0, top_k=5))
    assert table["kato"] == pytest.approx({"cat": 0.5, "kitty": 0.5})
    assert table["hundo"] == {"dog": 1.0}
    assert table["kuras"] == {"runs": 1.0}
    assert table["la"] == {"the": 1.0}
    assert set(table) == {"la", "kato", "dormas", "hundo", "kuras"}


def test_threshold_and_top_k_prune_and_renormalise() -> None:
    links = [*LINKS, [(0, 1)]]  # a third "kato" = cat link: p(cat|kato) = 2/3
    sources, targets = [*SOURCES, ["kato"]], [*TARGETS, ["a", "cat"]]
    table = translation_table(sources, targets, links, PsqSettings(threshold=0.0))
    assert table["kato"] == pytest.approx({"cat": 2 / 3, "kitty": 1 / 3})
    pruned = translation_table(sources, targets, links, PsqSettings(threshold=0.5))
    assert pruned["kato"] == {"cat": 1.0}
    top1 = translation_table(sources, targets, links, PsqSettings(threshold=0.0, top_k=1))
    assert top1["kato"] == {"cat": 1.0}


def test_links_outside_a_pair_are_refused() -> None:
    with pytest.raises(OpticalError, match="pair 0: link 5-0"):
        translation_table([["a"]], [["b"]], [[(5, 0)]], PsqSettings())


@pytest.mark.parametrize(
    "bad", [{"threshold": 1.0}, {"threshold": -0.1}, {"top_k": 0}, {"symmetrise": "gdfa"}]
)
def test_bad_settings(bad: dict) -> None:
    with pytest.raises(ConfigError, match="psq"):
        PsqSettings(**bad)


def test_expansion_weights_and_unknown_terms() -> None:
    table = {"kato": {"cat": 0.5, "kitty": 0.5}, "la": {"the": 1.0}}
    assert expand_query("La kato, kato 1990", table) == pytest.approx(
        {"the": 1.0, "cat": 1.0, "kitty": 1.0, "1990": 1.0}
    )


def test_source_terms_keep_combining_marks_and_split_han() -> None:
    assert source_terms("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # virama and vowel signs kept
    assert source_terms("北京是什么") == ["北", "京", "是", "什", "么"]
    assert source_terms("Kuka oli Ọba?") == ["kuka", "oli", "ọba"]


PASSAGES = [
    Passage("p-cat", "A cat sleeps on the mat all day.", "Cats"),
    Passage("p-dog", "The dog runs in the park.", "Dogs"),
    Passage("p-kitty", "Kitty is a small cat that runs.", "Kitty"),
    Passage("p-car", "A car drives on the road.", "Cars"),
]


def test_psq_ranking_over_hand_made_passages() -> None:
    index = BM25Index(PASSAGES)
    table = translation_table(SOURCES, TARGETS, LINKS, PsqSettings(threshold=0.0))
    run = psq_search(index, table, ["q1", "q2"], ["hundo kuras", "kato dormas"], k=4)
    assert next(iter(run["q1"])) == "p-dog"
    assert "p-car" not in run["q1"]  # shares no translated term
    # "kato dormas" → cat .5 + kitty .5 + sleeps 1: the cat that sleeps first
    assert list(run["q2"])[:2] == ["p-cat", "p-kitty"]


def test_weighted_search_equals_plain_bm25_at_unit_weights() -> None:
    index = BM25Index(PASSAGES)
    query = "the cat runs"
    plain = index.search(["q"], [query], k=4)
    weights: dict[str, float] = {}
    for term in bm25_terms([query])[0]:
        weights[term] = weights.get(term, 0.0) + 1.0
    weighted = index.search_weighted(["q"], [weights], k=4)
    assert list(weighted["q"]) == list(plain["q"])
    assert list(weighted["q"].values()) == pytest.approx(list(plain["q"].values()), rel=1e-5)


def test_eflomal_aligns_an_obvious_bitext() -> None:
    """End to end through eflomal: a repetitive bitext whose alignment is unambiguous."""
    words = {"kato": "cat", "hundo": "dog", "birdo": "bird", "fiŝo": "fish"}
    verbs = {"dormas": "sleeps", "kuras": "runs", "manĝas": "eats"}
    pairs = [
        (f"{noun} {verb}", f"{english} {verbs[verb]}")
        for noun, english in words.items()
        for verb in verbs
    ] * 5
    table = build_table(pairs, PsqSettings(threshold=0.3, top_k=3))
    for noun, english in words.items():
        assert max(table[noun], key=table[noun].get) == english
    assert max(table["kuras"], key=table["kuras"].get) == "runs"


def test_align_skips_empty_pairs() -> None:
    links = align([["kato"], [], ["kato"]], [["cat"], ["dog"], ["cat"]], "union")
    assert links[1] == []
    assert len(links) == 3


@pytest.mark.slow
def test_real_finnish_pool_gives_obvious_translations(real_data_dir) -> None:
    """The training pool's Finnish bitext (leak-checked) through eflomal: common question
    words get their English translation first."""
    from optical.train.config import DataConfig
    from optical.train.sampling import load_bitext

    pool = load_bitext(DataConfig(languages=("fi",)), real_data_dir)["fi"]
    table = build_table([(p.source, p.english) for p in pool[:20000]], PsqSettings())
    for finnish, english in {"kuka": "who", "milloin": "when", "missä": "where"}.items():
        assert max(table[finnish], key=table[finnish].get) == english, table[finnish]


def test_tt_psq_bm25_system_runs_with_tables_built_once_and_read_back(tmp_path) -> None:
    """The experiment system: the table of the queries' language comes from the pool
    (built on first use, then read from disk), English queries are plain BM25, a
    language without bitext is skipped with its reason, and only ``-bm25`` exists."""
    from optical.experiment.config import ExperimentConfig
    from optical.experiment.names import SystemSpec
    from optical.experiment.systems import SystemNotApplicable, resolve_systems, run_system
    from optical.experiment.workbench import Workbench
    from optical.psq import PsqTables
    from optical.types import Query, RetrievalBenchmark

    calls: list[int] = []
    bitext = [(" ".join(s), " ".join(t)) for s, t in zip(SOURCES, TARGETS, strict=True)]

    def pairs() -> dict[str, list[tuple[str, str]]]:
        calls.append(1)
        return {"eo": bitext * 5}

    cfg = ExperimentConfig(systems=("tt-psq-bm25",))
    system = resolve_systems(cfg)["tt-psq-bm25"]
    bench = RetrievalBenchmark(
        "tiny",
        tuple(PASSAGES),
        {
            "eo": (Query("q0", "hundo kuras", "eo"),),
            "en": (Query("q1", "dog", "en"),),
            "xx": (Query("q2", "zzz", "xx"),),
        },
        {"q0": {"p-dog": 1}, "q1": {"p-dog": 1}, "q2": {"p-dog": 1}},
    )
    wb = Workbench(tmp_path, bf16=False)
    with pytest.raises(SystemNotApplicable, match="no PSQ tables"):
        run_system(system, wb, cfg, bench, bench.queries["eo"])
    wb.psq_tables = PsqTables(tmp_path / "psq", "k", pairs, PsqSettings())
    run = run_system(system, wb, cfg, bench, bench.queries["eo"])
    assert next(iter(run["q0"])) == "p-dog"
    assert (tmp_path / "psq" / "eo.json").is_file()
    assert next(iter(run_system(system, wb, cfg, bench, bench.queries["en"])["q1"])) == "p-dog"
    with pytest.raises(SystemNotApplicable, match="no xx bitext"):
        run_system(system, wb, cfg, bench, bench.queries["xx"])
    assert calls == [1]
    again = PsqTables(tmp_path / "psq", "k", pairs, PsqSettings())
    assert again.table("eo") == wb.psq_tables.table("eo") and calls == [1]  # read back
    with pytest.raises(ConfigError, match="unknown system 'tt-psq-dense'"):
        SystemSpec.parse("tt-psq-dense")
