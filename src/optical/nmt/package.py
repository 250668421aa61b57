"""The saved NMT model folder: ``nmt.json`` (format, encoder, model config, vocabulary,
training summary, weights hash) and ``model.safetensors`` (bridge + decoder weights).

The folder is assembled under a temporary name and renamed into place, so it is
complete or absent; loading checks the weights against the recorded SHA-256.

The weights file is byte-reproducible: identical models give identical files (and so one
``weights_sha256`` and one translator fingerprint) whatever ``PYTHONHASHSEED``. Tied
weights are stored once, under the first of their names in sorted order, and the header's
metadata is one entry, ``optical-tied`` (the dropped names → the kept one, as sorted
JSON): ``safetensors.torch.save_model`` orders tied names by set iteration and writes a
metadata map whose order varies between processes. Loading goes through
``safetensors.torch.load_model``, so folders written either way load.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..configfile import build
from ..errors import OpticalError
from ..io_utils import atomic_folder, sha256_file
from .config import NmtConfig, NmtModelConfig
from .model import NmtModel
from .vocab import CompactVocab

INFO_FILE = "nmt.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = 1
TIED_KEY = "optical-tied"


def nmt_folder(config: NmtConfig, cache_root: Path, data_dir: Path | None = None) -> Path:
    """Where the model of ``config`` is (or will be) trained:
    ``<cache>/nmt/<name>-<config key>/`` (:func:`optical.train.config.artifact_key`; the
    model itself is ``model/`` inside it). The NMT model does not follow an experiment's
    seed: one MT model serves every seed of the systems that read it.

    With ``data_dir`` (what every trainer passes) the SHA-256 of the training pool read
    from it (:func:`optical.train.sampling.pool_sha256`) joins the key, so a change of
    the data trains a new model; without it the key is the config's alone (a lookup
    that has no data, e.g. the translate benchmark)."""
    from ..train import sampling
    from ..train.config import artifact_key

    extra = None if data_dir is None else {"pool": sampling.pool_sha256(config.data, data_dir)}
    return Path(cache_root) / "nmt" / f"{config.name}-{artifact_key(config, extra)}"


def is_nmt_folder(path: str | Path) -> bool:
    folder = Path(path)
    return (folder / INFO_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


def nmt_is_complete(folder: str | Path, steps: int) -> bool:
    """Whether ``folder`` holds a saved NMT model trained for exactly ``steps`` steps."""
    if not is_nmt_folder(folder):
        return False
    try:
        return read_info(folder).get("steps") == steps
    except OpticalError:
        return False


def deterministic_state(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``model``'s state dict with each group of tied tensors kept once, under its first
    name in sorted order (contiguous, sorted by name), and the dropped names → the kept
    one (sorted)."""
    state = model.state_dict()
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name, tensor in state.items():
        where = (
            tensor.device,
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tuple(tensor.stride()),
            tensor.dtype,
        )
        groups.setdefault(where, []).append(name)
    kept: dict[str, torch.Tensor] = {}
    dropped: dict[str, str] = {}
    for names in groups.values():
        first, *others = sorted(names)
        kept[first] = state[first].contiguous()
        dropped.update(dict.fromkeys(others, first))
    return dict(sorted(kept.items())), dict(sorted(dropped.items()))


def save_nmt(
    folder: str | Path, model: NmtModel, encoder_name: str, metadata: dict[str, Any]
) -> Path:
    """Write ``model`` into ``folder`` (replacing it atomically)."""
    from safetensors.torch import save_file

    tensors, dropped = deterministic_state(model)
    with atomic_folder(folder) as staging:
        header = {TIED_KEY: json.dumps(dropped, sort_keys=True)} if dropped else None
        save_file(tensors, str(staging / WEIGHTS_FILE), metadata=header)
        info = {
            "format": FORMAT,
            "encoder": encoder_name,
            "encoder_dim": model.encoder_dim,
            "model": asdict(model.config),
            "vocab": model.vocab.to_dict(),
            "weights_sha256": sha256_file(staging / WEIGHTS_FILE),
            **metadata,
        }
        (staging / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False, default=str) + "\n")
    return Path(folder)


def read_info(folder: str | Path) -> dict[str, Any]:
    """The folder's ``nmt.json`` (OpticalError when missing or malformed)."""
    path = Path(folder) / INFO_FILE
    if not is_nmt_folder(folder):
        raise OpticalError(
            f"{folder} is not an NMT model folder (it needs {INFO_FILE} and {WEIGHTS_FILE}); "
            "train one with `optical train-nmt CONFIG --out DIR` (the model is DIR/model)"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise OpticalError(f"{path}: unreadable NMT model description: {exc}") from exc
    if info.get("format") != FORMAT:
        raise OpticalError(f"{path}: unsupported NMT model format {info.get('format')!r}")
    return info


def load_nmt(folder: str | Path) -> tuple[NmtModel, dict[str, Any]]:
    """The model of an NMT folder (eval mode) and its ``nmt.json``."""
    from safetensors.torch import load_model

    info = read_info(folder)
    weights = Path(folder) / WEIGHTS_FILE
    if sha256_file(weights) != info.get("weights_sha256"):
        raise OpticalError(f"{weights}: weights do not match their recorded SHA-256 (corrupt?)")
    config = build(NmtModelConfig, info["model"], f"{folder}/{INFO_FILE}[model]")
    model = NmtModel(config, CompactVocab.from_dict(info["vocab"]), int(info["encoder_dim"]))
    load_model(model, str(weights))
    model.eval()
    return model, info
