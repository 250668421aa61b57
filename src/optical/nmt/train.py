"""``optical train-nmt``: train the in-project NMT model on the training bitext only.

One optimizer step (``G`` = ``optim.batch_size`` examples, ``A`` = ``grad_accum``,
``W`` ranks)::

    batch = sampler.next_batch(G)        # temperature-sampled over (direction, language)
    seed dropout from (seed, step, rank)
    for each of the A micro-batches, this rank's shard (G / (A W) examples):
        h = cached frozen-encoder states of the sources          # no gradient
        L = label-smoothed cross-entropy of <2xx> y … </s> given h  (optical.nmt.model)
        backward(L / A)                                           # DDP averages ranks
    clip, AdamW step, linear warm-up / decay

An example is a training pair read in one direction: ``xx-en`` (source = the
non-English side, target English) or ``en-xx`` (source English, target the language,
with its tag). The validation pairs (:func:`optical.train.sampling.split_bitext`, the
same split distillation uses) give a validation loss and the chrF of greedy
translations; NTREX is never read here.

Output folder: ``config.json`` (resolved config), ``metrics.jsonl``, ``checkpoints/``
(atomic; ``resume=True`` continues the newest exactly), ``model/`` (the saved model,
returned; :mod:`optical.nmt.package`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, OpticalError
from ..io_utils import atomic_write_json
from ..languages import normalize_lang
from ..settings import cache_dir
from ..train.checkpoint import load_checkpoint, save_checkpoint
from ..train.config import RESUME_FREE_KEYS, config_differences
from ..train.runtime import (
    DistInfo,
    append_metrics,
    barrier,
    derive_seed,
    init_distributed,
    linear_schedule,
    run_start,
    truncate_metrics,
)
from ..train.sampling import TemperatureSampler, micro_batches, shard, split_bitext
from ..types import BitextPair
from .config import NmtConfig, load_nmt_config
from .model import NmtModel, pad_states, pad_targets, sequence_loss
from .package import is_nmt_folder, read_info, save_nmt
from .states import SourceStates
from .vocab import EOS, CompactVocab, build_vocab

__all__ = ["NmtExample", "NmtStepInfo", "examples_from_bitext", "train_nmt"]


@dataclass(frozen=True)
class NmtStepInfo:
    """What a callback sees after each optimizer step (on every rank): steps done, the
    step's record (loss, lr, grad norm, tokens, seconds), the examples this rank trained
    on, the rank, the world size and the (unwrapped) model."""

    step: int
    record: dict[str, Any]
    examples: tuple[NmtExample, ...]
    rank: int
    world_size: int
    model: NmtModel


@dataclass(frozen=True)
class NmtExample:
    """One training pair read in one direction (``target_lang`` = language of ``target``)."""

    source: str
    target: str
    source_lang: str
    target_lang: str

    @property
    def direction(self) -> str:
        return f"{self.source_lang}-{self.target_lang}"


def examples_from_bitext(
    pairs: Mapping[str, Sequence[BitextPair]], directions: Sequence[str]
) -> dict[str, list[NmtExample]]:
    """Pools keyed ``"<src>-<tgt>"``: ``xx-en`` and/or ``en-xx`` per language."""
    pools: dict[str, list[NmtExample]] = {}
    for lang in sorted(pairs):
        if "xx-en" in directions:
            pools[f"{lang}-en"] = [NmtExample(p.source, p.english, lang, "en") for p in pairs[lang]]
        if "en-xx" in directions:
            pools[f"en-{lang}"] = [NmtExample(p.english, p.source, "en", lang) for p in pairs[lang]]
    return {key: pool for key, pool in pools.items() if pool}


class _Batcher:
    """Examples → padded tensors (states looked up, targets tokenized and tagged)."""

    def __init__(
        self,
        states: dict[str, np.ndarray],
        targets: dict[tuple[str, str], list[int]],
        vocab: CompactVocab,
        config: NmtConfig,
    ) -> None:
        self.states, self.targets, self.vocab, self.config = states, targets, vocab, config

    def __call__(
        self, examples: Sequence[NmtExample]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        states, mask = pad_states(
            [self.states[e.source] for e in examples], self.config.model.max_source_length
        )
        targets = pad_targets(
            [
                [
                    self.vocab.tag(e.target_lang),
                    *self.vocab.encode(self.targets[(e.target_lang, e.target)]),
                    EOS,
                ]
                for e in examples
            ]
        )
        return states, mask, targets


def _tokenize_targets(
    tokenizer, examples: Sequence[NmtExample], limit: int
) -> dict[tuple[str, str], list[int]]:
    keys = sorted({(e.target_lang, e.target) for e in examples})
    ids = tokenizer([text for _, text in keys], add_special_tokens=False)["input_ids"]
    return {key: list(seq[:limit]) for key, seq in zip(keys, ids, strict=True)}


def _optimizer(model: NmtModel, config: NmtConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (
            no_decay if param.ndim < 2 or "LayerNorm" in name or name.endswith("bias") else decay
        ).append(param)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.optim.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.optim.lr,
    )


@torch.no_grad()
def validate(
    model: NmtModel,
    batcher: _Batcher,
    examples: Sequence[NmtExample],
    config: NmtConfig,
    tokenizer,
) -> dict[str, Any]:
    """Validation loss over ``examples`` and chrF (sacrebleu) of greedy translations of
    the first ``decode.validation_sentences`` examples per direction kind."""
    import sacrebleu

    was_training = model.training
    model.eval()
    try:
        total, tokens = 0.0, 0
        size = config.run.eval_batch_size
        for start in range(0, len(examples), size):
            loss, n = sequence_loss(
                model, *batcher(examples[start : start + size]), 0.0, config.model.bf16
            )
            total += float(loss) * n
            tokens += n
        result: dict[str, Any] = {"loss": total / max(1, tokens), "examples": len(examples)}
        for kind, into_english in (("xx-en", True), ("en-xx", False)):
            chosen = [e for e in examples if (e.target_lang == "en") == into_english]
            chosen = chosen[: config.decode.validation_sentences]
            if not chosen:
                continue
            hypotheses = []
            for start in range(0, len(chosen), size):
                part = chosen[start : start + size]
                states, mask, _ = batcher(part)
                by_lang: dict[str, list[int]] = {}
                for i, e in enumerate(part):
                    by_lang.setdefault(e.target_lang, []).append(i)
                out: list[str] = [""] * len(part)
                for lang, rows in by_lang.items():
                    ids = model.generate(
                        states[rows],
                        mask[rows],
                        lang,
                        1,
                        config.decode.max_new_tokens,
                        config.model.bf16,
                    )
                    for row, seq in zip(rows, ids, strict=True):
                        out[row] = tokenizer.decode(
                            model.vocab.decode(seq), skip_special_tokens=True
                        ).strip()
                hypotheses.extend(out)
            result[f"chrF_{kind}"] = sacrebleu.corpus_chrf(
                hypotheses, [[e.target for e in chosen]]
            ).score
        return result
    finally:
        model.train(was_training)


def train_nmt(
    config: NmtConfig | str | Path,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    resume: bool = False,
    *,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
    cache: str | Path | None = None,
    callbacks: Sequence[Callable[[NmtStepInfo], None]] = (),
) -> Path:
    """Train the NMT model; return the saved model folder (``out_dir/model``).

    ``bitext`` replaces :func:`optical.data.training.training_bitext` (tests, callers that
    already hold it); ``data.languages`` still filters it. ``cache``: the cache root of
    the source states (default :func:`optical.settings.cache_dir`). ``resume``: continue
    from the newest checkpoint (without it, a folder with checkpoints is an error).
    ``callbacks`` are called with an :class:`NmtStepInfo` after every optimizer step; an
    exception from one stops training (the last checkpoint stays usable).
    """
    if not isinstance(config, NmtConfig):
        config = load_nmt_config(config)
    dist_info = init_distributed()
    threads = torch.get_num_threads()
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    try:
        return _train(config, Path(out_dir), data_dir, resume, bitext, cache, callbacks, dist_info)
    finally:
        torch.set_num_threads(threads)
        if dist_info.initialised_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _load_pairs(config: NmtConfig, data_dir, bitext) -> dict[str, list[BitextPair]]:
    wanted = [normalize_lang(code) for code in config.data.languages] or None
    if bitext is None:
        from ..data.training import training_bitext

        return training_bitext(data_dir, config.data.sources, wanted)
    return {lang: list(p) for lang, p in bitext.items() if wanted is None or lang in wanted}


def _model_is_complete(folder: Path, steps: int) -> bool:
    if not is_nmt_folder(folder):
        return False
    try:
        return read_info(folder).get("steps") == steps
    except OpticalError:
        return False


def _train(
    config: NmtConfig,
    out_dir: Path,
    data_dir,
    resume: bool,
    bitext,
    cache,
    callbacks: Sequence[Callable[[NmtStepInfo], None]],
    dist_info: DistInfo,
) -> Path:
    from tqdm.auto import tqdm

    from ..models.student import load_any_encoder

    optim, run = config.optim, config.run
    rank, world = dist_info.rank, dist_info.world_size
    per_rank, checkpoint = run_start(optim.batch_size, optim.grad_accum, world, out_dir, resume)
    ckpt_dir = out_dir / "checkpoints"
    torch.manual_seed(run.seed)
    split = split_bitext(
        _load_pairs(config, data_dir, bitext),
        run.seed,
        validation_per_language=config.data.validation_pairs_per_language,
        fraction=config.data.fraction,
        max_pairs_per_language=config.data.max_pairs_per_language,
    )
    pools = examples_from_bitext(split.train, config.data.directions)
    if not pools:
        raise OpticalError("no training bitext left after the validation split and budget")
    validation = [
        e
        for pool in examples_from_bitext(
            {
                lang: [p for p in split.validation if p.lang == lang]
                for lang in {p.lang for p in split.validation}
            },
            config.data.directions,
        ).values()
        for e in pool
    ]
    sampler = TemperatureSampler(pools, config.data.temperature, run.seed)

    encoder = load_any_encoder(config.model.encoder, bf16=config.model.bf16)
    tokenizer = encoder.tokenizer
    every = [e for pool in pools.values() for e in pool]
    limit = config.model.max_target_length - 2
    train_targets = _tokenize_targets(tokenizer, every, limit)
    languages = {e.target_lang for e in every} | {e.target_lang for e in validation}
    vocab = build_vocab(train_targets.values(), languages, config.model.vocab_size)
    targets = {**_tokenize_targets(tokenizer, validation, limit), **train_targets}

    sources = sorted({e.source for e in every} | {e.source for e in validation})
    states_cache = SourceStates(encoder, cache_dir(cache))
    if not dist_info.main:
        barrier(dist_info)  # rank 0 encodes and caches first; the others then read
    state_list = states_cache(
        sources, progress="nmt source states" if run.progress and dist_info.main else False
    )
    if dist_info.main:
        barrier(dist_info)
    states = dict(zip(sources, state_list, strict=True))
    batcher = _Batcher(states, targets, vocab, config)

    torch.manual_seed(derive_seed(run.seed, "init"))
    core = NmtModel(config.model, vocab, encoder.dim)
    initialised = False
    if config.model.init_from_encoder:
        initialised = core.init_embeddings(
            encoder.model.get_input_embeddings().weight.detach().float()
        )
    optimizer = _optimizer(core, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(optim.warmup_steps, optim.max_steps)
    )
    start_step, last_validation = 0, {}
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        saved = {k: v for k, v in state["config"].items() if k != "resolved"}
        changed = [
            k for k in config_differences(saved, config.to_dict()) if k not in RESUME_FREE_KEYS
        ]
        if changed:
            raise ConfigError(
                "cannot resume: the config differs from the checkpoint's in "
                f"{', '.join(changed)}; restore those values or start a new output folder"
            )
        if state.get("vocab") != vocab.to_dict():
            raise OpticalError(
                "cannot resume: the training targets (and so the vocabulary) changed"
            )
        core.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.load_state_dict(state["rng"]["sampler"])
        torch.set_rng_state(state["rng"]["torch"])
        start_step, last_validation = int(state["step"]), dict(state.get("metrics") or {})
    module: torch.nn.Module = core
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        module = DistributedDataParallel(core)

    coverage = {
        lang: round(vocab.coverage(ids for (l2, _), ids in train_targets.items() if l2 == lang), 4)
        for lang in sorted(languages)
    }
    resolved = {
        **config.to_dict(),
        "resolved": {
            "encoder": {"name": config.model.encoder, "fingerprint": encoder.spec.fingerprint()},
            "encoder_dim": encoder.dim,
            "embeddings_from_encoder": initialised,
            "vocab_size": vocab.size,
            "vocab_coverage": coverage,
            "world_size": world,
            "per_rank_micro_batch": per_rank,
            "train_examples": {k: len(v) for k, v in pools.items()},
            "sampling_probabilities": dict(
                zip(sampler.languages, sampler.probabilities.round(6).tolist(), strict=True)
            ),
            "validation_examples": len(validation),
            "trainable_parameters": sum(p.numel() for p in core.parameters()),
        },
    }
    metrics_path = out_dir / "metrics.jsonl"
    if dist_info.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out_dir / "config.json", resolved)
        truncate_metrics(metrics_path, start_step)
    barrier(dist_info)

    def run_validation(step: int) -> dict[str, Any]:
        result = validate(core, batcher, validation, config, tokenizer)
        append_metrics(metrics_path, {"step": step, "validation": result})
        chrf = ", ".join(f"{k} {v:.1f}" for k, v in result.items() if k.startswith("chrF"))
        bar.write(f"[train-nmt] step {step}: validation loss {result['loss']:.3f}, {chrf}")
        return result

    def write_checkpoint(step: int, metrics: dict[str, Any]) -> None:
        save_checkpoint(
            ckpt_dir,
            {
                "format": 1,
                "step": step,
                "model": {k: v.detach() for k, v in core.state_dict().items()},
                "projection": {},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": {"torch": torch.get_rng_state(), "sampler": sampler.state_dict()},
                "config": resolved,
                "vocab": vocab.to_dict(),
                "metrics": metrics,
            },
            keep=run.keep_checkpoints,
        )

    bar = tqdm(
        total=optim.max_steps,
        initial=start_step,
        desc=f"train-nmt {config.name}",
        disable=not (run.progress and dist_info.main),
        dynamic_ncols=True,
    )
    validating = dist_info.main and bool(validation)
    if run.eval_at_start and start_step == 0 and validating:
        last_validation = run_validation(0)
    barrier(dist_info)
    core.train()
    try:
        for step in range(start_step, optim.max_steps):
            started = time.perf_counter()
            global_batch = sampler.next_batch(optim.batch_size)
            torch.manual_seed(derive_seed(run.seed, "dropout", step, rank))
            losses, token_count, seen = [], 0, []
            for index, micro in enumerate(micro_batches(global_batch, optim.grad_accum)):
                local = shard(micro, rank, world)
                seen.extend(local)
                sync = world == 1 or index == optim.grad_accum - 1
                context = contextlib.nullcontext() if sync else module.no_sync()
                with context:
                    loss, tokens = sequence_loss(
                        module, *batcher(local), config.model.label_smoothing, config.model.bf16
                    )
                    if not torch.isfinite(loss):
                        raise OpticalError(
                            f"non-finite training loss at step {step + 1}; lower optim.lr"
                        )
                    (loss / optim.grad_accum).backward()
                losses.append(loss.item())
                token_count += tokens
            max_norm = optim.max_grad_norm if optim.max_grad_norm > 0 else math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(core.parameters(), max_norm))
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            seconds = time.perf_counter() - started
            record = {
                "loss": float(np.mean(losses)),
                "lr": lr,
                "grad_norm": grad_norm,
                "tokens": token_count,
                "step_s": seconds,
            }
            bar.set_postfix(
                loss=f"{record['loss']:.3f}",
                lr=f"{lr:.2g}",
                tok_s=f"{token_count / seconds:.0f}",
                refresh=False,
            )
            bar.update(1)
            if dist_info.main and run.log_every and done % run.log_every == 0:
                append_metrics(metrics_path, {"step": done, **record})
            final = done == optim.max_steps
            if validating and run.eval_every and (done % run.eval_every == 0 or final):
                last_validation = run_validation(done)
            if (
                final or (run.checkpoint_every and done % run.checkpoint_every == 0)
            ) and dist_info.main:
                write_checkpoint(done, last_validation)
            barrier(dist_info)
            info = NmtStepInfo(done, record, tuple(seen), rank, world, core)
            for callback in callbacks:
                callback(info)
    finally:
        bar.close()
    folder = out_dir / "model"
    if start_step == optim.max_steps and _model_is_complete(folder, optim.max_steps):
        return folder
    if dist_info.main:
        save_nmt(
            folder,
            core,
            config.model.encoder,
            {
                "encoder_fingerprint": encoder.spec.fingerprint(),
                "steps": optim.max_steps,
                "validation": last_validation,
                "decode": {
                    "beams": config.decode.beams,
                    "max_new_tokens": config.decode.max_new_tokens,
                },
                "config": resolved,
            },
        )
    barrier(dist_info)
    return folder
