r"""The NMT decoder over cached encoder states: loss and greedy / beam decoding.

Shapes: ``states [B, S, e]`` (float, the frozen encoder's token states),
``states_mask [B, S]`` (bool, true on real tokens), target sequences ``[B, T]`` of
compact ids ``<2xx> y_1 … y_n </s>`` padded with ``<pad>``.

Model: ``h = LayerNorm(W states + b)`` (``[B, S, d]``, the bridge into the decoder's
width) and a BERT decoder (:class:`transformers.BertLMHeadModel` with cross-attention
to ``h``) whose logits ``[B, T, V]`` give

.. math:: p(y_t \mid y_{<t}, x) = \mathrm{softmax}(\mathrm{logits}_{t-1}),

trained with token-level cross-entropy with label smoothing ε (pads ignored):
:math:`\mathcal{L} = \frac{1}{N}\sum_t [(1-ε)(-\log p(y_t)) + ε\,\overline{-\log p(\cdot)}]`.

With ``adaptive_cutoffs`` (:class:`~optical.nmt.config.NmtModelConfig`) the output layer
is an adaptive softmax instead (:class:`AdaptiveOutput`, fp32): training scores each
target against the head and its own cluster only (ε = 0), and the decoder's "logits"
are the full log-probabilities ``[B, T, V]``, so decoding is unchanged.
Decoding uses ``generate`` of ``transformers`` (key/value cache; greedy or beam search),
starting from the target-language tag.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..device import autocast
from ..errors import OpticalError
from ..precision import use_bf16
from .config import NmtModelConfig
from .vocab import EOS, PAD, UNK, CompactVocab

logger = logging.getLogger(__name__)


ADAPTIVE_DIV_VALUE = 1.0
"""Tail clusters keep the full width (their output rows start from the word embeddings,
as the head's do: :meth:`AdaptiveOutput.init_rows`)."""


class AdaptiveOutput(nn.Module):
    """The adaptive-softmax output layer (:class:`torch.nn.AdaptiveLogSoftmaxWithLoss`,
    run in fp32 outside autocast). Called on ``hidden [..., d]`` it returns the
    log-probabilities ``[..., V]`` of the whole vocabulary (the decoder's logits when
    decoding); :meth:`target_log_prob` gives ``log p(y)`` ``[N]`` of ``hidden [N, d]``'s
    targets ``[N]`` at the cost of the head and each target's own cluster."""

    def __init__(self, hidden: int, size: int, cutoffs: Sequence[int]) -> None:
        super().__init__()
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
            hidden, size, list(cutoffs), div_value=ADAPTIVE_DIV_VALUE
        )

    @torch.no_grad()
    def init_rows(self, rows: torch.Tensor, offset: int) -> None:
        """Start the output rows of the pieces from ``rows`` ``[V - offset, d]`` (the
        input embeddings the decoder starts from; compact id ``offset + i`` is row ``i``),
        as a tied full softmax would: the head's shortlist rows, and per tail cluster
        its output rows behind an identity projection."""
        adaptive = self.adaptive
        shortlist = adaptive.shortlist_size
        adaptive.head.weight[offset:shortlist] = rows[: shortlist - offset]
        for i, (project, output) in enumerate(adaptive.tail):
            low, high = adaptive.cutoffs[i], adaptive.cutoffs[i + 1]
            project.weight.copy_(torch.eye(*project.weight.shape))
            output.weight.copy_(rows[low - offset : high - offset])

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):
            flat = hidden.float().reshape(-1, hidden.shape[-1])
            return self.adaptive.log_prob(flat).reshape(*hidden.shape[:-1], -1)

    def target_log_prob(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):
            return self.adaptive(hidden.float(), targets).output


def adaptive_cutoffs(config: NmtModelConfig, vocab: CompactVocab) -> list[int]:
    """``config.adaptive_cutoffs`` (piece ranks) as compact ids: shifted past the specials
    and language tags (:class:`~optical.nmt.vocab.CompactVocab`'s pieces are in frequency
    order). A cutoff at or beyond the pieces the training targets hold would open an
    empty cluster: it is left out (logged); with none left the output is a full softmax."""
    cutoffs = [vocab.offset + rank for rank in config.adaptive_cutoffs]
    kept = [c for c in cutoffs if c < vocab.size]
    if len(kept) < len(cutoffs):
        logger.info(
            "adaptive softmax: the targets hold %d distinct pieces; cutoffs %s left out%s",
            len(vocab.base_ids),
            list(config.adaptive_cutoffs[len(kept) :]),
            "" if kept else " (a full softmax)",
        )
    return kept


def build_decoder(config: NmtModelConfig, vocab: CompactVocab) -> nn.Module:
    """A randomly initialised :class:`transformers.BertLMHeadModel` decoder over ``vocab``;
    with :func:`adaptive_cutoffs` its output layer is an :class:`AdaptiveOutput` (untied,
    no separate bias)."""
    from transformers import BertConfig, BertLMHeadModel

    cutoffs = adaptive_cutoffs(config, vocab)
    bert = BertConfig(
        vocab_size=vocab.size,
        hidden_size=config.hidden,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        intermediate_size=config.ffn,
        max_position_embeddings=config.max_target_length + 8,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        is_decoder=True,
        add_cross_attention=True,
        pad_token_id=PAD,
        eos_token_id=EOS,
        tie_word_embeddings=not cutoffs,
    )
    decoder = BertLMHeadModel(bert)
    if cutoffs:
        head = decoder.cls.predictions
        head.decoder = AdaptiveOutput(config.hidden, vocab.size, cutoffs)
        del head.bias  # the adaptive softmax has its own
    return decoder


def pad_states(states: Sequence[np.ndarray], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-text ``[L_i, e]`` arrays → ``([B, S, e]`` float32, ``[B, S]`` bool mask),
    each cut to ``max_length`` tokens (an empty array keeps one zero token, masked in)."""
    lengths = [max(1, min(len(s), max_length)) for s in states]
    width = max(lengths)
    dim = states[0].shape[1]
    out = torch.zeros(len(states), width, dim)
    mask = torch.zeros(len(states), width, dtype=torch.bool)
    for row, (array, n) in enumerate(zip(states, lengths, strict=True)):
        if len(array):
            out[row, :n] = torch.from_numpy(np.asarray(array[:n], dtype=np.float32))
        mask[row, :n] = True
    return out, mask


def pad_targets(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """Compact-id sequences → ``[B, T]`` long tensor padded with ``<pad>``."""
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), PAD, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
    return out


class NmtModel(nn.Module):
    """Bridge + decoder; see the module docstring."""

    def __init__(self, config: NmtModelConfig, vocab: CompactVocab, encoder_dim: int) -> None:
        super().__init__()
        self.config = config
        self.vocab = vocab
        self.encoder_dim = encoder_dim
        self.bridge = nn.Sequential(
            nn.Linear(encoder_dim, config.hidden), nn.LayerNorm(config.hidden)
        )
        self.decoder = build_decoder(config, vocab)

    def init_embeddings(self, base_embeddings: torch.Tensor) -> bool:
        """Copy the encoder's word embeddings ``[V_base, e]`` into the kept pieces' rows
        (only when the widths match); return whether it did."""
        table = self.decoder.get_input_embeddings().weight
        if base_embeddings.shape[1] != table.shape[1]:
            return False
        ids = torch.tensor(self.vocab.base_ids, dtype=torch.long)
        rows = base_embeddings[ids].to(table.dtype)
        with torch.no_grad():
            table[self.vocab.offset :] = rows
            if self.adaptive is not None:
                self.adaptive.init_rows(rows, self.vocab.offset)
        return True

    def memory(self, states: torch.Tensor) -> torch.Tensor:
        """``[B, S, e]`` encoder states → ``[B, S, d]`` decoder memory."""
        return self.bridge(states.float())

    @property
    def adaptive(self) -> AdaptiveOutput | None:
        """The adaptive-softmax output layer, or None for a full softmax."""
        output = self.decoder.cls.predictions.decoder
        return output if isinstance(output, AdaptiveOutput) else None

    def forward(
        self,
        states: torch.Tensor,
        states_mask: torch.Tensor,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, T, V]`` for decoder inputs ``input_ids [B, T]``; with ``positions``
        (bool ``[B, T]``) only those rows, ``[N, V]`` in row-major order: the output layer,
        the largest matrix of a step, then skips the padded positions. With ``targets``
        (``[N]``, the ids at ``positions``; adaptive softmax only) ``log p(target)``
        ``[N]`` instead: each row scored against the head and its target's cluster."""
        hidden = self.decoder.bert(
            input_ids=input_ids,
            attention_mask=(input_ids != PAD).long(),
            encoder_hidden_states=self.memory(states),
            encoder_attention_mask=states_mask.long(),
            use_cache=False,
        ).last_hidden_state
        hidden = hidden if positions is None else hidden[positions]
        if targets is None:
            return self.decoder.cls(hidden)
        adaptive = self.adaptive
        if adaptive is None or positions is None:
            raise OpticalError("target log-probabilities need an adaptive softmax and positions")
        return adaptive.target_log_prob(self.decoder.cls.predictions.transform(hidden), targets)

    @torch.inference_mode()
    def generate(
        self,
        states: torch.Tensor,
        states_mask: torch.Tensor,
        target_lang: str,
        beams: int = 1,
        max_new_tokens: int = 64,
        bf16: bool = False,
        length_penalty: float = 1.0,
        allow_unk: bool = False,
    ) -> list[list[int]]:
        """Decode into ``target_lang``: compact ids per sentence (tag and ``</s>`` removed),
        at most ``min(max_new_tokens, 2 × longest source + 8)`` pieces; beam hypotheses
        ranked with ``length_penalty``; ``<unk>`` never generated unless ``allow_unk``
        (:class:`optical.nmt.config.DecodeConfig`)."""
        from transformers import DynamicCache, EncoderDecoderCache

        device = states.device
        start = torch.full(
            (states.shape[0], 1), self.vocab.tag(target_lang), dtype=torch.long, device=device
        )
        # a translation is rarely much longer than its source: cap the batch at twice its
        # longest source plus 8 pieces, so a looping model does not run to the limit
        longest = int(states_mask.sum(dim=1).max()) if states_mask.numel() else 0
        limit = min(max_new_tokens, self.config.max_target_length + 8 - 1, 2 * longest + 8)
        with autocast(device, use_bf16(bf16, device.type)):
            out = self.decoder.generate(
                input_ids=start,
                attention_mask=torch.ones_like(start),
                encoder_hidden_states=self.memory(states),
                encoder_attention_mask=states_mask.long(),
                cache=EncoderDecoderCache(DynamicCache(), DynamicCache()),
                max_new_tokens=limit,
                num_beams=beams,
                length_penalty=length_penalty,
                suppress_tokens=None if allow_unk else [UNK],
                do_sample=False,
                eos_token_id=EOS,
                pad_token_id=PAD,
                bos_token_id=int(start[0, 0]),
            )
        result = []
        for row in out[:, 1:].tolist():
            seq = []
            for index in row:
                if index in (EOS, PAD):
                    break
                seq.append(index)
            result.append(seq)
        return result


def sequence_loss(
    module: nn.Module,
    states: torch.Tensor,
    states_mask: torch.Tensor,
    targets: torch.Tensor,
    label_smoothing: float = 0.0,
    bf16: bool = False,
    packed: bool = True,
) -> tuple[torch.Tensor, int]:
    r"""Mean label-smoothed token cross-entropy of ``targets [B, T]`` (``<2xx> y … </s>``
    then ``<pad>``) through ``module`` (an :class:`NmtModel` or its DDP wrapper), and the
    number of predicted tokens. ``targets`` are moved to the device of ``states``.

    ``packed``: logits only at the ``N`` predicted (non-pad) positions, ``[N, V]``; else
    at every position, ``[B, T, V]``, with the pads ignored (the same loss, up to
    rounding, at the cost of the padded rows of the output layer). An adaptive softmax
    (:class:`AdaptiveOutput`) is always packed and takes no label smoothing: the loss is
    :math:`-\frac{1}{N}\sum_t \log p(y_t)`."""
    targets = targets.to(states.device)
    inputs, labels = targets[:, :-1], targets[:, 1:]
    predicted = labels != PAD
    model = getattr(module, "module", module)  # under DDP: the wrapped NmtModel
    if model.adaptive is not None:
        with autocast(states.device, use_bf16(bf16, states.device.type)):
            log_prob = module(states, states_mask, inputs, predicted, labels[predicted])
        return -log_prob.mean(), int(predicted.sum())
    with autocast(states.device, use_bf16(bf16, states.device.type)):
        logits = module(states, states_mask, inputs, predicted if packed else None)
    loss = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        labels[predicted] if packed else labels.reshape(-1),
        ignore_index=PAD,
        label_smoothing=label_smoothing,
    )
    return loss, int(predicted.sum())
