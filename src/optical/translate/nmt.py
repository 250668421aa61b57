"""The ``nmt`` backend: the model trained in this project (``optical train-nmt``).

Sources in any language the frozen encoder reads are translated into any language the
model has a tag for (``en`` and the languages of its training bitext): the source
language needs no tag, so ``xx→en`` also runs for languages without training pairs
(zero-shot through the multilingual encoder; logged as a warning, once per direction,
naming a source language the encoder was not pre-trained on either). Source states come
from the embedding cache (:class:`optical.nmt.states.SourceStates`); texts are sorted by
length and decoded in batches of ``batch_size``, greedy (``beams = 1``) or beam search.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from ..device import resolve_device
from ..errors import ConfigError, UnsupportedLanguageError
from ..languages import NAMES, resource_group
from ..nmt.config import unk_identity
from ..precision import use_bf16
from ..types import Translation
from .base import Progress, check_request, make_translations

logger = logging.getLogger(__name__)


class NmtTranslator:
    """Translator over a saved NMT model folder (``…/model`` of ``optical train-nmt``),
    run on ``device`` (:mod:`optical.device`; ``auto`` = CUDA when available)."""

    name = "nmt"

    def __init__(
        self,
        model: str | Path,
        beams: int | None = None,
        max_new_tokens: int | None = None,
        batch_size: int = 64,
        bf16: bool = True,
        cache: str | Path | None = None,
        device: str = "auto",
        length_penalty: float | None = None,
        allow_unk: bool | None = None,
    ) -> None:
        from ..nmt.package import read_info

        self.folder = Path(model)
        self.info = read_info(self.folder)
        decode = self.info.get("decode", {})
        self.beams = int(beams if beams is not None else decode.get("beams", 1))
        self.max_new_tokens = int(
            max_new_tokens if max_new_tokens is not None else decode.get("max_new_tokens", 64)
        )
        self.length_penalty = float(
            length_penalty if length_penalty is not None else decode.get("length_penalty", 1.0)
        )
        self.allow_unk = bool(
            allow_unk if allow_unk is not None else decode.get("allow_unk", False)
        )
        if self.beams < 1 or self.max_new_tokens < 1 or batch_size < 1:
            raise ConfigError("nmt translator: beams, max_new_tokens and batch_size must be >= 1")
        self.batch_size = batch_size
        self.device = resolve_device(device, "nmt translator device")
        self.bf16 = use_bf16(bf16, self.device.type)
        self.cache = cache
        self._model = None
        self._states = None
        self._zero_shot_warned: set[tuple[str, str]] = set()

    @property
    def languages(self) -> tuple[str, ...]:
        """Target languages the model has a tag for."""
        return tuple(self.info["vocab"]["languages"])

    def fingerprint(self) -> str:
        payload = {
            "backend": "nmt",
            "format": 1,
            "weights": self.info["weights_sha256"],
            "encoder": self.info.get("encoder_fingerprint", self.info["encoder"]),
            "beams": self.beams,
            "max_new_tokens": self.max_new_tokens,
            "bf16": self.bf16,
            # at its default, left out: the translation caches of before it existed stay valid
            **({"length_penalty": self.length_penalty} if self.length_penalty != 1.0 else {}),
            **unk_identity(self.allow_unk),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]

    def _load(self):
        if self._model is None:
            from ..models.student import load_any_encoder
            from ..nmt.package import load_nmt
            from ..nmt.states import SourceStates
            from ..settings import cache_dir

            self._model, _ = load_nmt(self.folder)
            self._model.to(self.device)
            encoder = load_any_encoder(self.info["encoder"], bf16=self.bf16, device=self.device)
            self._states = SourceStates(encoder, cache_dir(self.cache))
        return self._model, self._states

    @property
    def trained_languages(self) -> frozenset[str] | None:
        """The non-English languages of the training bitext: the target tags of a model
        trained in both directions (None when it was not, or its info does not say)."""
        data = self.info.get("config", {}).get("data", {})
        if "en-xx" not in data.get("directions", ()):
            return None
        return frozenset(self.languages) - {"en"}

    def _warn_zero_shot(self, source: str, target: str) -> None:
        """Log, once per direction, a source language the model had no training pairs in."""
        trained = self.trained_languages
        if source == "en" or trained is None or source in trained:
            return
        if (source, target) in self._zero_shot_warned:
            return
        self._zero_shot_warned.add((source, target))
        unseen = resource_group(source) == "unseen"
        logger.warning(
            "nmt %s→%s: the model %s had no %s training pairs: translating zero-shot%s",
            source,
            target,
            self.folder,
            NAMES[source],
            ", from a language its encoder was not pre-trained on either" if unseen else "",
        )

    def translate(
        self,
        texts: Sequence[str],
        source_lang: str,
        target_lang: str,
        progress: Progress = False,
    ) -> list[Translation]:
        from ..nmt.model import pad_states

        items, source, target = check_request(texts, source_lang, target_lang)
        if target not in self.languages:
            raise UnsupportedLanguageError(
                f"the nmt model {self.folder} cannot translate into {target!r}: it was "
                f"trained for {', '.join(self.languages)}"
            )
        if not items:
            return []
        self._warn_zero_shot(source, target)
        model, states_of = self._load()
        states = states_of(items)
        order = sorted(range(len(items)), key=lambda i: -len(states[i]))
        outputs = [""] * len(items)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            label = progress if isinstance(progress, str) else f"nmt {source}→{target}"
            bar = tqdm(total=len(items), desc=label, unit="sent", leave=False)
        tokenizer = states_of.encoder.tokenizer
        limit = model.config.max_source_length
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            padded, mask = pad_states([states[i] for i in rows], limit)
            decoded = model.generate(
                padded.to(self.device),
                mask.to(self.device),
                target,
                self.beams,
                self.max_new_tokens,
                self.bf16,
                self.length_penalty,
                self.allow_unk,
            )
            for row, ids in zip(rows, decoded, strict=True):
                outputs[row] = tokenizer.decode(
                    model.vocab.decode(ids), skip_special_tokens=True
                ).strip()
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        return make_translations(items, outputs, source, target, self.name)
