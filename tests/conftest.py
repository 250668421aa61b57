"""Shared fixtures: an isolated cache for unit tests, a tiny random BERT, the real data dir.

Unit tests never touch ``~/.cache/optical``: ``OPTICAL_CACHE_DIR`` points into a
session temporary folder for every test not marked ``slow``. Slow tests keep the
real default cache, so the dequantized multilingual-e5-small is built once per
machine, not once per run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# A word-level vocabulary plus single characters (and their ``##`` continuations),
# so that any lower-case ASCII text tokenizes without [UNK].
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = [
    *("the", "a", "of", "and", "to", "in", "is", "was", "for", "on", "with", "as", "by"),
    *("at", "from", "what", "who", "where", "when", "which", "how", "cat", "dog", "sat"),
    *("mat", "house", "river", "paris", "france", "capital", "city", "water", "blue"),
    *("red", "green", "big", "small", "runs", "quickly", "query", "passage", "sea"),
    *("flows", "into"),
]
_CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789.,?!:;'-")
TINY_VOCAB = list(dict.fromkeys([*_SPECIAL, *_WORDS, *_CHARS, *(f"##{c}" for c in _CHARS)]))
TINY_HIDDEN = 32


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cache root of the unit tests (one per session)."""
    return tmp_path_factory.mktemp("optical-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(
    request: pytest.FixtureRequest, session_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unit tests use the session's temporary cache; slow tests keep the real one."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("OPTICAL_CACHE_DIR", str(session_cache_dir))


@pytest.fixture(autouse=True)
def _cli_logging_undone() -> Iterator[None]:
    """Undo :func:`optical.cli.configure_logging` (which ``main`` calls) after each test."""
    import logging

    logger = logging.getLogger("optical")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture(scope="session")
def one_thread() -> None:
    """Models run on one thread: the machine has two cores, shared."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    """A randomly initialised 2-layer BertModel (hidden 32) with a WordPiece tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    # transformers 5 takes the file as ``vocab=``; ``vocab_file=`` is silently ignored and
    # leaves a tokenizer that knows only the special tokens (every word → [UNK])
    tokenizer = BertTokenizerFast(vocab=str(vocab))
    assert len(tokenizer) == len(TINY_VOCAB), "the tiny tokenizer lost its vocabulary"
    assert tokenizer.tokenize("the cats") == ["the", "cat", "##s"]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(TINY_VOCAB),
        hidden_size=TINY_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = BertModel(config, add_pooling_layer=False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path, one_thread: None):
    """The tiny model as an :class:`optical.models.encoder.Encoder` (fp32, no prefixes)."""
    from optical.models.encoder import Encoder
    from optical.models.registry import resolve_encoder

    spec = resolve_encoder(str(tiny_model_dir), query_prefix="", passage_prefix="")
    return Encoder.load(spec)


@pytest.fixture
def real_data_dir() -> Path:
    """``$OPTICAL_DATA_DIR``; the test is skipped (with the reason) when it is not usable."""
    value = os.environ.get("OPTICAL_DATA_DIR")
    if not value:
        pytest.skip("OPTICAL_DATA_DIR is not set: point it at the reference data (../shared/data)")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"OPTICAL_DATA_DIR={value} is not a directory")
    return path
