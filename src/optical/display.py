"""How a score is written in tables (report, study sections, reproduction matrix)."""

from __future__ import annotations


def format_score(measure: str, value: float, std: float | None = None) -> str:
    """``value`` with 3 decimals (1 for the percent-valued ``R@2kt`` / ``R@5kt``), and
    ``±std`` when it is a mean over several seeds: ``0.844±0.002``."""
    digits = 1 if measure.endswith("kt") else 3
    spread = "" if std is None else f"±{std:.{digits}f}"
    return f"{value:.{digits}f}{spread}"
