"""The manifest of an index folder: which encoder and which corpus its shards are of.

``INDEX_DIR/manifest.json`` is written by the first shard process and checked by every
later one, so shards of another encoder (by :meth:`EncoderSpec.fingerprint`, which
covers the weights), another precision or another corpus never mix. ``index.json``
describes the FAISS index ``optical index merge`` built from the shards.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError
from ..io_utils import atomic_write_json
from .corpus import CorpusInfo

MANIFEST_FILE = "manifest.json"
MERGED_FILE = "index.json"
FAISS_FILE = "faiss.index"
FORMAT = 1
VECTOR_DTYPE = "float16"
IDENTITY = ("fingerprint", "encoder_precision", "dim", "passage_prefix", "corpus", "shards")
"""The fields a shard must share with the manifest of its folder."""


@dataclass(frozen=True)
class IndexManifest:
    """What an index folder's shards are: encoder, precision, dimension, corpus, shard count.

    ``encoder``: the name it was given (alias, folder or hub id; ``optical search`` loads
    it for queries); ``fingerprint``: its :meth:`EncoderSpec.fingerprint`;
    ``encoder_precision``: ``fp32`` / ``bf16`` / ``int8``, what it encoded at; vectors are
    stored as :data:`VECTOR_DTYPE` ``[n, dim]``; ``corpus_path``: the absolute path
    passages are read back from.
    """

    encoder: str
    fingerprint: str
    encoder_precision: str
    passage_prefix: str
    query_prefix: str
    dim: int
    corpus: CorpusInfo
    corpus_path: str
    shards: int
    vector_dtype: str = VECTOR_DTYPE
    format: int = FORMAT

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object], where: Path) -> IndexManifest:
        try:
            corpus = CorpusInfo(**data["corpus"])  # type: ignore[arg-type]
            return cls(**{**data, "corpus": corpus})  # type: ignore[arg-type]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{where}: not an index manifest ({exc})") from exc


@dataclass(frozen=True)
class MergedIndex:
    """The FAISS index built from the shards: its factory string, rows, the vectors it
    was trained on (0: no training), the corpus's passage and line counts, the device."""

    factory: str
    passages: int
    dim: int
    trained_on: int
    corpus_lines: int
    device: str


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def read_manifest(folder: str | Path) -> IndexManifest:
    """The manifest of index folder ``folder`` (a :class:`ConfigError` when there is none)."""
    path = Path(folder) / MANIFEST_FILE
    try:
        return IndexManifest.from_dict(_read_json(path), path)
    except FileNotFoundError:
        raise ConfigError(
            f"{folder} is not an index folder (no {MANIFEST_FILE}): build its shards with "
            "`optical index --passages CORPUS.tsv --out DIR`"
        ) from None


def ensure_manifest(folder: Path, manifest: IndexManifest) -> IndexManifest:
    """Write ``manifest`` into ``folder``, or check that the one there has its identity.

    A difference in any :data:`IDENTITY` field is a :class:`ConfigError` naming it.
    """
    path = folder / MANIFEST_FILE
    if not path.exists():
        atomic_write_json(path, manifest.to_dict())
        return manifest
    recorded = read_manifest(folder)
    for name in IDENTITY:
        mine, theirs = getattr(manifest, name), getattr(recorded, name)
        if mine != theirs:
            raise ConfigError(
                f"{path} records {name} {_show(theirs)}, this run has {_show(mine)}: the "
                f"folder holds shards of another encoder or corpus ({recorded.encoder} on "
                f"{recorded.corpus.name}, {recorded.shards} shards); use another --out"
            )
    return recorded


def _show(value: object) -> str:
    return repr(asdict(value) if isinstance(value, CorpusInfo) else value)


def write_merged(folder: Path, merged: MergedIndex) -> None:
    atomic_write_json(folder / MERGED_FILE, asdict(merged))


def read_merged(folder: Path) -> MergedIndex:
    """The record of the merged index (a :class:`ConfigError` before any merge)."""
    path = folder / MERGED_FILE
    try:
        data = _read_json(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{folder} has shards but no merged index: run `optical index merge {folder}`"
        ) from None
    try:
        return MergedIndex(**data)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ConfigError(f"{path}: not an index record ({exc})") from exc
