"""The experiment's NMT model: trained once per config, cached, resumed when interrupted.

The model of an NMT config lives in ``<cache>/nmt/<name>-<hash of the resolved config>/``
(``model/`` inside it): a second experiment with the same config reuses it, an
interrupted training resumes from its last checkpoint. The NMT model does not follow
the experiment's seed: one MT model serves every seed of the trained systems.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..precision import precision_key
from ..train.config import RESUME_FREE_KEYS
from .config import NmtConfig, load_nmt_config
from .package import nmt_is_complete


def nmt_folder(config: NmtConfig | str | Path, cache_root: Path) -> tuple[Path, NmtConfig]:
    """Where the model of ``config`` is (or will be) trained, and the loaded config."""
    if not isinstance(config, NmtConfig):
        config = load_nmt_config(config)
    payload = config.to_dict()
    payload["run"] = {k: v for k, v in payload["run"].items() if f"run.{k}" not in RESUME_FREE_KEYS}
    payload.pop("name")
    payload.update(precision_key(config.model.bf16))
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache_root) / "nmt" / f"{config.name}-{key}", config


def ensure_nmt(
    config: NmtConfig | str | Path, cache_root: Path, data_dir: Path | None = None
) -> Path:
    """The trained model folder of ``config``: reused when complete, else trained."""
    from .train import train_nmt

    out_dir, loaded = nmt_folder(config, cache_root)
    model = out_dir / "model"
    if nmt_is_complete(model, loaded.optim.max_steps):
        print(f"[optical] nmt: reusing trained model {model}")
        return model
    print(f"[optical] nmt: training the model into {out_dir}")
    return train_nmt(loaded, out_dir, data_dir=data_dir, resume=True, cache=cache_root)
