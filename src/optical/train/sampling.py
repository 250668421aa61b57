r"""Bitext budgets, the validation split, temperature sampling and DDP sharding.

Everything here is a pure function of the seed (no global RNG, no ``PYTHONHASHSEED``):

* :func:`split_bitext` orders each language's pairs by a salted SHA-256 of their text and
  cuts the validation slice, the data budget (``fraction``, ``max_pairs_per_language``)
  and the training pool from that order, so smaller budgets are subsets of larger ones.
* :func:`temperature_probabilities`: :math:`p_l = n_l^{1/T} / \sum_k n_k^{1/T}`.
* :class:`TemperatureSampler` draws global batches: the language of each slot from
  ``p`` (a generator seeded by ``(seed, step)``), the pair within a language from a
  per-language, per-epoch seeded permutation (each pair once per epoch of its language).
  Its whole state is the step and how many pairs each language has given
  (:meth:`~TemperatureSampler.state_dict`), so a resumed run continues the same order.
* :func:`load_bitext` / :func:`training_split`: the training bitext of a
  :class:`~optical.train.config.DataConfig` (read, or given and filtered), checked for
  evaluation text (:func:`optical.data.evaluation_text.check_pool`), and its split with a
  :class:`PoolSummary` of the pool (recorded in every trained model's resolved config).
* :func:`shard` / :func:`micro_batches`: every rank takes a disjoint, equal slice of every
  global batch, so the global batch (and the data order) is the same for any world size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..data.evaluation_text import check_pool, evaluation_index, text_key
from ..languages import normalize_lang
from ..settings import DATA_ENV
from ..settings import data_dir as resolve_data_dir
from ..types import BitextPair

if TYPE_CHECKING:
    from .config import DataConfig

__all__ = [
    "BitextSplit",
    "GeneralSentence",
    "LengthBucketedSampler",
    "MixedSampler",
    "PoolSummary",
    "TemperatureSampler",
    "TokenBudgetSampler",
    "general_count",
    "general_pool",
    "load_bitext",
    "micro_batches",
    "pool_sha256",
    "pool_summary",
    "shard",
    "split_bitext",
    "temperature_probabilities",
    "training_split",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)


def temperature_probabilities(sizes: Mapping[str, int], temperature: float) -> dict[str, float]:
    r"""Per-language sampling probabilities :math:`p_l \propto n_l^{1/T}`.

    ``T = 1``: proportional to the pool sizes; ``T → ∞``: uniform; languages with
    ``n_l = 0`` get probability 0. Raises ``ValueError`` for ``T <= 0`` or when every
    size is 0.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, not {temperature!r}")
    if any(n < 0 for n in sizes.values()):
        raise ValueError("pool sizes must be >= 0")
    weights = {
        lang: (float(n) ** (1.0 / temperature) if n > 0 else 0.0) for lang, n in sizes.items()
    }
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("no language has any pair to sample")
    return {lang: w / total for lang, w in weights.items()}


def _order_key(seed: int, *parts: str) -> bytes:
    return hashlib.sha256("\x00".join([f"optical-distill/{seed}", *parts]).encode()).digest()


@dataclass(frozen=True)
class PoolSummary:
    """What a run's bitext pool was, after filtering and deduplication, before the split.

    ``sources``: pairs per origin (``xor``, ``tatoeba``, ``bt-synthetic`` …); ``pairs``:
    pairs per language; ``sha256``: of the pool's sorted ``[lang, source, english]`` lines
    (JSON, one a line; ids, file paths and order do not enter, so the same pool hashes
    alike on every machine); ``leak_check``: what the evaluation-text check found.
    """

    sources: dict[str, int]
    pairs: dict[str, int]
    total: int
    sha256: str
    leak_check: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pool_summary(pool: Mapping[str, Sequence[BitextPair]], leak_check: str = "") -> PoolSummary:
    """The :class:`PoolSummary` of ``pool`` (language → pairs)."""
    lines = sorted(
        json.dumps([lang, p.source, p.english], ensure_ascii=False)
        for lang, pairs in pool.items()
        for p in pairs
    )
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    sources: dict[str, int] = {}
    for pairs in pool.values():
        for p in pairs:
            sources[p.origin] = sources.get(p.origin, 0) + 1
    return PoolSummary(
        dict(sorted(sources.items())),
        {lang: len(pairs) for lang, pairs in sorted(pool.items())},
        len(lines),
        digest,
        leak_check,
    )


@dataclass(frozen=True)
class BitextSplit:
    """Training pools per language (after the budget), the validation pairs and the
    summary of the pool they were cut from (:func:`training_split`)."""

    train: dict[str, list[BitextPair]]
    validation: list[BitextPair]
    pool: PoolSummary | None = None

    def sizes(self) -> dict[str, int]:
        return {lang: len(pairs) for lang, pairs in self.train.items()}


def split_bitext(
    bitext: Mapping[str, Sequence[BitextPair]],
    seed: int,
    *,
    validation_per_language: int = 32,
    fraction: float = 1.0,
    max_pairs_per_language: int = 0,
) -> BitextSplit:
    """Seeded validation split and data budget (see the module docstring).

    Validation: per language, the ``min(validation_per_language, n // 5)`` pairs whose
    English text has the lowest salted hash; every training pair (any language) whose
    English text equals a validation English text is dropped, so validation English
    never appears in training. Training pool: the remaining pairs in a salted hash order,
    first ``ceil(fraction · min(n, max_pairs_per_language or ∞))`` (the fraction is of
    the capped pool, so a 10 % budget is 10 % of what the full budget trains on). Pairs with blank
    text are ignored. Languages with no training pair left are omitted from ``train``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction!r}")
    validation: list[BitextPair] = []
    held_english: set[str] = set()
    remaining: dict[str, list[BitextPair]] = {}
    for lang in sorted(bitext):
        pairs = [p for p in bitext[lang] if p.source.strip() and p.english.strip()]
        by_english = sorted(
            pairs,
            key=lambda p: (_order_key(seed, "val", text_key(p.english)), p.source, p.english),
        )
        k = min(validation_per_language, len(pairs) // 5)
        chosen = by_english[:k]
        validation.extend(chosen)
        held_english.update(text_key(p.english) for p in chosen)
        remaining[lang] = by_english[k:]
    train: dict[str, list[BitextPair]] = {}
    for lang, pairs in remaining.items():
        kept = [p for p in pairs if text_key(p.english) not in held_english]
        kept.sort(key=lambda p: _order_key(seed, "train", lang, p.source, p.english))
        budget = len(kept)
        if max_pairs_per_language:
            budget = min(budget, max_pairs_per_language)
        budget = math.ceil(fraction * budget)
        if budget > 0:
            train[lang] = kept[:budget]
    return BitextSplit(train, validation)


class TemperatureSampler:
    """Deterministic stream of global batches drawn with per-language temperature.

    Args:
        pools: language → its training items (any objects; order matters).
        temperature: ``T`` of :func:`temperature_probabilities`.
        seed: the run's seed.

    ``next_batch(size)`` returns ``size`` items: slot languages i.i.d. from ``p`` with a
    ``numpy`` generator seeded by ``(seed, step)``; within a language, items follow a
    permutation seeded by ``(seed, crc32(lang), epoch)``, without replacement within an
    epoch of that language.
    """

    def __init__(self, pools: Mapping[str, Sequence[T]], temperature: float, seed: int) -> None:
        self.pools = {lang: list(items) for lang, items in sorted(pools.items()) if items}
        if not self.pools:
            raise ValueError("no training pairs to sample from")
        self.languages = list(self.pools)
        probs = temperature_probabilities(
            {lang: len(items) for lang, items in self.pools.items()}, temperature
        )
        self.probabilities = np.array([probs[lang] for lang in self.languages])
        self.seed = int(seed)
        self.step = 0
        self.drawn = dict.fromkeys(self.languages, 0)
        self._perms: dict[tuple[str, int], np.ndarray] = {}

    def _permutation(self, lang: str, epoch: int) -> np.ndarray:
        key = (lang, epoch)
        if key not in self._perms:
            if len(self._perms) > 4 * len(self.languages):
                self._perms.clear()
            rng = np.random.default_rng([self.seed, 2, zlib.crc32(lang.encode()), epoch])
            self._perms[key] = rng.permutation(len(self.pools[lang]))
        return self._perms[key]

    def next_batch(self, size: int) -> list[T]:
        """The next global batch of ``size`` items (advances the state)."""
        if size < 1:
            raise ValueError("batch size must be >= 1")
        rng = np.random.default_rng([self.seed, 1, self.step])
        slots = rng.choice(len(self.languages), size=size, p=self.probabilities)
        batch = []
        for slot in slots.tolist():
            lang = self.languages[slot]
            n = len(self.pools[lang])
            k = self.drawn[lang]
            batch.append(self.pools[lang][int(self._permutation(lang, k // n)[k % n])])
            self.drawn[lang] = k + 1
        self.step += 1
        return batch

    def probability_table(self, digits: int = 6) -> dict[str, float]:
        """Pool → sampling probability, rounded to ``digits`` (for the resolved config)."""
        rounded = self.probabilities.round(digits).tolist()
        return dict(zip(self.languages, rounded, strict=True))

    def state_dict(self) -> dict[str, Any]:
        """``{"step": int, "drawn": {lang: int}}`` — enough to continue the same stream."""
        return {"step": self.step, "drawn": dict(self.drawn)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (the pools and seed must be those of the saved run)."""
        drawn = dict(state["drawn"])
        if set(drawn) != set(self.languages):
            raise ValueError(
                "sampler state is for languages "
                f"{sorted(drawn)}, but this run samples {self.languages}"
            )
        self.step = int(state["step"])
        self.drawn = {lang: int(drawn[lang]) for lang in self.languages}


class LengthBucketedSampler:
    """Batches of similar length from an inner sampler (less padding, the same items).

    Every ``pool`` batches form a block: the ``pool × size`` items the inner sampler
    draws for them are sorted by ``length`` (stable), cut into ``pool`` batches of
    ``size`` items, and served in an order shuffled with a generator seeded by
    ``(seed, block)``. Over a block the items are exactly the inner sampler's; only
    their grouping changes. The state is the inner sampler's state at the block's start
    and the position in it (plain numbers: a resumed run redraws the block).
    """

    def __init__(
        self, inner: TemperatureSampler, length: Callable[[Any], int], pool: int, seed: int
    ) -> None:
        if pool < 1:
            raise ValueError("a length bucket pool holds at least 1 batch")
        self.inner, self.length, self.pool, self.seed = inner, length, pool, int(seed)
        self.block = 0
        self.position = 0
        self.start = inner.state_dict()
        self._batches: list[list[Any]] = []
        self._size = 0

    def probability_table(self, digits: int = 6) -> dict[str, float]:
        return self.inner.probability_table(digits)

    def _draw(self, size: int) -> None:
        self.inner.load_state_dict(self.start)
        items = [item for _ in range(self.pool) for item in self.inner.next_batch(size)]
        items.sort(key=self.length)
        batches = self._pack(items, size)
        order = np.random.default_rng([self.seed, 3, self.block]).permutation(len(batches))
        self._batches = [batches[i] for i in order.tolist()]
        self._size = size

    def _pack(self, items: list[Any], size: int) -> list[list[Any]]:
        """A block's items, sorted by length, cut into its batches: ``pool`` of ``size``."""
        return [items[i * size : (i + 1) * size] for i in range(self.pool)]

    def next_batch(self, size: int) -> list[Any]:
        """The next global batch (``size`` items; advances the state)."""
        if not self._batches or self._size != size:
            self._draw(size)  # the inner sampler is now at the end of this block
        if self.position == len(self._batches):
            self.block, self.position = self.block + 1, 0
            self.start = self.inner.state_dict()
            self._draw(size)
        batch = self._batches[self.position]
        self.position += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"start": self.start, "block": self.block, "position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.start = dict(state["start"])
        self.block, self.position = int(state["block"]), int(state["position"])
        self.inner.load_state_dict(self.start)
        self._batches = []


class TokenBudgetSampler(LengthBucketedSampler):
    """Batches of at most ``max_tokens`` padded tokens, from an inner sampler's blocks.

    A block is drawn and sorted as by :class:`LengthBucketedSampler` (``pool`` nominal
    batches of ``size`` items, sorted by ``length``) and packed in order: consecutive
    groups of ``multiple`` items (the loop splits a batch into ``grad_accum × world``
    equal shards) join the current batch while its padded size stays within budget,
    ``max(length(i) for i in batch) × len(batch) ≤ max_tokens``,
    so short items make large batches and long items small ones. Every item of a block
    is in exactly one batch (none lost, none repeated); the batches are served in an
    order shuffled by ``(seed, block)`` and their number varies by block. The state is
    the bucketing sampler's (a resumed run redraws and repacks the block).

    Raises:
        ValueError: ``size`` not divisible by ``multiple``, or one group of ``multiple``
            items alone over the budget (``max_tokens`` below ``multiple × max length``).
    """

    def __init__(
        self,
        inner: TemperatureSampler,
        length: Callable[[Any], int],
        pool: int,
        seed: int,
        max_tokens: int,
        multiple: int = 1,
    ) -> None:
        if max_tokens < 1 or multiple < 1:
            raise ValueError("a token budget and its batch multiple are at least 1")
        super().__init__(inner, length, pool, seed)
        self.max_tokens, self.multiple = int(max_tokens), int(multiple)

    def _pack(self, items: list[Any], size: int) -> list[list[Any]]:
        if size % self.multiple:
            raise ValueError(f"a nominal batch of {size} is not a multiple of {self.multiple}")
        batches: list[list[Any]] = []
        current: list[Any] = []
        for start in range(0, len(items), self.multiple):
            group = items[start : start + self.multiple]
            longest = self.length(group[-1])  # sorted: the longest of current + group
            if longest * len(group) > self.max_tokens:
                raise ValueError(
                    f"{len(group)} items of {longest} tokens exceed the token budget "
                    f"of {self.max_tokens}: raise it to at least {longest * len(group)}"
                )
            if current and longest * (len(current) + len(group)) > self.max_tokens:
                batches.append(current)
                current = []
            current.extend(group)
        if current:
            batches.append(current)
        return batches


@dataclass(frozen=True)
class GeneralSentence:
    """A general-domain English sentence of a batch (the self anchor's input)."""

    text: str
    origin: str = ""


def general_count(ratio: float, size: int) -> int:
    """General-domain slots of a batch of ``size``: ``⌊ratio · size + 1/2⌋``."""
    return math.floor(ratio * size + 0.5)


class MixedSampler:
    """Batches of bitext pairs from ``bitext`` with a share of general-domain sentences.

    ``next_batch(size)``: ``k = general_count(ratio, size)`` general sentences (a
    permutation of ``general`` seeded by ``(seed, 3, epoch)``, each once per epoch) and
    ``size − k`` pairs (``bitext.next_batch``). The batch is laid out in ``cells`` equal
    cells, one per (micro-batch, rank) of the loop (``grad_accum × world size``; rank
    ``r`` of micro-batch ``a`` takes slots ``r, r + W, …`` of its block), cell ``j``
    holding ``⌊(j+1)k/C⌋ − ⌊jk/C⌋`` general sentences, so every shard gets its share.
    """

    def __init__(
        self,
        bitext: TemperatureSampler,
        general: Sequence[GeneralSentence],
        ratio: float,
        seed: int,
        cells: tuple[int, int] = (1, 1),
    ) -> None:
        if not general:
            raise ValueError("no general-domain sentences to sample from")
        self.bitext, self.general, self.ratio = bitext, list(general), float(ratio)
        self.seed, self.accum, self.world = int(seed), int(cells[0]), int(cells[1])
        self.drawn = 0
        self._perm: tuple[int, np.ndarray] | None = None

    def _next_general(self) -> GeneralSentence:
        n = len(self.general)
        epoch = self.drawn // n
        if self._perm is None or self._perm[0] != epoch:
            rng = np.random.default_rng([self.seed, 3, epoch])
            self._perm = (epoch, rng.permutation(n))
        item = self.general[int(self._perm[1][self.drawn % n])]
        self.drawn += 1
        return item

    def next_batch(self, size: int) -> list[Any]:
        """The next global batch of ``size`` items (advances the state)."""
        k = general_count(self.ratio, size)
        pairs = iter(self.bitext.next_batch(size - k))
        count = self.accum * self.world
        per_cell = size // count
        cells = []
        for j in range(count):
            g = (j + 1) * k // count - j * k // count
            cells.append([self._next_general() for _ in range(g)])
            cells[-1].extend(next(pairs) for _ in range(per_cell - g))
        batch = []
        for a in range(self.accum):
            block = size // self.accum
            batch.extend(
                cells[a * self.world + p % self.world][p // self.world] for p in range(block)
            )
        return batch

    def probability_table(self, digits: int = 6) -> dict[str, float]:
        """The bitext sampler's language probabilities."""
        return self.bitext.probability_table(digits)

    def state_dict(self) -> dict[str, Any]:
        """``{"bitext": <its state>, "general_drawn": int}``."""
        return {"bitext": self.bitext.state_dict(), "general_drawn": self.drawn}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.bitext.load_state_dict(state["bitext"])
        self.drawn = int(state["general_drawn"])


def general_pool(
    data: DataConfig,
    validation: Sequence[BitextPair],
    data_dir: str | Path | None = None,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
) -> list[GeneralSentence]:
    """The general-domain sentences of ``data``: the distinct English sides of
    ``data.general_sources`` in ``data.languages`` (read by :func:`load_bitext`, so
    leak-checked; or of ``bitext`` when given), less the ``validation`` English, in
    text order."""
    pool = load_bitext(replace(data, sources=data.general_sources), data_dir, bitext)
    held = {text_key(p.english) for p in validation}
    seen: dict[str, GeneralSentence] = {}
    for lang in sorted(pool):
        for pair in pool[lang]:
            key = text_key(pair.english)
            if pair.english.strip() and key not in held and key not in seen:
                seen[key] = GeneralSentence(pair.english, pair.origin)
    return sorted(seen.values(), key=lambda g: g.text)


def _guard(pool: Mapping[str, Sequence[BitextPair]], data_dir: str | Path | None) -> str:
    """:func:`~optical.data.evaluation_text.check_pool` against the data directory's
    evaluation text; returns what it found. With no data directory at all (a pool given
    by a caller without one) the check cannot run: a warning, and it says so."""
    if data_dir is None and not os.environ.get(DATA_ENV):
        logger.warning(
            "no data directory: the training pool is not checked for evaluation text "
            "(pass data_dir or set %s)",
            DATA_ENV,
        )
        return "not checked: no data directory"
    index = evaluation_index(data_dir)
    check_pool(pool, index)
    return f"no evaluation text ({len(index.covered)} evaluation sets)"


def _load_pool(
    data: DataConfig,
    data_dir: str | Path | None,
    bitext: Mapping[str, Sequence[BitextPair]] | None,
) -> tuple[dict[str, list[BitextPair]], str]:
    if bitext is None:
        from ..data.training import training_bitext

        wanted = [normalize_lang(code) for code in data.languages] or None
        pool = training_bitext(data_dir, data.sources, wanted)
    else:
        pool = _given(data, bitext)
    return pool, _guard(pool, data_dir)


def _given(
    data: DataConfig, bitext: Mapping[str, Sequence[BitextPair]]
) -> dict[str, list[BitextPair]]:
    """``bitext`` kept to ``data.languages`` (empty = every language)."""
    wanted = {normalize_lang(code) for code in data.languages}
    return {lang: list(pairs) for lang, pairs in bitext.items() if not wanted or lang in wanted}


def load_bitext(
    data: DataConfig,
    data_dir: str | Path | None = None,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
) -> dict[str, list[BitextPair]]:
    """The training bitext of ``data`` (``sources``, ``languages``): read through
    :func:`optical.data.training.training_bitext`, or ``bitext`` (language → pairs) kept
    to ``data.languages`` (empty = every language).

    Either way the pool is checked against every evaluation set of the data directory
    (:func:`optical.data.evaluation_text.check_pool`): a pair whose source or English
    side is evaluation text raises :class:`~optical.errors.LeakError` naming it. Every
    distillation, NMT and back-translation training run reads its pairs here.
    """
    return _load_pool(data, data_dir, bitext)[0]


def training_split(
    data: DataConfig,
    seed: int,
    data_dir: str | Path | None = None,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
) -> BitextSplit:
    """:func:`load_bitext` split by :func:`split_bitext` with ``data``'s budget; the split's
    ``pool`` summarises the checked pool before the split."""
    pool, leak_check = _load_pool(data, data_dir, bitext)
    split = split_bitext(
        pool,
        seed,
        validation_per_language=data.validation_pairs_per_language,
        fraction=data.fraction,
        max_pairs_per_language=data.max_pairs_per_language,
    )
    return replace(split, pool=pool_summary(pool, leak_check))


@lru_cache(maxsize=16)
def _data_pool_sha256(root: str, sources: tuple[str, ...], languages: tuple[str, ...]) -> str:
    from .config import DataConfig

    data = DataConfig(sources=sources, languages=languages)
    return pool_summary(load_bitext(data, root)).sha256


def pool_sha256(
    data: DataConfig,
    data_dir: str | Path | None = None,
    bitext: Mapping[str, Sequence[BitextPair]] | None = None,
) -> str:
    """:attr:`PoolSummary.sha256` of the pool :func:`load_bitext` gives for ``data``
    (the budget does not enter: it cuts the split, not the pool). Read from the data
    directory, it is computed once per process and (data directory, sources, languages):
    the reference data are read-only."""
    if bitext is not None:
        return pool_summary(_given(data, bitext)).sha256  # identity only: checked when trained
    root = str(resolve_data_dir(data_dir).resolve())
    return _data_pool_sha256(root, tuple(data.sources), tuple(data.languages))


def micro_batches(batch: Sequence[T], accum: int) -> list[list[T]]:
    """Split a global batch into ``accum`` consecutive, equal micro-batches."""
    if accum < 1 or len(batch) % accum:
        raise ValueError(f"batch of {len(batch)} cannot be split into {accum} equal parts")
    size = len(batch) // accum
    return [list(batch[i * size : (i + 1) * size]) for i in range(accum)]


def shard(batch: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Rank ``rank``'s share of ``batch``: items ``rank, rank + W, …`` (disjoint, equal)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world of size {world_size}")
    if len(batch) % world_size:
        raise ValueError(f"batch of {len(batch)} cannot be split evenly over {world_size} ranks")
    return list(batch[rank::world_size])
