r"""Validation curves of an experiment's students, and what they say about forgetting.

Every distilled student validates on held-out pairs of its own training pool (never
benchmark text; :func:`optical.train.distill.validate`): bitext-retrieval P@1 overall
and per domain of text (:data:`optical.data.training.DOMAINS`: ``questions``, the
domain of the retrieval benchmarks' queries, and news, conversational or mixed text
outside it). The run copies each student's curve (from its ``metrics.jsonl``) into
``student-curves.json`` beside the report, so the report re-renders without the cache.

From a curve, :func:`summary` takes per student

* ``in_domain``: P@1 on the validation pairs of the ``questions`` domain;
* ``out_of_domain``: the mean of the other domains' P@1 (each domain weighs alike);
* with a step-0 point (``run.eval_at_start``, the untrained student: zero-shot on the
  same pairs), ``in_domain_gain`` and ``out_of_domain_change``, final − step 0;
* ``best_step``: the step whose model was saved (early stopping), else the last.

:func:`by_system` averages them over seeds (mean ± sample std), and
:func:`student_curve_section` renders the table and ``student-curves.png``.

A budget is chosen from the curves with :func:`plateau_step`: over the steps every seed
validated at, the seeds' mean in-domain P@1 :math:`\bar q_s`; the plateau is the first
step :math:`s` with :math:`\bar q_s \ge \max_{s'} \bar q_{s'} - \delta`
(:data:`PLATEAU_TOLERANCE`), i.e. the fewest steps that get within δ of the best the
curve reached. A plateau at the curve's last step means the curve has not flattened.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data.training import QUESTIONS
from ..io_utils import atomic_write_json
from .plots import chart, system_colours

STUDENT_CURVES_FILE = "student-curves.json"
"""In an experiment's output folder: ``[{"system", "seed", "curve": [...]}]``, each
student's validation records in step order."""
SUMMARY_KEYS = ("p_at_1", "in_domain", "out_of_domain", "in_domain_gain", "out_of_domain_change")
"""What :func:`summary` reports, in table order."""
_TITLES = {
    "p_at_1": "P@1",
    "in_domain": "P@1 questions",
    "out_of_domain": "P@1 other text",
    "in_domain_gain": "Δ questions",
    "out_of_domain_change": "Δ other text",
}
PLATEAU_TOLERANCE = 0.005
"""δ of :func:`plateau_step`: half a point of P@1 (about half the binomial standard error
of P@1 ≈ 0.9 on the ~1,000 question pairs a study validation holds)."""


def write_student_curves(curves: Sequence[Mapping[str, Any]], out_dir: Path) -> None:
    """Write ``out_dir/student-curves.json`` (``curves``: ``{"system", "seed", "curve"}``
    records, as :func:`optical.train.runtime.validation_curve` gives the curve)."""
    records = [dict(c) for c in curves if c.get("curve")]
    if records:
        atomic_write_json(out_dir / STUDENT_CURVES_FILE, records)


def _domains(point: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """``(in-domain P@1, out-of-domain P@1)`` of one validation point (None: no pairs)."""
    by_domain = point.get("p_at_1_by_domain") or {}
    inside = by_domain.get(QUESTIONS)
    others = [v for d, v in by_domain.items() if d != QUESTIONS]
    return inside, (statistics.fmean(others) if others else None)


def summary(curve: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The module docstring's numbers for one student's curve (its saved model's point:
    the best validation under early stopping, else the last)."""
    if not curve:
        return {}
    best = curve[-1].get("best_step")
    final = next((p for p in curve if p.get("step") == best), curve[-1])
    inside, outside = _domains(final)
    out: dict[str, float | None] = {
        "p_at_1": final.get("p_at_1"),
        "in_domain": inside,
        "out_of_domain": outside,
        "in_domain_gain": None,
        "out_of_domain_change": None,
        "best_step": float(final["step"]),
    }
    start = curve[0]
    if start.get("step") == 0 and final is not start:
        inside0, outside0 = _domains(start)
        out["in_domain_gain"] = _minus(inside, inside0)
        out["out_of_domain_change"] = _minus(outside, outside0)
    return out


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def by_system(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, tuple[float, float]]]:
    """System → key → ``(mean, std)`` over its seeds of :func:`summary` (std 0 for one
    seed; a key missing from any seed is left out)."""
    seeds: dict[str, list[dict[str, float | None]]] = {}
    for record in records:
        seeds.setdefault(str(record["system"]), []).append(summary(record["curve"]))
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for system, summaries in seeds.items():
        row = {}
        for key in (*SUMMARY_KEYS, "best_step"):
            values = [s.get(key) for s in summaries]
            if values and all(v is not None for v in values):
                numbers = [float(v) for v in values if v is not None]
                std = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
                row[key] = (statistics.fmean(numbers), std)
        out[system] = row
    return out


def plateau_step(
    curves: Sequence[Sequence[Mapping[str, Any]]], tolerance: float = PLATEAU_TOLERANCE
) -> int | None:
    """The first step at which the seeds' mean in-domain P@1 is within ``tolerance`` of
    its maximum over the steps every curve of ``curves`` (one per seed) validated at
    (module docstring); None with fewer than three such steps (a start and an end say
    nothing about where a curve flattens)."""
    by_seed = []
    for curve in curves:
        points = {int(p["step"]): _domains(p)[0] for p in curve}
        by_seed.append({step: q for step, q in points.items() if q is not None})
    steps = sorted(set.intersection(*(set(s) for s in by_seed))) if by_seed else []
    if len(steps) < 3:
        return None
    mean = {step: statistics.fmean(seed[step] for seed in by_seed) for step in steps}
    best = max(mean.values())
    return next(step for step in steps if mean[step] >= best - tolerance)


def mean_std(value: tuple[float, float] | None, signed: bool = False) -> str:
    """``0.912 ± 0.004`` (``+0.012 ± 0.004`` when ``signed``); ``—`` for no value."""
    if value is None:
        return "—"
    mean, std = value
    text = f"{mean:+.3f}" if signed else f"{mean:.3f}"
    return f"{text} ± {std:.3f}" if std else text


def student_curve_section(records: Sequence[Mapping[str, Any]], out_dir: Path) -> list[str]:
    """ "Student validation": the table of :func:`by_system` (with each system's
    :func:`plateau_step` when its curves have one) and, when some student validated more
    than once, ``student-curves.png`` (P@1 on questions and on other text by step, one
    colour per system, one line per seed); empty without curves."""
    records = [r for r in records if r.get("curve")]
    if not records:
        return []
    table = by_system(records)
    keys = [k for k in SUMMARY_KEYS if any(k in row for row in table.values())]
    curves = {system: [r["curve"] for r in records if r["system"] == system] for system in table}
    plateaus = {system: plateau_step(c) for system, c in curves.items()}
    shown = any(step is not None for step in plateaus.values())
    lines = [
        "## Student validation",
        "",
        "Bitext-retrieval P@1 of each student on held-out pairs of its own training pool "
        "(never benchmark text), for the model it saved, mean ± std over seeds: overall, on "
        "questions (the benchmarks' kind of query) and on the other text (news, "
        "conversational, mixed; each domain weighs alike). Δ: against the same student "
        "before training (`run.eval_at_start`), i.e. zero-shot on the same pairs."
        + (
            f" Plateau: the first step whose mean P@1 on questions over seeds is within "
            f"{PLATEAU_TOLERANCE} of the best step's (at the last step: not flattened yet)."
            if shown
            else ""
        ),
        "",
        "| system | seeds | "
        + " | ".join(_TITLES[k] for k in keys)
        + " | saved step |"
        + (" plateau |" if shown else ""),
        "|---|---:|" + "---:|" * (len(keys) + 1 + shown),
    ]
    for system in sorted(table):
        row = table[system]
        count = sum(1 for r in records if r["system"] == system)
        cells = [mean_std(row.get(k), signed=k.endswith(("gain", "change"))) for k in keys]
        step = row.get("best_step")
        plateau = plateaus[system]
        tail = (f" {'—' if plateau is None else plateau} |") if shown else ""
        lines.append(f"| {system} | {count} | " + " | ".join(cells) + f" | {_step(step)} |" + tail)
    lines.append("")
    if any(len(r["curve"]) > 1 for r in records):
        path = out_dir / "student-curves.png"
        colours = system_colours(sorted(table))
        with chart(path, (7.0, 3.6)) as ax:
            for record in sorted(records, key=lambda r: (r["system"], r["seed"])):
                points = record["curve"]
                steps = [p["step"] for p in points]
                inside, outside = zip(*(_domains(p) for p in points), strict=True)
                colour = colours.get(record["system"])
                label = f"{record['system']} seed {record['seed']}"
                if any(v is None for v in inside):  # no per-domain numbers: overall P@1
                    inside = tuple(p.get("p_at_1") for p in points)
                ax.plot(steps, inside, marker="o", color=colour, label=label)
                if all(v is not None for v in outside):
                    ax.plot(steps, outside, linestyle="--", marker=".", color=colour)
            ax.set_xlabel("training step")
            ax.set_ylabel("validation P@1 (solid: questions, dashed: other text)")
            ax.legend(fontsize=7, frameon=False)
        lines += [f"![Student validation curves]({path.name})", ""]
    return lines


def _step(value: tuple[float, float] | None) -> str:
    if value is None:
        return "—"
    mean, std = value
    return f"{mean:.0f}" if not std else f"{mean:.0f} ± {std:.0f}"
