"""Transformer encoders: pooled sentence embeddings and token embeddings with masks.

``Encoder.forward`` is the differentiable path used by training; ``Encoder.encode``
is the inference path: texts are sorted by token length and packed into
batches under a token budget (length bucketing), run under bf16 autocast when
asked, and returned in the input order. :meth:`Encoder.to_int8` turns a frozen encoder
into an int8 one for encoding only (dynamic int8 linear layers, :func:`quantize_int8`).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..device import autocast, to_device
from ..errors import OpticalError
from ..precision import use_bf16
from .registry import EncoderSpec

Kind = Literal["query", "passage"]

_FFN_OUTPUT = re.compile(r"(^|\.)layer\.\d+\.output\.dense$")
"""The feed-forward down-projection of a BERT-style layer (``encoder.layer.N.output.dense``,
not ``attention.output.dense``): its input, the GELU output, has outlier channels that
per-tensor dynamic int8 activations cannot hold (on e5-small its int8 alone takes the
minimum passage cosine to fp32 from 0.9999 to 0.979), so it stays fp32."""


def quantize_int8(model: torch.nn.Module) -> list[str]:
    """Quantise ``model``'s linear layers in place to dynamic int8 (int8 weights per
    output channel, activations quantised per batch; torch's fbgemm / x86 engine),
    except the feed-forward output projections (:data:`_FFN_OUTPUT`). Returns the names
    of the quantised layers. Inference only: a quantised layer has no gradient."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not _FFN_OUTPUT.search(name)
    ]
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; the eager API still works
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantize_dynamic(
            model, dict.fromkeys(names, per_channel_dynamic_qconfig), torch.qint8, inplace=True
        )
    return names


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx")


def load_tokenizer(path: str | Path) -> Any:
    """The ``transformers`` tokenizer of ``path`` (a local folder or a hub id), parsed once
    per process and folder state (the names, sizes and times of its non-weight files):
    reading an XLM-R ``tokenizer.json`` (250k pieces) takes 2–3 s on a 2-core CPU, and an
    experiment loads the same base tokenizer for the zero-shot encoder and every student.
    The tokenizer is shared: callers only read it (each call sets its own truncation)."""
    folder = Path(path)
    state: tuple[tuple[str, int, int], ...] = ()
    if folder.is_dir():
        state = tuple(
            (f.name, f.stat().st_size, f.stat().st_mtime_ns)
            for f in sorted(folder.iterdir())
            if f.is_file() and not f.name.endswith(_WEIGHT_SUFFIXES)
        )
    return _tokenizer(str(path), state)


@functools.lru_cache(maxsize=8)
def _tokenizer(path: str, state: tuple[tuple[str, int, int], ...]) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _inference_only(module: torch.nn.Module, args: object) -> None:
    """Forward pre-hook of an int8 model: no training through it."""
    if torch.is_grad_enabled() or module.training:
        raise OpticalError(
            "this encoder was quantised to int8 for encoding only: train an fp32 copy "
            "(load it again without to_int8)"
        )


@dataclass(frozen=True)
class TokenOutput:
    """One forward pass.

    ``tokens``: ``[B, L, d]`` hidden states of the chosen layer;
    ``mask``: ``[B, L]`` bool, true on real tokens;
    ``content_mask``: ``[B, L]`` bool, true on real tokens that are not special tokens;
    ``pooled``: ``[B, d]`` pooled (and, if the spec says so, L2-normalised) embeddings.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    content_mask: torch.Tensor
    pooled: torch.Tensor
    input_ids: torch.Tensor


@dataclass(frozen=True)
class Encoded:
    """Inference output for N texts, in input order.

    ``pooled``: float32 ``[N, d]``; ``tokens``: per text a float16 ``[L_i, d]``
    array of L2-normalised content-token embeddings (special tokens removed),
    or ``None`` when token embeddings were not requested.
    """

    pooled: np.ndarray
    tokens: list[np.ndarray] | None


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool ``hidden [B, L, d]`` over ``mask [B, L]``: masked mean or the first (CLS) token."""
    if how == "cls":
        return hidden[:, 0]
    if how != "mean":
        raise OpticalError(f"unknown pooling {how!r}: use 'mean' or 'cls'")
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def _check_texts(texts: Sequence[str], kind: str) -> None:
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise OpticalError(f"empty {kind} text at position {index}: cannot encode it")


class Encoder:
    """A ``transformers`` encoder with the spec's prefixes, pooling and normalisation."""

    def _check_finite(self, rows: np.ndarray, positions: Sequence[int], kind: str) -> None:
        """Stop on a non-finite pooled embedding, naming the encoder and the texts."""
        bad = [
            int(p) for p, ok in zip(positions, np.isfinite(rows).all(axis=1), strict=True) if not ok
        ]
        if bad:
            shown = ", ".join(map(str, sorted(bad)[:5])) + (", ..." if len(bad) > 5 else "")
            where = self.spec.name
            if self.spec.path != self.spec.name:
                where += f" ({self.spec.path})"
            raise OpticalError(
                f"encoder {where} produced non-finite (NaN/inf) "
                f"embeddings for {len(bad)} {kind} text(s) at position(s) {shown}; its weights "
                "may be damaged"
            )

    def __init__(self, spec: EncoderSpec, model: torch.nn.Module, tokenizer, bf16: bool = False):
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.bf16_requested = bf16
        # a request: honoured where the device has native bf16 (optical.precision)
        self.bf16 = use_bf16(bf16, self.device.type)
        self.int8 = False

    @property
    def device(self) -> torch.device:
        """The device of the model's weights (inputs are moved there)."""
        weight = next(self.model.parameters(), None)
        return weight.device if weight is not None else torch.device("cpu")

    def to(self, device: torch.device | str) -> Encoder:
        """Move the model to ``device`` (in place; returns ``self``); bf16 is decided
        again for the new device type. An int8 encoder stays on the CPU."""
        device = torch.device(device)
        if self.int8 and device.type != "cpu":
            raise OpticalError(f"encoder {self.spec.name}: an int8 encoder runs on the CPU only")
        self.model.to(device)
        if not self.int8:
            self.bf16 = use_bf16(self.bf16_requested, device.type)
        return self

    def to_int8(self) -> None:
        """Encode from now on with dynamic int8 linear layers (:func:`quantize_int8`,
        in place; bf16 autocast off). For frozen encoders only: the model can no longer
        be trained, and a forward pass with gradients enabled is an error."""
        if self.int8:
            return
        self.model.eval()
        quantize_int8(self.model)
        self.model.register_forward_pre_hook(_inference_only)
        self.int8 = True
        self.bf16 = False

    @property
    def precision(self) -> str:
        """``"int8"``, ``"bf16"`` or ``"fp32"``: what :meth:`encode` runs at (the
        embedding cache keys on it)."""
        return "int8" if self.int8 else "bf16" if self.bf16 else "fp32"

    @classmethod
    def load(
        cls, spec: EncoderSpec, bf16: bool = False, device: torch.device | str | None = None
    ) -> Encoder:
        """Load the model and tokenizer named by ``spec`` (local folder or hub id), on
        ``device`` (default: the CPU)."""
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            tokenizer = load_tokenizer(spec.path)
            try:
                model = AutoModel.from_pretrained(spec.path, add_pooling_layer=False)
            except TypeError:
                model = AutoModel.from_pretrained(spec.path)
        except (OSError, ValueError) as exc:
            # OSError: no such folder or hub id; ValueError: a folder without usable
            # tokenizer files, or a malformed hub id
            raise OpticalError(
                f"cannot load encoder {spec.name!r} from {spec.path!r}: {exc}\n"
                "  offline defaults: multilingual-e5-small, all-MiniLM-L6-v2; a hub id needs "
                "internet, a local folder needs config.json + weights + tokenizer files"
            ) from exc
        model.eval()
        encoder = cls(spec, model, tokenizer, bf16=bf16)
        return encoder.to(device) if device is not None else encoder

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def prefix(self, kind: Kind) -> str:
        return self.spec.query_prefix if kind == "query" else self.spec.passage_prefix

    def tokenize(self, texts: Sequence[str], kind: Kind) -> dict[str, torch.Tensor]:
        """Tokenize with the kind's prefix, padded to the longest text, truncated to max_length."""
        _check_texts(texts, kind)
        prefix = self.prefix(kind)
        return self.tokenizer(
            [prefix + text for text in texts],
            padding=True,
            truncation=True,
            max_length=self.spec.max_length,
            return_tensors="pt",
            return_special_tokens_mask=True,
        )

    def forward(self, batch: dict[str, torch.Tensor], layer: int = -1) -> TokenOutput:
        """Run the model on a tokenized batch; ``layer`` picks the hidden-state layer (-1 = last).

        The pooled output always uses the last layer (the retrieval embedding). The
        batch is moved to the model's device; the outputs stay there.
        """
        device = self.device
        batch = to_device(batch, device)
        inputs = {k: v for k, v in batch.items() if k in {"input_ids", "attention_mask"}}
        if "token_type_ids" in batch:
            inputs["token_type_ids"] = batch["token_type_ids"]
        with autocast(device, self.bf16):
            out = self.model(**inputs, output_hidden_states=layer != -1)
        last = out.last_hidden_state.float()
        mask = batch["attention_mask"].bool()
        special = batch.get("special_tokens_mask")
        content = mask & ~special.bool() if special is not None else mask
        tokens = last if layer == -1 else out.hidden_states[layer].float()
        pooled = pool(last, mask, self.spec.pooling)
        if self.spec.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return TokenOutput(tokens, mask, content, pooled, batch["input_ids"])

    def token_lengths(self, texts: Sequence[str], kind: Kind) -> list[int]:
        """Token counts (prefix and special tokens included, truncated to max_length)."""
        prefix = self.prefix(kind)
        ids = self.tokenizer(
            [prefix + t for t in texts], truncation=True, max_length=self.spec.max_length
        )["input_ids"]
        return [len(x) for x in ids]

    @torch.inference_mode()
    def encode(
        self,
        texts: Sequence[str],
        kind: Kind,
        with_tokens: bool = False,
        token_budget: int = 8192,
        max_batch: int = 128,
        progress: bool | str = False,
    ) -> Encoded:
        """Encode ``texts`` in length-bucketed batches; results come back in input order."""
        # check every text first, so that the error names its position in ``texts``
        # (tokenize() only sees one length-sorted batch)
        _check_texts(texts, kind)
        n = len(texts)
        pooled = np.zeros((n, self.dim), dtype=np.float32)
        tokens: list[np.ndarray] | None = (
            [np.zeros((0, self.dim), np.float16)] * n if with_tokens else None
        )
        if n == 0:
            return Encoded(pooled, tokens)
        lengths = self.token_lengths(texts, kind)
        order = np.argsort(lengths, kind="stable")
        batches: list[list[int]] = []
        current: list[int] = []
        for index in order:
            longest = (
                max(lengths[index], *(lengths[i] for i in current[-1:]))
                if current
                else lengths[index]
            )
            if current and (
                longest * (len(current) + 1) > token_budget or len(current) >= max_batch
            ):
                batches.append(current)
                current = []
            current.append(int(index))
        batches.append(current)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            label = progress if isinstance(progress, str) else f"encode {kind}s"
            bar = tqdm(total=sum(lengths), desc=label, unit="tok", unit_scale=True, leave=False)
        for batch_ids in batches:
            batch = self.tokenize([texts[i] for i in batch_ids], kind)
            out = self.forward(batch)
            pooled[batch_ids] = out.pooled.float().cpu().numpy()
            self._check_finite(pooled[batch_ids], batch_ids, kind)
            if tokens is not None:
                normed = F.normalize(out.tokens, dim=-1).to(torch.float16).cpu().numpy()
                content = out.content_mask.cpu().numpy()
                for row, index in enumerate(batch_ids):
                    tokens[index] = normed[row][content[row]]
            if bar is not None:
                bar.update(sum(lengths[i] for i in batch_ids))
        if bar is not None:
            bar.close()
        return Encoded(pooled, tokens)


def tokenize_with_prefix(
    encoder: Encoder, texts: Sequence[str], kind: Kind, max_length: int | None = None
) -> dict[str, torch.Tensor]:
    """``encoder.tokenize`` plus ``prefix_mask`` ``[B, L]`` (bool): the tokens of the
    kind's prefix (e.g. e5's ``query: ``).

    A fast tokenizer marks the non-special tokens whose character span ends within the
    prefix; a slow one marks the first ``k`` non-special tokens, ``k`` = the prefix's own
    token count. ``max_length`` overrides the spec's truncation length.
    """
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise OpticalError(f"empty {kind} text at position {index}: cannot encode it")
    prefix = encoder.prefix(kind)
    tokenizer = encoder.tokenizer
    fast = bool(getattr(tokenizer, "is_fast", False))
    batch = tokenizer(
        [prefix + text for text in texts],
        padding=True,
        truncation=True,
        max_length=max_length or encoder.spec.max_length,
        return_tensors="pt",
        return_special_tokens_mask=True,
        return_offsets_mapping=fast,
    )
    content = batch["attention_mask"].bool() & ~batch["special_tokens_mask"].bool()
    if not prefix:
        prefix_mask = torch.zeros_like(content)
    elif fast:
        prefix_mask = content & (batch.pop("offset_mapping")[..., 1] <= len(prefix))
    else:
        count = len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
        prefix_mask = content & (content.long().cumsum(1) <= count)
    batch.pop("offset_mapping", None)
    batch["prefix_mask"] = prefix_mask
    return dict(batch)
