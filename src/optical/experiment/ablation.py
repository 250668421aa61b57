"""Ablations of the distillation recipe, chosen on held-out *training* bitext only.

``optical ablate CONFIG --out DIR`` trains one student per (variant, seed): the base
distillation config with the variant's overrides and the seed. Each student is scored
by its own trainer's validation (:func:`optical.train.distill.validate`): bitext
retrieval P@1 of the student's embedding of a held-out training source against the
teacher's embeddings of all held-out English sides, and the validation loss. No
benchmark text is read: NTREX, XQuAD and XOR-TyDi held-out/dev questions are never in
the training bitext (:mod:`optical.data.training`), so choosing defaults here does not
tune on test data.

Students are cached by resolved config and training pool under ``<cache>/ablation/``
(an interrupted ablation resumes; a finished run is reused). Outputs: ``ablation.json`` (one row per
run) and ``ablation.md`` (mean ± std over seeds per variant, difference to the
baseline variant, the best variant by mean P@1).

Config (TOML)::

    name = "ablation"
    base = "configs/distill-quick.toml"
    seeds = [0, 1, 2]
    baseline = "ot-eps-0.02"
    [common.run]                           # overrides applied to every variant first
    eval_at_start = false
    [variants.ot-eps-0.02]                 # no overrides: the base config
    [variants.ot-eps-0.01.loss.options]
    eps = 0.01
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..configfile import read_toml
from ..errors import ConfigError
from ..io_utils import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from ..train.config import DistillConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AblationConfig:
    name: str
    base: str
    seeds: tuple[int, ...]
    baseline: str
    variants: dict[str, dict[str, Any]]
    common: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class AblationRow:
    """One trained student: validation P@1 (overall and per language), loss, time."""

    variant: str
    seed: int
    p_at_1: float
    loss: float
    p_at_1_by_lang: dict[str, float]
    train_seconds: float
    student: str


def load_ablation_config(path: str | Path) -> AblationConfig:
    """Read and check an ablation TOML (every variant's overrides must build a valid
    distillation config)."""
    from ..train.config import load_distill_config

    raw = read_toml(path)
    unknown = set(raw) - {"name", "base", "seeds", "baseline", "variants", "common"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    variants = raw.get("variants") or {}
    if not isinstance(variants, dict) or not variants:
        raise ConfigError(f"{path}: [variants.NAME] tables are required")
    seeds = _seeds(raw.get("seeds", [0]), path)
    baseline = raw.get("baseline", next(iter(variants)))
    if baseline not in variants:
        raise ConfigError(f"{path}: baseline {baseline!r} is not a variant")
    cfg = AblationConfig(
        _string(raw, "name", "ablation", path),
        _string(raw, "base", None, path),
        seeds,
        baseline,
        _tables(variants, "variants", path),
        _tables(raw.get("common") or {}, "common", path),
    )
    base = load_distill_config(cfg.base)
    for name in cfg.variants:
        variant_config(cfg, name, base, seeds[0])
    return cfg


def _seeds(seeds: Any, path: str | Path) -> tuple[int, ...]:
    """The ablation's seeds: a non-empty list of distinct integers >= 0."""
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise ConfigError(f"{path}: seeds must be a non-empty list of integers, not {seeds!r}")
    if any(s < 0 for s in seeds):
        raise ConfigError(f"{path}: seeds must be >= 0, not {seeds}")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ConfigError(f"{path}: seeds lists {', '.join(map(str, twice))} twice")
    return tuple(seeds)


def _string(raw: dict[str, Any], key: str, default: str | None, path: str | Path) -> str:
    """A non-empty string key (``default`` None: required)."""
    value = raw.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {key} must be a non-empty string, not {value!r}")
    return value


def _tables(tables: Any, key: str, path: str | Path) -> dict[str, dict[str, Any]]:
    """``[key.NAME]`` tables: name → table."""
    if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
        raise ConfigError(f"{path}: {key} must hold [{key}.NAME] tables, not {tables!r}")
    return {name: dict(v) for name, v in tables.items()}


def variant_config(cfg: AblationConfig, name: str, base: DistillConfig, seed: int) -> DistillConfig:
    """The :class:`DistillConfig` of one variant and seed (validated)."""
    overrides = {k: dict(v) for k, v in cfg.common.items()}
    for section, values in cfg.variants[name].items():
        overrides[section] = {**overrides.get(section, {}), **values}
    loss = overrides.get("loss", {})
    same_loss = loss.get("name", base.loss.name) == base.loss.name
    if "options" in loss or not same_loss:
        # options merge into the base loss's; another loss starts from its own defaults
        loss["options"] = {**(base.loss.options if same_loss else {}), **loss.get("options", {})}
    run = {**overrides.pop("run", {}), "seed": seed}
    try:
        return base.with_overrides(name=f"{cfg.name}-{name}", **overrides, run=run)
    except ConfigError as exc:
        raise ConfigError(f"ablation variant {name!r}: {exc}") from exc


def _folder(dcfg: DistillConfig, cache_root: Path, pool: str) -> Path:
    """``<cache>/ablation/<variant>-s<seed>-<config key>`` (the one artifact identity,
    :func:`optical.train.config.artifact_key`, with the SHA-256 of the training pool)."""
    from ..train.config import artifact_key

    key = artifact_key(dcfg, {"pool": pool})
    return cache_root / "ablation" / f"{dcfg.name}-s{dcfg.run.seed}-{key}"


def run_ablation(
    cfg: AblationConfig,
    out_dir: Path,
    data_dir: Path | None = None,
    cache: Path | None = None,
    bitext: dict | None = None,
    shard: tuple[int, int] = (0, 1),
    device: str | None = None,
) -> list[AblationRow]:
    """Train (or reuse) every (variant, seed) student; write ``ablation.json`` / ``.md``.
    ``bitext`` replaces the training bitext (tests). ``shard = (i, n)`` trains only the
    runs whose index (variant-major, then seed) is ``i`` mod ``n`` — n processes with one
    thread each share a machine better than one process — and writes its outputs as
    ``ablation.shard-i-of-n.*``; a final run without ``shard`` reads every student back.
    ``device`` replaces the base config's ``run.device`` (a run-only key: the students'
    folders do not change with it)."""
    from ..models.student import STUDENT_FILE, student_is_complete
    from ..settings import cache_dir
    from ..train.config import load_distill_config
    from ..train.distill import train_distill
    from ..train.sampling import pool_sha256

    base = load_distill_config(cfg.base)
    if device is not None:
        base = base.with_overrides(run={"device": device})
    root = cache_dir(cache)
    rows: list[AblationRow] = []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index, count = shard
    suffix = "" if count == 1 else f".shard-{index}-of-{count}"
    runs = [(name, seed) for name in cfg.variants for seed in cfg.seeds]
    for position, (name, seed) in enumerate(runs):
        if position % count != index:
            continue
        dcfg = variant_config(cfg, name, base, seed)
        folder = _folder(dcfg, root, pool_sha256(dcfg.data, data_dir, bitext))
        student = folder / "student"
        if student_is_complete(student, dcfg.optim.max_steps):
            logger.info("ablation %s seed %d: reusing %s", name, seed, student)
        else:
            logger.info("ablation %s seed %d → %s", name, seed, folder)
            student = train_distill(
                dcfg, folder, data_dir=data_dir, resume=True, bitext=bitext, cache=root
            )
        info = json.loads((student / STUDENT_FILE).read_text(encoding="utf-8"))
        validation = info.get("validation") or {}
        if "p_at_1" not in validation:
            raise ConfigError(
                f"variant {name!r}: its student has no validation result (set "
                "run.eval_every > 0 and data.validation_pairs_per_language > 0)"
            )
        seconds = _train_seconds(folder / "metrics.jsonl")
        rows.append(
            AblationRow(
                name,
                seed,
                float(validation["p_at_1"]),
                float(validation["loss"]),
                dict(validation.get("p_at_1_by_lang", {})),
                seconds,
                str(student),
            )
        )
        atomic_write_json(out_dir / f"ablation{suffix}.json", [asdict(r) for r in rows])
    atomic_write_text(out_dir / f"ablation{suffix}.md", ablation_report(cfg, rows))
    return rows


def _train_seconds(metrics: Path) -> float:
    """Sum of the logged step times × the logging interval (an estimate of training time)."""
    records = []
    if metrics.is_file():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if "step_s" in record:
                records.append(record)
    if len(records) < 2:
        return float(sum(r["step_s"] for r in records))
    interval = records[1]["step"] - records[0]["step"]
    return float(sum(r["step_s"] for r in records) * interval)


def summarise(rows: list[AblationRow]) -> dict[str, dict[str, float]]:
    """Per variant: mean and std (over seeds) of P@1 and loss, and the seed count."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r.variant for r in rows):
        p = [r.p_at_1 for r in rows if r.variant == name]
        loss = [r.loss for r in rows if r.variant == name]
        out[name] = {
            "p_at_1": statistics.fmean(p),
            "p_at_1_std": statistics.stdev(p) if len(p) > 1 else 0.0,
            "loss": statistics.fmean(loss),
            "seeds": len(p),
        }
    return out


def ablation_report(cfg: AblationConfig, rows: list[AblationRow]) -> str:
    summary = summarise(rows)
    base = summary.get(cfg.baseline, {}).get("p_at_1")
    best = max(summary, key=lambda n: summary[n]["p_at_1"])
    lines = [
        f"# Ablation: {cfg.name}",
        "",
        f"Base config `{cfg.base}`, seeds {list(cfg.seeds)}. Criterion: validation P@1 on "
        "held-out **training** bitext (the student's source embedding against the teacher's "
        "embeddings of every held-out English side); no benchmark text is read. "
        f"Δ = difference of the mean to `{cfg.baseline}`. Best variant: **{best}**.",
        "",
        "| variant | overrides | val P@1 (mean ± std) | Δ | val loss | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        overrides = json.dumps(cfg.variants[name], sort_keys=True) if cfg.variants[name] else "—"
        delta = "" if base is None else f"{s['p_at_1'] - base:+.4f}"
        mark = " ★" if name == best else ""
        lines.append(
            f"| {name}{mark} | `{overrides}` | {s['p_at_1']:.4f} ± {s['p_at_1_std']:.4f} | "
            f"{delta} | {s['loss']:.4f} | {int(s['seeds'])} |"
        )
    return "\n".join(lines) + "\n"
