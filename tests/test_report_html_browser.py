"""report.html in a real headless browser: Playwright driving Debian's chromium.

Skipped (with the reason) without Playwright for Python or without chromium
(``scripts/install-browser``; ``$OPTICAL_CHROMIUM`` names another binary). Playwright's
own browser download (``playwright install``) is never used.

``OPTICAL_EXPLORER_PNG=docs/explorer.png`` makes the test also write its screenshot of
the explorer there (the README's picture)::

    OPTICAL_EXPLORER_PNG=docs/explorer.png python -m pytest tests/test_report_html_browser.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from optical.runs import ranked, read_run
from tiny_report import run_tiny_experiment

pytestmark = pytest.mark.slow  # a tiny experiment (~15 s) and a browser start


def _chromium() -> str:
    explicit = os.environ.get("OPTICAL_CHROMIUM")
    found = explicit or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).is_file():
        pytest.skip(f"no chromium at {found}: run scripts/install-browser (Debian's chromium)")
    return found


def _expected_rank(run_path: Path, qid: str, gold: str) -> str:
    """The gold passage's rank, from the TREC file (score descending, doc id descending)."""
    docs = read_run(run_path)[qid]
    order = [pid for pid, _ in ranked(docs)]
    return str(order.index(gold) + 1) if gold in order else f"not in top {len(order)}"


def test_explorer_in_headless_chromium(tmp_path: Path, tiny_model_dir: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed (requirements.lock)"
    )
    executable = _chromium()
    (tmp_path / "data").mkdir()
    out = tmp_path / "out"
    run_tiny_experiment(out, tmp_path / "data", tiny_model_dir, tmp_path / "cache")
    shot = tmp_path / "explorer.png"
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto((out / "report.html").as_uri())
            assert all(url.startswith(("file:", "data:")) for url in requests), requests

            # sorting: the first table by its macro column, ascending then descending
            table = page.locator("table.results").first
            macro = table.locator("th", has_text="macro")
            macro.click()
            values = [float(v) for v in table.locator("tbody td:nth-child(5)").all_inner_texts()]
            assert values == sorted(values)
            macro.click()
            values = [float(v) for v in table.locator("tbody td:nth-child(5)").all_inner_texts()]
            assert values == sorted(values, reverse=True)

            page.select_option("#ex-bench", index=0)
            page.select_option("#ex-lang", label="sv (4)")
            page.select_option("#ex-query", label="sv1: hund")
            assert page.inner_text("#ex-query-text") == "hund"
            assert "p1" in page.inner_text("#ex-gold")
            for row in page.locator("#ex-ranks tbody tr").all():
                system, rank = row.locator("td").all_inner_texts()[:2]
                expected = _expected_rank(out / "runs" / "xquad" / f"{system}.sv.trec", "sv1", "p1")
                assert rank == expected, system
            assert "machine a dog runs" in page.inner_text("#ex-translations")
            assert page.locator("#ex-no-heatmap").count() == 1

            page.fill("#ex-filter", "katze")
            page.select_option("#ex-lang", label="de (4)")
            assert page.locator("#ex-query option").count() == 1
            assert page.locator("#ex-heatmap img").count() == 1  # de0 is the heatmap example
            # the sticky controls would float mid-picture in an element screenshot
            page.add_style_tag(content=".controls { position: static; }")
            page.locator("#explorer").screenshot(path=str(shot))
        finally:
            browser.close()
    assert errors == []
    assert shot.stat().st_size > 10_000
    target = os.environ.get("OPTICAL_EXPLORER_PNG")
    if target:
        shutil.copyfile(shot, target)
