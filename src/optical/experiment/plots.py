"""The frame every report chart shares: a headless figure, saved atomically as PNG, and
one palette, legend order and marker set for the systems, the same in every figure.

Systems are drawn in groups (:data:`SYSTEM_GROUPS`): the references that read the human
English question, zero-shot, the distilled students, translate-test and back-translation.
Each system family (its name without a data budget, :attr:`SystemSpec.family`) has a
fixed colour in :data:`PALETTE`, so a system keeps its colour in every figure and every
run; a group shares a hue family (distilled students blue, translate-test green, ...),
and a ``-maxsim`` variant is the light shade of its system's colour. A data-budget
variant (``-dataNN``) is its family's colour mixed with white, the more the smaller its
share. Names the palette does not know (``oracle@<encoder>``, MT backends) take the
colours of :data:`SPARE_COLOURS` in name order.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io_utils import atomic_write
from .names import SystemSpec

SYSTEM_GROUPS: dict[str, str] = {
    "reference": "references (human English)",
    "zero-shot": "zero-shot",
    "distilled": "distilled students",
    "translate-test": "translate-test",
    "back-translation": "back-translation students",
    "other": "other",
}
"""System group → its title, in legend order."""
MARKERS: dict[str, str] = {
    "reference": "s",
    "zero-shot": "o",
    "distilled": "^",
    "translate-test": "D",
    "back-translation": "v",
    "other": "X",
}
"""The marker of each system group's lines."""
PALETTE: dict[str, str] = {
    # references: black, brown, greys
    "oracle": "#000000",
    "bm25-human-translation": "#8c564b",
    "tt-oracle-dense": "#7f7f7f",
    "tt-oracle-bm25": "#c49c94",
    # zero-shot: reds
    "zero-shot": "#d62728",
    "zero-shot-maxsim": "#ff9896",
    # distilled students: blues
    "optical-ot": "#1f77b4",
    "optical-ot-maxsim": "#aec7e8",
    "distill-mse": "#17becf",
    "distill-mse-maxsim": "#9edae5",
    "distill-greedy": "#393b79",
    "distill-greedy-maxsim": "#9c9ede",
    # translate-test: greens
    "tt-nmt-dense": "#2ca02c",
    "tt-nmt-bm25": "#98df8a",
    "tt-apertium-dense": "#637939",
    "tt-apertium-bm25": "#b5cf6b",
    "tt-psq-bm25": "#006d2c",
    "tt-hf-dense": "#74c476",
    "tt-hf-bm25": "#c7e9c0",
    # back-translation students: oranges (synthetic), purples (round-trip)
    "bt-synthetic-ot": "#ff7f0e",
    "bt-synthetic-ot-maxsim": "#ffbb78",
    "bt-synthetic-mse": "#bd9e39",
    "bt-synthetic-mse-maxsim": "#e7cb94",
    "bt-roundtrip-ot": "#9467bd",
    "bt-roundtrip-ot-maxsim": "#c5b0d5",
    "bt-roundtrip-mse": "#e377c2",
    "bt-roundtrip-mse-maxsim": "#f7b6d2",
}
"""Every system family the name grammar allows but ``oracle@<encoder>``, with its colour,
in legend order within its group."""
SPARE_COLOURS: tuple[str, ...] = (
    "#843c39",
    "#7b4173",
    "#8ca252",
    "#d6616b",
    "#5254a3",
    "#ce6dbd",
    "#bcbd22",
)
"""Colours of names outside :data:`PALETTE`, handed out in name order (beyond these:
evenly spaced hues)."""
REFERENCE_SPARES: tuple[str, ...] = ("#525252", "#a6a6a6", "#5c3a1e", "#d9d9d9")
"""Greys and a brown for other English encoders' oracles (``oracle@<encoder>``), in name
order, before they share :data:`SPARE_COLOURS`."""


def _spec(name: str) -> SystemSpec | None:
    try:
        return SystemSpec.parse(name)
    except ConfigError:
        return None


def _family(name: str) -> str:
    spec = _spec(name)
    return name if spec is None else spec.family


def system_group(name: str) -> str:
    """The :data:`SYSTEM_GROUPS` key of a system name (``other`` for a name that is not a
    system, such as an MT backend)."""
    spec = _spec(name)
    if spec is None:
        return "other"
    if spec.reads_english:
        return "reference"
    if spec.kind == "zero-shot":
        return "zero-shot"
    if spec.kind == "student":
        return "back-translation" if spec.is_back_translation else "distilled"
    return "translate-test"


def _order_key(name: str) -> tuple[int, float, str, float]:
    spec = _spec(name)
    family = _family(name)
    known = list(PALETTE)
    if family in PALETTE:
        rank: float = known.index(family)
    elif spec is not None and spec.kind == "oracle":
        rank = 0.5  # another English encoder right after the teacher's oracle
    else:
        rank = len(known)
    share = spec.fraction if spec is not None and spec.fraction is not None else 1.0
    return (list(SYSTEM_GROUPS).index(system_group(name)), rank, family, -share)


def system_order(systems: Iterable[str]) -> list[str]:
    """The systems in legend order: by group (:data:`SYSTEM_GROUPS`), within a group in
    :data:`PALETTE` order (unknown names after, by name), a family's data-budget variants
    right after it, the largest share first."""
    return sorted(dict.fromkeys(systems), key=_order_key)


def _spare(index: int) -> str:
    if index < len(SPARE_COLOURS):
        return SPARE_COLOURS[index]
    hue = (0.13 + 0.618034 * (index - len(SPARE_COLOURS))) % 1.0
    return _hex(colorsys.hsv_to_rgb(hue, 0.65, 0.75))


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgb)


def lighten(colour: str, amount: float) -> str:
    """``colour`` (``#rrggbb``) mixed with white: ``amount`` 0 = unchanged, 1 = white."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return _hex([c + (1 - c) * amount for c in rgb])


def _budget_shade(fraction: float | None) -> float:
    """How much a data-budget variant is lightened: 10 % → 0.51, 30 % → 0.34, all → 0."""
    return 0.0 if fraction is None else 0.75 * (1 - math.sqrt(fraction))


def _unknown_colours(families: set[str]) -> dict[str, str]:
    """Colours of the families outside the palette, in name order: references from
    :data:`REFERENCE_SPARES` first, every other from the spares."""
    references = list(REFERENCE_SPARES)
    colours: dict[str, str] = {}
    spare = 0
    for family in sorted(families):
        if references and system_group(family) == "reference":
            colours[family] = references.pop(0)
        else:
            colours[family] = _spare(spare)
            spare += 1
    return colours


def system_colours(systems: Iterable[str]) -> dict[str, str]:
    """Name → ``#rrggbb`` for every given system and its family (a budget curve is drawn
    under its family's name). Palette systems have fixed colours whatever else is given;
    names outside the palette take the spare colours in name order, so one report passes
    every system of its rows to get one mapping for all its figures."""
    names = list(dict.fromkeys(systems))
    base = PALETTE | _unknown_colours({_family(n) for n in names} - set(PALETTE))
    colours: dict[str, str] = {}
    for name in names:
        family = _family(name)
        spec = _spec(name)
        colours[family] = base[family]
        colours[name] = lighten(base[family], _budget_shade(spec.fraction if spec else None))
    return colours


def system_marker(name: str) -> str:
    """The line marker of a system: one per group (:data:`MARKERS`)."""
    return MARKERS[system_group(name)]


def group_spans(items: Sequence[str], group_of: Any) -> list[tuple[str, int, int]]:
    """Consecutive runs of ``items`` with the same ``group_of(item)``: (group, first index,
    last index + 1)."""
    spans: list[tuple[str, int, int]] = []
    for index, item in enumerate(items):
        group = group_of(item)
        if spans and spans[-1][0] == group:
            spans[-1] = (group, spans[-1][1], index + 1)
        else:
            spans.append((group, index, index + 1))
    return spans


def mark_groups(
    ax: Any, spans: Sequence[tuple[str, int, int]], titles: Mapping[str, str], rows: bool
) -> None:
    """Separate a heatmap's groups of rows (``rows``) or columns by black lines and title
    each group beside its span: on the right of rows, above columns (``spans`` as from
    :func:`group_spans`; ``titles``: group → title, the group's name otherwise)."""
    for group, first, last in spans:
        middle, title = (first + last - 1) / 2, titles.get(group, group)
        style = {"fontsize": 7, "style": "italic"}
        if rows:
            if first:
                ax.axhline(first - 0.5, color="black", linewidth=1.2)
            ax.text(
                1.01,
                middle,
                title,
                transform=ax.get_yaxis_transform(),
                **style,
                ha="left",
                va="center",
            )
        else:
            if first:
                ax.axvline(first - 0.5, color="black", linewidth=1.2)
            ax.text(
                middle,
                1.01,
                title,
                transform=ax.get_xaxis_transform(),
                **style,
                ha="center",
                va="bottom",
            )


@contextmanager
def chart(path: Path, size: tuple[float, float], dpi: int = 110) -> Iterator[Any]:
    """``with chart(path, (w, h)) as ax: ...`` draws on one matplotlib ``Axes`` (Agg
    backend, no display needed); on leaving, the figure is laid out, written to ``path``
    atomically (temp file + rename; cropped to what is drawn, a legend below the axes
    included) and closed. Nothing is written if drawing fails."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        fig.tight_layout()
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
    finally:
        plt.close(fig)


def legend_below(
    ax: Any, columns: int | None = None, twins: Sequence[Any] = (), gap: float = 0.12
) -> None:
    """A small frameless legend under the axes (many systems do not fit beside them), in
    the order the entries were drawn (those of ``ax``, then of its ``twins``, e.g. a
    ``twinx`` right axis), filled column by column; ``columns`` defaults to as many as
    the figure's width holds. ``gap``: how far below the axes it starts, as a fraction of
    their height (more when the x axis has a label)."""
    handles, labels = ax.get_legend_handles_labels()
    for twin in twins:
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if columns is None:
        columns = max(1, min(len(labels), int(ax.figure.get_figwidth() / 1.9)))
    ax.legend(
        handles, labels, fontsize=7, ncol=columns, loc="upper center",
        bbox_to_anchor=(0.5, -gap), frameon=False,
    )  # fmt: skip


def annotated_heatmap(
    ax: Any,
    values: Sequence[Sequence[float | None]],
    texts: Sequence[Sequence[str]],
    label: str,
) -> list[list[Any]]:
    """``values`` (rows × columns; None = missing) as coloured cells on a diverging map
    centred on 0 (red above, blue below), each cell's text printed in it (``–`` on the grey
    of a missing cell), a horizontal colour bar below labelled ``label``. Returns the
    cells' matplotlib ``Text`` objects, rows × columns."""
    import matplotlib
    import numpy as np
    from matplotlib.colors import Normalize

    grid = np.ma.masked_invalid(
        np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
    )
    span = float(np.abs(grid).max()) if grid.count() else 1.0
    norm = Normalize(-(span or 1.0), span or 1.0)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.85")
    image = ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    cells = []
    for i, row in enumerate(values):
        cells.append([])
        for j, value in enumerate(row):
            red, green, blue, _ = cmap(norm(value)) if value is not None else (0.85,) * 4
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            text = texts[i][j] if value is not None else "–"
            cells[i].append(
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if dark else "black",
                )
            )
    bar = ax.figure.colorbar(image, ax=ax, location="bottom", shrink=0.6, aspect=45, pad=0.08)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return cells
