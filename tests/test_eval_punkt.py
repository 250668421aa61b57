"""Offline NLTK punkt_tab: files NLTK's own loader reads, word_tokenize as documented."""

from __future__ import annotations

import stat

import nltk
import nltk.data
import pytest
from nltk.data import FileSystemPathPointer
from nltk.tokenize import _get_punkt_tokenizer
from nltk.tokenize.punkt import load_punkt_params

from optical.evaluate import ensure_punkt
from optical.evaluate.punkt_offline import FILES, write_punkt_tab


@pytest.fixture
def isolated_nltk(tmp_path, monkeypatch):
    """No NLTK data on the path, no memoized punkt tokenizer; the optical cache in a temp dir."""
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.setenv("OPTICAL_CACHE_DIR", str(tmp_path / "cache"))
    _get_punkt_tokenizer.cache_clear()
    yield tmp_path / "cache"
    _get_punkt_tokenizer.cache_clear()


def test_without_the_model_word_tokenize_fails(isolated_nltk):
    with pytest.raises(LookupError):
        nltk.word_tokenize("One. Two.")


def test_writes_punkt_tab_that_nltk_loads_unchanged(isolated_nltk):
    import punkt.data.english as source

    target = ensure_punkt()
    assert target == isolated_nltk / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    assert str(isolated_nltk / "nltk_data") in nltk.data.path

    params = load_punkt_params(FileSystemPathPointer(str(target)))
    assert params.abbrev_types == set(source.ABBREV_TYPES)
    assert params.sent_starters == set(source.SENT_STARTERS)
    assert params.collocations == set(source.COLLOCATIONS)
    assert dict(params.ortho_context) == dict(source.ORTHO_CONTEXT)
    assert "mr" in params.abbrev_types


def test_file_formats(isolated_nltk):
    target = ensure_punkt()
    colloc = (target / "collocations.tab").read_text().split("\n")
    assert all(len(line.split("\t")) == 2 for line in colloc)
    ortho = (target / "ortho_context.tab").read_text().split("\n")
    assert all(line.split("\t")[1].isdigit() for line in ortho)
    assert not (target / "abbrev_types.txt").read_text().endswith("\n")


def test_idempotent_and_skips_when_nltk_already_has_the_model(isolated_nltk):
    target = ensure_punkt()
    stamps = {name: (target / name).stat().st_mtime_ns for name in FILES}
    assert write_punkt_tab(isolated_nltk / "nltk_data") == target
    assert ensure_punkt() == target
    assert {name: (target / name).stat().st_mtime_ns for name in FILES} == stamps

    # A model NLTK finds on its own path wins; nothing is written to the cache.
    other_cache = isolated_nltk.parent / "other"
    assert ensure_punkt(other_cache) == target
    assert not (other_cache / "nltk_data").exists()


def test_directories_are_made_private_for_nltk_sandbox(isolated_nltk):
    root = isolated_nltk / "nltk_data"
    root.mkdir(parents=True)
    root.chmod(0o777)
    ensure_punkt()
    assert not stat.S_IMODE(root.stat().st_mode) & (stat.S_IWGRP | stat.S_IWOTH)


def test_word_tokenize_matches_nltk_documented_behaviour(isolated_nltk):
    ensure_punkt()
    assert nltk.word_tokenize("Mr. Smith went to Washington. He paid $3.50.") == [
        "Mr.",
        "Smith",
        "went",
        "to",
        "Washington",
        ".",
        "He",
        "paid",
        "$",
        "3.50",
        ".",
    ]
    # The example of nltk.tokenize's module docstring.
    text = "Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks."
    assert nltk.word_tokenize(text) == [
        "Good", "muffins", "cost", "$", "3.88", "in", "New", "York", ".",
        "Please", "buy", "me", "two", "of", "them", ".", "Thanks", ".",
    ]  # fmt: skip
