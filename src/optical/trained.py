"""Trained systems of an experiment: which student each needs, trained once and cached.

A trained system is the distillation config of the experiment (``[distill] config``)
with the system's loss and training data, the experiment's student, teacher and seed:

* ``optical-ot``, ``distill-mse``, ``distill-greedy``: the human training bitext;
* ``bt-synthetic-ot`` / ``-mse``: synthetic sources from the in-project NMT model
  (:func:`optical.backtranslation.synthetic_bitext`, translate-train);
* ``bt-roundtrip-ot`` / ``-mse``: the human bitext plus round-trip English paraphrases
  (:func:`optical.backtranslation.roundtrip_bitext`).
 Its student folder lives in
``<cache>/students/<system>-<hash of the resolved config>/``: a second experiment
with the same settings reuses it, an interrupted training resumes from its last
checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from .config import ExperimentConfig
from .errors import OpticalError
from .types import BitextPair

TRAINED_LOSSES: dict[str, str] = {
    "optical-ot": "ot",
    "distill-mse": "mse-pooled",
    "distill-greedy": "greedy-align",
    "bt-synthetic-ot": "ot",
    "bt-synthetic-mse": "mse-pooled",
    "bt-roundtrip-ot": "ot",
    "bt-roundtrip-mse": "mse-pooled",
}
TRAINING_DATA: dict[str, str] = {
    name: ("synthetic" if "synthetic" in name else "roundtrip" if "roundtrip" in name else "bitext")
    for name in TRAINED_LOSSES
}
"""Trained system → ``bitext`` (human pairs), ``synthetic`` or ``roundtrip``."""
MAXSIM_SUFFIX = "-maxsim"


def base_system(name: str) -> str:
    """``optical-ot-maxsim`` → ``optical-ot``; other names unchanged."""
    return name.removesuffix(MAXSIM_SUFFIX)


def is_trained(name: str) -> bool:
    """True for a system whose queries are encoded by a distilled student."""
    return base_system(name) in TRAINED_LOSSES


def distill_config_for(system: str, cfg: ExperimentConfig, seed: int | None = None):
    """The resolved :class:`~optical.train.config.DistillConfig` of one trained system."""
    from .train.config import load_distill_config

    loss = TRAINED_LOSSES[base_system(system)]
    base = load_distill_config(cfg.distill.config)
    loss_section: dict = {"name": loss}
    if loss != base.loss.name:
        loss_section["options"] = {}
    return base.with_overrides(
        name=base_system(system),
        model={"student": cfg.models.student, "teacher": cfg.models.teacher},
        loss=loss_section,
        run={"seed": cfg.seed if seed is None else seed},
    )


def data_identity(system: str, cfg: ExperimentConfig, cache_root: Path) -> dict | None:
    """What determines a back-translation system's training data (None for human bitext):
    the NMT model (its config hash), the decoding and the number of translated pairs."""
    mode = TRAINING_DATA[base_system(system)]
    if mode == "bitext":
        return None
    from .nmt.ensure import nmt_folder

    folder, _ = nmt_folder(cfg.translate.nmt, cache_root)
    pairs = (
        cfg.translate.bt_pairs_per_language
        if mode == "synthetic"
        else cfg.translate.roundtrip_pairs_per_language
    )
    return {"mode": mode, "nmt": folder.name, "beams": cfg.translate.beams, "pairs": pairs}


def student_folder(system: str, cfg: ExperimentConfig, cache_root: Path) -> tuple[Path, object]:
    """Where the student of ``system`` is (or will be) trained, and its config."""
    dcfg = distill_config_for(system, cfg)
    payload = dict(dcfg.to_dict())
    payload["run"] = {k: v for k, v in payload["run"].items() if k != "progress"}
    data = data_identity(system, cfg, cache_root)
    if data is not None:
        payload["training_data"] = data
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache_root) / "students" / f"{base_system(system)}-{key}", dcfg


def ensure_student(
    system: str,
    cfg: ExperimentConfig,
    cache_root: Path,
    data_dir: Path,
    make_bitext: Callable[[], dict[str, list[BitextPair]]] | None = None,
) -> Path:
    """The trained student folder of ``system``: reused when complete, else trained
    (resuming from the last checkpoint of an interrupted run). ``make_bitext`` builds
    the training pairs of a back-translation system (called only when training)."""
    from .train.distill import train_distill
    from .train.student import is_student_folder

    out_dir, dcfg = student_folder(system, cfg, cache_root)
    student = out_dir / "student"
    if is_student_folder(student):
        print(f"[optical] {base_system(system)}: reusing trained student {student}")
        return student
    print(f"[optical] {base_system(system)}: training the student into {out_dir}")
    bitext = None
    if TRAINING_DATA[base_system(system)] != "bitext":
        if make_bitext is None:
            raise OpticalError(f"{system}: its back-translated training data was not provided")
        bitext = make_bitext()
    return train_distill(dcfg, out_dir, data_dir=data_dir, resume=True, bitext=bitext)
