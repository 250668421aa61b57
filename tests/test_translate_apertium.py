"""The ``apertium`` backend: real spa→eng where installed, clear install advice where not."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from optical.translate import BackendUnavailableError, TranslationError, build_translator
from optical.translate.apertium import ApertiumTranslator

INSTALL = "apt-get install apertium apertium-eng-spa"


@pytest.fixture
def apertium() -> ApertiumTranslator:
    if shutil.which("apertium") is None:
        pytest.skip(f"apertium is not installed: {INSTALL}")
    translator = ApertiumTranslator()
    if "spa-eng" not in translator.installed_modes():
        pytest.skip("the apertium spa-eng pair is not installed: apt-get install apertium-eng-spa")
    return translator


def test_real_spanish_to_english(apertium: ApertiumTranslator) -> None:
    texts = ["¿Cuál es la capital de Francia?", "El gato duerme en la casa."]
    results = apertium.translate(texts, "es", "en")
    assert [r.source for r in results] == texts
    assert results[0].text == "Which is the capital of France?"
    assert results[1].text == "The cat sleeps in the house."
    assert results[0].backend == "apertium"


def test_texts_do_not_influence_each_other(apertium: ApertiumTranslator) -> None:
    texts = ["el perro come", "el gato duerme en la casa", "línea\ncon salto"]
    together = [r.text for r in apertium.translate(texts, "es", "en")]
    alone = [apertium.translate([t], "es", "en")[0].text for t in texts]
    assert together == alone
    assert all("\n" not in text for text in together)


def test_english_to_spanish_and_chunks(apertium: ApertiumTranslator) -> None:
    small_chunks = ApertiumTranslator(chunk_texts=2)
    texts = ["The dog eats.", "Who wrote Don Quixote?", "The red house."]
    results = small_chunks.translate(texts, "en", "es")
    assert results == apertium.translate(texts, "en", "es")
    assert "perro" in results[0].text


def test_missing_pair_says_what_to_install(apertium: ApertiumTranslator) -> None:
    with pytest.raises(BackendUnavailableError, match=r"no Apertium pair for fi→en.*spa-eng"):
        apertium.translate(["Mikä on Suomen pääkaupunki?"], "fi", "en")


def test_unknown_words_are_marked_only_on_request(apertium: ApertiumTranslator) -> None:
    text = ["el zzqxw come"]
    assert "*" not in apertium.translate(text, "es", "en")[0].text
    marked = ApertiumTranslator(mark_unknown=True)
    assert "*zzqxw" in marked.translate(text, "es", "en")[0].text
    assert marked.fingerprint() != apertium.fingerprint()


# ---- without apertium (always run) ----------------------------------------------------------


def test_missing_program_says_how_to_install() -> None:
    translator = build_translator("apertium", executable="no-such-apertium-binary")
    with pytest.raises(BackendUnavailableError, match=INSTALL):
        translator.translate(["hola"], "es", "en")


def test_missing_pair_with_a_fake_apertium(tmp_path: Path) -> None:
    fake = tmp_path / "apertium"
    fake.write_text("#!/bin/sh\necho '  eng-cat'\necho '  cat-eng'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    translator = ApertiumTranslator(executable=str(fake))
    with pytest.raises(BackendUnavailableError) as caught:
        translator.translate(["hola"], "es", "en")
    message = str(caught.value)
    assert "spa-eng" in message and "cat-eng, eng-cat" in message
    assert "apt-get install apertium apertium-eng-spa" in message
    with pytest.raises(BackendUnavailableError, match="Debian has no Apertium pair"):
        translator.translate(["habari"], "sw", "en")
    # a language without an Apertium code (Bemba) is a missing pair, not a KeyError
    with pytest.raises(
        BackendUnavailableError,
        match=r"no Apertium pair for bem→en is installed \(looked for bem-eng or bem-en;",
    ):
        translator.translate(["Ni kwisa"], "bem", "en")


def test_failing_apertium_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "apertium"
    script = '#!/bin/sh\nif [ "$1" = "-l" ]; then echo spa-eng; exit 0; fi\necho boom >&2\nexit 3\n'
    fake.write_text(script)
    os.chmod(fake, 0o755)
    with pytest.raises(TranslationError, match=r"failed \(exit 3\): boom"):
        ApertiumTranslator(executable=str(fake)).translate(["hola"], "es", "en")
