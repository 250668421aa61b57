"""Agreement with the English oracle: graded pseudo-qrels and nDCG@10."""

from __future__ import annotations

import math

import pytest

from optical.evaluate import EvaluationError, agreement, agreement_per_query, oracle_qrels

ORACLE = {
    "q1": {f"d{i}": 1.0 - i / 100 for i in range(15)},  # d0 best … d14 worst
    "q2": {"a": 0.3, "b": 0.2},
}


def test_oracle_qrels_grades_top_depth_by_rank():
    qrels = oracle_qrels(ORACLE, depth=10)
    assert qrels["q1"] == {f"d{i}": 10 - i for i in range(10)}  # rank 1 → 10 … rank 10 → 1
    assert qrels["q2"] == {"a": 10, "b": 9}  # fewer than depth passages


def test_oracle_qrels_depth_and_empty_queries():
    assert oracle_qrels({"q": {"x": 1.0, "y": 2.0}, "empty": {}}, depth=1) == {"q": {"y": 1}}
    with pytest.raises(EvaluationError, match="depth"):
        oracle_qrels(ORACLE, depth=0)
    with pytest.raises(EvaluationError, match="no ranked passage"):
        oracle_qrels({"q": {}})


def test_oracle_agrees_with_itself():
    assert agreement(ORACLE, ORACLE) == pytest.approx(1.0)
    assert agreement_per_query(ORACLE, ORACLE) == pytest.approx({"q1": 1.0, "q2": 1.0})


def test_agreement_is_graded_ndcg_and_missing_queries_count_zero():
    # q2 answered with the oracle's top-2 swapped; q1 not answered at all.
    system = {"q2": {"a": 0.1, "b": 0.9}}
    dcg = 9 / math.log2(2) + 10 / math.log2(3)
    ideal = 10 / math.log2(2) + 9 / math.log2(3)
    assert agreement_per_query(system, ORACLE) == pytest.approx({"q1": 0.0, "q2": dcg / ideal})
    assert agreement(system, ORACLE) == pytest.approx((dcg / ideal) / 2)
