"""Benchmark: batched log-domain Sinkhorn (:func:`optical.ot.sinkhorn`) vs POT looped.

Baseline: ``ot.sinkhorn(a, b, M, reg, method="sinkhorn_log")`` called once per problem
on numpy float64 arrays, as POT users do. Candidate: one call of the batched torch solver
(float32, envelope mode) on the same ``B`` problems. Both stop at the same tolerance
(POT: L2 norm of the column-marginal violation; ours: its max-abs, checked every 10
iterations like POT) and are timed after a warm-up; the best of ``repeats`` runs is
kept (the least disturbed by other processes on a shared machine).

Both sides get one core: numpy's loop is single-threaded, and torch runs with
``torch.set_num_threads(1)`` during the timing (restored afterwards). For tensors this
small, torch's intra-op threads buy little, and on a busy 2-core machine they made the
solver 2-100x slower (OpenMP threads waiting on each other). The candidate's time with
the process's default thread count is reported too (``candidate_default_threads_s``).

Problems: ``B = 64`` cost matrices ``C = 1 - cos(x_i, y_j)`` between random Gaussian
"token" vectors (``n = m = 32``, dimension 16), so ``C ∈ [0, 2]``; uniform marginals;
``eps = 0.05``. The whole run takes a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["run"]

NAME = "ot-solver"


def _problems(seed: int, batch: int, n: int, m: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n, dim))
    y = rng.standard_normal((batch, m, dim))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y /= np.linalg.norm(y, axis=-1, keepdims=True)
    return 1.0 - x @ y.transpose(0, 2, 1)


def _best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run(
    seed: int = 0,
    *,
    batch: int = 64,
    n: int = 32,
    m: int = 32,
    eps: float = 0.05,
    tol: float = 1e-6,
    repeats: int = 5,
) -> dict:
    """Time POT's looped ``sinkhorn_log`` against the batched solver on the same problems.

    Returns:
        ``{"name": "ot-solver", "ratio": baseline_s / candidate_s, "baseline_s",
        "candidate_s", "max_plan_diff"}`` plus the problem settings, the candidate's
        iteration count and its time with the default thread count.
        ``max_plan_diff`` is the max absolute difference between the two sets of plans.
    """
    import ot
    import torch

    from optical.ot import sinkhorn

    cost = _problems(seed, batch, n, m, dim=16)
    a = np.full(n, 1.0 / n)
    b = np.full(m, 1.0 / m)

    def baseline() -> np.ndarray:
        return np.stack(
            [
                ot.sinkhorn(a, b, c, eps, method="sinkhorn_log", stopThr=tol, numItermax=10_000)
                for c in cost
            ]
        )

    cost_t = torch.from_numpy(cost).to(torch.float32)

    def candidate() -> object:
        return sinkhorn(cost_t, eps=eps, tol=tol, max_iter=10_000, check_every=10)

    baseline_s, plans_ref = _best_time(baseline, repeats)
    threads = torch.get_num_threads()
    candidate_default_s, _ = _best_time(candidate, repeats)
    torch.set_num_threads(1)
    try:
        candidate_s, result = _best_time(candidate, repeats)
    finally:
        torch.set_num_threads(threads)
    max_plan_diff = float(np.abs(result.plan.double().numpy() - plans_ref).max())
    return {
        "name": NAME,
        "ratio": baseline_s / candidate_s,
        "baseline_s": baseline_s,
        "candidate_s": candidate_s,
        "max_plan_diff": max_plan_diff,
        "batch": batch,
        "n": n,
        "m": m,
        "eps": eps,
        "tol": tol,
        "candidate_iterations": result.iterations,
        "candidate_default_threads_s": candidate_default_s,
        "default_threads": threads,
    }


if __name__ == "__main__":  # pragma: no cover
    print(run())
