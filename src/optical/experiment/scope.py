"""The part of a configured experiment one invocation runs: a long study done in parts."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import ConfigError
from .config import ExperimentConfig
from .names import SystemSpec


@dataclass(frozen=True)
class RunScope:
    """``optical experiment --only-systems … --only-seeds …``. Cell names and keys are
    those of the whole configuration, so a later run of the whole reads these cells
    back; the report and ``config.resolved.json`` say the run was partial."""

    systems: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None

    @property
    def partial(self) -> bool:
        return self.systems is not None or self.seeds is not None

    def check(self, cfg: ExperimentConfig) -> None:
        unknown = [s for s in self.systems or () if s not in cfg.system_names]
        if unknown:
            raise ConfigError(
                f"--only-systems: {', '.join(unknown)} not among the configured systems: "
                + ", ".join(cfg.system_names)
            )
        seeds = {seed for system in cfg.systems for seed in cfg.seeds_for(system)}
        seeds |= set(cfg.run_seeds)
        stray = [seed for seed in self.seeds or () if seed not in seeds]
        if stray:
            raise ConfigError(
                f"--only-seeds: {', '.join(map(str, stray))} not among the configured seeds: "
                + ", ".join(map(str, sorted(seeds)))
            )

    def systems_of(self, cfg: ExperimentConfig) -> list[SystemSpec]:
        """The configured systems this run covers (the significance baseline and the
        oracle always, since other cells are scored against them)."""
        if self.systems is None:
            return list(cfg.systems)
        keep = {*self.systems, cfg.significance_baseline, "oracle"}
        return [s for s in cfg.systems if s.name in keep]

    def seeds_of(self, cfg: ExperimentConfig, system: SystemSpec) -> tuple[int, ...]:
        seeds = cfg.seeds_for(system)
        return seeds if self.seeds is None else tuple(s for s in seeds if s in self.seeds)

    def summary(self, cfg: ExperimentConfig) -> str | None:
        """``"systems a,b; seeds 0"`` for a partial run, None for a whole one."""
        if not self.partial:
            return None
        text = f"systems {','.join(s.name for s in self.systems_of(cfg))}"
        return text + ("" if self.seeds is None else f"; seeds {','.join(map(str, self.seeds))}")

    def trained_seeds(self, cfg: ExperimentConfig) -> list[int]:
        """The seeds the trained systems of this run use."""
        ran = self.systems_of(cfg)
        return sorted({seed for s in ran if s.is_trained for seed in self.seeds_of(cfg, s)})

    def shown_config(self, cfg: ExperimentConfig) -> ExperimentConfig:
        """The config the report's header describes: a partial run's trained seeds (and
        the curve seeds among them) instead of the configured ones."""
        if not self.partial:
            return cfg
        seeds = tuple(self.trained_seeds(cfg)) or cfg.run_seeds
        curve_seeds = tuple(seed for seed in cfg.curve_seeds if seed in seeds)
        return replace(cfg, seeds=seeds, curve_seeds=curve_seeds)

    def describe(self, cfg: ExperimentConfig) -> str | None:
        """One sentence for the report, or None for a whole run."""
        if not self.partial:
            return None
        ran = self.systems_of(cfg)
        left = [s.name for s in cfg.systems if s not in ran]
        text = (
            f"**Partial run** of `{cfg.name}`: {len(ran)} of {len(cfg.systems)} configured "
            f"systems, trained systems with seeds {self.trained_seeds(cfg)} of "
            f"{list(cfg.run_seeds)}"
        )
        if left:
            text += "; not run yet: " + ", ".join(f"`{s}`" for s in left)
        return text + ". Rerunning without `--only-*` completes it (finished cells are reused)."
