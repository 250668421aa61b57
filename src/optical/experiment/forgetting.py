"""The forgetting trade-off across options: one experiment output folder per way of
staying close to the starting encoder, and the choice of a default.

``optical forgetting DIR…`` reads, from each folder (an *option*: the same experiment
with another distillation config, e.g. ``configs/forgetting/lora.toml``), the students'
validation curves (:mod:`optical.experiment.student_curves`) and the result rows. Per
trained system and option it shows

* on validation data (held-out training bitext, never benchmark text): the gain on
  questions and the change on other text against the untrained student (step 0);
* on the benchmarks: the change of each benchmark's primary measure against zero-shot
  (:func:`optical.experiment.report_sections.forgetting_changes`; NTREX, news, is the
  out-of-domain probe), mean ± std over seeds.

The choice, per system, reads validation data only: among the options run with the
most seeds (a mean over fewer seeds is not compared with it; the table shows each
option's seeds) whose change on other text is at least ``-max_loss`` (default
:data:`MAX_OUT_OF_DOMAIN_LOSS`), the one with the largest gain on questions (the
benchmarks' kind of query), unless the ``baseline`` option (plain fine-tuning) also
qualifies and the best's gain exceeds it by less than one standard error of the best's
mean (std / √seeds): then the baseline is kept (the one-standard-error rule: a gain
within the seed noise does not justify another option). When no option qualifies, none
is chosen and the table is the trade-off curve. An early-stopped option's validation
point is the best of its validations on these same pairs, so its gain is optimistic by
that selection.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OpticalError
from .benchmarks import primary_measure
from .report_sections import FORGETTING_BENCHMARK, forgetting_changes
from .results import RESULTS_FILE, ResultRow, read_rows
from .student_curves import STUDENT_CURVES_FILE, by_system, mean_std

MAX_OUT_OF_DOMAIN_LOSS = 0.005
"""The largest drop of validation P@1 on other text (news, conversational, mixed)
against the untrained student that a default may cost."""


@dataclass(frozen=True)
class OptionResult:
    """One trained system under one option: validation ``(mean, std)`` per
    :data:`~optical.experiment.student_curves.SUMMARY_KEYS` key, and benchmark →
    ``(change against zero-shot, std over seeds)``."""

    option: str
    system: str
    validation: dict[str, tuple[float, float]]
    benchmarks: dict[str, tuple[float | None, float]] = field(default_factory=dict)
    seeds: int = 1

    def qualifies(self, max_loss: float) -> bool:
        change = self.validation.get("out_of_domain_change")
        return change is not None and change[0] >= -max_loss

    @property
    def gain(self) -> float:
        return self.validation.get("in_domain_gain", (float("-inf"), 0.0))[0]

    @property
    def gain_error(self) -> float:
        """The standard error of :attr:`gain`: std over seeds / √seeds."""
        return self.validation.get("in_domain_gain", (0.0, 0.0))[1] / math.sqrt(self.seeds)


def _std(rows: Sequence[ResultRow], benchmark: str, system: str) -> float:
    measure = primary_measure(benchmark)
    for row in rows:
        if (row.benchmark, row.system, row.lang, row.measure) == (
            benchmark,
            system,
            "macro",
            measure,
        ):
            return row.std or 0.0
    return 0.0


def read_option(folder: Path) -> list[OptionResult]:
    """The :class:`OptionResult` of every trained system of one experiment output folder
    (option = the folder's name)."""
    import json

    curves_path, rows_path = folder / STUDENT_CURVES_FILE, folder / RESULTS_FILE
    for path in (curves_path, rows_path):
        if not path.is_file():
            raise OpticalError(f"{path}: missing (is {folder} an experiment output folder?)")
    try:
        curves = json.loads(curves_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise OpticalError(f"{curves_path}: invalid JSON: {exc}") from None
    rows = read_rows(rows_path)
    benchmarks = sorted({r.benchmark for r in rows})
    changes = forgetting_changes(rows, benchmarks)
    seeds = Counter(str(record["system"]) for record in curves if record.get("curve"))
    out = []
    for system, validation in sorted(by_system(curves).items()):
        deltas = {b: (value, _std(rows, b, system)) for b, value in changes.get(system, {}).items()}
        out.append(OptionResult(folder.name, system, validation, deltas, seeds[system]))
    return out


def _candidates(mine: Sequence[OptionResult], max_loss: float) -> list[OptionResult]:
    """One system's options the rule may choose: run with the most seeds, and losing at
    most ``max_loss`` on other text."""
    most = max(r.seeds for r in mine)
    return [r for r in mine if r.seeds == most and r.qualifies(max_loss)]


def choose(
    results: Sequence[OptionResult], max_loss: float, baseline: str | None = None
) -> dict[str, OptionResult | None]:
    """System → the option the module docstring's rule chooses (None: none qualifies)."""
    chosen: dict[str, OptionResult | None] = {}
    for system in dict.fromkeys(r.system for r in results):
        fits = _candidates([r for r in results if r.system == system], max_loss)
        best = max(fits, key=lambda r: r.gain) if fits else None
        kept = next((r for r in fits if r.option == baseline), None)
        if best is not None and kept is not None and best.gain - kept.gain < best.gain_error:
            best = kept
        chosen[system] = best
    return chosen


def forgetting_report(
    results: Sequence[OptionResult], max_loss: float, baseline: str | None = None
) -> str:
    """Markdown: per system, one row per option (validation, then benchmarks), and the
    choice with its reason."""
    benchmarks = sorted({b for r in results for b in r.benchmarks})
    benchmarks.sort(key=lambda b: b != FORGETTING_BENCHMARK)
    chosen = choose(results, max_loss, baseline)
    lines = [
        "# Forgetting: options for staying close to the starting encoder",
        "",
        "Validation (held-out training bitext, never benchmark text): P@1 gain on questions "
        "and change on other text (news, conversational, mixed) against the untrained "
        "student. Benchmarks: change of the primary measure against zero-shot, macro over "
        f"languages ({FORGETTING_BENCHMARK}: out-of-domain news bitext retrieval). Mean ± std "
        "over seeds.",
        "",
    ]
    header = ["option", "seeds", "Δ questions (val)", "Δ other text (val)"]
    header += [f"{b} Δ{primary_measure(b)}" for b in benchmarks]
    for system, pick in chosen.items():
        lines += [f"## {system}", "", "| " + " | ".join(header) + " |"]
        lines.append("|---|" + "---:|" * (len(header) - 1))
        for r in sorted((r for r in results if r.system == system), key=lambda r: -r.gain):
            cells = [
                r.option + (" (chosen)" if r is pick else ""),
                str(r.seeds),
                mean_std(r.validation.get("in_domain_gain"), signed=True),
                mean_std(r.validation.get("out_of_domain_change"), signed=True),
            ]
            for b in benchmarks:
                value, std = r.benchmarks.get(b, (None, 0.0))
                cells.append(mean_std(None if value is None else (value, std), signed=True))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(_reason(pick, [r for r in results if r.system == system], max_loss))
        lines.append("")
    return "\n".join(lines)


def _reason(pick: OptionResult | None, mine: Sequence[OptionResult], max_loss: float) -> str:
    most = max(r.seeds for r in mine)
    fewer = sorted(r.option for r in mine if r.seeds < most)
    aside = (
        f" Not compared, for fewer seeds than {most}: {', '.join(f'`{o}`' for o in fewer)}."
        if fewer
        else ""
    )
    if pick is None:
        return (
            f"No option keeps the validation change on other text within -{max_loss}: none "
            "is chosen; the rows above are the trade-off between gain and loss." + aside
        )
    gain, loss = pick.validation["in_domain_gain"][0], pick.validation["out_of_domain_change"][0]
    best = max(_candidates(mine, max_loss), key=lambda r: r.gain)
    if best is not pick:
        return (
            f"Chosen: `{pick.option}`, the baseline ({gain:+.3f} on questions, {loss:+.3f} on "
            f"other text): the largest gain, `{best.option}`'s {best.gain:+.3f}, exceeds it "
            f"by less than one standard error of its mean ({best.gain_error:.3f})." + aside
        )
    return (
        f"Chosen: `{pick.option}`, the largest validation gain on questions ({gain:+.3f}) "
        f"among the options that lose at most {max_loss} on other text (it changes by "
        f"{loss:+.3f})." + aside
    )


def as_json(
    results: Sequence[OptionResult], max_loss: float, baseline: str | None = None
) -> dict[str, Any]:
    chosen = choose(results, max_loss, baseline)
    return {
        "max_out_of_domain_loss": max_loss,
        "baseline": baseline,
        "chosen": {s: (r.option if r else None) for s, r in chosen.items()},
        "results": [
            {
                "option": r.option,
                "system": r.system,
                "seeds": r.seeds,
                "validation": {k: list(v) for k, v in r.validation.items()},
                "benchmarks": {k: list(v) for k, v in r.benchmarks.items()},
            }
            for r in results
        ],
    }
