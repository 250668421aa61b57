"""Alignment heatmaps from a tiny distilled student and from a plain encoder."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest

from optical.align import Alignment, compute_alignment, draw_alignment, plot_alignment
from optical.fonts import fonts_for
from optical.train.distill import train_distill
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    root = tmp_path_factory.mktemp("align")
    student = build_tiny_encoder(root / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(root / "teacher", hidden=24, layers=2, seed=1)
    config = tiny_config(student, teacher, optim={"max_steps": 2}, run={"checkpoint_every": 0})
    return train_distill(config, root / "run", bitext=tiny_bitext())


def test_heatmap_of_a_distilled_student(tiny_student: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "align.png"
    alignment = plot_alignment(tiny_student, "le kato dormas", "the cat sleeps near", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["align.png"]  # no temp file left
    assert alignment.source_tokens == ["le", "kato", "dormas"]  # no query: prefix, no specials
    assert alignment.english_tokens == ["the", "cat", "sleeps", "near"]
    assert alignment.plan.shape == (3, 4)
    assert (alignment.plan >= 0).all()
    assert alignment.plan.sum(1) == pytest.approx(np.full(3, 1 / 3), abs=1e-4)
    assert alignment.plan.sum(0) == pytest.approx(np.full(4, 1 / 4), abs=1e-4)
    assert alignment.eps == 0.1  # the eps the student was trained with
    assert 0.0 <= alignment.cost <= 2.0


def test_prefix_can_be_kept_and_plain_encoders_align(tmp_path: Path) -> None:
    from optical.models.encoder import Encoder
    from optical.models.registry import resolve_encoder

    folder = build_tiny_encoder(tmp_path / "plain", hidden=16, layers=2, seed=3)
    encoder = Encoder.load(resolve_encoder(str(folder)))
    kept = compute_alignment(encoder, "un hundo", "a dog", exclude_prefix=False, eps=0.2)
    assert kept.source_tokens == ["query", ":", "un", "hundo"]
    assert kept.english_tokens == ["query", ":", "a", "dog"]
    assert kept.eps == 0.2
    with pytest.raises(ValueError, match="dim"):
        compute_alignment(
            encoder, "un hundo", "a dog", teacher=build_tiny_encoder(tmp_path / "t", hidden=24)
        )


# Short sentences ("I eat rice", Yorùbá: "good morning, I eat rice") as token labels, each with
# the font that must draw them when Debian's fonts-noto-core / fonts-noto-cjk are installed.
SCRIPT_LABELS = {
    "bn": (["আমি", "ভাত", "খাই"], "Noto Sans Bengali"),
    "te": (["నేను", "అన్నం", "తింటాను"], "Noto Sans Telugu"),
    "ar": (["أنا", "آكل", "الأرز"], None),  # DejaVu Sans has Arabic
    "ja": (["私は", "ご飯を", "食べる"], "Noto Sans CJK JP"),
    "am": (["እኔ", "ሩዝ", "እበላለሁ"], "Noto Sans Ethiopic"),
    "yo": (["Ẹ", "káàárọ̀", "mo", "ń", "jẹ", "ìrẹsì"], None),
}
NOTO = ("Noto Sans Bengali", "Noto Sans Telugu", "Noto Sans Ethiopic", "Noto Sans CJK JP")


def _noto_missing() -> list[str]:
    from matplotlib import font_manager

    known = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in NOTO if name not in known]


def _alignment(source_tokens: list[str], english_tokens: list[str]) -> Alignment:
    n, m = len(source_tokens), len(english_tokens)
    plan = np.full((n, m), 1.0 / (n * m))
    return Alignment(source_tokens, english_tokens, plan, 0.5, 0.05, 10, True)


def _draw(tmp_path: Path, tokens: list[str], caplog: pytest.LogCaptureFixture) -> list[str]:
    """Draw the heatmap; returns matplotlib's missing-glyph warnings."""
    out = tmp_path / "align.png"
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        draw_alignment(_alignment(tokens, ["I", "eat", "rice"]), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


@pytest.mark.parametrize("language", SCRIPT_LABELS)
def test_heatmap_labels_in_every_script_have_their_glyphs(
    language: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens, font = SCRIPT_LABELS[language]
    if font is not None and _noto_missing():
        pytest.skip(
            f"fonts-noto-core / fonts-noto-cjk not installed (matplotlib knows no "
            f"{', '.join(_noto_missing())}): run scripts/install-fonts"
        )
    assert _draw(tmp_path, tokens, caplog) == []
    assert not [r for r in caplog.records if r.name.startswith("optical")]
    assert fonts_for(tokens).families == ["DejaVu Sans", *([font] if font else [])]


def test_heatmap_names_an_undrawable_character_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    glyph_warnings = _draw(tmp_path, ["cat", "\U0010fffd"], caplog)
    assert glyph_warnings == []  # silenced: fonts_for's warning names the character
    named = [r.getMessage() for r in caplog.records if r.name == "optical.fonts"]
    assert len(named) == 1 and "U+10FFFD" in named[0]
