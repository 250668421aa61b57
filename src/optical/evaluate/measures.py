"""Standard IR measures through ``ir_measures`` (no metric formula is re-implemented here).

Which queries count
-------------------
Every query of the **qrels** counts, including a query the run has no
ranking for: it scores 0 on every measure (a system that returns nothing for
a query gets nothing for it). ``ir_measures`` 0.4.3 already yields
``measure.DEFAULT`` (0) for such queries; :func:`per_query` additionally fills
any that a provider leaves out, so the behaviour does not depend on the
provider. A query of the qrels without any relevant document also scores 0.
Run queries absent from the qrels are ignored (no judgments, nothing to score).

Ties in a run are ordered like ``trec_eval`` orders them (score descending,
then document id descending) for **every** measure; see ``_clean`` for why this
needs doing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ir_measures
from ir_measures import Measure

from ..runs import ranked
from ..types import Qrels, Run
from .errors import EvaluationError

DEFAULT_MEASURES: tuple[str, ...] = ("AP", "RR@10", "nDCG@10", "R@1", "R@5", "R@100")
"""Measures reported for every retrieval benchmark (``P@1`` is used for bitext retrieval)."""


def parse_measures(measures: Iterable[str]) -> dict[str, Measure]:
    """Map each measure name (``"nDCG@10"``, ``"RR@10"``, ``"P@1"`` …) to a ``Measure``.

    An unknown name raises :class:`EvaluationError`.
    """
    if isinstance(measures, str):
        measures = (measures,)
    parsed: dict[str, Measure] = {}
    for name in measures:
        try:
            parsed[name] = ir_measures.parse_measure(name)
        except (NameError, ValueError, SyntaxError, TypeError) as err:
            raise EvaluationError(
                f"unknown measure {name!r} ({err}); use ir_measures names such as "
                "'AP', 'RR@10', 'nDCG@10', 'R@100', 'P@1'"
            ) from None
    if len(set(parsed.values())) != len(parsed):
        raise EvaluationError(f"measures {list(parsed)} name the same measure twice")
    if not parsed:
        raise EvaluationError("no measure given")
    return parsed


def _clean(qrels: Qrels, run: Run) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """Copies with ``int`` grades and tie-free ``float`` scores in ``trec_eval`` rank order.

    ``ir_measures`` providers break score ties differently (pytrec_eval: doc id
    descending; the msmarco provider behind ``RR@k``: doc id ascending), so
    scores are replaced by strictly decreasing ranks (n, n-1, …, 1) in
    ``trec_eval`` order first: every measure then sees the same ranking.
    """
    if not qrels:
        raise EvaluationError("the qrels are empty: there is no query to evaluate")
    clean_qrels = {str(q): {str(d): int(g) for d, g in docs.items()} for q, docs in qrels.items()}
    clean_run: dict[str, dict[str, float]] = {}
    for qid, docs in run.items():
        order = ranked({str(d): float(s) for d, s in docs.items()})
        clean_run[str(qid)] = {docid: float(len(order) - i) for i, (docid, _) in enumerate(order)}
    return clean_qrels, clean_run


def aggregate(
    qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES
) -> dict[str, float]:
    """Mean of each measure over **all** qrels queries (missing run queries count as 0).

    Computed with ``ir_measures.calc_aggregate``; keys are the names as given.
    """
    parsed = parse_measures(measures)
    clean_qrels, clean_run = _clean(qrels, run)
    values = ir_measures.calc_aggregate(list(parsed.values()), clean_qrels, clean_run)
    return {name: float(values[measure]) for name, measure in parsed.items()}


def per_query(
    qrels: Qrels, run: Run, measures: Sequence[str] = DEFAULT_MEASURES
) -> dict[str, dict[str, float]]:
    """Per-query values: measure name → query id → value, for **every** qrels query.

    Computed with ``ir_measures.iter_calc``; a qrels query the run lacks gets 0.
    The result feeds :func:`optical.evaluate.paired_test`.
    """
    parsed = parse_measures(measures)
    clean_qrels, clean_run = _clean(qrels, run)
    by_measure: dict[Measure, str] = {measure: name for name, measure in parsed.items()}
    out: dict[str, dict[str, float]] = {name: {} for name in parsed}
    for metric in ir_measures.iter_calc(list(parsed.values()), clean_qrels, clean_run):
        name = by_measure.get(metric.measure)
        if name is not None and metric.query_id in clean_qrels:
            out[name][metric.query_id] = float(metric.value)
    for values in out.values():
        for qid in clean_qrels:
            values.setdefault(qid, 0.0)
    return {name: dict(sorted(values.items())) for name, values in out.items()}


@dataclass(frozen=True)
class ReportedMeasure:
    """A measure the project reports, as a named value: ``name`` as it appears in result
    rows, ``digits`` shown in tables, ``scale`` (``"unit"``: 0–1, ``"percent"``: 0–100),
    who computes it (``source``) and what it is."""

    name: str
    digits: int
    scale: str
    source: str
    description: str


MEASURES: dict[str, ReportedMeasure] = {
    m.name: m
    for m in (
        *(
            ReportedMeasure(name, 3, "unit", "ir_measures", f"ir_measures {name}")
            for name in (*DEFAULT_MEASURES, "P@1")
        ),
        ReportedMeasure(
            "agreement-nDCG@10",
            3,
            "unit",
            "optical.evaluate.agreement",
            "nDCG@10 against the oracle's top 10 as graded judgments 10…1",
        ),
        *(
            ReportedMeasure(
                f"R@{k}kt",
                1,
                "percent",
                "optical.evaluate.xor_metric",
                f"XOR-Retrieve answer recall in the first {k},000 tokens (percent)",
            )
            for k in (2, 5)
        ),
        ReportedMeasure("BLEU", 1, "percent", "sacrebleu", "corpus BLEU"),
        ReportedMeasure("chrF", 1, "percent", "sacrebleu", "corpus chrF"),
    )
}
"""Every measure in a results table, by name (the one home of their display precision)."""


def reported_measure(name: str) -> ReportedMeasure:
    """The :data:`MEASURES` entry of ``name``; an ir_measures name not listed there is
    shown with 3 digits; anything else is an :class:`EvaluationError` listing the known."""
    if name in MEASURES:
        return MEASURES[name]
    try:
        parse_measures((name,))
    except EvaluationError:
        raise EvaluationError(
            f"unknown measure {name!r}; reported measures: {', '.join(MEASURES)}"
        ) from None
    return ReportedMeasure(name, 3, "unit", "ir_measures", f"ir_measures {name}")


def format_score(measure: str, value: float, std: float | None = None) -> str:
    """``value`` with the measure's digits (3 for 0–1 measures, 1 for percent-valued ones
    such as ``R@2kt`` or ``BLEU``), and ``±std`` when it is a mean over several seeds:
    ``0.844±0.002``."""
    digits = reported_measure(measure).digits
    spread = "" if std is None else f"±{std:.{digits}f}"
    return f"{value:.{digits}f}{spread}"
