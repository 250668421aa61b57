"""The ``hf`` backend: any ``transformers`` seq2seq MT model, by hub name or local folder.

Model families and how the direction is set:

* ``nllb`` (NLLB-200; detected from the tokenizer class): ``tokenizer.src_lang`` is the
  source's NLLB code (:func:`nllb_code`, e.g. ``bn`` → ``ben_Beng``) and generation
  starts with the target's code (``forced_bos_token_id``);
* ``m2m100`` (M2M-100): the same with ISO codes (:func:`m2m100_code`, token ``__xx__``);
* ``marian`` (OPUS-MT and other Marian models): one direction per model; a model whose
  vocabulary has target tokens (``>>spa<<``) gets the target's token prepended; a
  tokenizer that records ``source_lang`` / ``target_lang`` is checked against the request;
* ``plain``: any other seq2seq model, used as it is.

Texts are tokenized once, sorted by length (longest first) and translated in batches
of ``batch_size``; results come back in input order. Decoding is greedy
(``num_beams=1``, the default) or beam search, with at most ``max_new_tokens`` tokens;
these settings override the model's own generation config. The model is loaded on
first use, so a translator whose every request hits the cache never loads it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..device import autocast, resolve_device
from ..errors import BackendUnavailableError, ConfigError
from ..languages import NAMES, is_known, normalize_lang
from ..precision import use_bf16
from ..types import Translation
from .base import Progress, check_request, make_translations

FAMILIES: tuple[str, ...] = ("nllb", "m2m100", "marian", "plain")

NLLB_CODES: dict[str, str] = {
    "am": "amh_Ethi",
    "ar": "arb_Arab",
    "bem": "bem_Latn",
    "bn": "ben_Beng",
    "de": "deu_Latn",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "fi": "fin_Latn",
    "ha": "hau_Latn",
    "hi": "hin_Deva",
    "ig": "ibo_Latn",
    "ja": "jpn_Jpan",
    "km": "khm_Khmr",
    "ko": "kor_Hang",
    "lg": "lug_Latn",
    "ms": "zsm_Latn",
    "ny": "nya_Latn",
    "ru": "rus_Cyrl",
    "rw": "kin_Latn",
    "sn": "sna_Latn",
    "so": "som_Latn",
    "sv": "swe_Latn",
    "sw": "swh_Latn",
    "ta": "tam_Taml",
    "te": "tel_Telu",
    "tl": "tgl_Latn",
    "tn": "tsn_Latn",
    "tr": "tur_Latn",
    "tw": "twi_Latn",
    "xh": "xho_Latn",
    "yo": "yor_Latn",
    "zh": "zho_Hans",
    "zu": "zul_Latn",
}
"""Canonical code → NLLB-200 (FLORES-200) code, for every language of ``optical.languages``
but Nigerian Pidgin (``pcm``), which NLLB-200 does not cover."""

M2M100_CODES: dict[str, str] = {
    lang: lang for lang in NAMES if lang not in {"te", "bem", "ny", "pcm", "rw", "sn", "tw"}
}
"""Canonical code → M2M-100 code (ISO 639-1); M2M-100 has no Telugu, Bemba, Chichewa,
Nigerian Pidgin, Kinyarwanda, Shona or Twi."""

MARIAN_TARGET_TOKENS: dict[str, tuple[str, ...]] = {
    "am": ("amh",),
    "ar": ("ara", "arb", "ar"),
    "bem": ("bem",),
    "bn": ("ben", "bn"),
    "de": ("deu", "de"),
    "en": ("eng", "en"),
    "es": ("spa", "es"),
    "fi": ("fin", "fi"),
    "ha": ("hau", "ha"),
    "hi": ("hin", "hi"),
    "ig": ("ibo", "ig"),
    "ja": ("jpn", "ja"),
    "km": ("khm", "km"),
    "ko": ("kor", "ko"),
    "lg": ("lug", "lg"),
    "ms": ("zsm_Latn", "msa", "zsm", "ms"),
    "ny": ("nya", "ny"),
    "pcm": ("pcm",),
    "ru": ("rus", "ru"),
    "rw": ("kin", "rw"),
    "sn": ("sna", "sn"),
    "so": ("som", "so"),
    "sv": ("swe", "sv"),
    "sw": ("swh", "swa", "sw"),
    "ta": ("tam", "ta"),
    "te": ("tel", "te"),
    "tl": ("tgl", "fil", "tl"),
    "tn": ("tsn", "tn"),
    "tr": ("tur", "tr"),
    "tw": ("twi", "tw"),
    "xh": ("xho", "xh"),
    "yo": ("yor", "yo"),
    "zh": ("zho_Hans", "cmn_Hans", "zho", "cmn", "zh"),
    "zu": ("zul", "zu"),
}
"""Canonical code → candidate OPUS-MT target codes (token ``>>code<<``), most specific first."""

_LANGUAGE_TOKEN = re.compile(r"^(__[a-z]{2,3}__|[a-z]{3}_[A-Z][a-z]{3})$")
"""M2M-100 (``__en__``) and NLLB (``eng_Latn``) language tokens: dropped from outputs."""

_SMALL_FILE = 32 << 20
_SAMPLE = 1 << 20


def nllb_code(lang: str) -> str:
    """The NLLB-200 code of a language (``"bn"`` → ``"ben_Beng"``); ConfigError if none."""
    code = normalize_lang(lang)
    if code not in NLLB_CODES:
        raise ConfigError(f"NLLB-200 has no {NAMES[code]} ({code}): use another model")
    return NLLB_CODES[code]


def m2m100_code(lang: str) -> str:
    """The M2M-100 code of a language (``"tl"`` → ``"tl"``); ConfigError where it has none."""
    code = normalize_lang(lang)
    if code not in M2M100_CODES:
        raise ConfigError(f"M2M-100 has no {NAMES[code]} ({code}): use NLLB-200 or another model")
    return M2M100_CODES[code]


def _file_id(path: Path) -> str:
    """Name, size and SHA-256 of a file (of its first and last MiB when it is large)."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= _SMALL_FILE:
            digest.update(handle.read())
        else:
            digest.update(handle.read(_SAMPLE))
            handle.seek(size - _SAMPLE)
            digest.update(handle.read(_SAMPLE))
    return f"{path.name}:{size}:{digest.hexdigest()[:16]}"


def folder_id(folder: Path) -> str:
    """Identify a model folder by its files (name, size, content hash or sample hash)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return ";".join(_file_id(p) for p in files)


def _hub_snapshot(name: str, revision: str | None) -> Path | None:
    """The local snapshot folder of a hub model in the Hugging Face cache, if it is there."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "config.json", revision=revision)
    except Exception:  # a malformed repo id, an unreadable cache: not cached
        return None
    return Path(found).parent if isinstance(found, str) else None


class HFTranslator:
    """A ``transformers`` seq2seq MT model (see the module docstring).

    ``model`` is a local folder or a hub name; ``local_files_only`` (default: only
    when ``model`` is a local folder) stops ``transformers`` from trying the network.
    ``family`` overrides the detected model family (one of :data:`FAMILIES`).
    ``bf16`` requests bfloat16 autocast for generation, honoured where the device has
    native bf16 (:func:`optical.precision.use_bf16`); ``device`` is a device setting
    (:mod:`optical.device`: ``auto`` = CUDA when available).
    """

    name = "hf"

    def __init__(
        self,
        model: str,
        *,
        num_beams: int = 1,
        max_new_tokens: int = 256,
        batch_size: int = 16,
        max_input_tokens: int = 512,
        bf16: bool = False,
        device: str = "auto",
        family: str | None = None,
        revision: str | None = None,
        local_files_only: bool | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError("the hf translator needs a model: a hub name or a local folder")
        for option, value in (
            ("num_beams", num_beams),
            ("max_new_tokens", max_new_tokens),
            ("batch_size", batch_size),
            ("max_input_tokens", max_input_tokens),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"hf translator option {option} must be an integer ≥ 1")
        if family is not None and family not in FAMILIES:
            raise ConfigError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
        local = Path(model).expanduser()
        self.is_local = local.is_dir()
        self.model_name = str(local.resolve()) if self.is_local else model.strip()
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.max_input_tokens = max_input_tokens
        self.device = resolve_device(device, "hf translator device")
        # a request, honoured where the device has native bf16 (optical.precision)
        self.bf16 = use_bf16(bf16, self.device.type)
        self.revision = revision
        self.local_files_only = self.is_local if local_files_only is None else local_files_only
        self._family_option = family
        self._model: Any = None
        self._tokenizer: Any = None
        self._fingerprint: str | None = None
        self._language_ids: set[int] = set()
        self.family: str | None = family

    # ---- loading -------------------------------------------------------------------------

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:  # pragma: no cover - pinned dependency
            raise BackendUnavailableError(f"transformers is not installed: {exc}") from exc
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        options = {"revision": self.revision, "local_files_only": self.local_files_only}
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_name, **options)
            model = AutoModelForSeq2SeqLM.from_pretrained(self.model_name, **options)
        except (OSError, ValueError, ImportError, KeyError) as exc:
            # OSError: no such folder / not in the hub cache / no network;
            # ValueError: not a seq2seq model, or no usable tokenizer files;
            # ImportError: a tokenizer that needs sentencepiece
            missing_package = (
                "\n  a Python package is missing: the Marian, M2M-100 and NLLB (slow) "
                "tokenizers need sentencepiece (`pip install sentencepiece==0.2.3`)"
                if isinstance(exc, ImportError)
                else ""
            )
            raise BackendUnavailableError(
                f"cannot load MT model {self.model_name!r}: {type(exc).__name__}: {exc}"
                f"{missing_package}\n"
                "  a local folder needs config.json, the weights and the tokenizer files "
                "(as written by save_pretrained); a hub name needs internet or a copy in the "
                "Hugging Face cache. No MT model for this project's languages installs from "
                "the package registries: use a local folder, or the nmt, apertium or oracle "
                "backends"
            ) from exc
        model.to(self.device)
        model.eval()
        self._tokenizer, self._model = tokenizer, model
        if self._family_option is None:
            self.family = self._detect_family()
        if self.family in ("nllb", "m2m100"):
            vocab = {**tokenizer.get_vocab(), **getattr(tokenizer, "lang_token_to_id", {})}
            self._language_ids = {i for token, i in vocab.items() if _LANGUAGE_TOKEN.match(token)}

    def _detect_family(self) -> str:
        tokenizer_class = type(self._tokenizer).__name__.lower()
        if "nllb" in tokenizer_class:
            return "nllb"
        if "m2m100" in tokenizer_class:
            return "m2m100"
        if getattr(self._model.config, "model_type", "") == "marian":
            return "marian"
        return "plain"

    def fingerprint(self) -> str:
        """Model files (content hashes) and the decoding options (computed once)."""
        if self._fingerprint is not None:
            return self._fingerprint
        folder: Path | None = Path(self.model_name) if self.is_local else None
        if folder is None:
            folder = _hub_snapshot(self.model_name, self.revision)
            if folder is None:
                self._load()  # downloads it when the machine can
                folder = _hub_snapshot(self.model_name, self.revision)
        files = folder_id(folder) if folder is not None else f"{self.model_name}@{self.revision}"
        payload = {
            "backend": "hf",
            "format": 1,
            "model": None if self.is_local else self.model_name,
            "files": files,
            "family": self._family_option,
            "num_beams": self.num_beams,
            "max_new_tokens": self.max_new_tokens,
            "max_input_tokens": self.max_input_tokens,
            "bf16": self.bf16,
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        self._fingerprint = f"hf:{Path(self.model_name).name}:{digest[:20]}"
        return self._fingerprint

    # ---- language handling ---------------------------------------------------------------

    def _language_token_id(self, token: str, what: str) -> int:
        token_id = self._tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == self._tokenizer.unk_token_id:
            raise ConfigError(
                f"MT model {self.model_name!r} has no language token {token!r} ({what})"
            )
        return int(token_id)

    def _prepare(self, source: str, target: str) -> tuple[str, dict[str, Any]]:
        """Set the tokenizer's source language; return a text prefix and generate() options."""
        tokenizer = self._tokenizer
        if self.family == "nllb":
            self._language_token_id(nllb_code(source), "source")
            tokenizer.src_lang = nllb_code(source)
            bos = self._language_token_id(nllb_code(target), "target")
            return "", {"forced_bos_token_id": bos}
        if self.family == "m2m100":
            self._language_token_id(f"__{m2m100_code(source)}__", "source")
            tokenizer.src_lang = m2m100_code(source)
            bos = self._language_token_id(f"__{m2m100_code(target)}__", "target")
            return "", {"forced_bos_token_id": bos}
        if self.family == "marian":
            self._check_marian_direction(source, target)
            codes = getattr(tokenizer, "supported_language_codes", None) or []
            if codes:
                for candidate in MARIAN_TARGET_TOKENS[target]:
                    if f">>{candidate}<<" in codes:
                        return f">>{candidate}<< ", {}
                raise ConfigError(
                    f"multi-target Marian model {self.model_name!r} has no target token for "
                    f"{target} (tried {', '.join(MARIAN_TARGET_TOKENS[target])}); it has "
                    f"{', '.join(codes[:20])}{' …' if len(codes) > 20 else ''}"
                )
        return "", {}

    def _check_marian_direction(self, source: str, target: str) -> None:
        for side, wanted in (("source", source), ("target", target)):
            recorded = getattr(self._tokenizer, f"{side}_lang", None)
            known = isinstance(recorded, str) and is_known(recorded)
            if known and normalize_lang(recorded) != wanted:
                raise ConfigError(
                    f"Marian model {self.model_name!r} translates "
                    f"{self._tokenizer.source_lang}→{self._tokenizer.target_lang}, "
                    f"not {source}→{target}: a Marian model has one direction"
                )

    # ---- translation ---------------------------------------------------------------------

    def translate(
        self,
        texts: Sequence[str],
        source_lang: str,
        target_lang: str,
        progress: Progress = False,
    ) -> list[Translation]:
        """Translate in length-sorted batches; results in input order."""
        items, source, target = check_request(texts, source_lang, target_lang)
        if not items:
            return []
        self._load()
        import torch

        prefix, generate_options = self._prepare(source, target)
        limit = min(self.max_input_tokens, self._tokenizer.model_max_length)
        ids = self._tokenizer(
            [prefix + " ".join(text.split()) for text in items],
            truncation=True,
            max_length=limit,
        )["input_ids"]
        order = sorted(range(len(items)), key=lambda i: (-len(ids[i]), i))
        outputs: list[str] = [""] * len(items)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            label = progress if isinstance(progress, str) else f"translate {source}→{target}"
            bar = tqdm(total=len(items), desc=label, unit="text", leave=False)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            features = self._tokenizer.pad(
                {"input_ids": [ids[i] for i in batch]}, return_tensors="pt"
            )
            features = {key: value.to(self.device) for key, value in features.items()}
            with (
                torch.inference_mode(),
                autocast(self.device, self.bf16),
            ):
                generated = self._model.generate(
                    **features,
                    num_beams=self.num_beams,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    **generate_options,
                )
            rows = [[t for t in row if t not in self._language_ids] for row in generated.tolist()]
            decoded = self._tokenizer.batch_decode(rows, skip_special_tokens=True)
            for index, text in zip(batch, decoded, strict=True):
                outputs[index] = text.strip()
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        return make_translations(items, outputs, source, target, self.name)
