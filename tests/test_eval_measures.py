"""IR measures via ir_measures, checked against values computed by hand."""

from __future__ import annotations

import math

import pytest

from optical.evaluate import DEFAULT_MEASURES, EvaluationError, aggregate, per_query

QRELS = {
    "q1": {"d1": 1, "d2": 0},  # relevant doc at rank 3
    "q2": {"d3": 1, "d4": 1},  # relevant docs at ranks 1 and 3
    "q3": {"d5": 1},  # the run has no ranking for q3: it must count as 0
}
RUN = {
    "q1": {"d0": 3.0, "d2": 2.0, "d1": 1.0},
    "q2": {"d3": 0.9, "dx": 0.8, "d4": 0.7},
    "q9": {"d1": 1.0},  # not judged: ignored
}

# Hand-computed per-query values.
LOG2_3 = math.log2(3)
EXPECTED = {
    "AP": {"q1": 1 / 3, "q2": (1 / 1 + 2 / 3) / 2, "q3": 0.0},
    "RR@10": {"q1": 1 / 3, "q2": 1.0, "q3": 0.0},
    # binary gains: DCG = sum 1/log2(rank+1); ideal puts the relevant docs first
    "nDCG@10": {"q1": (1 / 2) / 1, "q2": (1 + 1 / 2) / (1 + 1 / LOG2_3), "q3": 0.0},
    "R@1": {"q1": 0.0, "q2": 0.5, "q3": 0.0},
    "R@5": {"q1": 1.0, "q2": 1.0, "q3": 0.0},
    "R@100": {"q1": 1.0, "q2": 1.0, "q3": 0.0},
    "P@1": {"q1": 0.0, "q2": 1.0, "q3": 0.0},
}


def test_default_measures():
    assert DEFAULT_MEASURES == ("AP", "RR@10", "nDCG@10", "R@1", "R@5", "R@100")


def test_per_query_matches_hand_computed_values_and_fills_missing_queries():
    values = per_query(QRELS, RUN, (*DEFAULT_MEASURES, "P@1"))
    assert set(values) == set(EXPECTED)
    for name, expected in EXPECTED.items():
        assert set(values[name]) == {"q1", "q2", "q3"}, name  # q9 (unjudged) is not scored
        for qid, value in expected.items():
            assert values[name][qid] == pytest.approx(value), (name, qid)


def test_aggregate_is_mean_over_every_qrels_query():
    result = aggregate(QRELS, RUN, (*DEFAULT_MEASURES, "P@1"))
    for name, expected in EXPECTED.items():
        # the denominator is 3 (q3 counts as 0), not 2
        assert result[name] == pytest.approx(sum(expected.values()) / 3), name
    assert result["RR@10"] == pytest.approx((1 / 3 + 1) / 3)


def test_query_absent_from_run_counts_as_zero():
    assert aggregate({"q": {"d": 1}}, {}, ("RR@10",)) == {"RR@10": 0.0}
    assert per_query({"q": {"d": 1}}, {}, ("RR@10", "P@1")) == {
        "RR@10": {"q": 0.0},
        "P@1": {"q": 0.0},
    }


def test_graded_ndcg_uses_the_grades():
    # grade 1 at rank 1, grade 2 at rank 2 (trec_eval gains = grades)
    qrels = {"q": {"a": 1, "b": 2}}
    run = {"q": {"a": 2.0, "b": 1.0}}
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert aggregate(qrels, run, ("nDCG@10",))["nDCG@10"] == pytest.approx(dcg / ideal)


def test_ties_are_ranked_like_trec_eval():
    # equal scores: doc id descending, so "b" is ranked before the relevant "a"
    assert aggregate({"q": {"a": 1}}, {"q": {"a": 1.0, "b": 1.0}}, ("RR@10",))["RR@10"] == 0.5


def test_integer_scores_are_accepted():
    assert aggregate({"q": {"a": 1}}, {"q": {"a": 3, "b": 1}}, ("P@1",)) == {"P@1": 1.0}


def test_unknown_measure_and_empty_qrels_are_actionable_errors():
    with pytest.raises(EvaluationError, match="unknown measure 'MAP@x'"):
        aggregate(QRELS, RUN, ("MAP@x",))
    with pytest.raises(EvaluationError, match="qrels are empty"):
        aggregate({}, RUN)
    with pytest.raises(ValueError):  # EvaluationError is a ValueError too
        per_query(QRELS, RUN, ("nope",))


def test_every_measure_sees_the_same_tie_order():
    # ir_measures computes RR@k with its msmarco provider, which orders ties by doc id
    # ascending; pytrec_eval (AP, nDCG, P, R) orders them descending. Both must agree.
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}
    values = aggregate(qrels, run, ("RR@10", "RR", "AP", "P@1", "nDCG@10"))
    assert values["RR@10"] == values["RR"] == values["AP"] == 0.5
    assert values["P@1"] == 0.0
    assert values["nDCG@10"] == pytest.approx(1 / math.log2(3))
