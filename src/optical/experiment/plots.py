"""The frame every report chart shares: a headless figure, saved atomically as PNG."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..io_utils import atomic_write


@contextmanager
def chart(path: Path, size: tuple[float, float], dpi: int = 110) -> Iterator[Any]:
    """``with chart(path, (w, h)) as ax: ...`` draws on one matplotlib ``Axes`` (Agg
    backend, no display needed); on leaving, the figure is laid out, written to ``path``
    atomically (temp file + rename) and closed. Nothing is written if drawing fails."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        fig.tight_layout()
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    finally:
        plt.close(fig)


def legend_below(ax: Any, columns: int) -> None:
    """A small frameless legend under the axes (many systems do not fit beside them)."""
    ax.legend(
        fontsize=7, ncol=columns, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False
    )
