r"""OPTICAL distillation: one readable training loop.

Algorithm (one optimizer step ``s``; ``G`` = ``optim.batch_size`` pairs, ``A`` =
``optim.grad_accum`` micro-steps, ``W`` ranks)::

    batch  = sampler.next_batch(G)                 # temperature-sampled bitext pairs
    seed dropout from (seed, s, rank)
    for each of the A micro-batches (G / A pairs), this rank's shard (G / (A W) pairs):
        x, y   = source sentences, English translations
        t(y)   = teacher(query: y)                 # frozen, no gradient
        s(x)   = W · student(query: x) + b         # into the teacher's space
        L      = loss(s(x), t(y))                  # ot | mse-pooled | greedy-align
               + w_pooled · MSE(s̄(x), t̄(y)) + w_anchor · MSE(s̄(y), t̄(y))
        backward(L / A)                            # DDP averages over ranks
    clip ‖∇‖ ≤ max_grad_norm; AdamW step; LR schedule step

For the ``ot`` loss, ``C_ij = 1 − cos(s_i(x), t_j(y))`` over the content tokens (no
special tokens, no ``query:`` prefix tokens by default), ``P`` the entropic OT plan and
``L = ⟨P, C⟩`` (:class:`optical.losses.OTLoss`). Every quantity is a mean over the pairs
of the global batch, so a run's weights do not depend on ``A`` or ``W`` beyond floating
point (greedy-align averages over matched tokens instead, per micro-batch).

Learning rate of step ``s`` (0-based; ``S`` = ``max_steps``, ``K`` = ``warmup_steps``):
``lr · (s + 1) / (K + 1)`` for ``s < K``, then ``lr · (S − s) / (S − K)``.

Determinism and resume: the data split, the sampler and the projection's init derive
from ``run.seed``; dropout is re-seeded at every step from ``(seed, step, rank)``. A
checkpoint (:mod:`optical.train.checkpoint`) stores the trainable weights, the optimizer,
the scheduler, the sampler state and the RNG state, so ``resume=True`` reproduces the
uninterrupted run exactly.

Distributed: under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE > 1``) the process group
is initialised (gloo on CPU, nccl with CUDA) and the student + projection are wrapped in
``DistributedDataParallel``; rank 0 validates, logs and writes checkpoints and the
student.

Output folder: ``config.json`` (resolved config; its ``resolved.pool`` is the
:class:`~optical.train.sampling.PoolSummary` of the checked training pool),
``metrics.jsonl`` (training and validation records), ``checkpoints/``, ``student/`` (the
saved student, returned).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.training import source_domain
from ..device import autocast, to_device
from ..errors import ConfigError, OpticalError
from ..languages import normalize_lang
from ..losses import DistillationLoss, EncodedPair, build_objective
from ..models.encoder import Encoder, pool, tokenize_with_prefix
from ..models.registry import EncoderSpec, resolve_encoder
from ..models.student import (
    StudentModule,
    eval_mode,
    is_student_folder,
    load_any_encoder,
    save_student,
    student_is_complete,
)
from ..precision import use_bf16
from ..settings import use_cache_dir
from ..types import BitextPair
from .config import DistillConfig, load_distill_config
from .loop import StepInfo as LoopStep
from .loop import Task, fit
from .runtime import DistInfo, adamw, linear_schedule
from .sampling import (
    BitextSplit,
    GeneralSentence,
    MixedSampler,
    TemperatureSampler,
    general_pool,
    training_split,
)
from .student import build_projection, freeze_parameters

__all__ = [
    "DistillTask",
    "Distiller",
    "StepInfo",
    "build_distiller",
    "linear_schedule",
    "train_distill",
    "validate",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepInfo:
    """What a callback sees after each optimizer step (on every rank).

    ``step``: optimizer steps completed; ``loss``: this rank's mean training loss of the
    step; ``diagnostics``: loss terms and solver diagnostics (rank-local means), ``lr``,
    ``grad_norm``; ``pairs``: the bitext pairs this rank trained on in this step;
    ``validation``: the validation metrics when validation ran after this step (rank 0);
    ``student``: the (unwrapped) student module being trained.
    """

    step: int
    loss: float
    diagnostics: dict[str, float]
    pairs: tuple[BitextPair, ...]
    rank: int
    world_size: int
    validation: dict[str, Any] | None = None
    student: StudentModule | None = None


Callback = Callable[[StepInfo], None]


@dataclass
class Distiller:
    """Student, frozen teacher and objective: :meth:`loss_on` is one micro-batch's loss.

    ``core`` is the :class:`StudentModule` being trained; ``student_encoder`` the base
    encoder (tokenizer, spec, prefixes); ``teacher`` the frozen teacher; ``loss_fn`` the
    objective (:func:`optical.losses.build_objective`), which declares what it needs.
    """

    config: DistillConfig
    core: StudentModule
    student_encoder: Encoder
    teacher: Encoder
    loss_fn: DistillationLoss
    frozen_names: list[str]
    student_idf: torch.Tensor | None = None
    """``[V_student]`` token IDF (losses that need token weights), set by :meth:`set_idf`."""
    teacher_idf: torch.Tensor | None = None
    initial: dict[str, torch.Tensor] | None = None
    """``θ^0`` of the transformer's trainable parameters (the L2-SP term)."""
    reference: nn.Module | None = None
    """The frozen starting transformer ``f_0`` (the self anchor)."""

    @property
    def layer(self) -> int:
        return self.config.model.layer

    @property
    def device(self) -> torch.device:
        """Where the student (and the teacher, loaded beside it) compute."""
        return self.student_encoder.device

    @property
    def bf16(self) -> bool:
        """Whether the student's forward passes run under bf16 autocast on its device."""
        return use_bf16(self.config.model.bf16, self.device.type)

    @property
    def teacher_layer(self) -> int:
        layer = self.config.model.teacher_layer
        return self.config.model.layer if layer is None else layer

    def set_idf(self, pairs: Sequence[BitextPair]) -> None:
        """Token IDF of the sources (student tokenizer) and the English sides (teacher
        tokenizer) of ``pairs`` (the training pool): the token weights of a loss that
        needs them, e.g. the OT marginals ``"weights"`` (:mod:`optical.train.idf`)."""
        from .idf import idf_table

        student_vocab = int(self.student_encoder.model.config.vocab_size)
        teacher_vocab = int(self.teacher.model.config.vocab_size)
        self.student_idf = idf_table(
            self.student_encoder.tokenizer, [p.source for p in pairs], student_vocab
        ).to(self.device)
        self.teacher_idf = idf_table(
            self.teacher.tokenizer, [p.english for p in pairs], teacher_vocab
        ).to(self.device)

    def alignment_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``[B, L]`` bool: the tokens that take part in the token alignment."""
        mask = batch["attention_mask"].bool()
        if self.config.model.exclude_special:
            mask = mask & ~batch["special_tokens_mask"].bool()
        if self.config.model.exclude_prefix:
            mask = mask & ~batch["prefix_mask"]
        return mask

    def teacher_outputs(self, english: Sequence[str]) -> tuple[dict[str, torch.Tensor], Any]:
        """Tokenized English (on the teacher's device) and the teacher's
        :class:`TokenOutput` (no gradient)."""
        batch = tokenize_with_prefix(self.teacher, english, "query", self.config.model.max_length)
        batch = to_device(batch, self.teacher.device)
        with torch.no_grad():
            return batch, self.teacher.forward(batch, layer=self.teacher_layer)

    def _token_weights(
        self, student_ids: torch.Tensor, teacher_ids: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``student_weights [B, n]`` and ``teacher_weights [B, m]`` (IDF of the ids)."""
        if self.student_idf is None or self.teacher_idf is None:
            raise OpticalError("this loss needs token weights (IDF): call set_idf first")
        return {
            "student_weights": self.student_idf[student_ids],
            "teacher_weights": self.teacher_idf[teacher_ids],
        }

    def reference_pooled(self, batch: Mapping[str, torch.Tensor], first: int) -> torch.Tensor:
        """``[G, d_s]``: the frozen starting encoder's pooled embeddings of rows ``first:``
        of the student's ``batch`` (same padding; normalised like the student's), computed
        under ``no_grad`` at every step (one forward pass of ``G`` rows, no backward)."""
        if self.reference is None:
            raise OpticalError("the self anchor needs the starting encoder (build_distiller)")
        names = ("input_ids", "attention_mask", "token_type_ids")
        rows = {k: v[first:] for k, v in batch.items() if k in names}
        if rows["input_ids"].shape[0] == 0:  # no general sentence (validation batches)
            return torch.zeros(0, self.reference.config.hidden_size, device=self.device)
        with torch.no_grad(), autocast(self.device, self.bf16):
            last = self.reference(**rows).last_hidden_state
        pooled = pool(last, rows["attention_mask"].bool(), self.core.pooling).float()
        return torch.nn.functional.normalize(pooled, dim=-1) if self.core.normalize else pooled

    def loss_on(
        self,
        pairs: Sequence[BitextPair],
        teacher: tuple[dict, Any] | None = None,
        module: nn.Module | None = None,
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """Loss of one micro-batch; returns ``(loss, diagnostics, student_pooled [B, d])``.

        ``teacher``: precomputed :meth:`teacher_outputs` for ``pairs`` (validation);
        ``module``: the student module to call (default :attr:`core`; under DDP the
        trainer passes its wrapper). When the loss needs the student's English, the
        student encodes ``sources + english`` in one batch (rows ``n:`` the English).
        """
        cfg = self.config
        general = [item.text for item in pairs if isinstance(item, GeneralSentence)]
        pairs = [item for item in pairs if not isinstance(item, GeneralSentence)]
        sources = [p.source for p in pairs]
        english = [p.english for p in pairs]
        both = self.loss_fn.needs_student_english
        texts = (sources + english if both else sources) + general
        s_batch = tokenize_with_prefix(self.student_encoder, texts, "query", cfg.model.max_length)
        s_batch = to_device(s_batch, self.device)
        t_batch, t_out = teacher if teacher is not None else self.teacher_outputs(english)
        wants_general = self.loss_fn.needs_general
        with autocast(self.device, self.bf16):
            outputs = (module or self.core)(
                s_batch["input_ids"],
                s_batch["attention_mask"],
                s_batch.get("token_type_ids"),
                layer=self.layer,
                encoder_pooled=wants_general,
            )
        s_tokens, s_pooled = outputs[0], outputs[1]
        n = len(pairs)
        extra: dict[str, torch.Tensor] = {}
        if wants_general:
            first = len(texts) - len(general)
            extra["student_general_pooled"] = outputs[2][first:]
            extra["reference_general_pooled"] = self.reference_pooled(s_batch, first)
        if self.loss_fn.needs_parameter_distance:
            from .forgetting import parameter_distance

            extra["parameter_distance"] = parameter_distance(self.core.model, self.initial or {})
        if self.loss_fn.needs_token_weights:
            extra |= self._token_weights(s_batch["input_ids"][:n], t_batch["input_ids"])
        if both:
            extra["student_english_pooled"] = s_pooled[n:]
        if general:
            s_tokens, s_pooled = s_tokens[: len(texts) - len(general)], s_pooled[: -len(general)]
        pair = EncodedPair(
            student_tokens=s_tokens[:n],
            student_mask=self.alignment_mask(s_batch)[:n],
            student_pooled=s_pooled[:n],
            teacher_tokens=t_out.tokens,
            teacher_mask=self.alignment_mask(t_batch),
            teacher_pooled=t_out.pooled,
            **extra,
        )
        out = self.loss_fn(pair)
        diagnostics = dict(out.diagnostics)
        diagnostics["loss"] = float(out.loss.detach())
        return out.loss, diagnostics, s_pooled[:n].detach()


def _load_base_student(name: str, bf16: bool, device: torch.device | None) -> Encoder:
    if is_student_folder(name):
        raise ConfigError(
            f"model.student {name!r} is a distilled student; distilling from a distilled "
            "student is not supported: start from its base model"
        )
    return Encoder.load(resolve_encoder(name), bf16=bf16, device=device)


def build_distiller(config: DistillConfig, device: torch.device | None = None) -> Distiller:
    """Load the student (trainable, frozen parts set) and the teacher (frozen), and the
    projection (initialised from ``run.seed``) and the loss of ``config``; the models on
    ``device`` (default: the CPU; the loop passes the resolved ``run.device``)."""
    cfg = config.model
    base = _load_base_student(cfg.student, cfg.bf16, device)
    teacher = load_any_encoder(cfg.teacher, bf16=cfg.bf16, device=device)
    teacher.model.eval()
    for param in teacher.model.parameters():
        param.requires_grad_(False)
    base.model.train(cfg.dropout)
    student_dim = int(base.model.config.hidden_size)
    projection = build_projection(student_dim, teacher.dim, cfg.projection, config.run.seed)
    for param in base.model.parameters():
        param.requires_grad_(True)
    frozen = freeze_parameters(base.model, cfg.freeze_embeddings, cfg.freeze_layers)
    if cfg.adapter == "lora":
        from .forgetting import add_lora

        add_lora(base.model, cfg, cfg.freeze_layers)
        frozen = [name for name, p in base.model.named_parameters() if not p.requires_grad]
    core = StudentModule(base.model, projection, base.spec.pooling, base.spec.normalize)
    core.to(base.device)  # the projection (and any LoRA weights) beside the base model
    core.train(cfg.dropout)
    loss_fn = build_objective(config.loss.name, config.loss.options, config.loss.extra_weights())
    distiller = Distiller(config, core, base, teacher, loss_fn, frozen)
    if loss_fn.needs_parameter_distance:
        from .forgetting import initial_weights

        distiller.initial = initial_weights(base.model)
    if loss_fn.needs_general:
        from .forgetting import frozen_reference

        distiller.reference = frozen_reference(base.model)
    for who, model, layer in (
        ("layer", base.model, distiller.layer),
        ("teacher_layer", teacher.model, distiller.teacher_layer),
    ):
        depth = int(model.config.num_hidden_layers)
        if not -(depth + 1) <= layer <= depth:
            raise ConfigError(
                f"model.{who} = {layer}: the model has hidden states 0..{depth} "
                f"(or -1..-{depth + 1})"
            )
    return distiller


def _optimizer(core: StudentModule, config: DistillConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for param in core.parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)
    if not decay and not no_decay:
        raise ConfigError("nothing to train: every student parameter is frozen")
    groups = [
        {"params": decay, "weight_decay": config.optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return adamw([g for g in groups if g["params"]], config.optim.lr)


@torch.no_grad()
def validate(
    distiller: Distiller,
    pairs: Sequence[BitextPair],
    batch_size: int = 64,
    teacher_cache: list | None = None,
) -> dict[str, Any]:
    """Validation on held-out training bitext, student in eval mode.

    Returns ``{"loss", <loss diagnostics>, "p_at_1", "p_at_1_by_lang",
    "p_at_1_by_origin", "p_at_1_by_domain", "pairs", "candidates"}`` (by origin: per
    training source; by domain: per kind of text, :func:`optical.data.training.source_domain`):
    ``loss`` = the pair-weighted mean training objective; ``p_at_1`` = bitext retrieval
    precision at 1: for each pair, the student's pooled embedding of the source (query) is
    scored by inner product against the teacher's pooled embeddings of every distinct
    English sentence of the validation set; a hit when the top one is its own translation.
    ``teacher_cache``: a list filled with the teacher outputs on the first call and reused
    (the teacher is frozen).
    """
    if not pairs:
        return {}
    chunks = [list(pairs[i : i + batch_size]) for i in range(0, len(pairs), batch_size)]
    if teacher_cache is None:
        teacher_cache = []
    if not teacher_cache:
        teacher_cache.extend(distiller.teacher_outputs([p.english for p in c]) for c in chunks)
    totals: dict[str, float] = {}
    student_pooled, teacher_pooled = [], []
    with eval_mode(distiller.core):
        for chunk, teacher in zip(chunks, teacher_cache, strict=True):
            _loss, diagnostics, pooled = distiller.loss_on(chunk, teacher, distiller.core)
            for key, value in diagnostics.items():
                totals[key] = totals.get(key, 0.0) + value * len(chunk)
            student_pooled.append(pooled)
            teacher_pooled.append(teacher[1].pooled)
    metrics: dict[str, Any] = {key: value / len(pairs) for key, value in totals.items()}
    english_index: dict[str, int] = {}
    rows: list[int] = []
    for pair in pairs:
        rows.append(english_index.setdefault(pair.english, len(english_index)))
    teacher_all = torch.cat(teacher_pooled)
    first = {}
    for row, target in enumerate(rows):
        first.setdefault(target, row)
    candidates = teacher_all[[first[t] for t in range(len(english_index))]].float()
    scores = torch.cat(student_pooled).float() @ candidates.T
    hits = (scores.argmax(1) == torch.tensor(rows, device=scores.device)).cpu().numpy()
    metrics["p_at_1"] = float(hits.mean())
    hit_list = hits.tolist()
    metrics["p_at_1_by_lang"] = _mean_by(pairs, hit_list, lambda p: p.lang)
    metrics["p_at_1_by_origin"] = _mean_by(pairs, hit_list, lambda p: p.origin or "unknown")
    metrics["p_at_1_by_domain"] = _mean_by(pairs, hit_list, lambda p: source_domain(p.origin))
    metrics["pairs"] = len(pairs)
    metrics["candidates"] = len(english_index)
    return metrics


def _mean_by(
    pairs: Sequence[BitextPair], hits: Sequence[bool], group: Callable[[BitextPair], str]
) -> dict[str, float]:
    """The share of hits per group of pairs (groups in sorted order)."""
    by: dict[str, list[bool]] = {}
    for pair, hit in zip(pairs, hits, strict=True):
        by.setdefault(group(pair), []).append(hit)
    return {name: float(np.mean(values)) for name, values in sorted(by.items())}


def _spec_info(spec: EncoderSpec) -> dict[str, Any]:
    return {"name": spec.name, "path": spec.path, "fingerprint": spec.fingerprint()}


def _postfix(diagnostics: Mapping[str, float]) -> dict[str, str]:
    shown = {
        "loss": "loss",
        "transport_cost": "cost",
        "iterations": "it",
        "marginal_error": "merr",
        "mse": "mse",
        "lr": "lr",
    }
    out = {}
    for key, label in shown.items():
        if key in diagnostics:
            value = diagnostics[key]
            out[label] = f"{value:.0f}" if key == "iterations" else f"{value:.3g}"
    return out


class DistillTask(Task):
    """Distillation as a :class:`~optical.train.loop.Task`: the training bitext, the
    :class:`Distiller`, its checkpoint part (trainable weights, projection, frozen base
    fingerprint) and the saved student."""

    name = "distill"
    artifact = "student"
    non_finite_hint = "lower optim.lr or raise the OT eps"

    def __init__(
        self,
        config: DistillConfig,
        data_dir: str | Path | None = None,
        bitext: Mapping[str, Sequence[BitextPair]] | None = None,
        general: Mapping[str, Sequence[BitextPair]] | None = None,
    ) -> None:
        self.config, self.data_dir, self.bitext = config, data_dir, bitext
        self.general = general
        self.general_sentences = 0
        self.teacher_cache: list = []
        self.unconverged = 0

    def setup(self, dist: DistInfo) -> None:
        config = self.config
        self.split: BitextSplit = training_split(
            config.data, config.run.seed, self.data_dir, self.bitext
        )
        if not self.split.train:
            raise OpticalError("no training bitext left after the validation split and budget")
        wanted = {normalize_lang(c) for c in config.data.languages}
        missing = sorted(wanted - set(self.split.train))
        if missing and dist.main:
            logger.warning(
                "[distill] no training bitext for requested language(s) %s", ", ".join(missing)
            )
        self.sampler: TemperatureSampler | MixedSampler = TemperatureSampler(
            self.split.train, config.data.temperature, config.run.seed
        )
        if config.data.general_ratio > 0:
            self.sampler = self._mixed(self.sampler, dist)
        self.distiller = build_distiller(config, dist.device)
        if self.distiller.loss_fn.needs_token_weights:
            self.distiller.set_idf([p for pairs in self.split.train.values() for p in pairs])
        self.model = self.distiller.core
        self.base_fingerprint = self.distiller.student_encoder.spec.fingerprint()

    def _mixed(self, bitext: TemperatureSampler, dist: DistInfo) -> MixedSampler:
        """The sampler with ``data.general_ratio`` of general-domain slots."""
        config = self.config
        cells = (config.optim.grad_accum, dist.world_size)
        if config.optim.batch_size // (cells[0] * cells[1]) < 2:
            raise ConfigError(
                "data.general_ratio > 0 needs at least 2 items per rank and micro-batch "
                "(optim.batch_size / (grad_accum × world size))"
            )
        general = general_pool(config.data, self.split.validation, self.data_dir, self.general)
        if not general:
            raise OpticalError(f"no general-domain English in {list(config.data.general_sources)}")
        self.general_sentences = len(general)
        return MixedSampler(bitext, general, config.data.general_ratio, config.run.seed, cells)

    def optimizer(self) -> torch.optim.Optimizer:
        return _optimizer(self.distiller.core, self.config)

    def ddp_options(self) -> dict[str, Any]:
        return {"find_unused_parameters": self.distiller.layer != -1}

    def describe(self) -> dict[str, Any]:
        d, core = self.distiller, self.distiller.core
        return {
            "student": _spec_info(d.student_encoder.spec),
            "teacher": _spec_info(d.teacher.spec),
            "student_dim": int(d.student_encoder.model.config.hidden_size),
            "teacher_dim": d.teacher.dim,
            "projection": core.projection is not None,
            "pool": None if self.split.pool is None else self.split.pool.to_dict(),
            "train_pairs": self.split.sizes(),
            "sampling_probabilities": self.sampler.probability_table(),
            "validation_pairs": len(self.split.validation),
            "general_sentences": self.general_sentences,
            "trainable_parameters": sum(p.numel() for p in core.parameters() if p.requires_grad),
            "frozen_parameters": sum(p.numel() for p in core.parameters() if not p.requires_grad),
        }

    def loss(
        self, items: Sequence[BitextPair], module: nn.Module
    ) -> tuple[torch.Tensor, dict[str, float]]:
        loss, diagnostics, _ = self.distiller.loss_on(items, module=module)
        return loss, diagnostics

    def postfix(self, record: Mapping[str, float]) -> dict[str, str]:
        return _postfix(record)

    def on_step(self, record: Mapping[str, float]) -> None:
        self.unconverged += int(record.get("converged", 1.0) < 1.0)

    def closing_note(self, steps: int) -> str | None:
        if not self.unconverged:
            return None
        return (
            f"the OT solver did not reach its tolerance in {self.unconverged} of {steps} "
            "steps (raise loss.options.max_iter or eps)"
        )

    @property
    def has_validation(self) -> bool:
        return bool(self.split.validation)

    def validate(self) -> dict[str, Any]:
        return validate(
            self.distiller,
            self.split.validation,
            self.config.run.eval_batch_size,
            self.teacher_cache,
        )

    def validation_score(self, result: Mapping[str, Any]) -> float:
        """Early stopping's score: the mean over the validation pairs' corpora
        (``p_at_1_by_origin``) of bitext-retrieval P@1, so questions, news and
        conversational text weigh alike (the held-out split of the training pool)."""
        by_origin = result.get("p_at_1_by_origin") or {}
        if by_origin:
            return float(np.mean(list(by_origin.values())))
        return float(result.get("p_at_1", -math.inf))

    def validation_message(self, result: Mapping[str, Any]) -> str:
        return (
            f"validation loss {result['loss']:.4g}, P@1 {result['p_at_1']:.3f} "
            f"({result['pairs']} pairs)"
        )

    def checkpoint_state(self) -> dict[str, Any]:
        core = self.distiller.core
        return {
            "model": {n: p.detach() for n, p in core.model.named_parameters() if p.requires_grad},
            "projection": {} if core.projection is None else core.projection.state_dict(),
            "frozen": {"base": self.base_fingerprint, "names": self.distiller.frozen_names},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        frozen = state.get("frozen", {})
        if frozen.get("base") not in (None, self.base_fingerprint):
            raise OpticalError(
                "cannot resume: the student's base weights changed since the checkpoint was "
                "written (their frozen parts are not stored in checkpoints)"
            )
        core = self.distiller.core
        expected = {n for n, p in core.model.named_parameters() if p.requires_grad}
        if set(state["model"]) != expected:
            raise OpticalError("cannot resume: the checkpoint's trainable parameters do not match")
        core.model.load_state_dict(state["model"], strict=False)
        if core.projection is not None:
            core.projection.load_state_dict(state["projection"])
        elif state["projection"]:
            raise OpticalError("cannot resume: the checkpoint has a projection, this run none")

    def step_info(self, info: LoopStep) -> StepInfo:
        return StepInfo(
            info.step,
            info.record["loss"],
            info.record,
            info.items,
            info.rank,
            info.world_size,
            info.validation,
            self.distiller.core,
        )

    def is_complete(self, folder: Path, steps: int) -> bool:
        return student_is_complete(folder, steps)

    def save(self, folder: Path, validation: dict[str, Any], resolved: dict[str, Any]) -> None:
        d, config = self.distiller, self.config
        core = d.core
        if config.model.adapter == "lora":
            from .forgetting import merged_copy

            core = StudentModule(
                merged_copy(core.model), core.projection, core.pooling, core.normalize
            )
        save_student(
            folder,
            core,
            d.student_encoder.tokenizer,
            d.student_encoder.spec,
            {
                "base": _spec_info(d.student_encoder.spec),
                "teacher": config.model.teacher,
                "teacher_spec": _spec_info(d.teacher.spec),
                "layer": config.model.layer,
                "teacher_layer": d.teacher_layer,
                "loss": config.loss.name,
                "loss_options": config.loss.options,
                "adapter": config.model.adapter,
                "steps": config.optim.max_steps,
                "validation": validation,
                "config": resolved,
            },
        )


def train_distill(
    config: DistillConfig | str | Path,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    resume: bool = False,
    *,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
    callbacks: Sequence[Callback] = (),
    cache: str | Path | None = None,
    general: Mapping[str, Sequence[BitextPair]] | None = None,
    device: str | None = None,
) -> Path:
    """Distil the teacher into the student on training bitext; return the student folder.

    Args:
        config: a :class:`DistillConfig` or the path of its TOML file.
        out_dir: output folder (see the module docstring).
        data_dir: the reference data (else ``$OPTICAL_DATA_DIR``); read only through
            :func:`optical.data.training.training_bitext`.
        resume: continue from the newest checkpoint in ``out_dir/checkpoints`` (start
            fresh when there is none). Without it, an ``out_dir`` that already has
            checkpoints is an error.
        bitext: language → pairs to use instead of reading ``training_bitext`` (tests, or a
            caller that already loaded it); ``data.languages`` still filters it.
        callbacks: called with a :class:`StepInfo` after every optimizer step; an exception
            from one stops training (the last checkpoint stays usable).
        cache: the cache root (``--cache-dir``) for the models built on first use, such as
            the dequantized e5 folder (default :func:`optical.settings.cache_dir`).
        general: language → pairs whose English sides are the general-domain sentences
            (``data.general_ratio``) instead of reading ``data.general_sources`` (tests).
        device: replaces the config's ``run.device`` (``--device``; a run-only key, so a
            run may resume on another device).

    Raises:
        ConfigError: inconsistent config (batch not divisible by ``grad_accum × world
            size``, resuming with a changed config, …).
        OpticalError: non-finite loss, unreadable checkpoint, missing data.
    """
    if not isinstance(config, DistillConfig):
        config = load_distill_config(config)
    if device is not None:
        config = config.with_overrides(run={"device": device})
    with use_cache_dir(cache):
        task = DistillTask(config, data_dir, bitext, general)
        return fit(task, out_dir, resume, callbacks)
