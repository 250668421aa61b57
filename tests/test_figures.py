"""Report figures: one palette and legend order for every figure, the gap heatmap."""

from __future__ import annotations

from pathlib import Path

import pytest

from optical.evaluate.measures import format_score
from optical.experiment.config import load_config
from optical.experiment.plots import (
    PALETTE,
    SYSTEM_GROUPS,
    system_colours,
    system_group,
    system_marker,
    system_order,
)
from optical.experiment.report import draw_benchmark, plot_benchmark
from optical.experiment.report_sections import (
    draw_budget,
    draw_gap_heatmap,
    gap_matrix,
    plot_budget,
    plot_gaps,
)
from optical.experiment.results import ResultRow, value_table

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _quick_systems() -> list[str]:
    return load_config(ROOT / "configs" / "quick.toml").system_names


def test_quick_systems_have_distinct_colours() -> None:
    systems = _quick_systems()
    colours = system_colours(systems)
    assert len({colours[s] for s in systems}) == len(systems)
    assert len(set(PALETTE.values())) == len(PALETTE) >= 20


def test_a_system_keeps_its_colour_whatever_else_is_drawn() -> None:
    systems = _quick_systems()
    whole = system_colours(systems)
    subset = system_colours(reversed(systems[::3]))
    assert all(subset[s] == whole[s] for s in systems[::3])
    with_others = system_colours([*systems, "oracle@all-MiniLM-L6-v2", "nmt", "nmt-data10"])
    assert all(with_others[s] == whole[s] for s in systems)
    unknown = [with_others[s] for s in ("oracle@all-MiniLM-L6-v2", "nmt", "nmt-data10")]
    assert len(set(unknown)) == 3 and not set(unknown) & set(whole.values())


def test_budget_variants_are_lighter_shades_of_their_family() -> None:
    colours = system_colours(["optical-ot-data10", "optical-ot-data30"])
    assert colours["optical-ot"] == PALETTE["optical-ot"]  # the curve's own colour

    def lightness(colour: str) -> int:
        return sum(int(colour[i : i + 2], 16) for i in (1, 3, 5))

    assert (
        lightness(colours["optical-ot"])
        < lightness(colours["optical-ot-data30"])
        < lightness(colours["optical-ot-data10"])
    )


def test_legend_order_is_the_family_order() -> None:
    systems = _quick_systems()
    ordered = system_order(sorted(systems, reverse=True))
    groups = [system_group(s) for s in ordered]
    ranks = [list(SYSTEM_GROUPS).index(g) for g in groups]
    assert ranks == sorted(ranks)
    assert sorted(ordered) == sorted(systems)
    assert ordered[0] == "oracle"
    assert groups[:3] == ["reference"] * 3  # oracle, bm25 on the human translation, tt-oracle
    assert ordered[3:5] == ["zero-shot", "zero-shot-maxsim"]
    assert system_group("tt-nmt-dense") == "translate-test"
    assert system_group("bt-roundtrip-ot") == "back-translation"
    assert system_group("nmt") == "other"
    assert system_order(
        ["optical-ot-data10", "distill-mse", "optical-ot", "optical-ot-data30"]
    ) == [
        "optical-ot",
        "optical-ot-data30",
        "optical-ot-data10",
        "distill-mse",
    ]
    assert system_order(["zero-shot", "oracle@x", "oracle"]) == ["oracle", "oracle@x", "zero-shot"]
    assert (
        system_marker("optical-ot") == system_marker("distill-mse") != system_marker("tt-nmt-dense")
    )


def _rows() -> list[ResultRow]:
    values = {
        "oracle": {"ar": 0.9, "de": 0.9, "bn": 0.8, "tw": 0.7, "en": 0.95},
        "zero-shot": {"ar": 0.8, "de": 0.85, "bn": 0.5, "tw": 0.3},
        "optical-ot": {"ar": 0.82, "de": 0.91, "bn": 0.7, "tw": 0.5},
        "tt-apertium-dense": {"de": 0.6},  # a language pair it does not support: no cell
        "bt-synthetic-ot": {"ar": 0.7, "de": 0.75, "bn": 0.6, "tw": 0.4},
        "optical-ot-data10": {"ar": 0.7, "de": 0.7, "bn": 0.6, "tw": 0.4},
    }
    rows = [
        ResultRow("afriqa", system, lang, "RR@10", value, 10)
        for system, langs in values.items()
        for lang, value in langs.items()
    ]
    rows += [
        ResultRow("afriqa", system, "macro", "RR@10", 0.5 + 0.01 * i, 4)
        for i, system in enumerate(["optical-ot", "optical-ot-data10", "bt-synthetic-ot"])
    ]
    return rows


def test_gap_matrix_rows_columns_and_missing_cells() -> None:
    matrix = gap_matrix(_rows(), "afriqa", "RR@10")
    # the oracle and budget variants are not rows; rows in legend order
    assert matrix.systems == ("zero-shot", "optical-ot", "tt-apertium-dense", "bt-synthetic-ot")
    assert matrix.langs == ("ar", "de", "bn", "tw")  # high, low, unseen; English left out
    optical = matrix.values[1]
    assert optical == pytest.approx((0.08, -0.01, 0.1, 0.2))
    assert matrix.values[2] == (None, pytest.approx(0.3), None, None)
    assert matrix.texts()[1] == ["0.080", "-0.010", "0.100", "0.200"]


def test_gap_heatmap_cells_print_the_table_values(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows()
    matrix = gap_matrix(rows, "afriqa", "RR@10")
    table = value_table(rows, "afriqa", "RR@10")
    fig, ax = plt.subplots()
    try:
        cells = draw_gap_heatmap(ax, matrix)
        assert set(cells) == {(s, lang) for s in matrix.systems for lang in matrix.langs}
        for (system, lang), text in cells.items():
            value = table[system].get(lang)
            expected = (
                "–" if value is None else format_score("RR@10", table["oracle"][lang] - value)
            )
            assert text.get_text() == expected
        assert all(text in ax.texts for text in cells.values())
        titles = {t.get_text() for t in ax.texts}
        assert {"zero-shot", "distilled students", "low-resource"} <= titles
        assert "RR@10" in fig.axes[-1].get_xlabel()  # the colour bar names the measure
    finally:
        plt.close(fig)
    path = plot_gaps(rows, "afriqa", "RR@10", tmp_path / "gap-afriqa.png")
    assert path.read_bytes()[:8] == PNG


def test_gap_figure_grows_with_the_counts() -> None:
    from optical.experiment.report_sections import gap_figure_size

    small = gap_matrix(_rows(), "afriqa", "RR@10")
    wide, high = gap_figure_size(small)
    bigger = type(small)("b", "RR@10", small.systems * 4, small.langs * 6, ())
    assert gap_figure_size(bigger)[0] > wide and gap_figure_size(bigger)[1] > high


def test_budget_and_bar_figures_use_the_palette_and_legend_order(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    curves = {"tt-nmt-dense": {0.1: 0.3, 1.0: 0.5}, "optical-ot": {0.1: 0.4, 1.0: 0.6}}
    fig, ax = plt.subplots()
    try:
        lines = draw_budget(ax, curves, "RR@10")
        assert [line.get_label() for line in lines] == ["optical-ot", "tt-nmt-dense"]
        assert [to_hex(line.get_color()) for line in lines] == [
            PALETTE["optical-ot"],
            PALETTE["tt-nmt-dense"],
        ]
        assert lines[0].get_marker() != lines[1].get_marker()  # distilled vs translate-test
    finally:
        plt.close(fig)
    path = plot_budget(curves, "afriqa", "RR@10", tmp_path / "budget.png")
    assert path.read_bytes()[:8] == PNG
    fig, ax = plt.subplots()
    try:  # proportional step budgets: the pairs a student draws on the x axis
        lines = draw_budget(ax, curves, "RR@10", pairs_seen={0.1: 480, 1.0: 4800})
        assert list(lines[0].get_xdata()) == [480.0, 4800.0]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["480\n(10 %)", "4,800\n(100 %)"]
        assert "pairs a student draws" in ax.get_xlabel()
        ax.clear()
        same = draw_budget(ax, curves, "RR@10", pairs_seen={0.1: 4800, 1.0: 4800})
        assert list(same[0].get_xdata()) == [10.0, 100.0]  # fixed steps: the share
    finally:
        plt.close(fig)
    rows = _rows()
    fig, ax = plt.subplots()
    try:
        bars = draw_benchmark(ax, rows, "afriqa", "RR@10")
        labels = [b.get_label() for b in bars]
        assert labels == system_order(labels) and labels[0] == "oracle"
        colours = system_colours(r.system for r in rows)
        assert all(to_hex(b.patches[0].get_facecolor()) == colours[b.get_label()] for b in bars)
    finally:
        plt.close(fig)
    assert plot_benchmark(rows, "afriqa", "RR@10", tmp_path / "afriqa.png").read_bytes()[:8] == PNG
