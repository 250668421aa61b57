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

Output folder: ``config.json`` (resolved config), ``metrics.jsonl`` (training and
validation records), ``checkpoints/``, ``student/`` (the saved student, returned).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, OpticalError
from ..io_utils import atomic_write_json
from ..languages import normalize_lang
from ..losses import DistillationLoss, EncodedPair, anchor_mse, build_loss
from ..models.encoder import Encoder
from ..models.registry import EncoderSpec, resolve_encoder
from ..models.student import (
    STUDENT_FILE,
    StudentModule,
    eval_mode,
    is_student_folder,
    load_any_encoder,
    save_student,
)
from ..ot import OTConvergenceWarning
from ..precision import use_bf16
from ..types import BitextPair
from .checkpoint import load_checkpoint, save_checkpoint
from .config import RESUME_FREE_KEYS, DistillConfig, config_differences, load_distill_config
from .runtime import (
    DistInfo,
    append_metrics,
    barrier,
    derive_seed,
    init_distributed,
    linear_schedule,
    run_start,
    truncate_metrics,
)
from .sampling import BitextSplit, TemperatureSampler, micro_batches, shard, split_bitext
from .student import build_projection, freeze_parameters, tokenize_with_prefix

__all__ = [
    "Distiller",
    "StepInfo",
    "build_distiller",
    "linear_schedule",
    "train_distill",
    "validate",
]


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

    ``student`` is the module called in the forward pass (a ``DistributedDataParallel``
    wrapper under DDP); ``core`` the underlying :class:`StudentModule`; ``student_encoder``
    the base encoder (tokenizer, spec, prefixes); ``teacher`` the frozen teacher.
    """

    config: DistillConfig
    core: StudentModule
    student_encoder: Encoder
    teacher: Encoder
    loss_fn: DistillationLoss
    frozen_names: list[str]
    student: nn.Module = field(init=False)
    student_idf: torch.Tensor | None = None
    """``[V_student]`` token IDF (OT marginals ``"weights"``), set by :meth:`set_idf`."""
    teacher_idf: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.student = self.core

    @property
    def layer(self) -> int:
        return self.config.model.layer

    @property
    def teacher_layer(self) -> int:
        layer = self.config.model.teacher_layer
        return self.config.model.layer if layer is None else layer

    @property
    def uses_token_weights(self) -> bool:
        return self.config.loss.name == "ot" and (
            self.config.loss.options.get("marginals") == "weights"
        )

    def set_idf(self, pairs: Sequence[BitextPair]) -> None:
        """Token IDF of the sources (student tokenizer) and the English sides (teacher
        tokenizer) of ``pairs`` (the training pool): the OT marginals when
        ``marginals = "weights"`` (:mod:`optical.train.idf`)."""
        from .idf import idf_table

        student_vocab = int(self.student_encoder.model.config.vocab_size)
        teacher_vocab = int(self.teacher.model.config.vocab_size)
        self.student_idf = idf_table(
            self.student_encoder.tokenizer, [p.source for p in pairs], student_vocab
        )
        self.teacher_idf = idf_table(
            self.teacher.tokenizer, [p.english for p in pairs], teacher_vocab
        )

    def alignment_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``[B, L]`` bool: the tokens that take part in the token alignment."""
        mask = batch["attention_mask"].bool()
        if self.config.model.exclude_special:
            mask = mask & ~batch["special_tokens_mask"].bool()
        if self.config.model.exclude_prefix:
            mask = mask & ~batch["prefix_mask"]
        return mask

    def teacher_outputs(self, english: Sequence[str]) -> tuple[dict[str, torch.Tensor], Any]:
        """Tokenized English and the teacher's :class:`TokenOutput` (no gradient)."""
        batch = tokenize_with_prefix(self.teacher, english, "query", self.config.model.max_length)
        with torch.no_grad():
            return batch, self.teacher.forward(batch, layer=self.teacher_layer)

    def loss_on(
        self,
        pairs: Sequence[BitextPair],
        teacher: tuple[dict, Any] | None = None,
        module: nn.Module | None = None,
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """Loss of one micro-batch; returns ``(loss, diagnostics, student_pooled [B, d])``.

        ``teacher``: precomputed :meth:`teacher_outputs` for ``pairs`` (validation);
        ``module``: the student module to call (default :attr:`student`; validation passes
        :attr:`core` to bypass DDP).
        """
        cfg = self.config
        sources = [p.source for p in pairs]
        english = [p.english for p in pairs]
        anchor = cfg.loss.anchor_weight > 0
        texts = sources + english if anchor else sources
        s_batch = tokenize_with_prefix(self.student_encoder, texts, "query", cfg.model.max_length)
        t_batch, t_out = teacher if teacher is not None else self.teacher_outputs(english)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16(cfg.model.bf16)):
            s_tokens, s_pooled = (module or self.student)(
                s_batch["input_ids"],
                s_batch["attention_mask"],
                s_batch.get("token_type_ids"),
                layer=self.layer,
            )
        n = len(pairs)
        weights = {}
        if self.uses_token_weights:
            if self.student_idf is None or self.teacher_idf is None:
                raise OpticalError("OT marginals 'weights' need token IDF: call set_idf first")
            weights = {
                "student_weights": self.student_idf[s_batch["input_ids"][:n]],
                "teacher_weights": self.teacher_idf[t_batch["input_ids"]],
            }
        pair = EncodedPair(
            student_tokens=s_tokens[:n],
            student_mask=self.alignment_mask(s_batch)[:n],
            student_pooled=s_pooled[:n],
            teacher_tokens=t_out.tokens,
            teacher_mask=self.alignment_mask(t_batch),
            teacher_pooled=t_out.pooled,
            **weights,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OTConvergenceWarning)  # reported as `converged`
            out = self.loss_fn(pair)
        loss = out.loss
        diagnostics = dict(out.diagnostics)
        diagnostics[self.loss_fn.name] = float(out.loss.detach())
        if cfg.loss.pooled_mse_weight > 0:
            pooled = anchor_mse(s_pooled[:n], t_out.pooled)
            loss = loss + cfg.loss.pooled_mse_weight * pooled
            diagnostics["pooled_mse"] = float(pooled.detach())
        if anchor:
            drift = anchor_mse(s_pooled[n:], t_out.pooled)
            loss = loss + cfg.loss.anchor_weight * drift
            diagnostics["anchor_mse"] = float(drift.detach())
        diagnostics["loss"] = float(loss.detach())
        return loss, diagnostics, s_pooled[:n].detach()


def _load_base_student(name: str, bf16: bool) -> Encoder:
    if is_student_folder(name):
        raise ConfigError(
            f"model.student {name!r} is a distilled student; distilling from a distilled "
            "student is not supported: start from its base model"
        )
    return Encoder.load(resolve_encoder(name), bf16=bf16)


def build_distiller(config: DistillConfig) -> Distiller:
    """Load the student (trainable, frozen parts set) and the teacher (frozen), and the
    projection (initialised from ``run.seed``) and the loss of ``config``."""
    cfg = config.model
    base = _load_base_student(cfg.student, cfg.bf16)
    teacher = load_any_encoder(cfg.teacher, bf16=cfg.bf16)
    teacher.model.eval()
    for param in teacher.model.parameters():
        param.requires_grad_(False)
    base.model.train(cfg.dropout)
    student_dim = int(base.model.config.hidden_size)
    projection = build_projection(student_dim, teacher.dim, cfg.projection, config.run.seed)
    for param in base.model.parameters():
        param.requires_grad_(True)
    frozen = freeze_parameters(base.model, cfg.freeze_embeddings, cfg.freeze_layers)
    core = StudentModule(base.model, projection, base.spec.pooling, base.spec.normalize)
    core.train(cfg.dropout)
    loss_fn = build_loss(config.loss.name, **config.loss.options)
    distiller = Distiller(config, core, base, teacher, loss_fn, frozen)
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


def _trainable(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters() if p.requires_grad}


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
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.optim.lr)


@torch.no_grad()
def validate(
    distiller: Distiller,
    pairs: Sequence[BitextPair],
    batch_size: int = 64,
    teacher_cache: list | None = None,
) -> dict[str, Any]:
    """Validation on held-out training bitext, student in eval mode.

    Returns ``{"loss", <loss diagnostics>, "p_at_1", "p_at_1_by_lang", "pairs"}``:
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
    hits = (scores.argmax(1) == torch.tensor(rows)).numpy()
    metrics["p_at_1"] = float(hits.mean())
    by_lang: dict[str, list[bool]] = {}
    for pair, hit in zip(pairs, hits.tolist(), strict=True):
        by_lang.setdefault(pair.lang, []).append(hit)
    metrics["p_at_1_by_lang"] = {lang: float(np.mean(v)) for lang, v in sorted(by_lang.items())}
    metrics["pairs"] = len(pairs)
    metrics["candidates"] = len(english_index)
    return metrics


def _load_bitext(
    config: DistillConfig,
    data_dir: str | Path | None,
    bitext: Mapping[str, Sequence[BitextPair]] | None,
) -> dict[str, list[BitextPair]]:
    if bitext is None:
        from ..data.training import training_bitext

        return training_bitext(data_dir, config.data.sources, list(config.data.languages) or None)
    wanted = {normalize_lang(code) for code in config.data.languages} or None
    return {lang: list(pairs) for lang, pairs in bitext.items() if wanted is None or lang in wanted}


def _student_is_complete(folder: Path, steps: int) -> bool:
    if not is_student_folder(folder):
        return False
    try:
        info = json.loads((folder / STUDENT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return info.get("steps") == steps


def _spec_info(spec: EncoderSpec) -> dict[str, Any]:
    return {"name": spec.name, "path": spec.path, "fingerprint": spec.fingerprint()}


def _mean_diagnostics(records: list[dict[str, float]]) -> dict[str, float]:
    keys = {key for record in records for key in record}
    return {key: float(np.mean([r[key] for r in records if key in r])) for key in sorted(keys)}


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


def train_distill(
    config: DistillConfig | str | Path,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    resume: bool = False,
    *,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
    callbacks: Sequence[Callback] = (),
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

    Raises:
        ConfigError: inconsistent config (batch not divisible by ``grad_accum × world
            size``, resuming with a changed config, …).
        OpticalError: non-finite loss, unreadable checkpoint, missing data.
    """
    if not isinstance(config, DistillConfig):
        config = load_distill_config(config)
    dist_info = init_distributed()
    threads = torch.get_num_threads()
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    try:
        return _train(config, Path(out_dir), data_dir, resume, bitext, callbacks, dist_info)
    finally:
        torch.set_num_threads(threads)
        if dist_info.initialised_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(
    config: DistillConfig,
    out_dir: Path,
    data_dir: str | Path | None,
    resume: bool,
    bitext: Mapping[str, Sequence[BitextPair]] | None,
    callbacks: Sequence[Callback],
    dist_info: DistInfo,
) -> Path:
    from tqdm.auto import tqdm

    optim, run = config.optim, config.run
    rank, world = dist_info.rank, dist_info.world_size
    per_rank, checkpoint = run_start(optim.batch_size, optim.grad_accum, world, out_dir, resume)
    ckpt_dir = out_dir / "checkpoints"
    torch.manual_seed(config.run.seed)

    split: BitextSplit = split_bitext(
        _load_bitext(config, data_dir, bitext),
        config.run.seed,
        validation_per_language=config.data.validation_pairs_per_language,
        fraction=config.data.fraction,
        max_pairs_per_language=config.data.max_pairs_per_language,
    )
    if not split.train:
        raise OpticalError("no training bitext left after the validation split and budget")
    missing = sorted({normalize_lang(c) for c in config.data.languages} - set(split.train))
    if missing and dist_info.main:
        print(f"[distill] no training bitext for requested language(s) {', '.join(missing)}")
    sampler = TemperatureSampler(split.train, config.data.temperature, config.run.seed)
    distiller = build_distiller(config)
    if distiller.uses_token_weights:
        distiller.set_idf([p for pairs in split.train.values() for p in pairs])
    core = distiller.core
    optimizer = _optimizer(core, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(optim.warmup_steps, optim.max_steps)
    )
    base_fingerprint = distiller.student_encoder.spec.fingerprint()
    start_step, last_validation = 0, {}
    if checkpoint is not None:
        start_step, last_validation = _restore(
            load_checkpoint(checkpoint),
            config,
            distiller,
            optimizer,
            scheduler,
            sampler,
            base_fingerprint,
        )
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        distiller.student = DistributedDataParallel(
            core, find_unused_parameters=distiller.layer != -1
        )

    resolved = {
        **config.to_dict(),
        "resolved": {
            "student": _spec_info(distiller.student_encoder.spec),
            "teacher": _spec_info(distiller.teacher.spec),
            "student_dim": int(distiller.student_encoder.model.config.hidden_size),
            "teacher_dim": distiller.teacher.dim,
            "projection": core.projection is not None,
            "world_size": world,
            "per_rank_micro_batch": per_rank,
            "train_pairs": split.sizes(),
            "sampling_probabilities": dict(
                zip(sampler.languages, sampler.probabilities.round(6).tolist(), strict=True)
            ),
            "validation_pairs": len(split.validation),
            "trainable_parameters": sum(p.numel() for p in core.parameters() if p.requires_grad),
            "frozen_parameters": sum(p.numel() for p in core.parameters() if not p.requires_grad),
        },
    }
    metrics_path = out_dir / "metrics.jsonl"
    if dist_info.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "config.json", resolved)
        truncate_metrics(metrics_path, start_step)
    barrier(dist_info)

    teacher_cache: list = []

    def run_validation(step: int) -> dict[str, Any]:
        result = validate(distiller, split.validation, run.eval_batch_size, teacher_cache)
        append_metrics(metrics_path, {"step": step, "validation": result})
        bar.write(
            f"[distill] step {step}: validation loss {result['loss']:.4g}, "
            f"P@1 {result['p_at_1']:.3f} ({result['pairs']} pairs)"
        )
        return result

    def write_checkpoint(step: int, metrics: dict[str, Any]) -> None:
        state = {
            "format": 1,
            "step": step,
            "model": {n: p.detach() for n, p in core.model.named_parameters() if p.requires_grad},
            "projection": {} if core.projection is None else core.projection.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "sampler": sampler.state_dict()},
            "config": resolved,
            "frozen": {"base": base_fingerprint, "names": distiller.frozen_names},
            "metrics": metrics,
        }
        save_checkpoint(ckpt_dir, state, keep=run.keep_checkpoints)

    trainable = [p for p in core.parameters() if p.requires_grad]
    bar = tqdm(
        total=optim.max_steps,
        initial=start_step,
        desc=f"distill {config.name}",
        disable=not (run.progress and dist_info.main),
        dynamic_ncols=True,
    )
    validating = dist_info.main and bool(split.validation)
    if run.eval_at_start and start_step == 0 and validating:
        last_validation = run_validation(0)
    barrier(dist_info)
    unconverged = 0
    try:
        for step in range(start_step, optim.max_steps):
            started = time.perf_counter()
            global_batch = sampler.next_batch(optim.batch_size)
            torch.manual_seed(derive_seed(config.run.seed, "dropout", step, rank))
            records, seen = [], []
            for index, micro in enumerate(micro_batches(global_batch, optim.grad_accum)):
                local = shard(micro, rank, world)
                seen.extend(local)
                sync = world == 1 or index == optim.grad_accum - 1
                context = contextlib.nullcontext() if sync else distiller.student.no_sync()
                with context:
                    loss, diagnostics, _ = distiller.loss_on(local)
                    if not torch.isfinite(loss):
                        raise OpticalError(
                            f"non-finite training loss at step {step + 1}: {diagnostics}; "
                            "lower optim.lr or raise the OT eps"
                        )
                    (loss / optim.grad_accum).backward()
                records.append(diagnostics)
            max_norm = optim.max_grad_norm if optim.max_grad_norm > 0 else math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, max_norm))
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            diagnostics = _mean_diagnostics(records)
            diagnostics.update(lr=lr, grad_norm=grad_norm, step_s=time.perf_counter() - started)
            unconverged += int(diagnostics.get("converged", 1.0) < 1.0)
            bar.set_postfix(_postfix(diagnostics), refresh=False)
            bar.update(1)
            if dist_info.main and run.log_every and done % run.log_every == 0:
                append_metrics(metrics_path, {"step": done, **diagnostics})
            validation = None
            final = done == optim.max_steps
            if validating and run.eval_every and (done % run.eval_every == 0 or final):
                validation = last_validation = run_validation(done)
            checkpoint_due = final or (run.checkpoint_every and done % run.checkpoint_every == 0)
            if checkpoint_due and dist_info.main:
                write_checkpoint(done, last_validation)
            barrier(dist_info)
            info = StepInfo(
                done, diagnostics["loss"], diagnostics, tuple(seen), rank, world, validation, core
            )
            for callback in callbacks:
                callback(info)
    finally:
        bar.close()
    if unconverged and dist_info.main:
        print(
            f"[distill] the OT solver did not reach its tolerance in {unconverged} of "
            f"{optim.max_steps - start_step} steps (raise loss.options.max_iter or eps)"
        )
    folder = out_dir / "student"
    if start_step == optim.max_steps and _student_is_complete(folder, optim.max_steps):
        return folder  # resumed a finished run: keep the saved student (and its fingerprint)
    if dist_info.main:
        save_student(
            folder,
            core,
            distiller.student_encoder.tokenizer,
            distiller.student_encoder.spec,
            {
                "base": _spec_info(distiller.student_encoder.spec),
                "teacher": config.model.teacher,
                "teacher_spec": _spec_info(distiller.teacher.spec),
                "layer": config.model.layer,
                "teacher_layer": distiller.teacher_layer,
                "loss": config.loss.name,
                "loss_options": config.loss.options,
                "steps": optim.max_steps,
                "validation": last_validation,
                "config": resolved,
            },
        )
    barrier(dist_info)
    return folder


def _restore(
    state: dict[str, Any],
    config: DistillConfig,
    distiller: Distiller,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    sampler: TemperatureSampler,
    base_fingerprint: str,
) -> tuple[int, dict[str, Any]]:
    """Load a checkpoint into the freshly built run; return (step, last validation)."""
    saved = {k: v for k, v in state["config"].items() if k != "resolved"}
    changed = [
        key for key in config_differences(saved, config.to_dict()) if key not in RESUME_FREE_KEYS
    ]
    if changed:
        raise ConfigError(
            "cannot resume: the config differs from the checkpoint's in "
            f"{', '.join(changed)}; restore those values or start a new output folder"
        )
    frozen = state.get("frozen", {})
    if frozen.get("base") not in (None, base_fingerprint):
        raise OpticalError(
            "cannot resume: the student's base weights changed since the checkpoint was "
            "written (their frozen parts are not stored in checkpoints)"
        )
    core = distiller.core
    expected = {n for n, p in core.model.named_parameters() if p.requires_grad}
    if set(state["model"]) != expected:
        raise OpticalError("cannot resume: the checkpoint's trainable parameters do not match")
    core.model.load_state_dict(state["model"], strict=False)
    if core.projection is not None:
        core.projection.load_state_dict(state["projection"])
    elif state["projection"]:
        raise OpticalError("cannot resume: the checkpoint has a projection, this run none")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    sampler.load_state_dict(state["rng"]["sampler"])
    torch.set_rng_state(state["rng"]["torch"])
    return int(state["step"]), dict(state.get("metrics") or {})
