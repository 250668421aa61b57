"""Paired significance tests over per-query scores, and Holm–Bonferroni correction.

``paired_test`` compares two systems on the same queries (per-query values
from :func:`optical.evaluate.per_query`, :func:`optical.evaluate.agreement_per_query`
or the 0/1 ``hits`` of :func:`optical.evaluate.xor_recall`):

- ``"randomization"``: the paired randomization (permutation) test, with
  ``scipy.stats.permutation_test(permutation_type="samples")`` — each query's
  two scores are swapped at random; statistic = mean difference; two-sided.
  When ``2**n ≤ n_resamples`` scipy enumerates every swap (an exact test).
- ``"t-test"``: the paired t-test, ``scipy.stats.ttest_rel``, two-sided.

If every per-query difference is zero the p-value is 1.0 for both methods
(the t statistic is 0/0 there).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from .errors import EvaluationError

K = TypeVar("K", bound=Hashable)
METHODS = ("randomization", "t-test")


@dataclass(frozen=True)
class PairedTest:
    """Result of a paired test: means of both systems, ``diff = mean_a - mean_b``, two-sided p."""

    mean_a: float
    mean_b: float
    diff: float
    p_value: float
    n: int
    method: str


def _paired_values(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[float], ...]:
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    if only_a or only_b:
        raise EvaluationError(
            "paired test needs the same query ids on both sides: "
            f"{len(only_a)} only in a (e.g. {only_a[:3]}), {len(only_b)} only in b "
            f"(e.g. {only_b[:3]}); score every query (per_query fills missing ones with 0)"
        )
    if not a:
        raise EvaluationError("paired test needs at least one query; both sides are empty")
    qids = sorted(a)
    return [float(a[q]) for q in qids], [float(b[q]) for q in qids]


def paired_test(
    a: Mapping[str, float],
    b: Mapping[str, float],
    method: Literal["randomization", "t-test"] = "randomization",
    n_resamples: int = 10000,
    seed: int = 0,
) -> PairedTest:
    """Two-sided paired test of system ``a`` against ``b`` over their (identical) query ids.

    Mismatched query ids raise :class:`EvaluationError` naming a few. ``n_resamples``
    and ``seed`` apply to the randomization test only.
    """
    if method not in METHODS:
        raise EvaluationError(f"unknown test {method!r}; choose one of {METHODS}")
    if n_resamples < 1:
        raise EvaluationError(f"n_resamples must be ≥ 1 (got {n_resamples})")
    x, y = _paired_values(a, b)
    n = len(x)
    mean_a, mean_b = sum(x) / n, sum(y) / n
    if all(xi == yi for xi, yi in zip(x, y, strict=True)):
        p_value = 1.0
    elif method == "t-test":
        if n < 2:
            raise EvaluationError("the paired t-test needs at least two queries")
        p_value = _t_test(x, y)
    else:
        p_value = _randomization(x, y, n_resamples, seed)
    return PairedTest(
        mean_a=mean_a, mean_b=mean_b, diff=mean_a - mean_b, p_value=p_value, n=n, method=method
    )


def _t_test(x: list[float], y: list[float]) -> float:
    from scipy import stats

    result = stats.ttest_rel(x, y)
    p_value = float(result.pvalue)
    # Constant non-zero differences give t = ±inf and p = 0 (certain direction).
    return 0.0 if p_value != p_value else p_value  # NaN only for zero variance


def _randomization(x: list[float], y: list[float], n_resamples: int, seed: int) -> float:
    """Two-sided paired randomization (sign-flip) test of the mean difference.

    Under H0 each per-query difference ``d_i = x_i − y_i`` is equally likely to have
    either sign. With ``2^n ≤ n_resamples`` all sign patterns are enumerated (exact
    p = share of patterns with ``|mean| ≥ |observed mean|``); otherwise ``n_resamples``
    random patterns are drawn and ``p = (hits + 1) / (n_resamples + 1)`` (Smucker,
    Allan & Carterette, CIKM 2007; the same statistic as ``scipy.stats.permutation_test``
    with ``permutation_type="samples"``, vectorised here in chunks because scipy's
    generic permutation path takes ~1.7 s per test at n = 1,190).
    """
    import numpy as np

    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    n = len(d)
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)
    if 2**n <= n_resamples:
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        stats = np.abs(patterns @ d) / n
        return float(np.mean(stats >= observed - tolerance))
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, min(n_resamples, 2_000_000 // max(n, 1)))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
        hits += int(np.count_nonzero(np.abs(signs @ d) / n >= observed - tolerance))
        done += size
    return float(min(1.0, (hits + 1) / (n_resamples + 1)))


def holm(p_values: Mapping[K, float]) -> dict[K, float]:
    """Holm–Bonferroni adjusted p-values (step-down; monotone in the raw p; capped at 1).

    With the m raw p-values sorted ascending, p₍ᵢ₎ is adjusted to
    ``max_{j ≤ i} min(1, (m − j + 1) · p₍ⱼ₎)``, the values statsmodels'
    ``multipletests(method="holm")`` returns. Keys keep their input order.
    """
    for key, p in p_values.items():
        if not 0.0 <= float(p) <= 1.0:
            raise EvaluationError(f"p-value of {key!r} is {p}; p-values lie in [0, 1]")
    order = sorted(p_values, key=lambda key: float(p_values[key]))
    m = len(order)
    adjusted: dict[K, float] = {}
    running = 0.0
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(p_values[key])))
        adjusted[key] = running
    return {key: adjusted[key] for key in p_values}
