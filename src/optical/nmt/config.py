"""NMT training configuration (``optical train-nmt CONFIG``): TOML in, a frozen
:class:`NmtConfig` out.

Sections (every one optional; a missing key keeps its default)::

    [model]   encoder, layers, hidden, heads, ffn, vocab_size, max_source_length,
              max_target_length, dropout, label_smoothing, init_from_encoder, bf16,
              adaptive_cutoffs, vocab_weighting
    [data]    sources, languages, directions, temperature, fraction,
              max_pairs_per_language, validation_pairs_per_language
    [optim]   lr, weight_decay, warmup_steps, max_steps, batch_size, grad_accum,
              max_grad_norm                        (as for distillation)
    [run]     seed, checkpoint_every, keep_checkpoints, eval_every, eval_at_start,
              eval_batch_size, log_every, progress, threads   (as for distillation)
    [decode]  beams, max_new_tokens, validation_sentences

plus a top-level ``name``. Unknown keys, wrong types and inconsistent values raise
:class:`~optical.errors.ConfigError`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..configfile import build_sections, overridden, plain, read_toml
from ..errors import ConfigError
from ..train.config import DataConfig, OptimConfig, RunConfig

DIRECTIONS = ("xx-en", "en-xx")
VOCAB_WEIGHTINGS = ("frequency", "sampling")


@dataclass(frozen=True)
class NmtModelConfig:
    """A frozen ``encoder`` (its L2-normalised last-layer token states, cached) and a
    trained decoder: ``layers`` BERT decoder blocks with causal self-attention and
    cross-attention, ``hidden`` wide, ``heads`` heads, ``ffn`` feed-forward width, over a
    compact vocabulary of ``vocab_size`` pieces (:mod:`optical.nmt.vocab`), input and
    output embeddings tied and — when ``init_from_encoder`` and ``hidden`` equals the
    encoder width — initialised from the encoder's word embeddings. Sources are cut to
    ``max_source_length`` encoder tokens, targets to ``max_target_length`` pieces.
    ``vocab_weighting``: the pieces kept are the most frequent of the training targets
    (``"frequency"``) or of the training mix the sampler draws (``"sampling"``: each
    (direction, language) pool weighs as its sampling probability,
    :func:`optical.nmt.vocab.sampling_weights`, so small languages keep their pieces).

    ``adaptive_cutoffs`` (empty = a full softmax over the vocabulary): an adaptive softmax
    (Grave et al. 2017, :class:`torch.nn.AdaptiveLogSoftmaxWithLoss`) over the pieces in
    frequency order: the head holds the specials, the language tags and the
    ``adaptive_cutoffs[0]`` most frequent pieces plus one entry per tail cluster; tail
    cluster ``i`` holds the pieces ranked ``adaptive_cutoffs[i]`` … ``adaptive_cutoffs[i+1]``
    (the last: to ``vocab_size``). A step then scores each target against the head and its
    own cluster only, not the whole vocabulary. The output rows are not tied to the input
    embeddings (with ``init_from_encoder`` they start from the same word embeddings), and
    the layer gives the target's log-probability only, so ``label_smoothing`` must be 0 with it."""

    encoder: str = "multilingual-e5-small"
    layers: int = 3
    hidden: int = 384
    heads: int = 6
    ffn: int = 1536
    vocab_size: int = 16000
    max_source_length: int = 64
    max_target_length: int = 48
    dropout: float = 0.1
    label_smoothing: float = 0.1
    init_from_encoder: bool = True
    bf16: bool = True
    adaptive_cutoffs: tuple[int, ...] = ()
    vocab_weighting: str = "frequency"

    def __post_init__(self) -> None:
        object.__setattr__(self, "adaptive_cutoffs", tuple(self.adaptive_cutoffs))
        for key in ("layers", "hidden", "heads", "ffn", "vocab_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1")
        if self.hidden % self.heads:
            raise ConfigError(
                f"model.hidden ({self.hidden}) must be divisible by model.heads ({self.heads})"
            )
        if self.max_source_length < 2 or self.max_target_length < 2:
            raise ConfigError("model.max_source_length and max_target_length must be >= 2")
        if not 0 <= self.dropout < 1 or not 0 <= self.label_smoothing < 1:
            raise ConfigError("model.dropout and model.label_smoothing must be in [0, 1)")
        if self.vocab_weighting not in VOCAB_WEIGHTINGS:
            raise ConfigError(
                f"model.vocab_weighting must be one of {list(VOCAB_WEIGHTINGS)}, "
                f"not {self.vocab_weighting!r}"
            )
        cutoffs = self.adaptive_cutoffs
        if cutoffs:
            rising = all(a < b for a, b in itertools.pairwise(cutoffs))
            if not rising or cutoffs[0] < 1 or cutoffs[-1] >= self.vocab_size:
                raise ConfigError(
                    f"model.adaptive_cutoffs must rise strictly within 1 … vocab_size - 1 "
                    f"({self.vocab_size - 1}), not {list(cutoffs)}"
                )
            if self.label_smoothing:
                raise ConfigError(
                    "model.label_smoothing must be 0 with model.adaptive_cutoffs: the adaptive "
                    "softmax gives the target's log-probability only"
                )


@dataclass(frozen=True)
class NmtDataConfig(DataConfig):
    """The training bitext, as for distillation (:class:`optical.train.config.DataConfig`),
    used in the ``directions`` asked: ``xx-en`` (into English, for translate-test) and
    ``en-xx`` (out of English, for back-translation). Every (direction, language) pool is
    sampled with :math:`p \\propto n^{1/T}`. ``length_buckets`` (0 = off): batches of
    similar target length, each ``length_buckets`` batches' examples sorted by length
    and regrouped (:class:`optical.train.sampling.LengthBucketedSampler`: less padding,
    the same examples). ``max_tokens`` (0 = off; needs ``length_buckets``): batches by
    token budget instead of by count, the sorted examples of each block packed so that
    longest target × examples ≤ ``max_tokens``
    (:class:`optical.train.sampling.TokenBudgetSampler`: many short examples or few long
    ones a step; ``optim.batch_size`` is then the nominal batch a block is drawn in)."""

    directions: tuple[str, ...] = DIRECTIONS
    length_buckets: int = 0
    max_tokens: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.length_buckets < 0:
            raise ConfigError("data.length_buckets must be >= 0 (0 = off)")
        if self.max_tokens < 0:
            raise ConfigError("data.max_tokens must be >= 0 (0 = off)")
        if self.max_tokens and not self.length_buckets:
            raise ConfigError("data.max_tokens needs data.length_buckets >= 1 (its block size)")
        unknown = set(self.directions) - set(DIRECTIONS)
        if unknown or not self.directions:
            raise ConfigError(
                f"data.directions must be a non-empty subset of {list(DIRECTIONS)}, "
                f"not {list(self.directions)}"
            )


@dataclass(frozen=True)
class DecodeConfig:
    """Default decoding of the trained model (the ``nmt`` translator's defaults):
    ``beams`` = 1 is greedy; at most ``max_new_tokens`` pieces. ``length_penalty`` (beam
    search only): a hypothesis of ``L`` pieces is ranked by its summed log-probability
    over ``L ** length_penalty`` (``transformers``' convention: 1.0 = the mean per piece,
    0 = the plain sum, which favours short outputs; above 1 longer ones). ``allow_unk``
    false (the default, as Marian's ``--allow-unk``): ``<unk>`` is never generated. The
    compact vocabulary leaves a share of some languages' target pieces ``<unk>`` (the
    ``vocab_coverage`` of a run's ``config.json``: 69 % of Russian pieces are in
    nmt-study's), the model learns to emit it, and an ``<unk>`` decodes to nothing: with
    it allowed, nmt-study translated a third of its English sources into Arabic, Russian
    or Japanese as an empty string. Validation decodes ``validation_sentences``
    validation pairs per direction and reports chrF."""

    beams: int = 1
    max_new_tokens: int = 64
    validation_sentences: int = 64
    length_penalty: float = 1.0
    allow_unk: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.length_penalty):
            raise ConfigError(f"decode.length_penalty must be finite, not {self.length_penalty}")
        if self.beams < 1 or self.max_new_tokens < 1 or self.validation_sentences < 0:
            raise ConfigError(
                "decode.beams and decode.max_new_tokens must be >= 1, "
                "decode.validation_sentences >= 0"
            )


def unk_identity(allow_unk: bool) -> dict[str, str]:
    """How the ``<unk>`` decoding (:attr:`DecodeConfig.allow_unk`) enters a cache key
    (translations, back-translation students): suppression is marked; allowing it, as all
    decoding did before the option existed, adds nothing, so those keys stay valid."""
    return {} if allow_unk else {"unk": "suppressed"}


_SECTIONS: dict[str, type] = {
    "model": NmtModelConfig,
    "data": NmtDataConfig,
    "optim": OptimConfig,
    "run": RunConfig,
    "decode": DecodeConfig,
}


@dataclass(frozen=True)
class NmtConfig:
    """One NMT training run (see the module docstring for the TOML layout)."""

    name: str = "nmt"
    model: NmtModelConfig = field(default_factory=NmtModelConfig)
    data: NmtDataConfig = field(default_factory=NmtDataConfig)
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(lr=5e-4, warmup_steps=100, batch_size=64)
    )
    run: RunConfig = field(default_factory=RunConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> NmtConfig:
        """Build from a nested dict; missing keys keep :class:`NmtConfig`'s defaults (its
        optimiser defaults differ from distillation's)."""
        base = cls()
        defaults = {key: plain(asdict(getattr(base, key))) for key in _SECTIONS}
        name, sections = build_sections(raw, _SECTIONS, where, "nmt", defaults)
        config = cls(name=name, **sections)
        least = config.model.max_target_length * config.optim.grad_accum
        if 0 < config.data.max_tokens < least:
            raise ConfigError(
                f"{where}: data.max_tokens ({config.data.max_tokens}) is below "
                f"model.max_target_length × optim.grad_accum = {least}: a batch could not "
                "hold the longest examples"
            )
        return config

    def with_overrides(self, **sections: Any) -> NmtConfig:
        """A copy with some keys of some sections replaced (validated like a file)."""
        return NmtConfig.from_dict(overridden(self.to_dict(), _SECTIONS, sections), "overrides")


def load_nmt_config(path: str | Path) -> NmtConfig:
    """Read an NMT TOML file (see ``configs/nmt-quick.toml``)."""
    return NmtConfig.from_dict(read_toml(path), str(path))
