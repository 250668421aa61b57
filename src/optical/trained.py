"""Trained systems of an experiment: which student each needs, trained once and cached.

A trained system is the distillation config of the experiment (``[distill] config``)
with the system's loss and training data, the experiment's student, teacher and seed:

* ``optical-ot``, ``distill-mse``, ``distill-greedy``: the human training bitext;
* ``bt-synthetic-ot`` / ``-mse``: synthetic sources from the in-project NMT model
  (:func:`optical.backtranslation.synthetic_bitext`, translate-train);
* ``bt-roundtrip-ot`` / ``-mse``: the human bitext plus round-trip English paraphrases
  (:func:`optical.backtranslation.roundtrip_bitext`).

A ``-dataNN`` suffix (``optical-ot-data10``) trains the same method on NN % of the
bitext (``data.fraction``; for back-translation systems the NMT model is also trained
on NN %, so every bitext the method reads is cut alike): the data-budget curves.
A student folder lives in ``<cache>/students/<student id>-<hash of the resolved
config>/``: a second experiment with the same settings reuses it, an interrupted
training resumes from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from .config import ExperimentConfig
from .errors import ConfigError, OpticalError
from .precision import precision_key
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
_BUDGET = re.compile(r"-data(\d{1,3})$")


def split_budget(name: str) -> tuple[str, float | None]:
    """``optical-ot-data10`` → ``("optical-ot", 0.1)``; no suffix → ``(name, None)``."""
    match = _BUDGET.search(name)
    if match is None:
        return name, None
    percent = int(match.group(1))
    if not 0 < percent <= 100:
        raise ConfigError(f"system {name!r}: the data budget must be 1-100 %")
    return name[: match.start()], percent / 100


def budget_suffix(fraction: float | None) -> str:
    """``0.1`` → ``"-data10"``; ``None`` → ``""``."""
    return "" if fraction is None else f"-data{round(fraction * 100)}"


def base_system(name: str) -> str:
    """The method of a system name: ``optical-ot-maxsim`` and ``optical-ot-data10`` →
    ``optical-ot``; other names unchanged."""
    return split_budget(name)[0].removesuffix(MAXSIM_SUFFIX)


def student_id(name: str) -> str:
    """The student a trained system uses: its method and data budget
    (``optical-ot-maxsim`` → ``optical-ot``; ``optical-ot-data10`` stays)."""
    head, fraction = split_budget(name)
    return head.removesuffix(MAXSIM_SUFFIX) + budget_suffix(fraction)


def nmt_config_for(cfg: ExperimentConfig, fraction: float | None = None):
    """The NMT config of the experiment, trained on ``fraction`` of the bitext if given."""
    from .nmt.config import load_nmt_config

    config = load_nmt_config(cfg.translate.nmt)
    if fraction is None:
        return config
    return config.with_overrides(
        name=f"{config.name}{budget_suffix(fraction)}", data={"fraction": fraction}
    )


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
    _, fraction = split_budget(system)
    data = {} if fraction is None else {"fraction": fraction}
    return base.with_overrides(
        name=student_id(system),
        model={"student": cfg.models.student, "teacher": cfg.models.teacher},
        loss=loss_section,
        data=data,
        run={"seed": cfg.seed if seed is None else seed},
    )


def data_identity(system: str, cfg: ExperimentConfig, cache_root: Path) -> dict | None:
    """What determines a back-translation system's training data (None for human bitext):
    the NMT model (its config hash), the decoding and the number of translated pairs."""
    mode = TRAINING_DATA[base_system(system)]
    if mode == "bitext":
        return None
    from .nmt.ensure import nmt_folder

    folder, _ = nmt_folder(nmt_config_for(cfg, split_budget(system)[1]), cache_root)
    pairs = (
        cfg.translate.bt_pairs_per_language
        if mode == "synthetic"
        else cfg.translate.roundtrip_pairs_per_language
    )
    return {"mode": mode, "nmt": folder.name, "beams": cfg.translate.beams, "pairs": pairs}


def student_folder(
    system: str, cfg: ExperimentConfig, cache_root: Path, seed: int | None = None
) -> tuple[Path, object]:
    """Where the student of ``system`` is (or will be) trained, and its config."""
    dcfg = distill_config_for(system, cfg, seed)
    payload = dict(dcfg.to_dict())
    payload["run"] = {k: v for k, v in payload["run"].items() if k != "progress"}
    data = data_identity(system, cfg, cache_root)
    if data is not None:
        payload["training_data"] = data
    payload.update(precision_key(dcfg.model.bf16))
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache_root) / "students" / f"{student_id(system)}-{key}", dcfg


def ensure_student(
    system: str,
    cfg: ExperimentConfig,
    cache_root: Path,
    data_dir: Path,
    make_bitext: Callable[[], dict[str, list[BitextPair]]] | None = None,
    seed: int | None = None,
) -> Path:
    """The trained student folder of ``system``: reused when complete, else trained
    (resuming from the last checkpoint of an interrupted run). ``make_bitext`` builds
    the training pairs of a back-translation system (called only when training)."""
    from .models.student import is_student_folder
    from .train.distill import train_distill

    out_dir, dcfg = student_folder(system, cfg, cache_root, seed)
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
