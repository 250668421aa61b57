"""Experiment configuration: TOML in, typed dataclasses out, resolved copy saved with results.

Unknown sections or keys are errors (no silent merges): a typo never falls back
to a default unnoticed. Every table is read by :func:`optical.configfile.build` (one
type rule: the field's type hint); system names are parsed once into
:class:`~optical.experiment.names.SystemSpec` values and benchmark names checked against
:data:`~optical.experiment.benchmarks.BENCHMARKS`; the distillation and NMT configs a
section names are read once, on first use (``DistillSettings.base``,
``TranslateSettings.nmt_config``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..configfile import asdict_shallow, at_least, build, read_toml
from ..device import check_device_name, resolve_device
from ..errors import ConfigError
from ..evaluate.significance import METHODS as SIGNIFICANCE_TESTS
from ..precision import INT8_DEFAULT
from ..psq import PsqSettings
from .benchmarks import (
    BENCHMARKS,
    AfriqaConfig,
    NtrexConfig,
    XorDevConfig,
    XorHeldoutConfig,
    XquadConfig,
)
from .names import SystemSpec, parse_systems

if TYPE_CHECKING:
    from ..nmt.config import NmtConfig
    from ..train.config import DistillConfig

BASE_SYSTEMS = ("oracle", "zero-shot", "zero-shot-maxsim", "bm25-human-translation")


@dataclass(frozen=True)
class ModelsConfig:
    """Encoders. ``teacher`` encodes English questions and every passage index it owns;
    ``student`` is the multilingual encoder (zero-shot baseline and distillation init);
    ``oracle_candidates`` are the English-capable encoders measured as oracles. ``bf16``
    and ``int8`` are requests (:mod:`optical.precision`): ``int8`` = dynamic int8 for
    encoding with frozen encoders (retrieval), never for training."""

    student: str = "multilingual-e5-small"
    teacher: str = "multilingual-e5-small"
    oracle_candidates: tuple[str, ...] = ("multilingual-e5-small", "all-MiniLM-L6-v2")
    bf16: bool = True
    int8: bool = INT8_DEFAULT

    def __post_init__(self) -> None:
        for key, value in (("student", self.student), ("teacher", self.teacher)):
            if not value.strip():
                raise ConfigError(f"models.{key} must name an encoder, not {value!r}")
        if any(not name.strip() for name in self.oracle_candidates):
            raise ConfigError("models.oracle_candidates: every entry must name an encoder")
        _check_unique(self.oracle_candidates, "models.oracle_candidates")


@dataclass(frozen=True)
class RetrievalConfig:
    """Depth of the dense first stage and of MaxSim re-ranking (both >= 1; a
    ``maxsim_depth`` above ``depth`` re-ranks the whole first stage)."""

    depth: int = 100
    maxsim_depth: int = 20

    def __post_init__(self) -> None:
        at_least(self, 1, "depth", "maxsim_depth", section="retrieval")


@dataclass(frozen=True)
class DistillSettings:
    """Trained systems: the distillation config (path relative to the working directory)
    that ``optical-ot``, ``distill-mse`` and ``distill-greedy`` share; each system
    overrides the loss, the student, the teacher and the seed."""

    config: str = "configs/distill-quick.toml"

    @cached_property
    def base(self) -> DistillConfig:
        """The distillation config the file holds (read once)."""
        from ..train.config import load_distill_config

        return load_distill_config(self.config)


@dataclass(frozen=True)
class TranslateSettings:
    """Machine translation in the experiment.

    ``nmt``: the NMT config (path relative to the working directory) of the in-project
    model that the ``tt-nmt-*`` and ``bt-*`` systems and the ``ntrex-mt`` rows use
    (trained once and cached by config); ``beams``: its decoding (1 = greedy);
    ``apertium_languages``: languages ``tt-apertium-dense`` translates with Apertium;
    ``mt_quality``: score every backend on NTREX (BLEU / chrF, benchmark ``ntrex-mt``);
    ``bt_pairs_per_language``: training pairs per language whose English side is
    translated into the language for ``bt-synthetic-*``; ``roundtrip_pairs_per_language``:
    training pairs whose English side is round-tripped (en→xx→en) into a paraphrase for
    ``bt-roundtrip-*`` (0 = every training pair, for both). ``hf_model``: the
    ``transformers`` seq2seq MT model of ``tt-hf-*`` (a hub name such as
    ``facebook/nllb-200-distilled-600M``, or a local folder; empty = those systems are
    skipped), decoded with ``beams`` on ``run.device``. ``budget_steps``: how the NMT model
    of a data-budget system (``…-dataNN``) is trained, as ``experiment.budget_steps`` for
    the students (``"fixed"`` or ``"proportional"``); empty = the experiment's.
    """

    nmt: str = "configs/nmt-quick.toml"
    beams: int = 1
    apertium_languages: tuple[str, ...] = ("es",)
    mt_quality: bool = True
    bt_pairs_per_language: int = 300
    roundtrip_pairs_per_language: int = 300
    hf_model: str = ""
    budget_steps: str = ""

    @cached_property
    def nmt_config(self) -> NmtConfig:
        """The NMT config the ``nmt`` file holds (read once)."""
        from ..nmt.config import load_nmt_config

        return load_nmt_config(self.nmt)

    def __post_init__(self) -> None:
        at_least(self, 1, "beams", section="translate")
        keys = ("bt_pairs_per_language", "roundtrip_pairs_per_language")
        at_least(self, 0, *keys, section="translate", note="0 = all")
        if not self.nmt.strip():
            raise ConfigError("translate.nmt must name an NMT config file")
        _check_unique(self.apertium_languages, "translate.apertium_languages")
        if self.budget_steps:
            _check_budget_steps(self.budget_steps, "translate.budget_steps")


@dataclass(frozen=True)
class RunSettings:
    """Where the experiment computes: ``device`` (:mod:`optical.device`: ``auto | cpu |
    cuda | cuda:N | mps``; ``auto`` = CUDA when available) for every encoder, student,
    teacher and translator it loads and every model it trains. ``--device`` overrides it."""

    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", check_device_name(self.device, "run.device"))


BUDGET_STEPS = ("fixed", "proportional")
"""The values of ``experiment.budget_steps``."""


@dataclass(frozen=True)
class ExperimentConfig:
    """The whole experiment: which benchmarks, which systems, which models.

    ``systems`` holds :class:`SystemSpec` values (names given as strings are parsed once,
    here); ``str(spec)`` is the name."""

    name: str = "experiment"
    seed: int = 0
    seeds: tuple[int, ...] = ()
    """Seeds of the trained systems (empty = just ``seed``); every other system is
    deterministic and runs once. Results of several seeds are means, with ``std``."""
    curve_seeds: tuple[int, ...] = ()
    """Seeds of the data-budget systems (``…-dataNN``); empty = the same as ``seeds``."""
    budget_steps: str = "fixed"
    """How a data-budget system (``…-dataNN``, share ``f``) is trained: ``"fixed"``, the
    config's optimizer steps whatever the share; ``"proportional"``, ``f`` times them
    (:func:`optical.experiment.artifacts.budget_steps`), so every share sees its pool as
    often and the curves measure data, not steps."""
    benchmarks: tuple[str, ...] = ("xquad", "xor-tydi-heldout")
    systems: tuple[SystemSpec, ...] = tuple(SystemSpec.parse(s) for s in BASE_SYSTEMS)
    significance_baseline: str = "zero-shot"
    significance_test: str = "randomization"
    models: ModelsConfig = field(default_factory=ModelsConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    xquad: XquadConfig = field(default_factory=XquadConfig)
    xor_tydi_heldout: XorHeldoutConfig = field(default_factory=XorHeldoutConfig)
    xor_tydi_dev: XorDevConfig = field(default_factory=XorDevConfig)
    ntrex: NtrexConfig = field(default_factory=NtrexConfig)
    afriqa: AfriqaConfig = field(default_factory=AfriqaConfig)
    distill: DistillSettings = field(default_factory=DistillSettings)
    translate: TranslateSettings = field(default_factory=TranslateSettings)
    psq: PsqSettings = field(default_factory=PsqSettings)
    run: RunSettings = field(default_factory=RunSettings)

    def __post_init__(self) -> None:
        specs = tuple(s if isinstance(s, SystemSpec) else SystemSpec.parse(s) for s in self.systems)
        object.__setattr__(self, "systems", specs)
        if not self.name.strip():
            raise ConfigError("experiment.name must be a non-empty string")
        self._check_seeds()
        _check_budget_steps(self.budget_steps, "experiment.budget_steps")
        if not self.benchmarks:
            raise ConfigError("experiment.benchmarks is empty: name at least one benchmark")
        _check_unique(self.benchmarks, "experiment.benchmarks")

    def _check_seeds(self) -> None:
        at_least(self, 0, "seed", section="experiment")
        for key in ("seeds", "curve_seeds"):
            seeds = getattr(self, key)
            if any(seed < 0 for seed in seeds):
                raise ConfigError(f"experiment.{key} must be >= 0, not {list(seeds)}")
            _check_unique(seeds, f"experiment.{key}")
        stray = [seed for seed in self.curve_seeds if seed not in self.run_seeds]
        if stray:
            raise ConfigError(
                f"experiment.curve_seeds {stray} are not among the seeds of the trained "
                f"systems {list(self.run_seeds)} (experiment.seeds, or experiment.seed)"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (system specs as their names)."""
        out = asdict(replace(self, systems=()))
        out["systems"] = self.system_names
        return out

    @property
    def system_names(self) -> list[str]:
        return [s.name for s in self.systems]

    @property
    def device_type(self) -> str:
        """``"cpu"``, ``"cuda"`` or ``"mps"``: the kind of device ``run.device`` means on
        this machine (what the precision actually used depends on)."""
        return resolve_device(self.run.device, "run.device").type

    @property
    def nmt_budget_steps(self) -> str:
        """How the NMT model of a data-budget system trains: ``translate.budget_steps``,
        else ``experiment.budget_steps``."""
        return self.translate.budget_steps or self.budget_steps

    @property
    def run_seeds(self) -> tuple[int, ...]:
        """The seeds trained systems run with."""
        return self.seeds or (self.seed,)

    def seeds_for(self, system: SystemSpec) -> tuple[int, ...]:
        """The seeds of one trained system (data-budget systems: ``curve_seeds``)."""
        if system.is_curve_point and self.curve_seeds:
            return self.curve_seeds
        return self.run_seeds


def _check_budget_steps(value: str, key: str) -> None:
    if value not in BUDGET_STEPS:
        raise ConfigError(f"{key} must be one of {list(BUDGET_STEPS)}, not {value!r}")


def _check_unique(values: tuple, key: str) -> None:
    twice = sorted({str(v) for v in values if values.count(v) > 1})
    if twice:
        raise ConfigError(f"{key} lists {', '.join(twice)} twice")


def _check_references(config: ExperimentConfig, where: str) -> None:
    """What the experiment's keys say of each other: the significance baseline and the
    oracle (that XOR-TyDi held-out is scored against) are configured systems."""
    if not config.systems:
        raise ConfigError(f"{where}.systems is empty: name at least one system")
    if config.significance_baseline not in config.system_names:
        raise ConfigError(
            f"{where}.significance_baseline: {config.significance_baseline!r} is not a "
            f"configured system; configured: {', '.join(config.system_names)}"
        )
    if "xor-tydi-heldout" in config.benchmarks and "oracle" not in config.system_names:
        raise ConfigError(
            f"{where}.systems: xor-tydi-heldout scores agreement with the oracle: add 'oracle'"
        )


_SECTIONS: dict[str, type] = {
    "models": ModelsConfig,
    "retrieval": RetrievalConfig,
    **{spec.id: spec.settings for spec in BENCHMARKS.values()},
    "distill": DistillSettings,
    "translate": TranslateSettings,
    "psq": PsqSettings,
    "run": RunSettings,
}


def load_config(path: str | Path) -> ExperimentConfig:
    """Read an experiment TOML file (see ``configs/quick.toml``)."""
    path = Path(path)
    raw = read_toml(path)
    top = raw.pop("experiment", {})
    sections = {}
    for name, cls in _SECTIONS.items():
        if name in raw:
            sections[name.replace("-", "_")] = build(cls, raw.pop(name), f"{path}[{name}]")
    if raw:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(raw))}; known: experiment, "
            + ", ".join(_SECTIONS)
        )
    if isinstance(top, dict) and isinstance(top.get("systems"), list):
        systems = top["systems"]
        if not all(isinstance(s, str) for s in systems):
            raise ConfigError(f"{path}[experiment].systems: expected a list of strings")
        top = {**top, "systems": parse_systems(systems, f"{path}[experiment].systems")}
    base = build(ExperimentConfig, top, f"{path}[experiment]")
    config = ExperimentConfig(**{**asdict_shallow(base), **sections})
    unknown_bench = set(config.benchmarks) - set(BENCHMARKS)
    if unknown_bench:
        raise ConfigError(
            f"{path}: unknown benchmark(s) {', '.join(sorted(unknown_bench))}; known: "
            + ", ".join(BENCHMARKS)
        )
    if config.significance_test not in SIGNIFICANCE_TESTS:
        raise ConfigError(
            f"{path}: unknown significance_test {config.significance_test!r}; "
            f"known: {', '.join(SIGNIFICANCE_TESTS)}"
        )
    _check_references(config, f"{path}[experiment]")
    return config
