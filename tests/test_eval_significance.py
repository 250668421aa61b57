"""Paired significance tests and the Holm–Bonferroni correction."""

from __future__ import annotations

import random

import pytest

from optical.evaluate import EvaluationError, PairedTest, holm, paired_test

METHODS = ("randomization", "t-test")


def scores(values: list[float]) -> dict[str, float]:
    return {f"q{i:02d}": v for i, v in enumerate(values)}


@pytest.mark.parametrize("method", METHODS)
def test_identical_systems_have_p_one(method):
    a = scores([0.1, 0.5, 0.9, 0.0, 1.0])
    result = paired_test(a, dict(a), method=method)
    assert result == PairedTest(mean_a=0.5, mean_b=0.5, diff=0.0, p_value=1.0, n=5, method=method)


@pytest.mark.parametrize("method", METHODS)
def test_clearly_better_system_is_significant(method):
    rng = random.Random(1)
    b = [rng.uniform(0.0, 0.4) for _ in range(40)]
    a = [v + 0.3 + rng.uniform(-0.1, 0.1) for v in b]
    result = paired_test(scores(a), scores(b), method=method, n_resamples=2000)
    assert result.p_value < 0.01
    assert result.diff == pytest.approx(result.mean_a - result.mean_b)
    assert result.diff > 0.2
    assert result.n == 40


def test_randomization_is_exact_for_few_queries_and_reproducible():
    # 3 queries, a better on each: of the 2**3 swap patterns only "none" and "all"
    # reach |mean difference| ≥ the observed one → two-sided p = 2/8.
    a, b = scores([1.0, 2.0, 3.0]), scores([0.0, 0.0, 0.0])
    assert paired_test(a, b).p_value == pytest.approx(0.25)
    rng = random.Random(2)
    a = scores([rng.random() for _ in range(30)])
    b = scores([rng.random() for _ in range(30)])
    first = paired_test(a, b, n_resamples=500, seed=7)
    assert paired_test(a, b, n_resamples=500, seed=7) == first
    assert 0.0 < first.p_value <= 1.0


def test_t_test_matches_the_paired_t_formula():
    from scipy import stats

    a, b = scores([1.0, 2.0, 3.0, 5.0]), scores([0.0, 0.5, 1.0, 1.0])
    diffs = [1.0, 1.5, 2.0, 4.0]
    mean = sum(diffs) / 4
    sd = (sum((d - mean) ** 2 for d in diffs) / 3) ** 0.5
    t = mean / (sd / 4**0.5)
    expected = 2 * stats.t.sf(t, df=3)
    assert paired_test(a, b, method="t-test").p_value == pytest.approx(expected)


def test_mismatched_ids_are_named():
    a = {"q1": 1.0, "q2": 1.0, "only_a": 0.0}
    b = {"q1": 1.0, "q2": 0.0, "only_b": 0.5}
    with pytest.raises(EvaluationError, match=r"only in a \(e\.g\. \['only_a'\]\).*'only_b'"):
        paired_test(a, b)
    with pytest.raises(EvaluationError, match="unknown test"):
        paired_test(a, a, method="wilcoxon")  # type: ignore[arg-type]
    with pytest.raises(EvaluationError, match="at least one query"):
        paired_test({}, {})


def test_holm_hand_computed():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → max(0.06, 0.04)
    raw = {"A": 0.01, "B": 0.04, "C": 0.03, "D": 0.005}
    adjusted = holm(raw)
    assert list(adjusted) == ["A", "B", "C", "D"]
    assert adjusted == pytest.approx({"A": 0.03, "B": 0.06, "C": 0.06, "D": 0.02})


def test_holm_matches_statsmodels_values():
    # values of statsmodels.stats.multitest.multipletests(p, method="holm")[1] (checked)
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    assert list(holm(dict(enumerate(p))).values()) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    expected = [0.008, 0.056, 0.234, 0.234, 0.234, 0.234, 0.234, 0.234]
    assert list(holm(dict(enumerate(p))).values()) == pytest.approx(expected)
    p = [0.2, 0.01, 0.5, 0.03, 0.03, 0.9]  # unsorted, with a tie
    expected = [0.6, 0.06, 1.0, 0.15, 0.15, 1.0]
    assert list(holm(dict(enumerate(p))).values()) == pytest.approx(expected)


def test_holm_is_capped_monotone_and_handles_edges():
    assert holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}
    assert holm({}) == {}
    raw = {i: p for i, p in enumerate([0.2, 0.01, 0.5, 0.03, 0.03, 0.9])}
    adjusted = holm(raw)
    order = sorted(raw, key=raw.get)
    values = [adjusted[k] for k in order]
    assert values == sorted(values)
    assert all(adjusted[k] >= raw[k] for k in raw)
    with pytest.raises(EvaluationError, match=r"in \[0, 1\]"):
        holm({"bad": 1.5})


def test_randomization_agrees_with_scipy_permutation_test():
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(3)
    x = rng.random(60)
    y = x - 0.05 + rng.normal(0, 0.15, 60)
    a = {str(i): float(v) for i, v in enumerate(x)}
    b = {str(i): float(v) for i, v in enumerate(y)}
    ours = paired_test(a, b, n_resamples=20000, seed=1).p_value
    reference = stats.permutation_test(
        (x, y),
        lambda u, v, axis: (u - v).mean(axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=20000,
        rng=np.random.default_rng(2),
    ).pvalue
    assert abs(ours - reference) < 0.01
