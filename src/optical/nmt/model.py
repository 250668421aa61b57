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
Decoding uses ``generate`` of ``transformers`` (key/value cache; greedy or beam search),
starting from the target-language tag.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..device import autocast
from ..precision import use_bf16
from .config import NmtModelConfig
from .vocab import EOS, PAD, CompactVocab


def build_decoder(config: NmtModelConfig, vocab_size: int) -> nn.Module:
    """A randomly initialised :class:`transformers.BertLMHeadModel` decoder."""
    from transformers import BertConfig, BertLMHeadModel

    bert = BertConfig(
        vocab_size=vocab_size,
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
        tie_word_embeddings=True,
    )
    return BertLMHeadModel(bert)


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
        self.decoder = build_decoder(config, vocab.size)

    def init_embeddings(self, base_embeddings: torch.Tensor) -> bool:
        """Copy the encoder's word embeddings ``[V_base, e]`` into the kept pieces' rows
        (only when the widths match); return whether it did."""
        table = self.decoder.get_input_embeddings().weight
        if base_embeddings.shape[1] != table.shape[1]:
            return False
        ids = torch.tensor(self.vocab.base_ids, dtype=torch.long)
        with torch.no_grad():
            table[self.vocab.offset :] = base_embeddings[ids].to(table.dtype)
        return True

    def memory(self, states: torch.Tensor) -> torch.Tensor:
        """``[B, S, e]`` encoder states → ``[B, S, d]`` decoder memory."""
        return self.bridge(states.float())

    def forward(
        self,
        states: torch.Tensor,
        states_mask: torch.Tensor,
        input_ids: torch.Tensor,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, T, V]`` for decoder inputs ``input_ids [B, T]``; with ``positions``
        (bool ``[B, T]``) only those rows, ``[N, V]`` in row-major order: the output layer,
        the largest matrix of a step, then skips the padded positions."""
        hidden = self.decoder.bert(
            input_ids=input_ids,
            attention_mask=(input_ids != PAD).long(),
            encoder_hidden_states=self.memory(states),
            encoder_attention_mask=states_mask.long(),
            use_cache=False,
        ).last_hidden_state
        return self.decoder.cls(hidden if positions is None else hidden[positions])

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
    ) -> list[list[int]]:
        """Decode into ``target_lang``: compact ids per sentence (tag and ``</s>`` removed),
        at most ``min(max_new_tokens, 2 × longest source + 8)`` pieces; beam hypotheses
        ranked with ``length_penalty`` (:class:`optical.nmt.config.DecodeConfig`)."""
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
    """Mean label-smoothed token cross-entropy of ``targets [B, T]`` (``<2xx> y … </s>``
    then ``<pad>``) through ``module`` (an :class:`NmtModel` or its DDP wrapper), and the
    number of predicted tokens. ``targets`` are moved to the device of ``states``.

    ``packed``: logits only at the ``N`` predicted (non-pad) positions, ``[N, V]``; else
    at every position, ``[B, T, V]``, with the pads ignored (the same loss, up to
    rounding, at the cost of the padded rows of the output layer)."""
    targets = targets.to(states.device)
    inputs, labels = targets[:, :-1], targets[:, 1:]
    predicted = labels != PAD
    with autocast(states.device, use_bf16(bf16, states.device.type)):
        logits = module(states, states_mask, inputs, predicted if packed else None)
    loss = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        labels[predicted] if packed else labels.reshape(-1),
        ignore_index=PAD,
        label_smoothing=label_smoothing,
    )
    return loss, int(predicted.sum())
