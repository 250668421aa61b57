"""One overall progress line for an experiment: cells done / total, elapsed, time left, stage.

The line is a ``tqdm`` bar at position 0, so the per-stage bars (encoding, translation,
training) open below it; while it is shown, the ``optical`` log messages go through
``tqdm.write`` and do not tear it. Its total is the number of cells the run plans
(counted before any work); training (NMT models, students) comes before the first cell
and is shown in the postfix (``train optical-ot seed 0 (2/9)``), not counted as steps:
the remaining-time estimate is the cells' own rate, while the elapsed time is the whole
run's. The line is shown only on a terminal and when INFO messages are shown (not with
``optical -q``, not from a library call that configured no logging, not in tests).
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import ExitStack
from types import TracebackType
from typing import Any


def progress_wanted() -> bool:
    """Whether the overall line is shown: stderr is a terminal and ``optical`` logs INFO."""
    stream = sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())
    return tty and logging.getLogger("optical").isEnabledFor(logging.INFO)


class ExperimentProgress:
    """``with ExperimentProgress(total) as progress:``; ``stage(text)``, ``cells_start()``,
    ``cell_done()``. Without a bar (``enabled`` False) every call is a no-op."""

    def __init__(self, total_cells: int, enabled: bool | None = None) -> None:
        self.total = total_cells
        self.enabled = progress_wanted() if enabled is None else enabled
        self.done = 0
        self._bar: Any = None
        self._stack = ExitStack()
        self._started = time.time()

    def __enter__(self) -> ExperimentProgress:
        if self.enabled:
            from tqdm.auto import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._stack.enter_context(logging_redirect_tqdm([logging.getLogger("optical")]))
            self._bar = tqdm(
                total=self.total, desc="experiment", unit="cell", position=0, dynamic_ncols=True
            )
            self._started = self._bar.start_t
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._stack.close()

    def stage(self, text: str) -> None:
        """Show what the run is doing now (the bar's postfix)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def cells_start(self) -> None:
        """The cells begin: the time-left estimate counts from here (training before the
        first cell is not a cell's time), the elapsed time still from the start."""
        if self._bar is not None and self.done == 0:
            postfix = self._bar.postfix
            self._bar.reset(total=self.total)
            self._bar.start_t = self._started
            self._bar.set_postfix_str(postfix or "", refresh=True)

    def cell_done(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
