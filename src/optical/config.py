"""Experiment configuration: TOML in, typed dataclasses out, resolved copy saved with results.

Unknown sections or keys are errors (no silent merges): a typo never falls back
to a default unnoticed.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

SIGNIFICANCE_TESTS = ("randomization", "t-test")
INT_LISTS = frozenset({"seeds", "curve_seeds"})
"""List-valued keys whose items are integers (every other list holds strings)."""
BASE_SYSTEMS = ("oracle", "zero-shot", "zero-shot-maxsim", "bm25-human-translation")


@dataclass(frozen=True)
class ModelsConfig:
    """Encoders. ``teacher`` encodes English questions and every passage index it owns;
    ``student`` is the multilingual encoder (zero-shot baseline and distillation init);
    ``oracle_candidates`` are the English-capable encoders measured as oracles."""

    student: str = "multilingual-e5-small"
    teacher: str = "multilingual-e5-small"
    oracle_candidates: tuple[str, ...] = ("multilingual-e5-small", "all-MiniLM-L6-v2")
    bf16: bool = True


@dataclass(frozen=True)
class RetrievalConfig:
    """Depth of the dense first stage and of MaxSim re-ranking."""

    depth: int = 100
    maxsim_depth: int = 20


@dataclass(frozen=True)
class XquadConfig:
    """XQuAD-CLIR: questions per language against the 240 English paragraphs."""

    languages: tuple[str, ...] = ("ar", "de", "es", "hi", "ru", "zh")
    distractors: int = 0
    max_questions_per_language: int = 0
    """0 = all 1,190; N = the N questions of lowest salted hash of their id, the same
    questions in every language (XQuAD ids are shared across languages)."""


@dataclass(frozen=True)
class XorHeldoutConfig:
    """XOR-TyDi held-out questions over XQuAD paragraphs + Wikipedia-vital passages.

    ``max_questions_per_language`` and ``wikipedia_vital_passages`` take a fixed,
    deterministic subset (0 = all).
    """

    languages: tuple[str, ...] = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
    max_questions_per_language: int = 0
    wikipedia_vital_passages: int = 0


@dataclass(frozen=True)
class NtrexConfig:
    """NTREX-128 bitext retrieval (all 15 languages by default; ``max_sentences`` 0 = all)."""

    languages: tuple[str, ...] = (
        "am",
        "ar",
        "bn",
        "fi",
        "ha",
        "hi",
        "ja",
        "ko",
        "ru",
        "so",
        "sw",
        "ta",
        "te",
        "tl",
        "yo",
    )
    max_sentences: int = 0


@dataclass(frozen=True)
class DistillSettings:
    """Trained systems: the distillation config (path relative to the working directory)
    that ``optical-ot``, ``distill-mse`` and ``distill-greedy`` share; each system
    overrides the loss, the student, the teacher and the seed."""

    config: str = "configs/distill-quick.toml"


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
    ``bt-roundtrip-*`` (0 = every training pair, for both).
    """

    nmt: str = "configs/nmt-quick.toml"
    beams: int = 1
    apertium_languages: tuple[str, ...] = ("es",)
    mt_quality: bool = True
    bt_pairs_per_language: int = 300
    roundtrip_pairs_per_language: int = 300

    def __post_init__(self) -> None:
        if self.beams < 1:
            raise ConfigError(f"translate.beams must be >= 1, not {self.beams}")
        if self.bt_pairs_per_language < 0 or self.roundtrip_pairs_per_language < 0:
            raise ConfigError("translate.*_pairs_per_language must be >= 0 (0 = all)")


BENCHMARKS = ("xquad", "xor-tydi-heldout", "ntrex")


@dataclass(frozen=True)
class ExperimentConfig:
    """The whole experiment: which benchmarks, which systems, which models."""

    name: str = "experiment"
    seed: int = 0
    seeds: tuple[int, ...] = ()
    """Seeds of the trained systems (empty = just ``seed``); every other system is
    deterministic and runs once. Results of several seeds are means, with ``std``."""
    curve_seeds: tuple[int, ...] = ()
    """Seeds of the data-budget systems (``…-dataNN``); empty = the same as ``seeds``."""
    benchmarks: tuple[str, ...] = ("xquad", "xor-tydi-heldout")
    systems: tuple[str, ...] = BASE_SYSTEMS
    significance_baseline: str = "zero-shot"
    significance_test: str = "randomization"
    models: ModelsConfig = field(default_factory=ModelsConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    xquad: XquadConfig = field(default_factory=XquadConfig)
    xor_tydi_heldout: XorHeldoutConfig = field(default_factory=XorHeldoutConfig)
    ntrex: NtrexConfig = field(default_factory=NtrexConfig)
    distill: DistillSettings = field(default_factory=DistillSettings)
    translate: TranslateSettings = field(default_factory=TranslateSettings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def run_seeds(self) -> tuple[int, ...]:
        """The seeds trained systems run with."""
        return self.seeds or (self.seed,)

    def seeds_for(self, system: str) -> tuple[int, ...]:
        """The seeds of one trained system (data-budget systems: ``curve_seeds``)."""
        from .trained import split_budget

        if split_budget(system)[1] is not None and self.curve_seeds:
            return self.curve_seeds
        return self.run_seeds


_SECTIONS = {
    "models": ModelsConfig,
    "retrieval": RetrievalConfig,
    "xquad": XquadConfig,
    "xor-tydi-heldout": XorHeldoutConfig,
    "ntrex": NtrexConfig,
    "distill": DistillSettings,
    "translate": TranslateSettings,
}


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a table of key = value, got {values!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}"
        )
    converted = {}
    for key, value in values.items():
        default = known[key].default
        if default is MISSING:
            # a nested config (models, retrieval, …) is a TOML section of its own
            section = key.replace("_", "-")
            raise ConfigError(f"{where}.{key}: is a section: write it as [{section}]")
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise ConfigError(f"{where}.{key}: expected a list, got {value!r}")
            item_type, label = (int, "integers") if key in INT_LISTS else (str, "strings")
            if not all(
                isinstance(item, item_type) and not isinstance(item, bool) for item in value
            ):
                raise ConfigError(f"{where}.{key}: expected a list of {label}, got {value!r}")
            value = tuple(value)
        elif default is not None and (
            not isinstance(value, type(default))
            # bool is a subclass of int: `depth = true` is not a number
            or (isinstance(value, bool) and not isinstance(default, bool))
        ):
            raise ConfigError(f"{where}.{key}: expected {type(default).__name__}, got {value!r}")
        converted[key] = value
    return cls(**converted)


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing file or bad TOML is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def load_config(path: str | Path) -> ExperimentConfig:
    """Read an experiment TOML file (see ``configs/quick.toml``)."""
    path = Path(path)
    raw = read_toml(path)
    top = raw.pop("experiment", {})
    sections = {}
    for name, cls in _SECTIONS.items():
        if name in raw:
            sections[name.replace("-", "_")] = _build(cls, raw.pop(name), f"{path}[{name}]")
    if raw:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(raw))}; known: experiment, "
            + ", ".join(_SECTIONS)
        )
    base = _build(ExperimentConfig, top, f"{path}[experiment]")
    config = ExperimentConfig(**{**asdict_shallow(base), **sections})
    unknown_bench = set(config.benchmarks) - set(BENCHMARKS)
    if unknown_bench:
        raise ConfigError(f"{path}: unknown benchmark(s) {', '.join(sorted(unknown_bench))}")
    if config.significance_test not in SIGNIFICANCE_TESTS:
        raise ConfigError(
            f"{path}: unknown significance_test {config.significance_test!r}; "
            f"known: {', '.join(SIGNIFICANCE_TESTS)}"
        )
    return config


def asdict_shallow(obj: Any) -> dict[str, Any]:
    """Field → value without recursing into nested dataclasses."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
