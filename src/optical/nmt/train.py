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

Output folder: ``config.json`` (resolved config, with the
:class:`~optical.train.sampling.PoolSummary` of the checked pool), ``metrics.jsonl``,
``checkpoints/`` (atomic; ``resume=True`` continues the newest exactly), ``model/`` (the
saved model, returned; :mod:`optical.nmt.package`) and, once :func:`revalidate_nmt` has
scored the saved model again with this code's decoding, ``revalidation.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import OpticalError
from ..io_utils import atomic_write_json
from ..settings import cache_dir, use_cache_dir
from ..train.loop import StepInfo, Task, fit
from ..train.runtime import DistInfo, adamw, barrier, derive_seed, validation_curve
from ..train.sampling import (
    BitextSplit,
    LengthBucketedSampler,
    TemperatureSampler,
    TokenBudgetSampler,
    training_split,
)
from ..types import BitextPair
from .config import NmtConfig, NmtModelConfig, load_nmt_config
from .model import NmtModel, pad_states, pad_targets, sequence_loss
from .package import load_nmt, nmt_is_complete, save_nmt
from .states import SourceStates
from .vocab import EOS, CompactVocab, build_vocab, sampling_weights

__all__ = [
    "NmtExample",
    "NmtStepInfo",
    "NmtTask",
    "examples_from_bitext",
    "nmt_validation_curve",
    "revalidate_nmt",
    "train_nmt",
]

REVALIDATION_FILE = "revalidation.json"


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
    """Examples → padded tensors on ``device`` (states looked up, targets tokenized and
    tagged)."""

    def __init__(
        self,
        states: dict[str, np.ndarray],
        targets: dict[tuple[str, str], list[int]],
        vocab: CompactVocab,
        config: NmtConfig,
        device: torch.device | None = None,
    ) -> None:
        self.states, self.targets, self.vocab, self.config = states, targets, vocab, config
        self.device = device or torch.device("cpu")

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
        return states.to(self.device), mask.to(self.device), targets.to(self.device)


def _tokenize_targets(
    tokenizer, examples: Sequence[NmtExample], limit: int
) -> dict[tuple[str, str], list[int]]:
    keys = sorted({(e.target_lang, e.target) for e in examples})
    ids = tokenizer([text for _, text in keys], add_special_tokens=False)["input_ids"]
    return {key: list(seq[:limit]) for key, seq in zip(keys, ids, strict=True)}


def nmt_optimizer(
    model: NmtModel, config: NmtConfig, fused: bool | None = None
) -> torch.optim.Optimizer:
    """AdamW (:func:`optical.train.runtime.adamw`; ``fused``: its kernel choice) with
    weight decay on the weight matrices only (not on biases and LayerNorms)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (
            no_decay if param.ndim < 2 or "LayerNorm" in name or name.endswith("bias") else decay
        ).append(param)
    groups = [
        {"params": decay, "weight_decay": config.optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return adamw(groups, config.optim.lr, fused)


@torch.no_grad()
def validate(
    model: NmtModel,
    batcher: _Batcher,
    examples: Sequence[NmtExample],
    config: NmtConfig,
    tokenizer,
) -> dict[str, Any]:
    """Validation loss over ``examples`` and chrF (sacrebleu) of greedy translations of
    ``decode.validation_sentences`` examples per direction kind (into and out of
    English), taken in turn from every language (:func:`spread`)."""
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
            chosen = spread(
                [e for e in examples if (e.target_lang == "en") == into_english],
                config.decode.validation_sentences,
            )
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
                        allow_unk=config.decode.allow_unk,
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


def spread(examples: Sequence[NmtExample], count: int) -> list[NmtExample]:
    """``count`` of ``examples`` taken in turn from each direction (``fi-en``, ``sw-en`` …,
    in first-seen order; each direction's own order kept), so a validation chrF covers
    every language instead of the first ones listed."""
    by_direction: dict[str, list[NmtExample]] = {}
    for example in examples:
        by_direction.setdefault(example.direction, []).append(example)
    queues = list(by_direction.values())
    out: list[NmtExample] = []
    for rank in range(max((len(q) for q in queues), default=0)):
        for queue in queues:
            if rank < len(queue) and len(out) < count:
                out.append(queue[rank])
    return out


def _validation_examples(split: BitextSplit, directions: Sequence[str]) -> list[NmtExample]:
    """The validation pairs of ``split`` read in ``directions``."""
    by_lang = {
        lang: [p for p in split.validation if p.lang == lang]
        for lang in {p.lang for p in split.validation}
    }
    return [e for pool in examples_from_bitext(by_lang, directions).values() for e in pool]


class NmtTask(Task):
    """NMT training as a :class:`~optical.train.loop.Task`: examples in both directions,
    the compact vocabulary, cached frozen-encoder states, the decoder and the saved model
    folder (:mod:`optical.nmt.package`)."""

    name = "train-nmt"
    artifact = "model"

    def __init__(
        self,
        config: NmtConfig,
        data_dir: str | Path | None = None,
        bitext: Mapping[str, Sequence[BitextPair]] | None = None,
        cache: str | Path | None = None,
    ) -> None:
        self.config, self.data_dir, self.bitext, self.cache = config, data_dir, bitext, cache

    def setup(self, dist: DistInfo) -> None:
        from ..models.student import load_any_encoder

        config, run = self.config, self.config.run
        split = training_split(config.data, run.seed, self.data_dir, self.bitext)
        self.pool = split.pool
        self.pools = examples_from_bitext(split.train, config.data.directions)
        if not self.pools:
            raise OpticalError("no training bitext left after the validation split and budget")
        self.validation = _validation_examples(split, config.data.directions)
        self.sampler = TemperatureSampler(self.pools, config.data.temperature, run.seed)
        self.encoder = load_any_encoder(
            config.model.encoder, bf16=config.model.bf16, device=dist.device
        )
        self._vocabulary()
        if config.data.max_tokens:
            self.sampler = TokenBudgetSampler(
                self.sampler,
                self.target_length,
                config.data.length_buckets,
                run.seed,
                max_tokens=config.data.max_tokens,
                multiple=config.optim.grad_accum * dist.world_size,
            )
        elif config.data.length_buckets:
            self.sampler = LengthBucketedSampler(
                self.sampler, self.target_length, config.data.length_buckets, run.seed
            )
        self.batcher = _Batcher(
            self._source_states(dist), self.targets, self.vocab, config, dist.device
        )
        self.model, self.initialised = self.build_model(config.model)
        self.model.to(dist.device)
        self.model.train()

    def build_model(self, model_config: NmtModelConfig) -> tuple[NmtModel, bool]:
        """A freshly initialised model of ``model_config`` over this task's vocabulary (the
        run's seed; on the CPU) and whether its word embeddings were copied from the
        encoder's (``init_from_encoder``, when the widths match)."""
        torch.manual_seed(derive_seed(self.config.run.seed, "init"))
        model = NmtModel(model_config, self.vocab, self.encoder.dim)
        copied = model_config.init_from_encoder and model.init_embeddings(
            self.encoder.model.get_input_embeddings().weight.detach().float().cpu()
        )
        return model, bool(copied)

    def target_length(self, example: NmtExample) -> int:
        """Pieces of ``example``'s tokenized target (the length batches are bucketed by)."""
        return len(self.targets[(example.target_lang, example.target)])

    def _vocabulary(self) -> None:
        """Tokenized targets (training and validation) and the compact vocabulary."""
        tokenizer = self.encoder.tokenizer
        every = [e for pool in self.pools.values() for e in pool]
        limit = self.config.model.max_target_length - 2
        self.train_targets = _tokenize_targets(tokenizer, every, limit)
        self.languages = {e.target_lang for e in every} | {e.target_lang for e in self.validation}
        model = self.config.model
        if model.vocab_weighting == "sampling":
            probabilities = self.sampler.probability_table(digits=12)
            drawn = [(pool, e) for pool, examples in self.pools.items() for e in examples]
            self.vocab = build_vocab(
                (self.train_targets[(e.target_lang, e.target)] for _, e in drawn),
                self.languages,
                model.vocab_size,
                sampling_weights([pool for pool, _ in drawn], probabilities),
            )
        else:
            self.vocab = build_vocab(self.train_targets.values(), self.languages, model.vocab_size)
        self.targets = {
            **_tokenize_targets(tokenizer, self.validation, limit),
            **self.train_targets,
        }

    def _source_states(self, dist: DistInfo) -> dict[str, np.ndarray]:
        """Frozen-encoder states of every source (rank 0 encodes and caches first)."""
        every = [e for pool in self.pools.values() for e in pool]
        sources = sorted({e.source for e in every} | {e.source for e in self.validation})
        states_cache = SourceStates(self.encoder, cache_dir(self.cache))
        if not dist.main:
            barrier(dist)  # rank 0 encodes and caches first; the others then read
        progress = "nmt source states" if self.config.run.progress and dist.main else False
        state_list = states_cache(sources, progress=progress)
        if dist.main:
            barrier(dist)
        return dict(zip(sources, state_list, strict=True))

    def optimizer(self) -> torch.optim.Optimizer:
        return nmt_optimizer(self.model, self.config)

    def describe(self) -> dict[str, Any]:
        vocab, config = self.vocab, self.config
        coverage = {
            lang: round(
                vocab.coverage(ids for (l2, _), ids in self.train_targets.items() if l2 == lang), 4
            )
            for lang in sorted(self.languages)
        }
        return {
            "encoder": {
                "name": config.model.encoder,
                "fingerprint": self.encoder.spec.fingerprint(),
            },
            "encoder_dim": self.encoder.dim,
            "embeddings_from_encoder": self.initialised,
            "vocab_size": vocab.size,
            "vocab_coverage": coverage,
            "pool": None if self.pool is None else self.pool.to_dict(),
            "train_examples": {k: len(v) for k, v in self.pools.items()},
            "sampling_probabilities": self.sampler.probability_table(),
            "validation_examples": len(self.validation),
            "trainable_parameters": sum(p.numel() for p in self.model.parameters()),
        }

    def loss(
        self, items: Sequence[NmtExample], module: nn.Module
    ) -> tuple[torch.Tensor, dict[str, float]]:
        model = self.config.model
        loss, tokens = sequence_loss(
            module, *self.batcher(items), model.label_smoothing, model.bf16
        )
        return loss, {"loss": loss.item(), "tokens": tokens}

    def step_record(self, records: Sequence[Mapping[str, float]]) -> dict[str, float]:
        """Mean loss over the micro-batches, total predicted tokens."""
        return {
            "loss": float(np.mean([r["loss"] for r in records])),
            "tokens": sum(r["tokens"] for r in records),
        }

    def postfix(self, record: Mapping[str, float]) -> dict[str, str]:
        return {
            "loss": f"{record['loss']:.3f}",
            "lr": f"{record['lr']:.2g}",
            "tok_s": f"{record['tokens'] / record['step_s']:.0f}",
        }

    @property
    def has_validation(self) -> bool:
        return bool(self.validation)

    def validate(self) -> dict[str, Any]:
        return validate(
            self.model, self.batcher, self.validation, self.config, self.encoder.tokenizer
        )

    def validation_message(self, result: Mapping[str, Any]) -> str:
        chrf = ", ".join(f"{k} {v:.1f}" for k, v in result.items() if k.startswith("chrF"))
        return f"validation loss {result['loss']:.3f}, {chrf}"

    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach() for k, v in self.model.state_dict().items()},
            "projection": {},
            "vocab": self.vocab.to_dict(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if state.get("vocab") != self.vocab.to_dict():
            raise OpticalError(
                "cannot resume: the training targets (and so the vocabulary) changed"
            )
        self.model.load_state_dict(state["model"])

    def step_info(self, info: StepInfo) -> NmtStepInfo:
        return NmtStepInfo(
            info.step, info.record, info.items, info.rank, info.world_size, self.model
        )

    def is_complete(self, folder: Path, steps: int) -> bool:
        return nmt_is_complete(folder, steps)

    def save(self, folder: Path, validation: dict[str, Any], resolved: dict[str, Any]) -> None:
        config = self.config
        save_nmt(
            folder,
            self.model,
            config.model.encoder,
            {
                "encoder_fingerprint": self.encoder.spec.fingerprint(),
                "steps": config.optim.max_steps,
                "validation": validation,
                "decode": {
                    "beams": config.decode.beams,
                    "max_new_tokens": config.decode.max_new_tokens,
                    "length_penalty": config.decode.length_penalty,
                    "allow_unk": config.decode.allow_unk,
                },
                "config": resolved,
            },
        )


def train_nmt(
    config: NmtConfig | str | Path,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    resume: bool = False,
    *,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
    cache: str | Path | None = None,
    callbacks: Sequence[Callable[[NmtStepInfo], None]] = (),
    device: str | None = None,
) -> Path:
    """Train the NMT model; return the saved model folder (``out_dir/model``).

    ``bitext`` replaces :func:`optical.data.training.training_bitext` (tests, callers that
    already hold it); ``data.languages`` still filters it. ``cache``: the cache root of
    the source states and the encoder's model folder (default
    :func:`optical.settings.cache_dir`). ``resume``: continue
    from the newest checkpoint (without it, a folder with checkpoints is an error).
    ``callbacks`` are called with an :class:`NmtStepInfo` after every optimizer step; an
    exception from one stops training (the last checkpoint stays usable). ``device``
    replaces the config's ``run.device`` (``--device``).
    """
    if not isinstance(config, NmtConfig):
        config = load_nmt_config(config)
    if device is not None:
        config = config.with_overrides(run={"device": device})
    with use_cache_dir(cache):
        return fit(NmtTask(config, data_dir, bitext, cache), out_dir, resume, callbacks)


def _run_config(run: Path) -> NmtConfig:
    """The config a train-nmt run folder was trained with (its ``config.json``)."""
    path = run / "config.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise OpticalError(f"{path}: not a train-nmt run folder ({exc})") from exc
    return NmtConfig.from_dict({k: v for k, v in saved.items() if k != "resolved"}, str(path))


def revalidate_nmt(
    run: str | Path,
    data_dir: str | Path | None = None,
    *,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
    cache: str | Path | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Score the saved model of a finished train-nmt ``run`` folder again on its own
    validation pairs (the run's config and seed give the same split) with this code's
    decoding (:func:`validate`: loss and greedy chrF), and write the record to
    ``run/revalidation.json`` (atomic): ``{"step": the saved model's step, "decode": the
    decoding used, "validation": {...}}``. Only the final model is kept, so this is how a
    finished run's chrF follows a decoding fix (the loss does not depend on decoding).

    Needs the run's training data (``data_dir``, or the ``bitext`` it was given, as
    :func:`train_nmt` takes it) and encoder; the encoder must be the one the model was
    trained on (its fingerprint in ``nmt.json``)."""
    from ..device import resolve_device
    from ..models.student import load_any_encoder

    run = Path(run)
    model, info = load_nmt(run / "model")
    config = _run_config(run)
    if device is not None:
        config = config.with_overrides(run={"device": device})
    where = resolve_device(config.run.device, "run.device")
    with use_cache_dir(cache):
        encoder = load_any_encoder(config.model.encoder, bf16=config.model.bf16, device=where)
        if encoder.spec.fingerprint() != info.get("encoder_fingerprint"):
            raise OpticalError(
                f"{run}: the encoder {config.model.encoder!r} is not the one the model was "
                "trained on (fingerprints differ); its states would not match"
            )
        split = training_split(config.data, config.run.seed, data_dir, bitext)
        validation = _validation_examples(split, config.data.directions)
        if not validation:
            raise OpticalError(f"{run}: the run has no validation pairs to score")
        sources = sorted({e.source for e in validation})
        states = SourceStates(encoder, cache_dir(cache))(sources, progress=False)
        targets = _tokenize_targets(
            encoder.tokenizer, validation, config.model.max_target_length - 2
        )
        batcher = _Batcher(
            dict(zip(sources, states, strict=True)), targets, model.vocab, config, where
        )
        result = validate(model.to(where), batcher, validation, config, encoder.tokenizer)
    saved = info.get("validation", {})
    step = int(saved.get("best_step", info.get("steps", 0)))
    if "train_s" in saved:
        result["train_s"] = saved["train_s"]
    record = {
        "step": step,
        "decode": {"allow_unk": config.decode.allow_unk},  # validation decodes greedily
        "validation": result,
    }
    atomic_write_json(run / REVALIDATION_FILE, record)
    return record


def nmt_validation_curve(run: str | Path) -> list[dict[str, Any]]:
    """The learning curve of a train-nmt ``run`` folder
    (:func:`~optical.train.runtime.validation_curve` of its ``metrics.jsonl``), each
    point marked ``unk_allowed`` — whether its chrF translations could emit ``<unk>``: a
    run whose ``config.json`` predates :attr:`DecodeConfig.allow_unk` decoded with it
    allowed — and, after :func:`revalidate_nmt`, one more point: the saved model scored
    again (``revalidated: True``)."""
    run = Path(run)
    curve = validation_curve(run / "metrics.jsonl")
    try:
        decode = json.loads((run / "config.json").read_text(encoding="utf-8")).get("decode", {})
    except (OSError, json.JSONDecodeError):
        decode = {}
    allowed = bool(decode.get("allow_unk", True))
    points = [{**p, "unk_allowed": allowed} for p in curve]
    path = run / REVALIDATION_FILE
    if path.is_file():
        try:
            again = json.loads(path.read_text(encoding="utf-8"))
            point = {"step": int(again["step"]), **again["validation"]}
            allowed_again = bool(again["decode"]["allow_unk"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise OpticalError(f"{path}: malformed re-validation record: {exc}") from exc
        points.append({**point, "unk_allowed": allowed_again, "revalidated": True})
    return points
