"""The font-family list that covers a set of labels, and the warning for what none covers."""

from __future__ import annotations

import logging

import pytest

from optical.fonts import fonts_for

NOBODY_HAS = "\U0010fffd"  # a private-use code point: no font draws it


def test_latin_labels_need_no_fallback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="optical"):
        choice = fonts_for(["the", "cat", "naïve", "Ẹ", "àárọ̀", "ɔdɔ", ""])
    assert choice.families == ["DejaVu Sans"]  # matplotlib's default covers Latin, Yorùbá, Twi
    assert choice.missing == ""
    assert not caplog.records


def test_a_character_no_font_has_is_named_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="optical"):
        choice = fonts_for(["cat", f"a{NOBODY_HAS}b", NOBODY_HAS])
    assert choice.missing == NOBODY_HAS
    assert choice.families[0] == "DejaVu Sans"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "U+10FFFD" in caplog.records[0].getMessage()
    assert "scripts/install-fonts" in caplog.records[0].getMessage()


def test_the_warning_groups_by_script_and_stays_short(caplog: pytest.LogCaptureFixture) -> None:
    many = "".join(chr(c) for c in range(0x10FF00, 0x10FF30))  # 48 private-use characters
    with caplog.at_level(logging.WARNING, logger="optical"):
        assert fonts_for([many]).missing == many
    (record,) = caplog.records
    assert "and 24 more characters" in record.getMessage()
