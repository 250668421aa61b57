"""What an experiment trains or builds once and caches: students, NMT models, translators.

A trained system is the distillation config of the experiment (``[distill] config``)
with the system's loss and training data (:data:`~optical.experiment.names.METHODS`),
the experiment's student, teacher and seed:

* ``bitext``: the human training bitext;
* ``synthetic``: synthetic sources from the in-project NMT model
  (:func:`optical.experiment.backtranslation.synthetic_bitext`, translate-train);
* ``roundtrip``: the human bitext plus round-trip English paraphrases
  (:func:`optical.experiment.backtranslation.roundtrip_bitext`).

A data budget (``optical-ot-data10``) trains the same method on that share of the
bitext (``data.fraction``; for back-translation systems the NMT model is also trained
on it, so every bitext the method reads is cut alike), for the config's steps or, with
``experiment.budget_steps = "proportional"``, that share of them (:func:`budget_steps`;
the NMT model follows ``translate.budget_steps`` where it is set).
A student lives in ``<cache>/students/<student id>-<config key>/`` and an NMT model in
``<cache>/nmt/<name>-<config key>/``, keyed by :func:`optical.train.config.artifact_key`
(the resolved config less its run-only keys, plus the precision used, the SHA-256 of the
training pool read from the data directory and, for back-translation students, what
determines their training data): a second experiment with the same settings and data
reuses them, an interrupted training resumes from its last checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OpticalError
from ..nmt.config import unk_identity
from ..nmt.package import nmt_folder
from ..settings import data_dir as settings_data_dir
from ..train import sampling
from ..train.config import artifact_key
from ..types import BitextPair
from .config import ExperimentConfig
from .names import SystemSpec, budget_suffix
from .workbench import Workbench

if TYPE_CHECKING:
    from ..nmt.config import NmtConfig
    from ..psq import PsqTables
    from ..train.config import DistillConfig, OptimConfig

logger = logging.getLogger(__name__)

Bitext = dict[str, list[BitextPair]]


def budget_steps(policy: str, fraction: float | None, optim: OptimConfig) -> dict[str, int]:
    """The ``[optim]`` overrides of a model trained on a share ``fraction`` of the bitext:
    with ``policy = "proportional"``, ``max(1, round(f · max_steps))`` steps and
    ``round(f · warmup_steps)`` of warm-up (``optim``: the config's
    :class:`~optical.train.config.OptimConfig`); none for the whole bitext or ``"fixed"``
    (``policy``: ``experiment.budget_steps`` for a student,
    :attr:`~optical.experiment.config.ExperimentConfig.nmt_budget_steps` for an NMT model)."""
    if fraction is None or policy == "fixed":
        return {}
    return {
        "max_steps": max(1, round(fraction * optim.max_steps)),
        "warmup_steps": round(fraction * optim.warmup_steps),
    }


def nmt_config_for(cfg: ExperimentConfig, fraction: float | None = None) -> NmtConfig:
    """The NMT config of the experiment, trained on ``fraction`` of the bitext if given
    (for :func:`budget_steps` steps of ``cfg.nmt_budget_steps``), on the experiment's
    ``run.device``."""
    config = cfg.translate.nmt_config.with_overrides(run={"device": cfg.run.device})
    if fraction is None:
        return config
    return config.with_overrides(
        name=f"{config.name}{budget_suffix(fraction)}",
        data={"fraction": fraction},
        optim=budget_steps(cfg.nmt_budget_steps, fraction, config.optim),
    )


def distill_config_for(
    spec: SystemSpec, cfg: ExperimentConfig, seed: int | None = None
) -> DistillConfig:
    """The resolved distillation config of one trained system."""
    method = spec.method_spec
    if method is None:
        raise OpticalError(f"system {spec} is not a trained system")
    base = cfg.distill.base
    loss_section: dict[str, Any] = {"name": method.loss}
    if method.loss != base.loss.name:
        loss_section["options"] = {}
    data = {} if spec.fraction is None else {"fraction": spec.fraction}
    return base.with_overrides(
        name=spec.student_id,
        model={"student": cfg.models.student, "teacher": cfg.models.teacher},
        loss=loss_section,
        data=data,
        optim=budget_steps(cfg.budget_steps, spec.fraction, base.optim),
        run={"seed": cfg.seed if seed is None else seed, "device": cfg.run.device},
    )


def data_identity(
    spec: SystemSpec, cfg: ExperimentConfig, cache_root: Path, data_dir: Path | None = None
) -> dict | None:
    """What determines a back-translation system's training data (None for human bitext):
    the NMT model (its folder, i.e. its config key and, with ``data_dir``, its pool), the
    decoding (beams; ``<unk>``: :func:`optical.nmt.config.unk_identity`) and the number
    of translated pairs."""
    method = spec.method_spec
    if method is None or method.data == "bitext":
        return None
    nmt = nmt_config_for(cfg, spec.fraction)
    folder = nmt_folder(nmt, cache_root, data_dir)
    pairs = (
        cfg.translate.bt_pairs_per_language
        if method.data == "synthetic"
        else cfg.translate.roundtrip_pairs_per_language
    )
    return {
        "mode": method.data,
        "nmt": folder.name,
        "beams": cfg.translate.beams,
        "pairs": pairs,
        **unk_identity(nmt.decode.allow_unk),
    }


def student_folder(
    spec: SystemSpec,
    cfg: ExperimentConfig,
    cache_root: Path,
    seed: int | None = None,
    data_dir: Path | None = None,
) -> Path:
    """Where the student of ``spec`` is (or will be) trained. With ``data_dir`` (what
    training passes) the SHA-256 of the human training pool read from it joins the key
    (:func:`optical.train.sampling.pool_sha256`: the pool a back-translation system's
    pairs derive from, too), so a change of the data trains a new student."""
    dcfg = distill_config_for(spec, cfg, seed)
    data = data_identity(spec, cfg, cache_root, data_dir)
    extra: dict[str, Any] = {} if data is None else {"training_data": data}
    if data_dir is not None:
        extra["pool"] = sampling.pool_sha256(dcfg.data, data_dir)
    key = artifact_key(dcfg, extra or None)
    return Path(cache_root) / "students" / f"{spec.student_id}-{key}"


def ensure_student(
    spec: SystemSpec,
    cfg: ExperimentConfig,
    cache_root: Path,
    data_dir: Path,
    make_bitext: Callable[[], Bitext] | None = None,
    seed: int | None = None,
) -> Path:
    """The trained student folder of ``spec``: reused when complete, else trained
    (resuming from the last checkpoint of an interrupted run). ``make_bitext`` builds
    its training pairs (called only when training; None: the trainer reads the human
    bitext itself)."""
    from ..models.student import is_student_folder
    from ..train.distill import train_distill

    out_dir = student_folder(spec, cfg, cache_root, seed, data_dir)
    student = out_dir / "student"
    if is_student_folder(student):
        logger.info("%s: reusing trained student %s", spec.student_id, student)
        return student
    logger.info("%s: training the student into %s", spec.student_id, out_dir)
    method = spec.method_spec
    if make_bitext is None and method is not None and method.data != "bitext":
        raise OpticalError(f"{spec}: its back-translated training data was not provided")
    bitext = None if make_bitext is None else make_bitext()
    return train_distill(
        distill_config_for(spec, cfg, seed),
        out_dir,
        data_dir=data_dir,
        resume=True,
        bitext=bitext,
        cache=cache_root,
    )


def ensure_nmt(config: NmtConfig, cache_root: Path, data_dir: Path | None = None) -> Path:
    """The trained model folder of ``config``: reused when complete, else trained."""
    from ..nmt.package import nmt_is_complete
    from ..nmt.train import train_nmt

    data_dir = settings_data_dir(data_dir)
    out_dir = nmt_folder(config, cache_root, data_dir)
    model = out_dir / "model"
    if nmt_is_complete(model, config.optim.max_steps):
        logger.info("nmt: reusing trained model %s", model)
        return model
    logger.info("nmt: training the model into %s", out_dir)
    return train_nmt(config, out_dir, data_dir=data_dir, resume=True, cache=cache_root)


def translators_needed(specs: Sequence[SystemSpec]) -> list[str]:
    """The translation backends the systems read (``nmt``, ``nmt-data10``, ``oracle``…)."""
    return sorted({b for s in specs if (b := s.translator) is not None})


def setup_translators(
    wb: Workbench,
    cfg: ExperimentConfig,
    cache_root: Path,
    data: Path,
    specs: Sequence[SystemSpec],
    bitext: Callable[[], Bitext] | None = None,
) -> None:
    """Build the translation backends ``specs`` need into ``wb.translators``: ``nmt``
    (trained once per config, cached) for ``tt-nmt-*`` and the back-translation
    students, ``oracle``, ``apertium`` and ``hf`` (``[translate] hf_model``) for their
    ``tt-*`` systems. Apertium missing here, or no ``hf_model``, is logged and those
    systems skipped, never faked."""
    from ..errors import BackendUnavailableError
    from ..translate.base import build_translator
    from ..translate.cache import CachedTranslator

    needed = translators_needed(specs)
    translations = cache_root / "translations"
    nmt_models = {s.translator: s.fraction for s in specs if s.is_back_translation}
    for backend in sorted(nmt_models):
        with wb.timer("train nmt"):
            model = ensure_nmt(nmt_config_for(cfg, nmt_models[backend]), cache_root, data)
        nmt = build_translator(
            "nmt",
            model=str(model),
            beams=cfg.translate.beams,
            bf16=cfg.models.bf16,
            cache=cache_root,
            device=cfg.run.device,
        )
        wb.translators[backend] = CachedTranslator(nmt, root=translations)
    if "oracle" in needed:
        wb.translators["oracle"] = build_translator("oracle", data_dir=data)
    if "apertium" in needed:
        try:
            wb.translators["apertium"] = CachedTranslator(
                build_translator("apertium"), root=translations
            )
        except BackendUnavailableError as exc:
            logger.warning("apertium unavailable, its systems are skipped: %s", exc)
    if "hf" in needed:
        if cfg.translate.hf_model.strip():
            hf = build_translator(
                "hf",
                model=cfg.translate.hf_model,
                num_beams=cfg.translate.beams,
                bf16=cfg.models.bf16,
                device=cfg.run.device,
            )
            wb.translators["hf"] = CachedTranslator(hf, root=translations)
        else:
            logger.warning("no [translate] hf_model: the tt-hf-* systems are skipped")
    if "psq" in needed:
        wb.psq_tables = psq_tables(cfg, cache_root, data, bitext)


def psq_tables(
    cfg: ExperimentConfig,
    cache_root: Path,
    data: Path,
    bitext: Callable[[], Bitext] | None = None,
) -> PsqTables:
    """The PSQ tables of the human training bitext (the pool the students train on;
    ``bitext()`` gives it, default :func:`human_bitext`, called only when a table is
    built), under ``cache_root/psq/<key>``; the key is the pool's SHA-256 and ``[psq]``."""
    from dataclasses import asdict

    from ..configfile import config_key
    from ..psq import PsqTables

    settings = {"psq": asdict(cfg.psq)}
    pool = sampling.pool_sha256(cfg.distill.base.data, data)
    key = config_key(settings, (), {}, {"pool": pool})

    def pairs() -> dict[str, list[tuple[str, str]]]:
        return {
            lang: [(p.source, p.english) for p in rows]
            for lang, rows in (bitext() if bitext else human_bitext(cfg, data)).items()
        }

    return PsqTables(cache_root / "psq" / key, key, pairs, cfg.psq)


def backtranslated_bitext(
    wb: Workbench, cfg: ExperimentConfig, spec: SystemSpec, bitext: Bitext, data: Path
) -> Bitext:
    """The training pairs of a back-translation system from the human training ``bitext``
    (see :mod:`optical.experiment.backtranslation`), less any pair whose MT output is
    evaluation text of the data directory ``data`` (logged with its count)."""
    from ..data.evaluation_text import evaluation_index
    from .backtranslation import (
        chosen_pairs,
        roundtrip_bitext,
        synthetic_bitext,
        without_evaluation_text,
    )

    method = spec.method_spec
    if method is None or spec.translator is None:
        raise OpticalError(f"system {spec} does not train on back-translated data")
    dcfg = cfg.distill.base
    translator = wb.translators[spec.translator]
    languages = [lang for lang in translator.translator.languages if lang != "en"]
    pairs = (
        cfg.translate.bt_pairs_per_language
        if method.data == "synthetic"
        else cfg.translate.roundtrip_pairs_per_language
    )
    chosen = chosen_pairs(
        bitext, cfg.seed, pairs, dcfg.data.validation_pairs_per_language, languages
    )
    with wb.timer(f"back-translate ({method.data})"):
        if method.data == "synthetic":
            made = synthetic_bitext(chosen, translator)
        else:
            made = roundtrip_bitext(bitext, chosen, translator)
    pool, dropped = without_evaluation_text(made, evaluation_index(data))
    if dropped:
        logger.warning(
            "%s: dropped %d back-translated pair(s) whose MT output is evaluation text",
            spec,
            dropped,
        )
    return pool


def human_bitext(cfg: ExperimentConfig, data: Path) -> Bitext:
    """The human training bitext the experiment's distillation config names: loaded once
    per experiment and handed to every student trained on it and to the back-translation
    that derives training data from it (every trained system shares the config's
    ``[data]`` sources and languages; a data budget only cuts the split)."""
    from ..train.sampling import load_bitext

    return load_bitext(cfg.distill.base.data, data)
