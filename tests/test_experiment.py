"""The experiment: rows and significance from hand-made scores; one real end-to-end run (slow)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from scipy import stats

from optical.experiment.config import ExperimentConfig, ModelsConfig, XquadConfig
from optical.experiment.results import ResultRow, ScoreKey, rows_from_scores, significance_rows

# --------------------------------------------------------------------------- rows


def test_rows_from_scores_means_and_macro() -> None:
    scores = {
        ScoreKey("xquad", "zero-shot", "de", "RR@10"): {"d1": 1.0, "d2": 0.5},
        ScoreKey("xquad", "zero-shot", "es", "RR@10"): {"e1": 0.0, "e2": 0.25, "e3": 0.5},
        ScoreKey("xquad", "zero-shot", "en", "RR@10"): {"n1": 1.0},
        ScoreKey("xquad", "zero-shot", "ar", "RR@10"): {},  # nothing scored: no row, not in macro
        ScoreKey("xquad", "oracle", "de", "RR@10"): {"d1": 1.0, "d2": 1.0},
        ScoreKey("xquad", "zero-shot", "de", "nDCG@10"): {"d1": 0.2, "d2": 0.4},
    }
    rows = rows_from_scores(scores)
    table = {(r.system, r.lang, r.measure): (r.value, r.n) for r in rows}
    assert table[("zero-shot", "de", "RR@10")] == (pytest.approx(0.75), 2)
    assert table[("zero-shot", "es", "RR@10")] == (pytest.approx(0.25), 3)
    assert table[("zero-shot", "en", "RR@10")] == (pytest.approx(1.0), 1)
    assert ("zero-shot", "ar", "RR@10") not in table
    # macro: the mean of the per-language means over the non-English languages
    # (not the pooled per-query mean 0.45, and English left out); n = languages
    assert table[("zero-shot", "macro", "RR@10")] == (pytest.approx(0.5), 2)
    assert table[("oracle", "macro", "RR@10")] == (pytest.approx(1.0), 1)
    assert table[("zero-shot", "macro", "nDCG@10")] == (pytest.approx(0.3), 1)
    assert len(rows) == 8
    assert all(isinstance(r, ResultRow) and r.benchmark == "xquad" for r in rows)
    keys = [(r.benchmark, r.system, r.measure, r.lang) for r in rows]
    assert keys == sorted(keys)


def test_rows_from_scores_english_only_has_no_macro() -> None:
    rows = rows_from_scores({ScoreKey("xquad", "oracle", "en", "RR@10"): {"q": 1.0}})
    assert [(r.lang, r.value) for r in rows] == [("en", 1.0)]


# --------------------------------------------------------------------------- significance


def holm_by_hand(p: dict) -> dict:
    order = sorted(p, key=p.get)
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[key]))
        out[key] = running
    return out


def as_scores(values: list[float], prefix: str) -> dict[str, float]:
    return {f"{prefix}{i}": v for i, v in enumerate(values)}


BASE_DE = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
BASE_ES = [0.5, 0.5, 0.5, 0.5, 0.5, 0.4]
A_DE = [0.3, 0.5, 0.4, 0.9, 0.6, 0.8]
A_ES = [0.6, 0.4, 0.7, 0.5, 0.9, 0.5]
B_DE = [0.1, 0.25, 0.3, 0.45, 0.5, 0.7]


@pytest.fixture
def scores() -> dict:
    return {
        ScoreKey("xquad", "zero-shot", "de", "RR@10"): as_scores(BASE_DE, "d"),
        ScoreKey("xquad", "zero-shot", "es", "RR@10"): as_scores(BASE_ES, "e"),
        ScoreKey("xquad", "A", "de", "RR@10"): as_scores(A_DE, "d"),
        ScoreKey("xquad", "A", "es", "RR@10"): as_scores(A_ES, "e"),
        ScoreKey("xquad", "B", "de", "RR@10"): as_scores(B_DE, "d"),
        # other query ids than the baseline: not testable, skipped
        ScoreKey("xquad", "C", "de", "RR@10"): as_scores(B_DE, "x"),
        # no baseline for this language: skipped
        ScoreKey("xquad", "A", "ru", "RR@10"): as_scores(A_DE, "r"),
        # another measure: its own Holm family
        ScoreKey("xquad", "zero-shot", "de", "nDCG@10"): as_scores(BASE_DE, "d"),
        ScoreKey("xquad", "A", "de", "nDCG@10"): as_scores(A_DE, "d"),
    }


def test_significance_rows_t_test_with_holm(scores: dict) -> None:
    rows = significance_rows(scores, "zero-shot", "t-test", seed=0)
    got = {(r.measure, r.lang, r.system): r for r in rows}
    assert set(got) == {
        ("RR@10", "de", "A"),
        ("RR@10", "es", "A"),
        ("RR@10", "de", "B"),
        ("nDCG@10", "de", "A"),
    }
    raw = {
        ("de", "A"): stats.ttest_rel(A_DE, BASE_DE).pvalue,
        ("es", "A"): stats.ttest_rel(A_ES, BASE_ES).pvalue,
        ("de", "B"): stats.ttest_rel(B_DE, BASE_DE).pvalue,
    }
    adjusted = holm_by_hand(raw)
    assert sorted(raw.values()) != sorted(adjusted.values())  # the correction did something
    for (lang, system), p in raw.items():
        row = got[("RR@10", lang, system)]
        assert row.p_value == pytest.approx(p)
        assert row.p_holm == pytest.approx(adjusted[(lang, system)])
        assert row.baseline == "zero-shot" and row.benchmark == "xquad" and row.n == 6
    assert got[("RR@10", "de", "A")].diff == pytest.approx(
        statistics.fmean(A_DE) - statistics.fmean(BASE_DE)
    )
    # a family of one: Holm leaves the p-value alone
    single = got[("nDCG@10", "de", "A")]
    assert single.p_holm == pytest.approx(single.p_value)


def test_significance_rows_measure_filter(scores: dict) -> None:
    rows = significance_rows(scores, "zero-shot", "t-test", 0, measures={"xquad": ("nDCG@10",)})
    assert [(r.measure, r.lang, r.system) for r in rows] == [("nDCG@10", "de", "A")]
    assert significance_rows(scores, "zero-shot", "t-test", 0, measures={}) == []


def test_significance_rows_randomization_is_seeded(scores: dict) -> None:
    a = significance_rows(scores, "zero-shot", "randomization", seed=3)
    b = significance_rows(scores, "zero-shot", "randomization", seed=3)
    assert a == b
    assert all(0.0 < r.p_value <= r.p_holm <= 1.0 for r in a)


def test_significance_rows_unknown_baseline_gives_nothing(scores: dict) -> None:
    assert significance_rows(scores, "nobody", "t-test", 0) == []


# --------------------------------------------------------------------------- slow: real run


@pytest.mark.slow
def test_xquad_de_end_to_end(tmp_path: Path, real_data_dir: Path) -> None:
    """xquad, de + en: oracle, zero-shot, BM25 on the human translation; real e5-small.

    Anchors: zero-shot RR@10 0.894 (de) and 0.958 (en), measured independently.
    Encodes 240 paragraphs and 2 × 1190 questions on the first run (1–2 minutes on
    2 CPU cores); later runs read the embeddings from ``~/.cache/optical``.
    """
    import torch

    from optical.experiment.run import run_experiment

    torch.set_num_threads(1)
    cfg = ExperimentConfig(
        name="xquad-de",
        benchmarks=("xquad",),
        systems=("oracle", "zero-shot", "bm25-human-translation"),
        models=ModelsConfig(oracle_candidates=("multilingual-e5-small",)),
        xquad=XquadConfig(languages=("de",)),
    )
    out = tmp_path / "out"
    result = run_experiment(cfg, out, data=real_data_dir)

    raw = json.loads((out / "results.json").read_text())
    assert raw and all(
        set(row) == {"benchmark", "system", "lang", "measure", "value", "n"} for row in raw
    )
    assert all(isinstance(row["value"], float) and isinstance(row["n"], int) for row in raw)
    assert (out / "report.md").is_file() and (out / "report.md").stat().st_size > 0
    assert (out / "xquad.png").is_file() and (out / "xquad.png").stat().st_size > 0
    assert (out / "significance.json").is_file()
    assert (out / "config.resolved.json").is_file()
    assert (out / "runs" / "xquad" / "zero-shot.de.trec").is_file()

    values = {(r["system"], r["lang"], r["measure"]): r for r in raw}
    assert {r["benchmark"] for r in raw} == {"xquad"}
    systems = {r["system"] for r in raw}
    # (an ``oracle@<encoder>`` row may join for each oracle candidate other than the teacher)
    assert {"oracle", "zero-shot", "bm25-human-translation"} <= systems
    assert systems <= {
        "oracle",
        "zero-shot",
        "bm25-human-translation",
        "oracle@multilingual-e5-small",
    }
    de = values[("zero-shot", "de", "RR@10")]
    en = values[("zero-shot", "en", "RR@10")]
    assert de["n"] == 1190 and en["n"] == 1190
    assert de["value"] == pytest.approx(0.894, abs=0.02)
    assert en["value"] == pytest.approx(0.958, abs=0.02)
    # the oracle asks the English question whatever the language: same run for de and en
    assert values[("oracle", "de", "RR@10")]["value"] == pytest.approx(en["value"], abs=1e-9)
    assert values[("zero-shot", "macro", "RR@10")]["value"] == pytest.approx(de["value"])
    assert values[("zero-shot", "macro", "RR@10")]["n"] == 1
    assert result.rows and {s.baseline for s in result.significance} == {"zero-shot"}


def test_optical_is_tested_against_every_nmt_based_system() -> None:
    """Besides zero-shot and the best translate-test system, OPTICAL is tested against
    each NMT-based system (back-translation students, NMT translate-test; data-budget
    variants left out) in a family of its own; a rival that is the best translate-test
    system keeps the one test it already has."""
    from optical.experiment.names import SystemSpec
    from optical.experiment.run import _significance

    de = {
        "zero-shot": BASE_DE,
        "optical-ot": A_DE,
        "tt-nmt-dense": B_DE,
        "tt-psq-bm25": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        "bt-synthetic-ot": BASE_DE,
        "bt-synthetic-ot-data10": BASE_DE,
    }
    seed_scores = {
        ScoreKey("xquad", system, "de", "RR@10"): {None: as_scores(values, "d")}
        for system, values in de.items()
    }
    cfg = ExperimentConfig(benchmarks=("xquad",), systems=tuple(SystemSpec.parse(s) for s in de))
    rows = rows_from_scores({k: v[None] for k, v in seed_scores.items()})
    sig = _significance(cfg, seed_scores, rows)
    pairs = {(s.system, s.baseline) for s in sig}
    assert ("optical-ot", "zero-shot") in pairs and ("bt-synthetic-ot", "zero-shot") in pairs
    # tt-nmt-dense is the best translate-test system: every system is tested against it
    assert {s for s, b in pairs if b == "tt-nmt-dense"} == set(de) - {"tt-nmt-dense"}
    # against the other NMT-based system only OPTICAL is tested; never a budget variant
    assert {s for s, b in pairs if b == "bt-synthetic-ot"} == {"optical-ot"}
    assert not {b for _, b in pairs} & {"bt-synthetic-ot-data10", "tt-psq-bm25"}
    (row,) = [s for s in sig if s.baseline == "bt-synthetic-ot"]
    assert row.diff == pytest.approx(statistics.fmean(A_DE) - statistics.fmean(BASE_DE))
