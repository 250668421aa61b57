"""Distillation losses on random tensors (no model needed)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator

import pytest
import torch

from optical.errors import ConfigError
from optical.losses import (
    EXTRA_TERMS,
    LOSSES,
    EncodedPair,
    EnglishAnchorLoss,
    GreedyAlignLoss,
    LossOutput,
    OTLoss,
    PooledMSELoss,
    WeightedSum,
    anchor_mse,
    build_loss,
    build_objective,
    cosine_cost,
    greedy_match,
)

NAMES = sorted(LOSSES)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Small tensors: one intra-op thread is as fast, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pair(
    seed: int = 0,
    batch: int = 4,
    n: int = 7,
    m: int = 9,
    d: int = 16,
    *,
    grad: bool = True,
    weights: bool = False,
) -> EncodedPair:
    gen = torch.Generator().manual_seed(seed)
    s_tok = torch.randn(batch, n, d, generator=gen)
    t_tok = torch.randn(batch, m, d, generator=gen)
    s_mask = torch.arange(n)[None, :] < torch.randint(2, n + 1, (batch,), generator=gen)[:, None]
    t_mask = torch.arange(m)[None, :] < torch.randint(2, m + 1, (batch,), generator=gen)[:, None]
    s_mask[:, 0] = t_mask[:, 0] = True
    s_mask[1, 0] = False  # e.g. a special token the caller keeps out
    return EncodedPair(
        student_tokens=s_tok.requires_grad_(grad),
        student_mask=s_mask,
        student_pooled=torch.randn(batch, d, generator=gen).requires_grad_(grad),
        teacher_tokens=t_tok.requires_grad_(grad),
        teacher_mask=t_mask,
        teacher_pooled=torch.randn(batch, d, generator=gen).requires_grad_(grad),
        student_weights=torch.rand(batch, n, generator=gen) + 0.1 if weights else None,
        teacher_weights=torch.rand(batch, m, generator=gen) + 0.1 if weights else None,
    )


def _student_as_teacher(pair: EncodedPair) -> EncodedPair:
    """The student encodes exactly what the teacher does."""
    return EncodedPair(
        student_tokens=pair.teacher_tokens.detach().clone().requires_grad_(True),
        student_mask=pair.teacher_mask,
        student_pooled=pair.teacher_pooled.detach().clone().requires_grad_(True),
        teacher_tokens=pair.teacher_tokens,
        teacher_mask=pair.teacher_mask,
        teacher_pooled=pair.teacher_pooled,
    )


def test_registry_and_build_loss() -> None:
    assert set(LOSSES) == {"ot", "mse-pooled", "greedy-align"}
    assert isinstance(build_loss("ot", eps=0.1, tau=1.0), OTLoss)
    assert isinstance(build_loss("mse-pooled"), PooledMSELoss)
    assert isinstance(build_loss("greedy-align"), GreedyAlignLoss)
    with pytest.raises(ConfigError, match="choose one of: greedy-align, mse-pooled, ot"):
        build_loss("kl")
    with pytest.raises(ConfigError, match="'ot'"):
        build_loss("ot", epsilon=0.1)
    with pytest.raises(ConfigError, match="marginals"):
        build_loss("ot", marginals="idf")
    with pytest.raises(ConfigError, match="eps"):
        build_loss("ot", eps=0.0)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_finite_nonnegative_scalar(name: str) -> None:
    out = build_loss(name)(_pair())
    assert isinstance(out, LossOutput)
    assert out.loss.dim() == 0
    assert bool(torch.isfinite(out.loss)) and float(out.loss.detach()) >= 0
    assert all(isinstance(v, float) for v in out.diagnostics.values())


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_student_not_teacher(name: str) -> None:
    pair = _pair(seed=1)
    build_loss(name)(pair).loss.backward()
    if name == "mse-pooled":
        student = pair.student_pooled.grad
        assert pair.student_tokens.grad is None
    else:
        student = pair.student_tokens.grad
        # no gradient into positions the mask keeps out
        assert bool((student[~pair.student_mask] == 0).all())
    assert student is not None and bool(torch.isfinite(student).all())
    assert float(student.abs().sum()) > 0
    assert pair.teacher_tokens.grad is None and pair.teacher_pooled.grad is None


@pytest.mark.parametrize("name", NAMES)
def test_masked_positions_change_nothing(name: str) -> None:
    pair = _pair(seed=2)
    loss = build_loss(name)
    before = loss(pair)
    gen = torch.Generator().manual_seed(3)
    s_tok = pair.student_tokens.detach().clone()
    t_tok = pair.teacher_tokens.detach().clone()
    s_tok[~pair.student_mask] = 1e3 * torch.randn(
        int((~pair.student_mask).sum()), 16, generator=gen
    )
    t_tok[~pair.teacher_mask] = float("nan")
    changed = EncodedPair(
        student_tokens=s_tok.requires_grad_(True),
        student_mask=pair.student_mask,
        student_pooled=pair.student_pooled,
        teacher_tokens=t_tok,
        teacher_mask=pair.teacher_mask,
        teacher_pooled=pair.teacher_pooled,
    )
    after = loss(changed)
    assert torch.equal(before.loss.detach(), after.loss.detach())
    if name != "mse-pooled":  # the pooled loss does not read the tokens at all
        after.loss.backward()
        grad = changed.student_tokens.grad
        assert bool(torch.isfinite(grad).all())
        assert bool((grad[~pair.student_mask] == 0).all())


def test_mse_is_exactly_zero_when_student_equals_teacher() -> None:
    pair = _student_as_teacher(_pair(seed=4))
    assert float(PooledMSELoss()(pair).loss.detach()) == 0.0
    assert float(GreedyAlignLoss()(pair).loss.detach()) == 0.0
    assert float(anchor_mse(pair.student_pooled, pair.teacher_pooled).detach()) == 0.0


def test_ot_loss_is_near_minimal_when_student_equals_teacher() -> None:
    pair = _pair(seed=5)
    same = _student_as_teacher(pair)
    small = float(OTLoss(eps=0.01)(same).loss.detach())
    assert small < 0.02  # the plan sits on the diagonal, where C = 0
    assert small < 0.1 * float(OTLoss()(pair).loss.detach())
    # and it shrinks with eps
    assert small < float(OTLoss(eps=0.1)(same).loss.detach())


def test_ot_loss_diagnostics_and_plan() -> None:
    loss = OTLoss(eps=0.05, tol=1e-5, max_iter=1000)
    pair = _pair(seed=6)
    out = loss(pair)
    assert set(out.diagnostics) == {"transport_cost", "iterations", "marginal_error", "converged"}
    assert out.diagnostics["converged"] == 1.0
    assert out.diagnostics["marginal_error"] <= 1e-5
    assert out.diagnostics["transport_cost"] == pytest.approx(float(out.loss.detach()))
    result = loss.transport(pair)
    valid = pair.student_mask[:, :, None] & pair.teacher_mask[:, None, :]
    assert bool((result.plan[~valid] == 0).all())
    cost = cosine_cost(
        pair.student_tokens, pair.student_mask, pair.teacher_tokens, pair.teacher_mask
    ).detach()
    assert float(cost.min()) >= 0 and float(cost.max()) <= 2
    expected = (result.plan * cost).sum((1, 2)).mean()
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("grad", ["envelope", "unrolled"])
def test_ot_loss_options(grad: str) -> None:
    pair = _pair(seed=7, weights=True)
    for options in ({"tau": 1.0}, {"marginals": "weights"}, {"eps": 0.02, "max_iter": 500}):
        out = OTLoss(grad=grad, **options)(pair)
        assert bool(torch.isfinite(out.loss)) and float(out.loss.detach()) >= 0
    # weighted marginals: the plan's row sums are the renormalised student weights
    result = OTLoss(marginals="weights", tol=1e-6, max_iter=2000).transport(pair)
    w = pair.student_weights.masked_fill(~pair.student_mask, 0)
    assert torch.allclose(result.plan.sum(2), w / w.sum(1, keepdim=True), atol=1e-5)
    with pytest.raises(ValueError, match="weights"):
        OTLoss(marginals="weights")(_pair(seed=7))


def test_ot_loss_under_bf16_autocast() -> None:
    pair = _pair(seed=8)
    ref = OTLoss()(pair)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf = OTLoss()(
            EncodedPair(
                student_tokens=pair.student_tokens.to(torch.bfloat16),
                student_mask=pair.student_mask,
                student_pooled=pair.student_pooled,
                teacher_tokens=pair.teacher_tokens.to(torch.bfloat16),
                teacher_mask=pair.teacher_mask,
                teacher_pooled=pair.teacher_pooled,
            )
        )
    assert bf.loss.dtype == torch.float32
    assert float(bf.loss.detach()) == pytest.approx(float(ref.loss.detach()), abs=1e-2)


def test_greedy_match_is_one_to_one_and_finds_the_permutation() -> None:
    gen = torch.Generator().manual_seed(9)
    batch, n, d = 3, 8, 32
    teacher = torch.randn(batch, n, d, generator=gen)
    perms = torch.stack([torch.randperm(n, generator=gen) for _ in range(batch)])
    student = teacher[torch.arange(batch)[:, None], perms]  # student i = teacher perms[i]
    student = student + 0.01 * torch.randn(student.shape, generator=gen)
    mask = torch.ones(batch, n, dtype=torch.bool)
    sim = 1 - cosine_cost(student, mask, teacher, mask)
    match = greedy_match(sim, mask, mask)
    assert torch.equal(match, perms)
    pair = EncodedPair(
        student_tokens=student.requires_grad_(True),
        student_mask=mask,
        student_pooled=student.mean(1),
        teacher_tokens=teacher,
        teacher_mask=mask,
        teacher_pooled=teacher.mean(1),
    )
    out = GreedyAlignLoss()(pair)
    assert out.diagnostics["matched_pairs"] == batch * n
    assert out.diagnostics["match_cosine"] > 0.99
    assert float(out.loss.detach()) < 1e-3


def test_greedy_match_respects_masks_and_counts() -> None:
    gen = torch.Generator().manual_seed(10)
    sim = torch.rand(2, 5, 4, generator=gen)
    rows = torch.tensor([[1, 1, 0, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    cols = torch.tensor([[1, 0, 1, 1], [1, 1, 1, 1]], dtype=torch.bool)
    sim[0, 2, :] = 10.0  # masked row with the best scores: must not be used
    sim[0, :, 1] = 10.0  # masked column likewise
    match = greedy_match(sim, rows, cols)
    for k in range(2):
        matched = match[k][match[k] >= 0]
        assert len(set(matched.tolist())) == len(matched)  # 1-to-1
        assert len(matched) == min(int(rows[k].sum()), int(cols[k].sum()))
        assert bool((match[k][~rows[k]] == -1).all())
        assert all(bool(cols[k, j]) for j in matched.tolist())
    # greedy: the globally best pair is always taken
    best = torch.where(rows[1][:, None] & cols[1][None, :], sim[1], -1.0).argmax()
    assert int(match[1, 0]) == int(best % 4)


def test_encoded_pair_validates_shapes() -> None:
    pair = _pair()
    with pytest.raises(ValueError, match="embedding sizes differ"):
        EncodedPair(
            pair.student_tokens,
            pair.student_mask,
            pair.student_pooled,
            pair.teacher_tokens[..., :8],
            pair.teacher_mask,
            pair.teacher_pooled[:, :8],
        )
    with pytest.raises(ValueError, match="student_mask must be a bool"):
        EncodedPair(
            pair.student_tokens,
            pair.student_mask.float(),
            pair.student_pooled,
            pair.teacher_tokens,
            pair.teacher_mask,
            pair.teacher_pooled,
        )
    with pytest.raises(ValueError, match="batch sizes differ"):
        EncodedPair(
            pair.student_tokens[:2],
            pair.student_mask[:2],
            pair.student_pooled[:2],
            pair.teacher_tokens,
            pair.teacher_mask,
            pair.teacher_pooled,
        )
    with pytest.raises(ValueError, match="pooled shapes differ"):
        anchor_mse(torch.zeros(2, 3), torch.zeros(2, 4))


# --- objectives: a loss plus weighted extra terms ------------------------------------------


def _with_english(pair: EncodedPair, seed: int = 5) -> EncodedPair:
    gen = torch.Generator().manual_seed(seed)
    english = torch.randn(*pair.teacher_pooled.shape, generator=gen).requires_grad_(True)
    return dataclasses.replace(pair, student_english_pooled=english)


def test_objective_is_the_weighted_sum_of_its_terms() -> None:
    pair = _with_english(_pair(3))
    objective = build_objective("ot", {"eps": 0.1}, {"pooled_mse": 0.5, "anchor_mse": 2.0})
    assert isinstance(objective, WeightedSum) and objective.name == "ot"
    assert list(objective.extras) == ["pooled_mse", "anchor_mse"]
    out = objective(pair)
    ot = build_loss("ot", eps=0.1)(pair).loss.detach()
    pooled = anchor_mse(pair.student_pooled, pair.teacher_pooled).detach()
    anchor = anchor_mse(pair.student_english_pooled, pair.teacher_pooled).detach()
    assert torch.equal(out.loss, ot + 0.5 * pooled + 2.0 * anchor)  # same order, same bits
    assert out.diagnostics["ot"] == float(ot)
    assert out.diagnostics["pooled_mse"] == float(pooled)
    assert out.diagnostics["anchor_mse"] == float(anchor)
    assert {"transport_cost", "iterations", "converged"} <= set(out.diagnostics)
    out.loss.backward()
    assert pair.student_english_pooled.grad is not None
    assert pair.teacher_pooled.grad is None  # the teacher side stays detached


def test_objective_declares_what_it_needs() -> None:
    plain = build_objective("ot")
    assert not plain.extras and not plain.needs_token_weights
    assert not plain.needs_student_english
    assert build_objective("ot", {"marginals": "weights"}).needs_token_weights
    assert build_objective("mse-pooled", {}, {"anchor_mse": 1.0}).needs_student_english
    assert not build_objective("ot", {}, {"pooled_mse": 0.0, "anchor_mse": 0.0}).extras
    assert EnglishAnchorLoss.needs_student_english and not OTLoss.needs_student_english
    assert set(EXTRA_TERMS) == {"pooled_mse", "anchor_mse", "l2sp", "self_anchor"}
    assert build_objective("ot", {}, {"l2sp": 1.0}).needs_parameter_distance
    assert build_objective("ot", {}, {"self_anchor": 1.0}).needs_general
    assert not plain.needs_parameter_distance and not plain.needs_general
    with pytest.raises(ConfigError, match=r"unknown extra loss term 'idf'.*pooled_mse"):
        build_objective("ot", {}, {"idf": 1.0})
    with pytest.raises(ConfigError, match="weight must be a finite number"):
        build_objective("ot", {}, {"pooled_mse": -1.0})
    with pytest.raises(ConfigError, match="unknown loss"):
        build_objective("nope")
    with pytest.raises(ValueError, match="student_english_pooled"):
        EnglishAnchorLoss()(_pair())
    with pytest.raises(ValueError, match="student_english_pooled must have shape"):
        dataclasses.replace(_pair(), student_english_pooled=torch.zeros(2, 3))


def test_objective_mutes_the_warnings_its_terms_report() -> None:
    from optical.ot import OTConvergenceWarning

    pair = _pair(4)
    options = {"eps": 0.01, "max_iter": 1, "check_every": 1}
    with pytest.warns(OTConvergenceWarning):
        assert build_loss("ot", **options)(pair).diagnostics["converged"] == 0.0
    objective = build_objective("ot", options)
    assert objective.reported_warnings == (OTConvergenceWarning,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert objective(pair).diagnostics["converged"] == 0.0


def test_l2sp_and_self_anchor_terms() -> None:
    from optical.losses import L2SPLoss, SelfAnchorLoss

    d = 4
    base = {
        "student_tokens": torch.zeros(2, 3, d),
        "student_mask": torch.ones(2, 3, dtype=torch.bool),
        "student_pooled": torch.zeros(2, d),
        "teacher_tokens": torch.zeros(2, 3, d),
        "teacher_mask": torch.ones(2, 3, dtype=torch.bool),
        "teacher_pooled": torch.zeros(2, d),
    }
    theta = torch.tensor([1.0, 2.0], requires_grad=True)
    distance = ((theta - torch.tensor([0.0, 0.0])) ** 2).sum()
    out = L2SPLoss()(EncodedPair(**base, parameter_distance=distance))
    assert float(out.loss.detach()) == pytest.approx(5.0)
    s = torch.ones(3, 5, requires_grad=True)
    r = torch.zeros(3, 5)
    anchored = SelfAnchorLoss()(
        EncodedPair(**base, student_general_pooled=s, reference_general_pooled=r)
    )
    assert float(anchored.loss.detach()) == pytest.approx(1.0)  # (1/(G d)) Σ ‖s − f0‖²
    empty = SelfAnchorLoss()(
        EncodedPair(
            **base,
            student_general_pooled=torch.zeros(0, 5, requires_grad=True),
            reference_general_pooled=torch.zeros(0, 5),
        )
    )
    assert float(empty.loss.detach()) == 0.0
    with pytest.raises(ValueError, match="both be given"):
        EncodedPair(**base, student_general_pooled=s)
