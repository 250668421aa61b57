r"""Distillation losses: one signature, chosen by name.

Every loss maps one :class:`EncodedPair` (the student's encoding of the source-language
sentences and the frozen teacher's encoding of their English translations) to a
:class:`LossOutput`. Losses are small ``torch.nn.Module``\ s with no parameters; the math
is separate from the encoding, so they are testable on random tensors.

==================  =================================================================
name                loss
==================  =================================================================
``ot``              ⟨P, C⟩ with C = 1 − cos(student token i, teacher token j) and P an
                    entropic OT plan (OPTICAL, Huang, Yu & Allan, WSDM 2023)
``mse-pooled``      MSE between pooled student and teacher embeddings (Reimers &
                    Gurevych 2020, sentence-transformers multilingual distillation)
``greedy-align``    greedy hard 1-to-1 token matching by cosine, then MSE between the
                    matched token embeddings (Dr. DECR-style, Li et al. NAACL 2022)
==================  =================================================================

Choose with ``build_loss(name, **options)``. The teacher side is always detached: no
gradient reaches the teacher, whatever ``requires_grad`` its tensors carry.

A training objective is one of these plus weighted extra terms (:class:`WeightedSum`,
built by :func:`build_objective`):

.. math::

    \mathcal{L} = \mathcal{L}_{\text{name}} + \sum_k w_k \mathcal{L}_k, \qquad
    k \in \{\texttt{pooled\_mse}, \texttt{anchor\_mse}, \texttt{l2sp},
    \texttt{self\_anchor}\}

``pooled_mse`` is :class:`PooledMSELoss` on the source side; ``anchor_mse`` is
:class:`EnglishAnchorLoss`, the English anchor (the student's encoding of the English
side pulled to the teacher's); ``l2sp`` is :class:`L2SPLoss` (the squared distance of the
trainable weights from their starting values); ``self_anchor`` is :class:`SelfAnchorLoss`
(the student's encoding of general-domain English pulled to the starting encoder's).
A loss declares what its input must carry
(:attr:`DistillationLoss.needs_token_weights`, :attr:`~DistillationLoss.needs_student_english`,
:attr:`~DistillationLoss.needs_parameter_distance`, :attr:`~DistillationLoss.needs_general`),
so the trainer never asks which loss it has.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from optical.errors import ConfigError
from optical.ot import GradMode, OTConvergenceWarning, OTResult, sinkhorn

__all__ = [
    "EXTRA_TERMS",
    "LOSSES",
    "DistillationLoss",
    "EncodedPair",
    "EnglishAnchorLoss",
    "GreedyAlignLoss",
    "L2SPLoss",
    "LossOutput",
    "OTLoss",
    "PooledMSELoss",
    "SelfAnchorLoss",
    "WeightedSum",
    "anchor_mse",
    "build_loss",
    "build_objective",
    "cosine_cost",
    "greedy_match",
]


@dataclass(frozen=True)
class EncodedPair:
    """A batch of ``B`` bitext pairs encoded by the student and the teacher.

    The student side is already mapped into the teacher's space (same ``d``).

    Attributes:
        student_tokens: ``[B, n, d]`` student token embeddings (source language).
        student_mask: ``[B, n]`` bool, True = a token that takes part in the alignment.
        student_pooled: ``[B, d]`` pooled student sentence embeddings.
        teacher_tokens: ``[B, m, d]`` teacher token embeddings (English translation).
        teacher_mask: ``[B, m]`` bool.
        teacher_pooled: ``[B, d]`` pooled teacher sentence embeddings.
        student_weights: optional ``[B, n]`` non-negative token weights (e.g. IDF).
        teacher_weights: optional ``[B, m]`` likewise.
        student_english_pooled: optional ``[B, d]`` pooled student embeddings of the
            English translations (the English anchor, :class:`EnglishAnchorLoss`).
        parameter_distance: optional scalar ``Σ_i ‖θ_i − θ_i⁰‖²`` over the trainable
            weights (:class:`L2SPLoss`).
        student_general_pooled: optional ``[G, d_s]`` the student's pooled embeddings of
            ``G`` general-domain sentences in its own space (before the projection;
            ``G`` may be 0), with ``reference_general_pooled`` ``[G, d_s]`` the frozen
            starting encoder's (:class:`SelfAnchorLoss`).

    The masks decide which tokens are aligned: the caller sets padding *and* any special
    tokens it wants left out (``[CLS]``, ``</s>``, the e5 ``query:`` prefix) to False.

    Raises:
        ValueError: shapes that do not fit together, or masks that are not bool.
    """

    student_tokens: torch.Tensor
    student_mask: torch.Tensor
    student_pooled: torch.Tensor
    teacher_tokens: torch.Tensor
    teacher_mask: torch.Tensor
    teacher_pooled: torch.Tensor
    student_weights: torch.Tensor | None = None
    teacher_weights: torch.Tensor | None = None
    student_english_pooled: torch.Tensor | None = None
    parameter_distance: torch.Tensor | None = None
    student_general_pooled: torch.Tensor | None = None
    reference_general_pooled: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for side in ("student", "teacher"):
            tokens = getattr(self, f"{side}_tokens")
            mask = getattr(self, f"{side}_mask")
            pooled = getattr(self, f"{side}_pooled")
            weights = getattr(self, f"{side}_weights")
            if tokens.dim() != 3:
                raise ValueError(
                    f"{side}_tokens must be [B, len, d], got shape {tuple(tokens.shape)}"
                )
            if mask.dtype != torch.bool or tuple(mask.shape) != tuple(tokens.shape[:2]):
                raise ValueError(
                    f"{side}_mask must be a bool tensor of shape {tuple(tokens.shape[:2])}, "
                    f"got {mask.dtype} {tuple(mask.shape)}"
                )
            if tuple(pooled.shape) != (tokens.shape[0], tokens.shape[2]):
                raise ValueError(
                    f"{side}_pooled must have shape {(tokens.shape[0], tokens.shape[2])}, "
                    f"got {tuple(pooled.shape)}"
                )
            if weights is not None and tuple(weights.shape) != tuple(mask.shape):
                raise ValueError(
                    f"{side}_weights must have shape {tuple(mask.shape)}, "
                    f"got {tuple(weights.shape)}"
                )
        english = self.student_english_pooled
        if english is not None and tuple(english.shape) != tuple(self.teacher_pooled.shape):
            raise ValueError(
                f"student_english_pooled must have shape {tuple(self.teacher_pooled.shape)}, "
                f"got {tuple(english.shape)}"
            )
        general, reference = self.student_general_pooled, self.reference_general_pooled
        if (general is None) != (reference is None) or (
            general is not None and general.shape != reference.shape
        ):
            raise ValueError(
                "student_general_pooled and reference_general_pooled must both be given, "
                "with the same shape"
            )
        s, t = self.student_tokens.shape, self.teacher_tokens.shape
        if s[0] != t[0]:
            raise ValueError(f"batch sizes differ: student {s[0]}, teacher {t[0]}")
        if s[2] != t[2]:
            raise ValueError(
                f"embedding sizes differ: student {s[2]}, teacher {t[2]}; map the student "
                "into the teacher's space first"
            )

    @property
    def batch_size(self) -> int:
        return int(self.student_tokens.shape[0])


@dataclass(frozen=True)
class LossOutput:
    """A scalar loss and float diagnostics for logging (names without the loss prefix)."""

    loss: torch.Tensor
    diagnostics: dict[str, float] = field(default_factory=dict)


class DistillationLoss(nn.Module):
    """Base class: ``loss(pair: EncodedPair) -> LossOutput``.

    What a loss needs beyond the always-present fields of :class:`EncodedPair` it
    declares: ``needs_token_weights`` (``student_weights`` / ``teacher_weights``),
    ``needs_student_english`` (``student_english_pooled``), ``needs_parameter_distance``
    (``parameter_distance``), ``needs_general`` (``student_general_pooled`` and
    ``reference_general_pooled``). ``reported_warnings``: warning categories the loss
    also reports in its diagnostics (muted by :class:`WeightedSum`).
    """

    name: str = ""
    needs_token_weights: bool = False
    needs_student_english: bool = False
    needs_parameter_distance: bool = False
    needs_general: bool = False
    reported_warnings: tuple[type[Warning], ...] = ()

    def forward(self, pair: EncodedPair) -> LossOutput:  # pragma: no cover - abstract
        raise NotImplementedError


def _fp32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def cosine_cost(
    student_tokens: torch.Tensor,
    student_mask: torch.Tensor,
    teacher_tokens: torch.Tensor,
    teacher_mask: torch.Tensor,
) -> torch.Tensor:
    r"""Cosine-distance cost :math:`C_{bij} = 1 - \cos(s_{bi}, t_{bj}) \in [0, 2]`.

    Computed in float32 (autocast off). Masked tokens are zeroed first (so garbage in
    padding cannot produce NaN, and gets no gradient); their costs are 1 and must be
    kept out by the masks. Returns ``[B, n, m]``; gradients flow into both inputs.
    """
    with torch.autocast(device_type=student_tokens.device.type, enabled=False):
        s = _fp32(student_tokens).masked_fill(~student_mask[..., None], 0.0)
        t = _fp32(teacher_tokens).masked_fill(~teacher_mask[..., None], 0.0)
        s = F.normalize(s, dim=-1, eps=1e-8)
        t = F.normalize(t, dim=-1, eps=1e-8)
        return (1.0 - torch.bmm(s, t.transpose(1, 2))).clamp(0.0, 2.0)


class OTLoss(DistillationLoss):
    r"""OPTICAL's optimal-transport token-alignment loss.

    .. math::

        C_{ij} = 1 - \cos(s_i, t_j), \qquad
        P = \arg\min_{P \in U(a, b)} \langle P, C\rangle - \varepsilon H(P), \qquad
        \mathcal{L} = \frac{1}{B} \sum_b \langle P_b, C_b \rangle

    over student tokens ``i`` (``student_mask``) and teacher tokens ``j``
    (``teacher_mask``); ``a``, ``b`` uniform over the unmasked tokens (``marginals=
    "uniform"``) or the pair's token weights renormalised (``marginals="weights"``).
    ``tau`` relaxes the marginals (unbalanced OT). With ``grad="envelope"`` the plan is a
    constant and ∂L/∂C = P/B (envelope theorem); ``grad="unrolled"`` differentiates
    through the Sinkhorn iterations. See :func:`optical.ot.sinkhorn`.

    Only tokens whose mask is True take part: padding *and* special tokens (``<s>``,
    ``</s>``, the e5 ``query:`` prefix) are kept out by the masks the caller passes; masked
    tokens get exactly zero transport mass and zero gradient. Every item needs at least
    one unmasked token on each side (else ``ValueError``).

    Diagnostics: ``transport_cost`` (= the loss value), ``iterations``,
    ``marginal_error``, ``converged`` (1.0 or 0.0; the solver's
    :class:`~optical.ot.OTConvergenceWarning` says the same).
    """

    name = "ot"
    reported_warnings = (OTConvergenceWarning,)

    def __init__(
        self,
        eps: float = 0.05,
        max_iter: int = 500,
        tol: float = 1e-4,
        tau: float | None = None,
        marginals: Literal["uniform", "weights"] = "uniform",
        grad: GradMode = "envelope",
        check_every: int = 10,
    ) -> None:
        super().__init__()
        if marginals not in ("uniform", "weights"):
            raise ConfigError(
                f"ot loss: marginals must be 'uniform' or 'weights', not {marginals!r}"
            )
        if grad not in ("envelope", "unrolled"):
            raise ConfigError(f"ot loss: grad must be 'envelope' or 'unrolled', not {grad!r}")
        if not (eps > 0 and math.isfinite(eps)):
            raise ConfigError(f"ot loss: eps must be > 0, not {eps!r}")
        if tau is not None and not tau > 0:
            raise ConfigError(f"ot loss: tau must be > 0 or None, not {tau!r}")
        self.eps = float(eps)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.tau = tau
        self.marginals = marginals
        self.grad = grad
        self.check_every = int(check_every)

    @property
    def needs_token_weights(self) -> bool:
        """Token weights are the marginals when ``marginals = "weights"``."""
        return self.marginals == "weights"

    def transport(self, pair: EncodedPair) -> OTResult:
        """The solver's result for ``pair`` (plans for alignment heatmaps, diagnostics)."""
        cost = cosine_cost(
            pair.student_tokens, pair.student_mask, pair.teacher_tokens.detach(), pair.teacher_mask
        )
        a = b = None
        if self.marginals == "weights":
            if pair.student_weights is None or pair.teacher_weights is None:
                raise ValueError(
                    "ot loss with marginals='weights' needs student_weights and teacher_weights"
                )
            a, b = pair.student_weights, pair.teacher_weights
        return sinkhorn(
            cost,
            pair.student_mask,
            pair.teacher_mask,
            a,
            b,
            eps=self.eps,
            max_iter=self.max_iter,
            tol=self.tol,
            tau=self.tau,
            grad=self.grad,
            check_every=self.check_every,
        )

    def forward(self, pair: EncodedPair) -> LossOutput:
        result = self.transport(pair)
        loss = result.cost.mean()
        return LossOutput(
            loss=loss,
            diagnostics={
                "transport_cost": float(loss.detach()),
                "iterations": float(result.iterations),
                "marginal_error": result.marginal_error,
                "converged": float(result.converged),
            },
        )

    def extra_repr(self) -> str:
        return (
            f"eps={self.eps}, max_iter={self.max_iter}, tol={self.tol}, tau={self.tau}, "
            f"marginals={self.marginals!r}, grad={self.grad!r}"
        )


class PooledMSELoss(DistillationLoss):
    r"""Pooled-embedding MSE (Reimers & Gurevych 2020).

    .. math:: \mathcal{L} = \frac{1}{B d} \sum_b \lVert \bar s_b - \bar t_b \rVert^2

    on ``student_pooled`` and ``teacher_pooled`` (``[B, d]``); token tensors and masks
    are not used. Diagnostics: ``mse``.
    """

    name = "mse-pooled"

    def forward(self, pair: EncodedPair) -> LossOutput:
        loss = anchor_mse(pair.student_pooled, pair.teacher_pooled)
        return LossOutput(loss=loss, diagnostics={"mse": float(loss.detach())})


class EnglishAnchorLoss(DistillationLoss):
    r"""The English anchor: the student's pooled encoding of the English side kept close
    to the teacher's (against drift of the student's English).

    .. math:: \mathcal{L} = \frac{1}{B d} \sum_b \lVert \bar s(y_b) - \bar t(y_b) \rVert^2

    on ``student_english_pooled`` and ``teacher_pooled`` (``[B, d]``). Diagnostics: ``mse``.
    """

    name = "english-anchor"
    needs_student_english = True

    def forward(self, pair: EncodedPair) -> LossOutput:
        if pair.student_english_pooled is None:
            raise ValueError("the English anchor needs student_english_pooled")
        loss = anchor_mse(pair.student_english_pooled, pair.teacher_pooled)
        return LossOutput(loss=loss, diagnostics={"mse": float(loss.detach())})


class L2SPLoss(DistillationLoss):
    r"""L2-SP: the squared distance of the trainable weights from their starting values.

    .. math:: \mathcal{L} = \sum_i \lVert \theta_i - \theta_i^0 \rVert^2

    read from ``parameter_distance`` (a scalar the trainer computes over the student
    transformer's trainable parameters; frozen ones are equal to their start and add 0).
    It is the same for every micro-batch, so with ``A`` accumulation steps of
    ``L / A`` the step's gradient is that of the full term. Diagnostics: ``distance``.
    """

    name = "l2sp"
    needs_parameter_distance = True

    def forward(self, pair: EncodedPair) -> LossOutput:
        if pair.parameter_distance is None:
            raise ValueError("L2-SP needs parameter_distance")
        loss = pair.parameter_distance.float()
        return LossOutput(loss=loss, diagnostics={"distance": float(loss.detach())})


class SelfAnchorLoss(DistillationLoss):
    r"""The self anchor: the student's pooled embeddings of general-domain sentences
    ``u_g`` kept close to its frozen starting encoder ``f_0``'s.

    .. math:: \mathcal{L} = \frac{1}{G d_s} \sum_g \lVert \bar s(u_g) - \bar f_0(u_g)
        \rVert^2

    on ``student_general_pooled`` and ``reference_general_pooled`` (``[G, d_s]``, the
    reference detached); 0 (with a zero gradient) when the micro-batch has no general
    sentence (``G = 0``). Diagnostics: ``mse``.
    """

    name = "self-anchor"
    needs_general = True

    def forward(self, pair: EncodedPair) -> LossOutput:
        student, reference = pair.student_general_pooled, pair.reference_general_pooled
        if student is None or reference is None:
            raise ValueError("the self anchor needs student_general_pooled")
        if student.shape[0] == 0:
            loss = student.float().sum() * 0.0
        else:
            loss = anchor_mse(student, reference)
        return LossOutput(loss=loss, diagnostics={"mse": float(loss.detach())})


def anchor_mse(student_pooled: torch.Tensor, teacher_pooled: torch.Tensor) -> torch.Tensor:
    r"""MSE :math:`\frac{1}{Bd}\sum \lVert s - t \rVert^2` between ``[B, d]`` embeddings.

    The teacher side is detached. The formula of ``mse-pooled`` and of the English anchor.
    """
    if student_pooled.shape != teacher_pooled.shape:
        raise ValueError(
            f"pooled shapes differ: student {tuple(student_pooled.shape)}, "
            f"teacher {tuple(teacher_pooled.shape)}"
        )
    with torch.autocast(device_type=student_pooled.device.type, enabled=False):
        return F.mse_loss(_fp32(student_pooled), _fp32(teacher_pooled.detach()))


@torch.no_grad()
def greedy_match(
    similarity: torch.Tensor, row_mask: torch.Tensor, col_mask: torch.Tensor
) -> torch.Tensor:
    """Greedy hard 1-to-1 matching: repeatedly take the most similar unmatched (i, j).

    Args:
        similarity: ``[B, n, m]`` scores (higher = more similar).
        row_mask: ``[B, n]`` bool; col_mask: ``[B, m]`` bool.

    Returns:
        ``[B, n]`` long tensor: the column matched to each row, ``-1`` for masked or
        unmatched rows. Each item gets ``min(#rows, #cols)`` matches; ties go to the lowest
        flat index. Not differentiable (runs under ``no_grad``).
    """
    bsz, n, m = similarity.shape
    valid = row_mask[:, :, None] & col_mask[:, None, :]
    lowest = torch.finfo(torch.float32).min
    sim = torch.nan_to_num(similarity.detach().float(), nan=lowest, neginf=lowest)
    sim = sim.masked_fill(~valid, -math.inf)
    match = torch.full((bsz, n), -1, dtype=torch.long, device=similarity.device)
    steps = int(torch.minimum(row_mask.sum(1), col_mask.sum(1)).max()) if bsz else 0
    batch = torch.arange(bsz, device=similarity.device)
    for _ in range(steps):
        best, flat = sim.view(bsz, -1).max(dim=1)
        live = torch.isfinite(best)
        i, j = flat // m, flat % m
        bi, ii, jj = batch[live], i[live], j[live]
        match[bi, ii] = jj
        sim[bi, ii, :] = -math.inf
        sim[bi, :, jj] = -math.inf
    return match


class GreedyAlignLoss(DistillationLoss):
    r"""Greedy hard token alignment + MSE (Dr. DECR-style ablation of the OT alignment).

    Matching (no gradient): :func:`greedy_match` on the cosine similarity of the
    unmasked student and teacher tokens gives 1-to-1 pairs :math:`\mathcal{M}_b`. Loss:

    .. math::

        \mathcal{L} = \frac{1}{d \sum_b |\mathcal{M}_b|}
        \sum_b \sum_{(i, j) \in \mathcal{M}_b} \lVert s_{bi} - t_{bj} \rVert^2

    Diagnostics: ``matched_pairs`` (total), ``match_cosine`` (mean cosine of the pairs).
    """

    name = "greedy-align"

    def forward(self, pair: EncodedPair) -> LossOutput:
        cost = cosine_cost(
            pair.student_tokens.detach(),
            pair.student_mask,
            pair.teacher_tokens.detach(),
            pair.teacher_mask,
        )
        match = greedy_match(1.0 - cost, pair.student_mask, pair.teacher_mask)
        b_idx, i_idx = torch.nonzero(match >= 0, as_tuple=True)
        j_idx = match[b_idx, i_idx]
        if b_idx.numel() == 0:  # every item fully masked on one side: nothing to align
            zero = pair.student_tokens.sum() * 0.0
            return LossOutput(
                loss=zero, diagnostics={"mse": 0.0, "matched_pairs": 0.0, "match_cosine": 0.0}
            )
        with torch.autocast(device_type=pair.student_tokens.device.type, enabled=False):
            s = _fp32(pair.student_tokens)[b_idx, i_idx]
            t = _fp32(pair.teacher_tokens.detach())[b_idx, j_idx]
            loss = F.mse_loss(s, t)
        with torch.no_grad():
            match_cos = (1.0 - cost[b_idx, i_idx, j_idx]).mean()
        return LossOutput(
            loss=loss,
            diagnostics={
                "mse": float(loss.detach()),
                "matched_pairs": float(b_idx.numel()),
                "match_cosine": float(match_cos),
            },
        )


class WeightedSum(DistillationLoss):
    r"""A main loss plus weighted extra terms: :math:`\mathcal{L} = \mathcal{L}_0 +
    \sum_k w_k \mathcal{L}_k`, summed left to right in the order of ``extras``.

    Diagnostics: the main loss's own, its value under its ``name``, and each extra term's
    value under its key. It needs what any of its terms needs, and mutes the warnings
    its terms report in their diagnostics.
    """

    def __init__(
        self, main: DistillationLoss, extras: Mapping[str, tuple[float, DistillationLoss]]
    ) -> None:
        super().__init__()
        self.main = main
        self.name = main.name
        self.weights = {key: float(weight) for key, (weight, _) in extras.items()}
        self.extras = nn.ModuleDict({key: term for key, (_, term) in extras.items()})

    def _terms(self) -> list[DistillationLoss]:
        return [self.main, *self.extras.values()]

    @property
    def needs_token_weights(self) -> bool:
        return any(term.needs_token_weights for term in self._terms())

    @property
    def needs_student_english(self) -> bool:
        return any(term.needs_student_english for term in self._terms())

    @property
    def needs_parameter_distance(self) -> bool:
        return any(term.needs_parameter_distance for term in self._terms())

    @property
    def needs_general(self) -> bool:
        return any(term.needs_general for term in self._terms())

    @property
    def reported_warnings(self) -> tuple[type[Warning], ...]:
        return tuple(w for term in self._terms() for w in term.reported_warnings)

    def forward(self, pair: EncodedPair) -> LossOutput:
        with warnings.catch_warnings():
            for category in self.reported_warnings:
                warnings.simplefilter("ignore", category)
            out = self.main(pair)
        loss = out.loss
        diagnostics = dict(out.diagnostics)
        diagnostics[self.main.name] = float(out.loss.detach())
        for key, term in self.extras.items():
            value = term(pair).loss
            loss = loss + self.weights[key] * value
            diagnostics[key] = float(value.detach())
        return LossOutput(loss=loss, diagnostics=diagnostics)


LOSSES: dict[str, type[DistillationLoss]] = {
    OTLoss.name: OTLoss,
    PooledMSELoss.name: PooledMSELoss,
    GreedyAlignLoss.name: GreedyAlignLoss,
}

EXTRA_TERMS: dict[str, type[DistillationLoss]] = {
    "pooled_mse": PooledMSELoss,
    "anchor_mse": EnglishAnchorLoss,
    "l2sp": L2SPLoss,
    "self_anchor": SelfAnchorLoss,
}
"""Extra terms of an objective by key (the key is also their diagnostics name)."""


def build_loss(name: str, **options: object) -> DistillationLoss:
    """The loss registered under ``name`` (see :data:`LOSSES`), built with ``options``.

    Raises:
        ConfigError: unknown name (the message lists the known ones) or an option the
            loss does not take.
    """
    try:
        cls = LOSSES[name]
    except KeyError:
        raise ConfigError(
            f"unknown loss {name!r}; choose one of: {', '.join(sorted(LOSSES))}"
        ) from None
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"loss {name!r}: bad options {sorted(options)}: {exc}") from None


def build_objective(
    name: str, options: Mapping[str, Any] | None = None, weights: Mapping[str, float] | None = None
) -> WeightedSum:
    """The loss ``name`` (built with ``options``, see :func:`build_loss`) plus the extra
    terms of ``weights`` (key of :data:`EXTRA_TERMS` → weight; weight 0 leaves the term
    out), in the order of ``weights``.

    Raises:
        ConfigError: unknown loss or extra term (the message lists the known ones), bad
            options, or a weight that is not a finite number >= 0.
    """
    main = build_loss(name, **dict(options or {}))
    extras: dict[str, tuple[float, DistillationLoss]] = {}
    for key, weight in (weights or {}).items():
        if key not in EXTRA_TERMS:
            raise ConfigError(
                f"unknown extra loss term {key!r}; choose from: {', '.join(EXTRA_TERMS)}"
            )
        if not (math.isfinite(weight) and weight >= 0):
            raise ConfigError(f"loss term {key!r}: weight must be a finite number >= 0")
        if weight > 0:
            extras[key] = (weight, EXTRA_TERMS[key]())
    return WeightedSum(main, extras)
