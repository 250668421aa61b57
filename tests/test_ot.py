"""Invariants of the batched log-domain Sinkhorn solver and agreement with POT."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import ot
import pytest
import torch

from optical.ot import OTConvergenceWarning, OTResult, emd, normalise_marginal, sinkhorn


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Small tensors: one intra-op thread is as fast, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _problem(
    seed: int = 0, batch: int = 6, n: int = 9, m: int = 11, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Costs in [0, 2] with a different number of real rows/columns per item."""
    gen = torch.Generator().manual_seed(seed)
    cost = 2.0 * torch.rand(batch, n, m, generator=gen, dtype=dtype)
    n_real = torch.randint(2, n + 1, (batch,), generator=gen)
    m_real = torch.randint(2, m + 1, (batch,), generator=gen)
    n_real[0], m_real[0] = n, m  # one item without padding
    row_mask = torch.arange(n)[None, :] < n_real[:, None]
    col_mask = torch.arange(m)[None, :] < m_real[:, None]
    # scatter some padding inside the sequence too (not only at the end)
    row_mask[1, 0] = False
    col_mask[2, 1] = False
    # padding may hold garbage: the solver must ignore it
    valid = row_mask[:, :, None] & col_mask[:, None, :]
    cost = cost.masked_fill(~valid, float("nan"))
    return cost, row_mask, col_mask


def _sub(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> np.ndarray:
    return x[rows][:, cols].detach().double().numpy()


def _uniform(k: int) -> np.ndarray:
    return np.full(k, 1.0 / k)


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
def test_marginals_met_and_plan_nonnegative(grad: str) -> None:
    cost, rm, cm = _problem(dtype=torch.float32)
    res = sinkhorn(cost, rm, cm, eps=0.1, tol=1e-6, grad=grad)
    assert isinstance(res, OTResult)
    assert res.converged
    assert res.plan.shape == cost.shape and res.cost.shape == (cost.shape[0],)
    assert bool((res.plan >= 0).all())
    a = normalise_marginal(rm)
    b = normalise_marginal(cm)
    assert torch.allclose(res.plan.sum(2), a, atol=1e-5)
    assert torch.allclose(res.plan.sum(1), b, atol=1e-5)
    assert res.marginal_error <= 1e-5
    assert torch.allclose(res.plan.sum((1, 2)), torch.ones(cost.shape[0]), atol=1e-5)


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_agrees_with_pot_sinkhorn_log(grad: str, dtype: torch.dtype) -> None:
    cost, rm, cm = _problem(seed=1, dtype=dtype)
    eps = 0.1
    res = sinkhorn(cost, rm, cm, eps=eps, tol=1e-9 if dtype == torch.float64 else 1e-6, grad=grad)
    atol = 1e-9 if dtype == torch.float64 else 1e-5
    for k in range(cost.shape[0]):
        c = _sub(cost[k], rm[k], cm[k])
        ref = ot.sinkhorn(
            _uniform(c.shape[0]),
            _uniform(c.shape[1]),
            c,
            eps,
            method="sinkhorn_log",
            stopThr=1e-12,
            numItermax=10_000,
        )
        np.testing.assert_allclose(_sub(res.plan[k], rm[k], cm[k]), ref, atol=atol, rtol=0)
        assert abs(float(res.cost[k]) - float((ref * c).sum())) < 10 * atol


def test_envelope_and_unrolled_agree() -> None:
    cost, rm, cm = _problem(seed=2, dtype=torch.float32)
    for tau in (None, 0.5):
        env = sinkhorn(cost, rm, cm, eps=0.02, tol=1e-6, tau=tau, grad="envelope")
        unr = sinkhorn(cost, rm, cm, eps=0.02, tol=1e-6, tau=tau, grad="unrolled")
        assert env.converged and unr.converged
        assert (env.plan - unr.plan).abs().max() < 1e-5


def test_approaches_exact_emd_as_eps_shrinks() -> None:
    gen = torch.Generator().manual_seed(3)
    cost = torch.rand(1, 6, 8, generator=gen, dtype=torch.float64)
    exact = emd(cost[0])
    assert exact.cost == pytest.approx(
        ot.emd2(_uniform(6), _uniform(8), cost[0].numpy()), abs=1e-12
    )
    gaps = []
    for eps in (0.2, 0.05, 0.01):
        res = sinkhorn(cost, eps=eps, tol=1e-9, max_iter=20_000)
        gaps.append(float(res.cost[0]) - exact.cost)
    assert all(g >= -1e-9 for g in gaps)  # the entropic plan is feasible, so never below EMD
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.02


def test_emd_numpy_and_torch_inputs() -> None:
    perm = np.array([2, 0, 3, 1])
    cost = np.ones((4, 4))
    cost[np.arange(4), perm] = 0.0
    res = emd(cost)
    expected = np.zeros((4, 4))
    expected[np.arange(4), perm] = 0.25
    np.testing.assert_allclose(res.plan, expected, atol=1e-12)
    assert res.cost == pytest.approx(0.0, abs=1e-12)
    res_t = emd(torch.tensor(cost, dtype=torch.float32), torch.ones(4), torch.ones(4) * 3)
    np.testing.assert_allclose(res_t.plan, expected, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        emd(cost, a=np.ones(3))
    with pytest.raises(ValueError, match=r"\[n, m\]"):
        emd(np.ones(4))


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
@pytest.mark.parametrize("tau", [None, 1.0])
def test_padding_carries_exactly_zero_mass(grad: str, tau: float | None) -> None:
    cost, rm, cm = _problem(seed=4, dtype=torch.float32)
    res = sinkhorn(cost, rm, cm, eps=0.1, tau=tau, grad=grad)
    valid = rm[:, :, None] & cm[:, None, :]
    assert bool((res.plan[~valid] == 0).all())
    assert bool(torch.isfinite(res.plan).all()) and bool(torch.isfinite(res.cost).all())


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
@pytest.mark.parametrize("tau", [None, 0.5])
@pytest.mark.parametrize("eps", [0.01, 0.02])
def test_no_nan_or_inf_at_small_eps(grad: str, tau: float | None, eps: float) -> None:
    cost, rm, cm = _problem(seed=5, batch=4, n=16, m=12, dtype=torch.float32)
    cost = cost.nan_to_num(2.0)
    cost[0, :, :4] = 2.0  # rows whose cheapest entry is far from the rest
    cost[0, 0, :] = 2.0  # a row with the maximum cost everywhere
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        res = sinkhorn(cost, rm, cm, eps=eps, tau=tau, grad=grad, max_iter=300)
    assert bool(torch.isfinite(res.plan).all()) and bool(torch.isfinite(res.cost).all())
    assert bool((res.plan >= 0).all())
    if tau is None:  # not converged in 300 iterations, but each row update is exact
        assert torch.allclose(res.plan.sum(2), normalise_marginal(rm), atol=1e-5)


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
@pytest.mark.parametrize("tau", [None, 0.1])
def test_extreme_cost_to_eps_ratio_stays_finite(grad: str, tau: float | None) -> None:
    gen = torch.Generator().manual_seed(16)
    cost = (100.0 * torch.rand(3, 10, 12, generator=gen)).requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        res = sinkhorn(cost, eps=1e-3, tau=tau, grad=grad, max_iter=50)
    res.cost.sum().backward()
    assert bool(torch.isfinite(res.plan).all()) and bool(torch.isfinite(cost.grad).all())


def test_trivial_problem_converges_at_once() -> None:
    res = sinkhorn(torch.rand(2, 1, 5))
    assert res.converged and res.iterations == 1
    assert torch.allclose(res.plan, torch.full((2, 1, 5), 0.2))


def test_bf16_input_under_autocast_is_solved_in_fp32() -> None:
    cost, rm, cm = _problem(seed=6, dtype=torch.float32)
    cost = cost.nan_to_num(1.0)
    ref = sinkhorn(cost, rm, cm, eps=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        res = sinkhorn(cost.to(torch.bfloat16), rm, cm, eps=0.05)
    assert res.plan.dtype == torch.float32
    assert res.converged and res.marginal_error < 1e-5
    # the only difference is the bf16 rounding of the costs
    assert (res.plan - ref.plan).abs().max() < 5e-3


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
@pytest.mark.parametrize("tau", [None, 0.5])
def test_gradients_are_finite(grad: str, tau: float | None) -> None:
    cost, rm, cm = _problem(seed=7, dtype=torch.float32)
    cost = cost.detach().clone().requires_grad_(True)  # NaN padding stays in the input
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        res = sinkhorn(cost, rm, cm, eps=0.02, tau=tau, grad=grad, max_iter=300)
    res.cost.sum().backward()
    assert cost.grad is not None
    assert bool(torch.isfinite(cost.grad).all())
    valid = rm[:, :, None] & cm[:, None, :]
    assert bool((cost.grad[~valid] == 0).all())


def test_envelope_gradient_equals_plan() -> None:
    cost, rm, cm = _problem(seed=8, dtype=torch.float32)
    cost = cost.nan_to_num(0.5).requires_grad_(True)
    res = sinkhorn(cost, rm, cm, eps=0.05, grad="envelope")
    assert not res.plan.requires_grad
    res.cost.sum().backward()
    assert torch.equal(cost.grad, res.plan)


def test_unrolled_gradient_matches_finite_differences() -> None:
    gen = torch.Generator().manual_seed(9)
    cost = torch.rand(1, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)

    def fn(c: torch.Tensor) -> torch.Tensor:
        # tol below reach: always max_iter iterations, so the function is fixed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OTConvergenceWarning)
            return sinkhorn(c, eps=0.1, grad="unrolled", max_iter=30, tol=1e-300).cost

    assert torch.autograd.gradcheck(fn, (cost,), eps=1e-6, atol=1e-6)


def test_warns_when_not_converged() -> None:
    cost, rm, cm = _problem(seed=10, dtype=torch.float32)
    for grad in ("envelope", "unrolled"):
        with pytest.warns(OTConvergenceWarning, match="did not reach tol"):
            res = sinkhorn(cost, rm, cm, eps=0.01, max_iter=2, grad=grad)
        assert not res.converged
        assert res.iterations == 2
        assert res.marginal_error > 1e-6


def test_converged_run_does_not_warn() -> None:
    cost, rm, cm = _problem(seed=11, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OTConvergenceWarning)
        res = sinkhorn(cost, rm, cm, eps=0.1, tol=1e-6)
    assert res.converged and 0 < res.iterations < 1000


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
def test_unbalanced_agrees_with_pot(grad: str) -> None:
    gen = torch.Generator().manual_seed(12)
    cost = torch.rand(2, 5, 7, generator=gen, dtype=torch.float64)
    a = torch.rand(2, 5, generator=gen, dtype=torch.float64) + 0.1
    b = torch.rand(2, 7, generator=gen, dtype=torch.float64) + 0.1
    eps, tau = 0.1, 0.5
    res = sinkhorn(cost, a=a, b=b, eps=eps, tau=tau, tol=1e-12, max_iter=5000, grad=grad)
    assert res.converged
    for k in range(2):
        a_k = (a[k] / a[k].sum()).numpy()
        b_k = (b[k] / b[k].sum()).numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # POT: reg_type entropy note
            ref = ot.unbalanced.sinkhorn_unbalanced(
                a_k,
                b_k,
                cost[k].numpy(),
                eps,
                tau,
                method="sinkhorn_stabilized",
                reg_type="entropy",
                stopThr=1e-14,
                numItermax=10_000,
            )
        np.testing.assert_allclose(res.plan[k].numpy(), ref, atol=1e-10, rtol=0)
    # relaxed marginals: mass is not conserved, and the error reports the deviation
    assert res.marginal_error > 1e-3


def test_unbalanced_approaches_balanced_as_tau_grows() -> None:
    cost, rm, cm = _problem(seed=13)
    bal = sinkhorn(cost, rm, cm, eps=0.1, tol=1e-10)
    gaps = []
    for tau in (10.0, 100.0, 1000.0):
        # large tau converges slowly (rate tau/(tau+eps)); 500 iterations are enough here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OTConvergenceWarning)
            unb = sinkhorn(cost, rm, cm, eps=0.1, tau=tau, tol=1e-10, max_iter=500)
        gaps.append(float((bal.plan - unb.plan).abs().max()))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 2e-4
    inf = sinkhorn(cost, rm, cm, eps=0.1, tau=float("inf"), tol=1e-10)
    assert torch.equal(inf.plan, bal.plan)


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
def test_weighted_marginals_respected(grad: str) -> None:
    cost, rm, cm = _problem(seed=14, dtype=torch.float64)
    gen = torch.Generator().manual_seed(15)
    wa = torch.rand(rm.shape, generator=gen, dtype=torch.float64) * 3
    wb = torch.rand(cm.shape, generator=gen, dtype=torch.float64) * 3
    wa[0, 1] = 0.0  # a zero weight behaves like padding
    res = sinkhorn(cost, rm, cm, wa, wb, eps=0.05, tol=1e-10, grad=grad)
    a = wa.masked_fill(~rm, 0) / wa.masked_fill(~rm, 0).sum(1, keepdim=True)
    b = wb.masked_fill(~cm, 0) / wb.masked_fill(~cm, 0).sum(1, keepdim=True)
    assert torch.allclose(res.plan.sum(2), a, atol=1e-9)
    assert torch.allclose(res.plan.sum(1), b, atol=1e-9)
    assert bool((res.plan[0, 1] == 0).all())
    # agrees with POT given the same weights
    k = 3
    ref = ot.sinkhorn(
        a[k][rm[k]].numpy(),
        b[k][cm[k]].numpy(),
        _sub(cost[k], rm[k], cm[k]),
        0.05,
        method="sinkhorn_log",
        stopThr=1e-12,
        numItermax=10_000,
    )
    np.testing.assert_allclose(_sub(res.plan[k], rm[k], cm[k]), ref, atol=1e-8, rtol=0)


def test_bad_input_raises_value_error() -> None:
    cost = torch.rand(2, 3, 4)
    ok_r = torch.ones(2, 3, dtype=torch.bool)
    ok_c = torch.ones(2, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"row_mask has shape \(2, 4\)"):
        sinkhorn(cost, torch.ones(2, 4, dtype=torch.bool), ok_c)
    with pytest.raises(ValueError, match="col_mask"):
        sinkhorn(cost, ok_r, torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        sinkhorn(cost, ok_r.float(), ok_c)
    with pytest.raises(ValueError, match=r"\[B, n, m\]"):
        sinkhorn(torch.rand(3, 4))
    for eps in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="eps"):
            sinkhorn(cost, eps=eps)
    with pytest.raises(ValueError, match="tau"):
        sinkhorn(cost, tau=0.0)
    with pytest.raises(ValueError, match="grad"):
        sinkhorn(cost, grad="implicit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_iter"):
        sinkhorn(cost, max_iter=0)
    with pytest.raises(ValueError, match="a weights have shape"):
        sinkhorn(cost, a=torch.ones(2, 4))
    with pytest.raises(ValueError, match="non-negative"):
        sinkhorn(cost, b=-torch.ones(2, 4))
    empty_row = ok_r.clone()
    empty_row[1] = False
    with pytest.raises(ValueError, match=r"a: batch item\(s\) \[1\] have no unmasked position"):
        sinkhorn(cost, empty_row, ok_c)
    empty_col = ok_c.clone()
    empty_col[0] = False
    with pytest.raises(ValueError, match=r"b: batch item\(s\) \[0\]"):
        sinkhorn(cost, ok_r, empty_col)
    bad = cost.clone()
    bad[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="unmasked positions"):
        sinkhorn(bad)
    masked_bad = bad.clone()
    row_mask = ok_r.clone()
    row_mask[0, 0] = False
    assert torch.isfinite(sinkhorn(masked_bad, row_mask, ok_c).cost).all()


def test_benchmark_smoke() -> None:
    from optical.perf import ot_solver

    out = ot_solver.run(seed=1, batch=8, repeats=1)
    assert out["name"] == "ot-solver"
    assert out["baseline_s"] > 0 and out["candidate_s"] > 0
    assert out["ratio"] == pytest.approx(out["baseline_s"] / out["candidate_s"])
    assert out["max_plan_diff"] <= 1e-4
