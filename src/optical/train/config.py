"""Distillation configuration: TOML in, a frozen :class:`DistillConfig` out.

A config file has five sections, every one optional (a missing key keeps its default)::

    [model]    student, teacher, projection, layer, teacher_layer, max_length, bf16,
               exclude_special, exclude_prefix, dropout, freeze_embeddings, freeze_layers,
               adapter, lora_rank, lora_alpha, lora_dropout, lora_targets
    [loss]     name, anchor_weight, pooled_mse_weight, l2sp_weight, self_anchor_weight,
               and a sub-table [loss.options] passed to optical.losses.build_loss
    [data]     sources, languages, temperature, fraction, max_pairs_per_language,
               validation_pairs_per_language, general_ratio, general_sources
    [optim]    lr, weight_decay, warmup_steps, max_steps, batch_size, grad_accum,
               max_grad_norm
    [run]      seed, checkpoint_every, keep_checkpoints, eval_every, eval_at_start,
               eval_batch_size, log_every, progress, threads, early_stopping_patience

plus an optional top-level ``name``. Unknown sections or keys, wrong types and
inconsistent values raise :class:`~optical.errors.ConfigError` (no silent fallbacks).
The resolved config (every default filled in) is saved with every checkpoint and with
the trained student (:meth:`DistillConfig.to_dict`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..configfile import build_sections, config_key, overridden, plain, read_toml
from ..data.training import DEFAULT_SOURCES, _check_sources
from ..device import check_device_name, resolve_device
from ..errors import ConfigError
from ..precision import precision_key

__all__ = [
    "DEFAULT_FREE_KEYS",
    "LORA_TARGETS",
    "RESUME_FREE_KEYS",
    "DataConfig",
    "DistillConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "artifact_key",
    "load_distill_config",
]


LORA_TARGETS = (
    "query",
    "key",
    "value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
"""Default LoRA targets: module-name suffixes of a BERT / XLM-R layer (self-attention
query, key, value and output projections, the FFN's two projections)."""

ADAPTERS = ("none", "lora")


@dataclass(frozen=True)
class ModelConfig:
    """Student, teacher and which of their tokens are aligned.

    ``projection``: ``"auto"`` (a learned linear map student dim → teacher dim only when
    the dimensions differ), ``"linear"`` (always; identity-initialised when the dimensions
    are equal, orthogonal-initialised otherwise) or ``"none"`` (dimensions must match).
    ``layer``: hidden-state index of the student tokens that are aligned (-1 = last;
    ``0`` = the embedding output); ``teacher_layer``: the teacher's (``None`` = same as
    ``layer``). Pooled embeddings always come from the last layer. ``max_length``:
    truncation for both models during training (prefix and special tokens included).
    ``exclude_special`` / ``exclude_prefix``: keep ``<s>``/``</s>`` (``[CLS]``/``[SEP]``)
    and the tokens of the e5 ``query: `` prefix out of the token alignment.
    ``dropout``: train the student with its dropout on (train mode).
    ``freeze_embeddings`` / ``freeze_layers``: freeze the embedding block and the lowest
    ``k`` transformer layers (frozen weights get no gradient and no optimizer state).
    ``adapter``: ``"none"`` (train the unfrozen weights) or ``"lora"`` (freeze the whole
    transformer and train low-rank adapters, ``W x + (alpha / r) · B A x`` with
    ``A ∈ R^{r×d_in}``, ``B ∈ R^{d_out×r}`` initialised to 0, on the linear layers whose
    names end with one of ``lora_targets``, in the layers above the lowest
    ``freeze_layers``; ``r`` = ``lora_rank``, dropout ``lora_dropout`` on the adapter
    input). A LoRA student is saved merged (``W + (alpha / r) B A``) in the usual delta
    format, so every loader reads it without peft.
    """

    student: str = "multilingual-e5-small"
    teacher: str = "multilingual-e5-small"
    projection: str = "auto"
    layer: int = -1
    teacher_layer: int | None = None
    max_length: int = 64
    bf16: bool = True
    exclude_special: bool = True
    exclude_prefix: bool = True
    dropout: bool = True
    freeze_embeddings: bool = True
    freeze_layers: int = 0
    adapter: str = "none"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = LORA_TARGETS

    def __post_init__(self) -> None:
        if self.adapter not in ADAPTERS:
            raise ConfigError(f"model.adapter must be 'none' or 'lora', not {self.adapter!r}")
        if self.lora_rank < 1 or not (math.isfinite(self.lora_alpha) and self.lora_alpha > 0):
            raise ConfigError("model.lora_rank must be >= 1 and model.lora_alpha > 0")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"model.lora_dropout must be in [0, 1), not {self.lora_dropout}")
        if self.adapter == "lora" and not self.lora_targets:
            raise ConfigError("model.lora_targets is empty")
        if self.projection not in ("auto", "linear", "none"):
            raise ConfigError(
                f"model.projection must be 'auto', 'linear' or 'none', not {self.projection!r}"
            )
        if self.max_length < 8:
            raise ConfigError(f"model.max_length must be >= 8, not {self.max_length}")
        if self.freeze_layers < 0:
            raise ConfigError(f"model.freeze_layers must be >= 0, not {self.freeze_layers}")
        if not self.student.strip() or not self.teacher.strip():
            raise ConfigError("model.student and model.teacher must name an encoder")


@dataclass(frozen=True)
class LossConfig:
    r"""The distillation objective.

    .. math::

        \mathcal{L} = \mathcal{L}_{\text{name}}(s(x), t(y))
        + w_{\text{pooled}} \,\mathrm{MSE}(\bar s(x), \bar t(y))
        + w_{\text{anchor}} \,\mathrm{MSE}(\bar s(y), \bar t(y))

    for a source sentence ``x`` and its English translation ``y``; ``s`` the student (in
    the teacher's space), ``t`` the frozen teacher, bars = pooled embeddings.
    ``name``: ``ot`` | ``mse-pooled`` | ``greedy-align`` (:mod:`optical.losses`), built
    with ``options``. ``pooled_mse_weight`` (default 0, off): an extra pooled MSE term,
    meant for ``ot`` (the OT loss aligns tokens only and leaves the pooled embedding's
    scale/offset free). ``anchor_weight`` (default 0, off): the English anchor — the
    student also encodes ``y`` and is pulled to the teacher's pooled ``t(y)``, against
    drift of the student's English; it doubles the student's batch.

    Terms that keep the student close to its starting encoder (both default 0, off):
    ``l2sp_weight`` · :math:`\sum_i \lVert\theta_i - \theta_i^0\rVert^2` over the
    transformer's trainable parameters (L2-SP; frozen ones and the projection excluded),
    and ``self_anchor_weight`` · :math:`\frac{1}{G d}\sum_g \lVert \bar s(u_g) -
    \bar f_0(u_g)\rVert^2` over the batch's ``G`` general-domain English sentences
    ``u_g`` (``data.general_ratio``), ``f_0`` the frozen starting encoder and both pooled
    embeddings in the student encoder's own space (before the projection).
    """

    name: str = "ot"
    options: dict[str, Any] = field(default_factory=dict)
    anchor_weight: float = 0.0
    pooled_mse_weight: float = 0.0
    l2sp_weight: float = 0.0
    self_anchor_weight: float = 0.0

    def __post_init__(self) -> None:
        from ..losses import build_loss

        build_loss(self.name, **self.options)  # ConfigError on bad name / options
        for key in ("anchor_weight", "pooled_mse_weight", "l2sp_weight", "self_anchor_weight"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"loss.{key} must be a finite number >= 0, not {value!r}")

    def extra_weights(self) -> dict[str, float]:
        """The weights of the objective's extra terms (:data:`optical.losses.EXTRA_TERMS`),
        in the order they are added."""
        return {
            "pooled_mse": self.pooled_mse_weight,
            "anchor_mse": self.anchor_weight,
            "l2sp": self.l2sp_weight,
            "self_anchor": self.self_anchor_weight,
        }


@dataclass(frozen=True)
class DataConfig:
    r"""Training bitext and how it is sampled.

    ``sources``: names of :data:`optical.data.training.TRAINING_SOURCES` (xor, tatoeba,
    mkqa, opus-tatoeba, newstest, lafand-mt, menyo20k, small-parallel-enja), in dedup
    precedence order; the default is :data:`~optical.data.training.DEFAULT_SOURCES`,
    every natural-text source (all but small-parallel-enja, which is tokenized and
    lowercased). ``languages``: empty = every language the sources have. Per language,
    a seeded hash order of the pairs decides everything: the first
    ``validation_pairs_per_language`` (at most a fifth of the language) are held out for
    validation, together with every other pair sharing their English text
    (any language); of the rest, at most ``max_pairs_per_language`` (0 = no cap), and of
    those the first ``ceil(fraction · capped)``, form the training pool — so smaller
    budgets are subsets of larger ones. Languages are drawn with probability
    :math:`p_l \propto n_l^{1/T}` (``temperature`` T; 1 = proportional to the pool
    size, large = uniform).

    ``general_ratio`` (default 0, off): that share of each global batch's slots,
    ``round(general_ratio · batch_size)`` exactly, evenly spaced, are general-domain
    English sentences (the English sides of ``general_sources``, read and leak-checked
    like the bitext, less any validation English), drawn without replacement per epoch
    from a seeded permutation; the student is pulled to its starting encoder on them
    (``loss.self_anchor_weight``). At most 0.5, so every micro-batch keeps bitext.
    """

    sources: tuple[str, ...] = DEFAULT_SOURCES
    languages: tuple[str, ...] = ()
    temperature: float = 3.0
    fraction: float = 1.0
    max_pairs_per_language: int = 0
    validation_pairs_per_language: int = 32
    general_ratio: float = 0.0
    general_sources: tuple[str, ...] = ("tatoeba", "newstest")

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError("data.sources is empty")
        _check_sources(self.sources)
        _check_sources(self.general_sources)
        if not 0 <= self.general_ratio <= 0.5:
            raise ConfigError(f"data.general_ratio must be in [0, 0.5], not {self.general_ratio}")
        if self.general_ratio and not self.general_sources:
            raise ConfigError("data.general_ratio > 0 needs data.general_sources")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"data.temperature must be > 0, not {self.temperature!r}")
        if not 0 < self.fraction <= 1:
            raise ConfigError(f"data.fraction must be in (0, 1], not {self.fraction!r}")
        if self.max_pairs_per_language < 0:
            raise ConfigError("data.max_pairs_per_language must be >= 0 (0 = no cap)")
        if self.validation_pairs_per_language < 0:
            raise ConfigError("data.validation_pairs_per_language must be >= 0")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up to ``lr`` over ``warmup_steps``, then linear decay to 0
    at ``max_steps``. ``batch_size``: bitext pairs per optimizer step over all ranks and
    accumulation micro-steps; it must be divisible by ``grad_accum × world size``.
    ``max_grad_norm``: clip the global gradient norm (0 = no clipping). Weight decay is
    not applied to biases and LayerNorm weights."""

    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_steps: int = 10
    max_steps: int = 100
    batch_size: int = 16
    grad_accum: int = 1
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise ConfigError(f"optim.lr must be >= 0, not {self.lr!r}")
        for key in ("weight_decay", "max_grad_norm"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"optim.{key} must be a finite number >= 0, not {value!r}")
        if self.max_steps < 1:
            raise ConfigError(f"optim.max_steps must be >= 1, not {self.max_steps}")
        if self.warmup_steps < 0:
            raise ConfigError("optim.warmup_steps must be >= 0")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ConfigError("optim.batch_size and optim.grad_accum must be >= 1")
        if self.batch_size % self.grad_accum:
            raise ConfigError(
                f"optim.batch_size ({self.batch_size}) must be divisible by optim.grad_accum "
                f"({self.grad_accum})"
            )


@dataclass(frozen=True)
class RunConfig:
    """Seed, checkpoints, validation and logging. ``seed`` is the one seed of the run:
    data split, sampling, projection init and dropout are all derived from it.
    ``checkpoint_every`` / ``eval_every`` / ``log_every``: in optimizer steps (0 = only at
    the end / never / never; validation also runs after the last step when ``eval_every``
    > 0, and before the first when ``eval_at_start``); ``keep_checkpoints``: how many
    recent checkpoints to keep; ``keep_checkpoints_when_done``: false removes
    ``checkpoints/`` once the artifact is saved (a finished run's checkpoints only mark it
    finished, which its artifact and ``config.json`` also do: a resumed finished run is
    still a no-op), so a finished run's disk is its artifact alone. ``threads``: torch
    intra-op threads during the run (0 = leave torch's default); on a shared 2-core
    machine two processes with 2 threads each slowed a step about 10x, one thread each
    avoids that.
    ``early_stopping_patience`` (0 = off): stop after that many validations in a row
    without a better validation score (:meth:`optical.train.loop.Task.validation_score`)
    and save the model of the best validation instead of the last; needs ``eval_every``.
    ``device``: where the models train (:mod:`optical.device`: ``auto | cpu | cuda |
    cuda:N | mps``; under torchrun ``auto``/``cuda`` bind ``cuda:LOCAL_RANK``); a run may
    resume on another device, and the device enters an artifact's identity only through
    the precision it runs at."""

    seed: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    keep_checkpoints_when_done: bool = True
    eval_every: int = 100
    eval_at_start: bool = False
    eval_batch_size: int = 64
    log_every: int = 10
    progress: bool = True
    threads: int = 0
    early_stopping_patience: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", check_device_name(self.device, "run.device"))
        if self.early_stopping_patience < 0:
            raise ConfigError("run.early_stopping_patience must be >= 0 (0 = off)")
        if self.early_stopping_patience and not self.eval_every:
            raise ConfigError("run.early_stopping_patience needs run.eval_every > 0")
        if self.seed < 0:
            raise ConfigError(f"run.seed must be >= 0, not {self.seed}")
        if self.threads < 0:
            raise ConfigError("run.threads must be >= 0 (0 = torch's default)")
        for key in ("checkpoint_every", "eval_every", "log_every"):
            if getattr(self, key) < 0:
                raise ConfigError(f"run.{key} must be >= 0")
        if self.keep_checkpoints < 1 or self.eval_batch_size < 1:
            raise ConfigError("run.keep_checkpoints and run.eval_batch_size must be >= 1")


_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "loss": LossConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "run": RunConfig,
}

RESUME_FREE_KEYS = frozenset(
    {
        "run.checkpoint_every",
        "run.keep_checkpoints",
        "run.keep_checkpoints_when_done",
        "run.eval_every",
        "run.eval_at_start",
        "run.eval_batch_size",
        "run.log_every",
        "run.progress",
        "run.threads",
        "run.device",
        "name",
    }
)
"""Run-only keys: they may differ between a checkpoint's config and the resuming config,
and are left out of a trained artifact's identity (they do not change the weights)."""


def _defaults(section: type, names: tuple[str, ...]) -> dict[str, Any]:
    by_name = {f.name: f.default for f in fields(section)}
    return {name: plain(by_name[name]) for name in names}


DEFAULT_FREE_KEYS: dict[str, Any] = {
    **{
        f"model.{k}": v
        for k, v in _defaults(
            ModelConfig,
            ("adapter", "lora_rank", "lora_alpha", "lora_dropout", "lora_targets"),
        ).items()
    },
    **{
        f"loss.{k}": v
        for k, v in _defaults(LossConfig, ("l2sp_weight", "self_anchor_weight")).items()
    },
    **{
        f"data.{k}": v
        for k, v in _defaults(DataConfig, ("general_ratio", "general_sources")).items()
    },
    "run.early_stopping_patience": 0,
    "decode.length_penalty": 1.0,  # an NMT config's decoding
    "decode.allow_unk": False,  # an NMT config's decoding
    "data.length_buckets": 0,  # an NMT config's batching
    "data.max_tokens": 0,  # an NMT config's batching
    "model.adaptive_cutoffs": [],  # an NMT config's output layer
    "model.vocab_weighting": "frequency",  # an NMT config's vocabulary
}
"""Keys added after artifacts were first keyed: at these default values they are left out
of :func:`artifact_key`, so a config that does not use them keeps its old key (any other
value enters the key)."""


def _at_default(resolved: Mapping[str, Any]) -> set[str]:
    """The keys of :data:`DEFAULT_FREE_KEYS` that ``resolved`` has at their default."""
    found = set()
    for dotted, default in DEFAULT_FREE_KEYS.items():
        section, key = dotted.split(".", 1)
        values = resolved.get(section)
        if isinstance(values, Mapping) and key in values and values[key] == default:
            found.add(dotted)
    return found


def artifact_key(config: Any, extra: Mapping[str, Any] | None = None) -> str:
    """The cache identity of a trained artifact's config (a :class:`DistillConfig` or an
    NMT config): its resolved dict less :data:`RESUME_FREE_KEYS` and the
    :data:`DEFAULT_FREE_KEYS` at their defaults, plus the precision actually used and
    ``extra`` (:func:`optical.configfile.config_key`)."""
    resolved = config.to_dict()
    ignore = RESUME_FREE_KEYS | _at_default(resolved)
    device_type = resolve_device(config.run.device, "run.device").type
    return config_key(resolved, ignore, precision_key(config.model.bf16, device_type), extra)


@dataclass(frozen=True)
class DistillConfig:
    """One distillation run (see the module docstring for the TOML layout)."""

    name: str = "distill"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/TOML-friendly; tuples become lists)."""
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> DistillConfig:
        """Build from a nested dict (as read from TOML or :meth:`to_dict`)."""
        name, sections = build_sections(raw, _SECTIONS, where, default_name="distill")
        return cls(name=name, **sections)

    def with_overrides(self, **sections: dict[str, Any]) -> DistillConfig:
        """A copy with some keys of some sections replaced, e.g.
        ``with_overrides(optim={"max_steps": 4})`` (validated like a file)."""
        return DistillConfig.from_dict(overridden(self.to_dict(), _SECTIONS, sections), "overrides")


def load_distill_config(path: str | Path) -> DistillConfig:
    """Read a distillation TOML file (see ``configs/distill-quick.toml``)."""
    return DistillConfig.from_dict(read_toml(path), str(path))
