"""Retrieval on hand-made vectors and a tiny English corpus: dense, MaxSim, BM25."""

from __future__ import annotations

import numpy as np
import pytest

from optical.errors import OpticalError
from optical.runs import ranked
from optical.search import BM25Index, DenseIndex, maxsim, maxsim_rerank
from optical.types import Passage


def unit(*rows: list[float]) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


# --------------------------------------------------------------------------- dense

DOCS = unit([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0])
DOC_IDS = ["x", "y", "z", "xy"]


def test_dense_top_k() -> None:
    index = DenseIndex(DOCS, DOC_IDS)
    queries = unit([1, 0.1, 0], [0, 0, 1], [1, 1, 0.05])
    run = index.search(["q1", "q2", "q3"], queries, k=2)
    assert [pid for pid, _ in ranked(run["q1"])] == ["x", "xy"]
    assert ranked(run["q2"])[0] == ("z", pytest.approx(1.0))
    assert ranked(run["q3"])[0][0] == "xy"
    expected = float(queries[0] @ DOCS[0])
    assert run["q1"]["x"] == pytest.approx(expected, abs=1e-6)
    assert all(len(docs) == 2 for docs in run.values())


def test_dense_k_larger_than_collection() -> None:
    run = DenseIndex(DOCS, DOC_IDS).search(["q"], unit([0, 1, 0]), k=100)
    assert set(run["q"]) == set(DOC_IDS)
    scores = run["q"]
    assert scores["y"] == pytest.approx(1.0) and scores["z"] == pytest.approx(0.0, abs=1e-6)


def test_dense_accepts_float64_and_non_contiguous() -> None:
    docs = np.asfortranarray(DOCS.astype(np.float64))
    run = DenseIndex(docs, DOC_IDS).search(["q"], unit([0, 0, 1]).astype(np.float64), k=1)
    assert list(run["q"]) == ["z"]


def test_dense_shape_errors() -> None:
    with pytest.raises(OpticalError, match=r"\[N, d\]"):
        DenseIndex(DOCS, DOC_IDS[:3])
    with pytest.raises(OpticalError, match=r"\[N, d\]"):
        DenseIndex(DOCS[0], ["x"])
    index = DenseIndex(DOCS, DOC_IDS)
    with pytest.raises(OpticalError, match="index dimension 3"):
        index.search(["q"], np.ones((1, 4), np.float32), k=1)
    with pytest.raises(OpticalError, match="index dimension 3"):
        index.search(["q"], np.ones(3, np.float32), k=1)


def test_dense_k_must_be_positive_and_empty_index() -> None:
    index = DenseIndex(DOCS, DOC_IDS)
    for k in (0, -1):
        with pytest.raises(OpticalError, match="at least 1"):
            index.search(["q"], DOCS[:1], k=k)
    empty = DenseIndex(np.zeros((0, 3), np.float32), [])
    assert empty.search(["q1", "q2"], DOCS[:2], k=5) == {"q1": {}, "q2": {}}


# --------------------------------------------------------------------------- MaxSim


def test_maxsim_hand_computed() -> None:
    query = np.array([[1, 0], [0, 1], [0.6, 0.8]], np.float32)
    passage = np.array([[0.8, 0.6], [0, 1], [-1, 0]], np.float32)
    # q1: max(0.8, 0, -1) = 0.8; q2: max(0.6, 1, 0) = 1; q3: max(0.96, 0.8, -0.6) = 0.96
    assert maxsim(query, passage) == pytest.approx(0.8 + 1.0 + 0.96)
    assert maxsim(query[:1], passage[2:]) == pytest.approx(-1.0)  # negative sims are kept
    assert maxsim(np.zeros((0, 2)), passage) == 0.0
    assert maxsim(query, np.zeros((0, 2))) == 0.0


def test_maxsim_rerank_reorders_and_keeps_tail_below() -> None:
    query = {"q": np.array([[1, 0], [0, 1]], np.float32)}
    tokens = {
        "a": np.array([[1, 0]], np.float32),  # 1 + 0 = 1
        "b": np.array([[1, 0], [0, 1]], np.float32),  # 1 + 1 = 2
        "c": np.array([[0.6, 0.8]], np.float32),  # 0.6 + 0.8 = 1.4
        "d": np.array([[1, 0], [0, 1]], np.float32),  # would be 2, but below the depth
        "e": np.array([[0, 1]], np.float32),
    }
    first = {"q": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "e": 0.5}}
    run = maxsim_rerank(first, query, tokens.__getitem__, depth=3)
    order = [pid for pid, _ in ranked(run["q"])]
    assert order == ["b", "c", "a", "d", "e"]
    assert run["q"]["b"] == pytest.approx(2.0)
    assert run["q"]["c"] == pytest.approx(1.4)
    assert run["q"]["a"] == pytest.approx(1.0)
    assert max(run["q"]["d"], run["q"]["e"]) < min(run["q"][p] for p in "abc")
    assert set(run["q"]) == set(first["q"])


def test_maxsim_rerank_matches_maxsim_per_passage() -> None:
    rng = np.random.default_rng(0)

    def normed(n: int) -> np.ndarray:
        x = rng.normal(size=(n, 8)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    tokens = {f"p{i}": normed(int(rng.integers(1, 6))) for i in range(10)}
    queries = {"q1": normed(4), "q2": normed(2)}
    first = {q: {p: float(rng.random()) for p in tokens} for q in queries}
    run = maxsim_rerank(first, queries, tokens.__getitem__, depth=10)
    for q in queries:
        for p in tokens:
            assert run[q][p] == pytest.approx(maxsim(queries[q], tokens[p]), abs=1e-5)


def test_maxsim_rerank_breaks_first_stage_ties_like_trec_eval() -> None:
    # equal first-stage scores: trec_eval ranks by doc id descending (c, b, a), so c is
    # the one inside depth 1 and the tail keeps b above a, whatever the dict order
    tokens = {p: np.array([[1.0, 0.0]], np.float32) for p in "abc"}
    query = {"q": np.array([[1.0, 0.0]], np.float32)}
    first = {"q": {"a": 0.5, "b": 0.5, "c": 0.5}}
    run = maxsim_rerank(first, query, tokens.__getitem__, depth=1)
    assert [pid for pid, _ in ranked(run["q"])] == ["c", "b", "a"]
    assert run["q"]["c"] == pytest.approx(1.0)


def test_maxsim_rerank_with_an_empty_passage() -> None:
    query = {"q": np.array([[1, 0]], np.float32)}
    tokens = {"a": np.zeros((0, 2), np.float32), "b": np.array([[0.5, 0.5]], np.float32)}
    run = maxsim_rerank({"q": {"a": 1.0, "b": 0.5}}, query, tokens.__getitem__, depth=2)
    assert run["q"] == {"a": 0.0, "b": pytest.approx(0.5)}


# --------------------------------------------------------------------------- BM25

CORPUS = [
    Passage("cats", "Cats are small domesticated carnivorous mammals kept as pets.", "Cat"),
    Passage("paris", "Paris is the capital and most populous city of France.", "Paris"),
    Passage("nile", "The Nile is a major river in northeastern Africa.", "Nile"),
    Passage("jupiter", "Jupiter is the largest planet in the Solar System.", "Jupiter"),
]


def test_bm25_obvious_document_first() -> None:
    index = BM25Index(CORPUS)
    questions = {
        "q1": "What is the capital of France?",
        "q2": "Which river flows through northeastern Africa?",
        "q3": "largest planet of the solar system",
        "q4": "cat",  # matches the title only
    }
    run = index.search(list(questions), list(questions.values()), k=3)
    assert set(run) == set(questions)
    assert ranked(run["q1"])[0][0] == "paris"
    assert ranked(run["q2"])[0][0] == "nile"
    assert ranked(run["q3"])[0][0] == "jupiter"
    assert ranked(run["q4"])[0][0] == "cats"
    assert all(len(docs) <= 3 for docs in run.values())
    assert all(score > 0 for docs in run.values() for score in docs.values())


def test_bm25_k_must_be_positive() -> None:
    with pytest.raises(OpticalError, match="at least 1"):
        BM25Index(CORPUS).search(["q"], ["capital"], k=0)


def test_bm25_stopword_and_unknown_queries_get_empty_rankings() -> None:
    run = BM25Index(CORPUS).search(["stop", "oov"], ["the of and", "zzzz qqqq"], k=10)
    assert run == {"stop": {}, "oov": {}}
