"""``report.html``: the result tables, the figures and a per-query explorer in one file.

One self-contained page (no server, no network): the data is embedded as JSON, the
figures as PNG data URIs, the script and style are the plain files of ``assets/``
(vanilla JavaScript, no library). The tables are report.md's (per benchmark and
headline measure: systems × languages, macro, gap to the oracle, significance marks),
sortable by clicking a header. The explorer's data is :mod:`optical.experiment.explorer`'s.

The experiment writes it beside report.md (:func:`write_html_report`, with the
benchmarks it has in memory); :func:`render_html_report` writes it again from an output
folder alone (benchmarks rebuilt from ``config.resolved.json``):
``python -m optical.experiment.report_html OUTDIR``.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..configfile import build
from ..errors import ConfigError, DataFormatError
from ..evaluate.measures import format_score
from ..io_utils import atomic_write_text
from ..settings import cache_dir, data_dir
from ..types import RetrievalBenchmark
from .benchmarks import BENCHMARKS
from .explorer import TranslationLookup, cached_translations, explorer_data
from .report import ALPHA, _languages, _system_order, best_translate_test_of, gap_to_oracle
from .results import (
    ResultRow,
    SignificanceRow,
    load_results,
    significance_marks,
    value_table,
)

logger = logging.getLogger(__name__)

HTML_FILE = "report.html"
ASSETS = Path(__file__).parent / "assets"


@dataclass(frozen=True)
class PageHeader:
    """What the page says of the experiment."""

    name: str
    baseline: str
    test: str
    benchmarks: tuple[str, ...]
    seeds: tuple[int, ...]

    @classmethod
    def of(cls, cfg: Any) -> PageHeader:
        """From an :class:`~optical.experiment.config.ExperimentConfig`."""
        return cls(
            cfg.name,
            cfg.significance_baseline,
            cfg.significance_test,
            tuple(cfg.benchmarks),
            tuple(cfg.run_seeds),
        )

    @classmethod
    def from_resolved(cls, raw: Mapping[str, Any]) -> PageHeader:
        """From a ``config.resolved.json`` dict."""
        seeds = tuple(raw.get("seeds") or (raw.get("seed", 0),))
        return cls(
            str(raw.get("name", "experiment")),
            str(raw.get("significance_baseline", "zero-shot")),
            str(raw.get("significance_test", "randomization")),
            tuple(raw.get("benchmarks", ())),
            seeds,
        )


# --- tables --------------------------------------------------------------------------


def result_table(
    rows: Sequence[ResultRow],
    significance: Sequence[SignificanceRow],
    benchmark: str,
    measure: str,
    baseline: str,
) -> dict | None:
    """One table of report.md as data: columns and, per system, ``[text, value]`` cells
    (value None: empty), in report.md's system order."""
    table = value_table(rows, benchmark, measure)
    if not table:
        return None
    langs = _languages(table)
    stds = {
        (r.system, r.lang): r.std
        for r in rows
        if r.benchmark == benchmark and r.measure == measure and r.std is not None
    }
    marks = significance_marks(
        significance, benchmark, measure, baseline, best_translate_test_of(rows, benchmark), ALPHA
    )
    body = []
    for system in _system_order(list(table)):
        cells: list[list[Any]] = []
        for lang in [*langs, "macro"]:
            value = table[system].get(lang)
            text = (
                ""
                if value is None
                else format_score(measure, value, stds.get((system, lang)))
                + marks.get((system, lang), "")
            )
            cells.append([text, value])
        gaps = [
            g
            for lang in langs
            if lang != "en"
            if (g := gap_to_oracle(table, system, lang)) is not None
        ]
        gap = sum(gaps) / len(gaps) if gaps else None
        cells.append(["" if gap is None else format_score(measure, gap), gap])
        body.append({"system": system, "cells": cells})
    return {"measure": measure, "columns": [*langs, "macro", "gap to oracle"], "rows": body}


def table_html(table: Mapping[str, Any]) -> str:
    """A sortable HTML table (the script sorts on the cells' ``data-v``)."""
    head = "".join(
        f'<th data-col="{i}" title="sort">{html.escape(c)}</th>'
        for i, c in enumerate(["system", *table["columns"]])
    )
    lines = []
    for row in table["rows"]:
        cells = [f'<td data-v="{html.escape(row["system"])}">{html.escape(row["system"])}</td>']
        for text, value in row["cells"]:
            v = "" if value is None else repr(float(value))
            cells.append(f'<td class="num" data-v="{v}">{html.escape(text)}</td>')
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table class="results sortable"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(lines)
        + "</tbody></table>"
    )


def tables_html(
    rows: Sequence[ResultRow], significance: Sequence[SignificanceRow], header: PageHeader
) -> str:
    """Per benchmark: its title, note and one table per headline measure."""
    parts = []
    for benchmark in header.benchmarks:
        spec = BENCHMARKS.get(benchmark)
        if spec is None:
            continue
        parts.append(f'<h3 id="bench-{html.escape(benchmark)}">{html.escape(spec.title)}</h3>')
        parts.append(f'<p class="note">{html.escape(spec.note)}</p>')
        for measure in spec.headline:
            table = result_table(rows, significance, benchmark, measure, header.baseline)
            if table is not None:
                parts.append(f"<h4>{html.escape(measure)}</h4>{table_html(table)}")
    return "\n".join(parts)


# --- figures -------------------------------------------------------------------------


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def figures_html(out_dir: Path) -> str:
    """Every chart of the output folder (``*.png`` beside report.md), inline."""
    items = [
        f'<figure><img alt="{html.escape(p.stem)}" src="{data_uri(p)}">'
        f"<figcaption>{html.escape(p.name)}</figcaption></figure>"
        for p in sorted(Path(out_dir).glob("*.png"))
    ]
    return "\n".join(items) or "<p>No figures in this output folder.</p>"


def heatmap_images(out_dir: Path) -> dict[str, str]:
    """``alignments/<lang>.png`` → its data URI (each embedded once; the explorer and the
    alignment section refer to them by path)."""
    return {
        f"alignments/{p.name}": data_uri(p)
        for p in sorted((Path(out_dir) / "alignments").glob("*.png"))
    }


# --- the page ------------------------------------------------------------------------


def _json_for_script(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</``, no ``<!--``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


LEGEND = (
    "▲/▼: significantly better/worse than <code>{baseline}</code>; △/▽: than the best "
    "translate-test system of the benchmark (<code>tt-oracle-*</code> excluded); paired "
    "{test} test, Holm-corrected per benchmark, measure and baseline, p &lt; {alpha}. "
    "<code>macro</code> averages the non-English languages; <code>gap to oracle</code> is "
    "the macro of (oracle − system) per language. Trained systems: seeds {seeds}{mean}. "
    "Click a column header to sort."
)


def render_page(
    header: PageHeader,
    rows: Sequence[ResultRow],
    significance: Sequence[SignificanceRow],
    out_dir: Path,
    explorer: Mapping[str, Any],
) -> str:
    """The whole page as one string."""
    template = (ASSETS / "report.html").read_text(encoding="utf-8")
    payload = {
        "name": header.name,
        "explorer": explorer,
        "images": heatmap_images(out_dir),
        "titles": {b: BENCHMARKS[b].title for b in header.benchmarks if b in BENCHMARKS},
    }
    legend = LEGEND.format(
        baseline=html.escape(header.baseline),
        test=html.escape(header.test),
        alpha=ALPHA,
        seeds=html.escape(str(list(header.seeds))),
        mean=", values are mean±std over seeds" if len(header.seeds) > 1 else "",
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    replacements = {
        "@@TITLE@@": html.escape(f"optical experiment: {header.name}"),
        "@@GENERATED@@": generated,
        "@@LEGEND@@": legend,
        "@@TABLES@@": tables_html(rows, significance, header),
        "@@FIGURES@@": figures_html(out_dir),
        "@@STYLE@@": (ASSETS / "report.css").read_text(encoding="utf-8"),
        "@@SCRIPT@@": (ASSETS / "report.js").read_text(encoding="utf-8"),
        "@@DATA@@": _json_for_script(payload),
    }
    # one pass: a value is never searched for placeholders
    return re.sub(r"@@[A-Z]+@@", lambda m: replacements.get(m.group(0), m.group(0)), template)


def explorer_systems(rows: Sequence[ResultRow], benchmarks: Sequence[str]) -> dict[str, list[str]]:
    """Benchmark → the systems of its result rows, in report order."""
    out = {}
    for benchmark in benchmarks:
        systems = {r.system for r in rows if r.benchmark == benchmark}
        out[benchmark] = _system_order(list(systems))
    return out


def write_html_report(
    header: PageHeader,
    rows: Sequence[ResultRow],
    significance: Sequence[SignificanceRow],
    out_dir: Path,
    benches: Mapping[str, RetrievalBenchmark],
    lookup: TranslationLookup | None = None,
) -> Path:
    """Write ``report.html`` into ``out_dir`` atomically (``benches``: the built
    benchmarks by id; ``lookup``: where translate-test translations are found, default
    the translation cache of :func:`optical.settings.cache_dir`)."""
    out_dir = Path(out_dir)
    if lookup is None:
        lookup = cached_translations(out_dir, cache_dir())
    shown = {b: benches[b] for b in header.benchmarks if b in benches}
    explorer = explorer_data(out_dir, shown, explorer_systems(rows, list(shown)), lookup)
    page = render_page(header, rows, significance, out_dir, explorer)
    path = atomic_write_text(out_dir / HTML_FILE, page)
    logger.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def experiment_html_report(
    cfg: Any,
    rows: Sequence[ResultRow],
    significance: Sequence[SignificanceRow],
    out_dir: Path,
    benches: Mapping[str, RetrievalBenchmark],
) -> Path:
    """:func:`write_html_report` for a running experiment (its config and benchmarks)."""
    return write_html_report(PageHeader.of(cfg), rows, significance, out_dir, benches)


def rebuild_benchmarks(
    raw: Mapping[str, Any], root: Path, where: str
) -> dict[str, RetrievalBenchmark]:
    """The benchmarks of a ``config.resolved.json`` dict, built from the data directory."""
    benches = {}
    for benchmark in raw.get("benchmarks", ()):
        spec = BENCHMARKS.get(benchmark)
        if spec is None:
            raise ConfigError(f"{where}: unknown benchmark {benchmark!r}")
        settings = build(spec.settings, raw.get(spec.attribute, {}), f"{where}[{benchmark}]")
        benches[benchmark] = spec.build(settings, root)
    return benches


def render_html_report(
    out_dir: str | Path, data: str | Path | None = None, cache: str | Path | None = None
) -> Path:
    """Write ``report.html`` again from an output folder: its ``results.json``,
    ``significance.json``, runs and figures, the benchmarks rebuilt from its
    ``config.resolved.json`` (``data``: the data directory, default
    :func:`optical.settings.data_dir`; ``cache``: the cache whose translations it shows)."""
    out_dir = Path(out_dir)
    config_path = out_dir / "config.resolved.json"
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(config_path, None, "no such file: not an experiment folder") from None
    except (OSError, ValueError) as exc:
        raise DataFormatError(config_path, None, f"unreadable: {exc}") from exc
    rows, significance = load_results(out_dir)
    benches = rebuild_benchmarks(raw, data_dir(data), str(config_path))
    lookup = cached_translations(out_dir, cache_dir(cache))
    header = PageHeader.from_resolved(raw)
    return write_html_report(header, rows, significance, out_dir, benches, lookup)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m optical.experiment.report_html OUTDIR [--data-dir D] [--cache-dir C]``."""
    parser = argparse.ArgumentParser(description="write report.html of an experiment folder")
    parser.add_argument("out_dir")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[optical] %(message)s")
    render_html_report(args.out_dir, args.data_dir, args.cache_dir)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
