"""Records skipped *by design* (empty lines, held-out text, duplicates) are reported, never hidden.

Every loader that leaves a record out calls :func:`report_skip`. That logs one INFO
line on the ``optical.data.skips`` logger and hands the :class:`Skip` to every active
:func:`record_skips` block, so callers (the catalog, tests) can count them::

    with record_skips() as skips:
        pairs = load_xor_translations(data_dir)
    skip_counts(skips)  # {"empty line": 1}
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_ACTIVE: ContextVar[tuple[list[Skip], ...]] = ContextVar("optical_data_skips", default=())


@dataclass(frozen=True)
class Skip:
    """``count`` records of ``source`` left out for ``reason`` (first line numbers in ``lines``)."""

    source: str
    reason: str
    count: int
    lang: str = ""
    lines: tuple[int, ...] = ()


@contextmanager
def record_skips() -> Iterator[list[Skip]]:
    """Collect every :class:`Skip` reported inside the ``with`` block (nesting is allowed)."""
    collected: list[Skip] = []
    token = _ACTIVE.set((*_ACTIVE.get(), collected))
    try:
        yield collected
    finally:
        _ACTIVE.reset(token)


@contextmanager
def skips_not_recorded() -> Iterator[None]:
    """Inside the block, skips are logged but not handed to the enclosing
    :func:`record_skips` blocks (for reads that are not the caller's records, such as the
    cached evaluation-text index: a count must not depend on whether a cache was warm)."""
    token = _ACTIVE.set(())
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def report_skip(skip: Skip) -> None:
    """Log ``skip`` and pass it to the active collectors; a zero count is ignored."""
    if skip.count <= 0:
        return
    where = f" (line {', '.join(map(str, skip.lines))})" if skip.lines else ""
    lang = f" [{skip.lang}]" if skip.lang else ""
    logger.info(
        "skipped %d record(s) of %s%s: %s%s", skip.count, skip.source, lang, skip.reason, where
    )
    for collected in _ACTIVE.get():
        collected.append(skip)


def skip_counts(skips: Iterable[Skip]) -> dict[str, int]:
    """Total skipped records per reason, sorted by reason."""
    totals: dict[str, int] = {}
    for skip in skips:
        totals[skip.reason] = totals.get(skip.reason, 0) + skip.count
    return dict(sorted(totals.items()))
