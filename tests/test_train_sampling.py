"""Temperature sampling, the seeded split and budgets, DDP sharding: pure functions."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from optical.train.sampling import (
    TemperatureSampler,
    micro_batches,
    shard,
    split_bitext,
    temperature_probabilities,
)
from optical.types import BitextPair


def test_temperature_math() -> None:
    sizes = {"big": 10_000, "mid": 100, "small": 1}
    p1 = temperature_probabilities(sizes, 1.0)
    assert p1["big"] == pytest.approx(10_000 / 10_101)
    p2 = temperature_probabilities(sizes, 2.0)  # ∝ sqrt(n): 100, 10, 1
    assert p2 == pytest.approx({"big": 100 / 111, "mid": 10 / 111, "small": 1 / 111})
    assert sum(p2.values()) == pytest.approx(1.0)
    huge = temperature_probabilities(sizes, 1e9)
    assert all(v == pytest.approx(1 / 3, rel=1e-6) for v in huge.values())
    assert temperature_probabilities({"a": 5, "b": 0}, 3.0) == {"a": 1.0, "b": 0.0}
    # higher temperature moves mass towards the small languages
    assert p1["small"] < p2["small"] < huge["small"]


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.inf, math.nan])
def test_temperature_must_be_positive_and_finite(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        temperature_probabilities({"a": 1}, temperature)


def test_temperature_needs_data() -> None:
    with pytest.raises(ValueError, match="no language"):
        temperature_probabilities({"a": 0}, 1.0)


def _pools() -> dict[str, list[str]]:
    return {"aa": [f"aa{i}" for i in range(50)], "bb": [f"bb{i}" for i in range(7)]}


def test_sampler_is_deterministic_and_follows_p() -> None:
    a = TemperatureSampler(_pools(), 2.0, seed=3)
    b = TemperatureSampler(_pools(), 2.0, seed=3)
    c = TemperatureSampler(_pools(), 2.0, seed=4)
    batches_a = [a.next_batch(16) for _ in range(300)]
    assert batches_a == [b.next_batch(16) for _ in range(300)]
    assert batches_a != [c.next_batch(16) for _ in range(300)]
    counts = Counter(item[:2] for batch in batches_a for item in batch)
    expected = temperature_probabilities({"aa": 50, "bb": 7}, 2.0)
    total = sum(counts.values())
    for lang, p in expected.items():
        assert counts[lang] / total == pytest.approx(p, abs=0.02)


def test_sampler_visits_each_pair_once_per_epoch() -> None:
    sampler = TemperatureSampler(_pools(), 1.0, seed=0)
    drawn: dict[str, list[str]] = {"aa": [], "bb": []}
    while min(len(v) for v in drawn.values()) < 14:
        for item in sampler.next_batch(8):
            drawn[item[:2]].append(item)
    bb = drawn["bb"]
    assert sorted(bb[:7]) == sorted(_pools()["bb"])  # epoch 1: a permutation
    assert sorted(bb[7:14]) == sorted(_pools()["bb"])  # epoch 2: another one
    assert bb[:7] != bb[7:14]


def test_sampler_state_resumes_the_same_stream() -> None:
    first = TemperatureSampler(_pools(), 2.0, seed=1)
    for _ in range(5):
        first.next_batch(8)
    state = first.state_dict()
    expected = [first.next_batch(8) for _ in range(10)]
    second = TemperatureSampler(_pools(), 2.0, seed=1)
    second.load_state_dict(state)
    assert [second.next_batch(8) for _ in range(10)] == expected
    other = TemperatureSampler({"aa": ["x"]}, 2.0, seed=1)
    with pytest.raises(ValueError, match="languages"):
        other.load_state_dict(state)


def test_shards_partition_every_micro_batch() -> None:
    batch = list(range(12))
    micro = micro_batches(batch, 2)
    assert micro == [list(range(6)), list(range(6, 12))]
    for part in micro:
        shards = [shard(part, rank, 3) for rank in range(3)]
        assert sorted(x for s in shards for x in s) == part
        assert all(len(s) == 2 for s in shards)
        assert not set(shards[0]) & set(shards[1])
    with pytest.raises(ValueError, match="evenly"):
        shard(batch, 0, 5)
    with pytest.raises(ValueError, match="outside"):
        shard(batch, 3, 3)
    with pytest.raises(ValueError, match="equal parts"):
        micro_batches(batch, 5)


def _bitext() -> dict[str, list[BitextPair]]:
    out: dict[str, list[BitextPair]] = {}
    for lang in ("xx", "yy"):
        # the same 200 English sentences in both languages (like MKQA)
        out[lang] = [
            BitextPair(f"{lang} sentence {i}", f"english sentence {i}", lang, f"{lang}-{i}")
            for i in range(200)
        ]
    out["zz"] = [BitextPair(f"zz {i}", f"other {i}", "zz", f"zz-{i}") for i in range(12)]
    return out


def test_split_keeps_validation_english_out_of_training() -> None:
    split = split_bitext(_bitext(), seed=0, validation_per_language=10)
    val_english = {p.english for p in split.validation}
    assert Counter(p.lang for p in split.validation) == {"xx": 10, "yy": 10, "zz": 2}  # n // 5
    for pairs in split.train.values():
        assert not val_english & {p.english for p in pairs}
    assert split_bitext(_bitext(), seed=0, validation_per_language=10) == split
    assert split_bitext(_bitext(), seed=1, validation_per_language=10) != split


def test_budgets_are_nested_subsets() -> None:
    pools = {
        fraction: split_bitext(_bitext(), 0, validation_per_language=10, fraction=fraction)
        for fraction in (0.1, 0.3, 1.0)
    }
    for lang in ("xx", "yy"):
        small, mid, full = (pools[f].train[lang] for f in (0.1, 0.3, 1.0))
        assert len(small) == math.ceil(0.1 * len(full))
        assert len(mid) == math.ceil(0.3 * len(full))
        assert small == mid[: len(small)] and mid == full[: len(mid)]
    assert pools[0.1].validation == pools[1.0].validation
    capped = split_bitext(_bitext(), 0, validation_per_language=10, max_pairs_per_language=5)
    assert capped.sizes() == {"xx": 5, "yy": 5, "zz": 5}
    assert capped.train["xx"] == pools[1.0].train["xx"][:5]


def test_fraction_is_of_the_capped_pool() -> None:
    """A 30 % budget under a cap of 100 pairs trains on 30 pairs, not min(30 % of all, 100)."""
    capped = split_bitext(_bitext(), 0, validation_per_language=10, max_pairs_per_language=100)
    part = split_bitext(
        _bitext(), 0, validation_per_language=10, max_pairs_per_language=100, fraction=0.3
    )
    assert capped.sizes()["xx"] == 100 and part.sizes()["xx"] == 30
    assert part.train["xx"] == capped.train["xx"][:30]


def test_length_buckets_regroup_the_same_items_and_resume() -> None:
    """Every ``pool`` batches hold exactly the inner sampler's items, regrouped by
    length (the batches of a block do not overlap in length); the state is plain and a
    sampler restored mid-block continues the same stream."""
    import itertools
    import json

    from optical.train.sampling import LengthBucketedSampler, TemperatureSampler

    pools = {
        "fi": [f"f{'x' * (i % 9)}" for i in range(40)],
        "sv": [f"s{'y' * i}" for i in range(7)],
    }

    def fresh() -> LengthBucketedSampler:
        return LengthBucketedSampler(TemperatureSampler(pools, 2.0, seed=3), len, 4, seed=3)

    plain = TemperatureSampler(pools, 2.0, seed=3)
    expected = [plain.next_batch(5) for _ in range(8)]
    sampler = fresh()
    got = [sampler.next_batch(5) for _ in range(8)]
    for block in (0, 1):
        mine = got[block * 4 : (block + 1) * 4]
        theirs = expected[block * 4 : (block + 1) * 4]
        assert sorted(x for b in mine for x in b) == sorted(x for b in theirs for x in b)
        spans = sorted((min(map(len, b)), max(map(len, b))) for b in mine)
        assert all(hi <= lo for (_, hi), (lo, _) in itertools.pairwise(spans))
    again = fresh()
    for _ in range(6):
        again.next_batch(5)
    state = json.loads(json.dumps(again.state_dict()))
    resumed = fresh()
    resumed.load_state_dict(state)
    assert [resumed.next_batch(5) for _ in range(2)] == got[6:8]
    assert resumed.probability_table() == plain.probability_table()


def test_token_budget_batches_keep_their_budget_and_every_item() -> None:
    """A block's token-budget batches hold exactly the inner sampler's items (none lost,
    none repeated), each within ``longest × count ≤ max_tokens`` and a multiple of the
    loop's split; short items make larger batches; a sampler restored mid-block continues
    the same stream; a group alone over the budget is a clear error."""
    import json

    from optical.train.sampling import TemperatureSampler, TokenBudgetSampler

    pools = {
        "fi": [f"f{'x' * (i % 13)}" for i in range(60)],
        "sv": [f"s{'y' * i}" for i in range(9)],
    }

    def fresh() -> TokenBudgetSampler:
        inner = TemperatureSampler(pools, 2.0, seed=5)
        return TokenBudgetSampler(inner, len, 4, seed=5, max_tokens=30, multiple=2)

    plain = TemperatureSampler(pools, 2.0, seed=5)
    blocks = [[x for _ in range(4) for x in plain.next_batch(6)] for _ in range(2)]
    sampler = fresh()
    served: list[list[str]] = []
    for block in blocks:
        taken: list[str] = []
        while len(taken) < len(block):
            batch = sampler.next_batch(6)
            assert len(batch) % 2 == 0 and max(map(len, batch)) * len(batch) <= 30
            taken += batch
            served.append(batch)
        assert sorted(taken) == sorted(block)
    sizes = {max(map(len, b)): len(b) for b in served}
    assert sizes[min(sizes)] > sizes[max(sizes)]  # short items travel in larger batches
    again = fresh()
    for _ in range(5):
        again.next_batch(6)
    resumed = fresh()
    resumed.load_state_dict(json.loads(json.dumps(again.state_dict())))
    assert [resumed.next_batch(6) for _ in range(3)] == [again.next_batch(6) for _ in range(3)]
    tight = TokenBudgetSampler(TemperatureSampler(pools, 2.0, seed=5), len, 4, 5, 10, 2)
    with pytest.raises(ValueError, match="exceed the token budget of 10"):
        for _ in range(8):
            tight.next_batch(6)
    with pytest.raises(ValueError, match="not a multiple of 2"):
        fresh().next_batch(5)
