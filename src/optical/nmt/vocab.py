"""The decoder's compact vocabulary: the most frequent tokens of the training targets.

The source side is read by the frozen multilingual encoder with its own tokenizer
(XLM-R's 250k sentencepiece pieces for e5). A softmax over 250k pieces would dominate a
CPU training step, so the decoder predicts over a compact vocabulary: three specials,
one tag per target language, and the ``size`` base-tokenizer pieces that occur most
often in the training targets (ties broken by piece id). A target piece outside it is
``<unk>``; decoding maps compact ids back to base ids and detokenizes with the base
tokenizer. Compact id layout::

    0 <pad> | 1 </s> | 2 <unk> | 3 … 3+L-1 language tags <2xx> | 3+L … base pieces
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, OpticalError
from ..languages import normalize_lang

PAD, EOS, UNK = 0, 1, 2
SPECIALS: tuple[str, ...] = ("<pad>", "</s>", "<unk>")


@dataclass(frozen=True)
class CompactVocab:
    """Target-language tags and the kept base-tokenizer piece ids, in compact-id order."""

    languages: tuple[str, ...]
    base_ids: tuple[int, ...]
    _to_compact: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.languages)) != len(self.languages):
            raise OpticalError(f"duplicate language tags in {self.languages}")
        if len(set(self.base_ids)) != len(self.base_ids):
            raise OpticalError("duplicate base piece ids in the compact vocabulary")
        offset = self.offset
        object.__setattr__(
            self, "_to_compact", {base: offset + i for i, base in enumerate(self.base_ids)}
        )

    @property
    def offset(self) -> int:
        """Compact id of the first base piece."""
        return len(SPECIALS) + len(self.languages)

    @property
    def size(self) -> int:
        return self.offset + len(self.base_ids)

    def tag(self, lang: str) -> int:
        """Compact id of the target-language tag of ``lang`` (ConfigError when untrained)."""
        code = normalize_lang(lang)
        if code not in self.languages:
            raise ConfigError(
                f"this NMT model cannot translate into {code!r}: it was trained for "
                f"{', '.join(self.languages)}"
            )
        return len(SPECIALS) + self.languages.index(code)

    def encode(self, base_ids: Sequence[int]) -> list[int]:
        """Base piece ids → compact ids (``<unk>`` for pieces outside the vocabulary)."""
        return [self._to_compact.get(int(i), UNK) for i in base_ids]

    def decode(self, compact_ids: Iterable[int]) -> list[int]:
        """Compact ids → base piece ids, stopping at ``</s>``; specials and tags dropped."""
        out = []
        offset = self.offset
        for index in compact_ids:
            index = int(index)
            if index == EOS:
                break
            if index >= offset:
                out.append(self.base_ids[index - offset])
        return out

    def coverage(self, tokenized: Iterable[Sequence[int]]) -> float:
        """Share of base pieces in ``tokenized`` that the vocabulary keeps (1.0 when empty)."""
        kept = total = 0
        for ids in tokenized:
            total += len(ids)
            kept += sum(1 for i in ids if int(i) in self._to_compact)
        return kept / total if total else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"languages": list(self.languages), "base_ids": list(self.base_ids)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CompactVocab:
        try:
            return cls(tuple(raw["languages"]), tuple(int(i) for i in raw["base_ids"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise OpticalError(f"malformed NMT vocabulary: {exc}") from exc


def build_vocab(
    tokenized_targets: Iterable[Sequence[int]],
    languages: Iterable[str],
    size: int,
    weights: Iterable[float] | None = None,
) -> CompactVocab:
    """The ``size`` pieces of ``tokenized_targets`` with the largest (weighted) count
    (ties: lower id first) and one tag per language (sorted codes). ``weights``, one per
    target (default 1), scales each target's pieces: :func:`sampling_weights` makes the
    counts those of the training mix the decoder is fed rather than of the raw pool."""
    if size < 1:
        raise ConfigError(f"model.vocab_size must be >= 1, not {size}")
    counts: dict[int, float] = {}
    targets = list(tokenized_targets)
    factors = [1.0] * len(targets) if weights is None else [float(w) for w in weights]
    if len(factors) != len(targets):
        raise OpticalError(f"{len(factors)} weights for {len(targets)} targets")
    for ids, weight in zip(targets, factors, strict=True):
        for i in ids:
            counts[int(i)] = counts.get(int(i), 0.0) + weight
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]
    tags = tuple(sorted({normalize_lang(code) for code in languages}))
    return CompactVocab(tags, tuple(piece for piece, _ in ranked))


def sampling_weights(
    pool_of_target: Sequence[str], probabilities: Mapping[str, float]
) -> list[float]:
    """Per target, ``p_pool / n_pool``: the probability that a training draw is this
    target, when its pool (a direction and language, e.g. ``en-am``) is drawn with
    probability ``p_pool`` (the temperature sampler's) and then a target uniformly among
    its ``n_pool``. Counting pieces with these weights gives each pool the share of the
    vocabulary it has of the training mix: a small language drawn often (``p ∝ n^{1/T}``)
    is not crowded out by the large ones, and English, the target of every ``xx-en`` pool,
    keeps about half."""
    sizes = Counter(pool_of_target)
    missing = sorted(set(sizes) - set(probabilities))
    if missing:
        raise OpticalError(f"no sampling probability for pools {missing}")
    return [probabilities[pool] / sizes[pool] for pool in pool_of_target]
