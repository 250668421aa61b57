"""The ``hf`` backend with tiny random Marian, M2M-100 and NLLB models built here (no downloads).

Sentencepiece vocabularies are trained inside the tests (``tiny_mt.py``); the translations
are gibberish, the mechanics are real: batching, length sorting, greedy and beam search,
``max_new_tokens``, language tokens, lazy loading, offline errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from optical.errors import ConfigError
from optical.languages import NAMES
from optical.translate import BackendUnavailableError, CachedTranslator, build_translator
from optical.translate.hf import (
    M2M100_CODES,
    NLLB_CODES,
    HFTranslator,
    m2m100_code,
    nllb_code,
)
from tiny_mt import SPANISH, build_tiny_m2m100, build_tiny_marian, build_tiny_nllb

pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")


@pytest.fixture(scope="module")
def marian(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    return build_tiny_marian(tmp_path_factory.mktemp("marian"))


@pytest.fixture(scope="module")
def multi_target(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    folder = tmp_path_factory.mktemp("marian-mul")
    return build_tiny_marian(folder, None, None, target_tokens=(">>spa<<", ">>fin<<"))


@pytest.fixture(scope="module")
def m2m100(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    return build_tiny_m2m100(tmp_path_factory.mktemp("m2m100"))


@pytest.fixture(scope="module")
def nllb(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    return build_tiny_nllb(tmp_path_factory.mktemp("nllb"))


class GenerateSpy:
    """Wraps ``model.generate``: records each call's input ids, options and output."""

    def __init__(self, translator: HFTranslator, monkeypatch: pytest.MonkeyPatch) -> None:
        translator._load()
        self.calls: list[dict[str, Any]] = []
        self.real = translator._model.generate
        monkeypatch.setattr(translator._model, "generate", self)

    def __call__(self, **kwargs: Any) -> Any:
        output = self.real(**kwargs)
        self.calls.append({**kwargs, "output": output})
        return output


# ---- language codes (pure functions) --------------------------------------------------------


def test_nllb_codes_cover_every_language() -> None:
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    assert set(NLLB_CODES) == set(NAMES) - {"pcm"}
    assert set(NLLB_CODES.values()) <= set(FAIRSEQ_LANGUAGE_CODES)
    assert nllb_code("bn") == "ben_Beng"
    assert nllb_code("en") == "eng_Latn"
    assert nllb_code("zh") == "zho_Hans"
    assert nllb_code("fil") == "tgl_Latn"  # NTREX's code for Filipino
    assert nllb_code("swh") == "swh_Latn"
    assert nllb_code("kin") == "kin_Latn"  # AfriQA's code for Kinyarwanda
    with pytest.raises(ConfigError, match="unknown language"):
        nllb_code("xx")
    with pytest.raises(ConfigError, match="NLLB-200 has no Nigerian Pidgin"):
        nllb_code("pcm")


def test_m2m100_codes() -> None:
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    assert set(M2M100_CODES.values()) <= set(FAIRSEQ_LANGUAGE_CODES["m2m100"])
    assert set(M2M100_CODES) == set(NAMES) - {"te", "bem", "ny", "pcm", "rw", "sn", "tw"}
    assert m2m100_code("ben") == "bn"
    assert m2m100_code("tgl") == "tl"
    with pytest.raises(ConfigError, match="M2M-100 has no Telugu"):
        m2m100_code("te")


# ---- Marian -----------------------------------------------------------------------------


def test_marian_greedy_and_beam(marian: Path) -> None:
    greedy = build_translator("hf", model=str(marian), max_new_tokens=5)
    beam = build_translator("hf", model=str(marian), max_new_tokens=5, num_beams=3)
    out_greedy = [r.text for r in greedy.translate(SPANISH, "es", "en")]
    assert greedy.family == "marian"  # type: ignore[attr-defined]
    out_beam = [r.text for r in beam.translate(SPANISH, "es", "en")]
    assert len(set(out_greedy)) > 1, "different inputs should give different outputs"
    assert all(isinstance(text, str) for text in out_beam)
    assert greedy.fingerprint() != beam.fingerprint()


def test_batches_are_length_sorted_and_bounded(
    marian: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    translator = HFTranslator(str(marian), batch_size=2, max_new_tokens=4, num_beams=2)
    spy = GenerateSpy(translator, monkeypatch)
    texts = ["el gato", SPANISH[0], "un árbol", SPANISH[4], "la casa"]
    results = translator.translate(texts, "es", "en")
    assert [r.source for r in results] == texts
    assert [len(call["input_ids"]) for call in spy.calls] == [2, 2, 1]
    longest = [int(call["attention_mask"].sum(1).max()) for call in spy.calls]
    assert longest == sorted(longest, reverse=True)
    for call in spy.calls:
        assert call["num_beams"] == 2 and call["max_new_tokens"] == 4
        assert call["do_sample"] is False
        assert call["output"].shape[1] <= 1 + 4  # decoder start + at most 4 new tokens


def test_long_inputs_are_truncated(marian: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    translator = HFTranslator(str(marian), max_input_tokens=8, max_new_tokens=2)
    spy = GenerateSpy(translator, monkeypatch)
    translator.translate([" ".join(SPANISH)], "es", "en")
    assert spy.calls[0]["input_ids"].shape[1] == 8


def test_marian_direction_is_checked(marian: Path) -> None:
    translator = HFTranslator(str(marian))
    with pytest.raises(ConfigError, match="translates es→en, not en→es"):
        translator.translate(["the cat"], "en", "es")


def test_multi_target_marian_gets_the_target_token(
    multi_target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    translator = HFTranslator(str(multi_target), max_new_tokens=3)
    spy = GenerateSpy(translator, monkeypatch)
    translator.translate(["the cat"], "en", "fi")
    spa, fin = translator._tokenizer.convert_tokens_to_ids([">>spa<<", ">>fin<<"])
    first_ids = spy.calls[0]["input_ids"][0].tolist()
    assert first_ids[0] == fin and spa not in first_ids
    with pytest.raises(ConfigError, match="no target token for de"):
        translator.translate(["the cat"], "en", "de")


def test_model_is_loaded_lazily_and_skipped_on_a_warm_cache(marian: Path, tmp_path: Path) -> None:
    cold = HFTranslator(str(marian), max_new_tokens=4)
    cold.fingerprint()
    assert cold._model is None  # a fingerprint reads the files, not the model
    first = CachedTranslator(cold, root=tmp_path).translate(SPANISH, "es", "en")
    warm = HFTranslator(str(marian), max_new_tokens=4)
    cached = CachedTranslator(warm, root=tmp_path)
    assert cached.translate(SPANISH, "es", "en") == first
    assert warm._model is None
    assert cached.last_stats.hits == len(SPANISH)


def test_fingerprint_follows_the_weights(tmp_path: Path, one_thread: None) -> None:
    a = build_tiny_marian(tmp_path / "a", seed=0)
    b = build_tiny_marian(tmp_path / "b", seed=1)
    assert HFTranslator(str(a)).fingerprint() != HFTranslator(str(b)).fingerprint()
    assert HFTranslator(str(a)).fingerprint() == HFTranslator(str(a) + "/").fingerprint()


def test_progress_bar(marian: Path, capsys: pytest.CaptureFixture[str]) -> None:
    HFTranslator(str(marian), max_new_tokens=2).translate(SPANISH[:2], "es", "en", progress="mt")
    assert "mt" in capsys.readouterr().err


# ---- M2M-100 and NLLB: language tokens ------------------------------------------------------


def test_m2m100_sets_source_and_forces_target(
    m2m100: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    translator = HFTranslator(str(m2m100), max_new_tokens=4)
    spy = GenerateSpy(translator, monkeypatch)
    results = translator.translate(SPANISH[:3], "spa", "fi")
    assert translator.family == "m2m100"
    tokenizer = translator._tokenizer
    assert tokenizer.src_lang == "es"
    fi_id = tokenizer.convert_tokens_to_ids("__fi__")
    assert spy.calls[0]["forced_bos_token_id"] == fi_id
    assert spy.calls[0]["input_ids"][0, 0].item() == tokenizer.convert_tokens_to_ids("__es__")
    assert (spy.calls[0]["output"][:, 1] == fi_id).all()
    assert not any("__" in r.text for r in results), "language tokens leak into the output"
    with pytest.raises(ConfigError, match="M2M-100 has no Telugu"):
        translator.translate(["x"], "te", "en")


def test_nllb_sets_source_and_forces_target(nllb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    translator = HFTranslator(str(nllb), max_new_tokens=4, num_beams=2)
    spy = GenerateSpy(translator, monkeypatch)
    results = translator.translate(SPANISH[:3], "es", "bn")
    assert translator.family == "nllb"
    tokenizer = translator._tokenizer
    assert tokenizer.src_lang == "spa_Latn"
    ben = tokenizer.convert_tokens_to_ids("ben_Beng")
    assert spy.calls[0]["forced_bos_token_id"] == ben
    assert spy.calls[0]["input_ids"][0, 0].item() == tokenizer.convert_tokens_to_ids("spa_Latn")
    assert (spy.calls[0]["output"][:, 1] == ben).all()
    assert not any("_Beng" in r.text or "_Latn" in r.text for r in results)


def test_family_override_is_checked_against_the_vocabulary(marian: Path) -> None:
    translator = HFTranslator(str(marian), family="nllb")
    with pytest.raises(ConfigError, match="no language token 'spa_Latn'"):
        translator.translate(["el gato"], "es", "en")
    with pytest.raises(ConfigError, match="unknown model family"):
        HFTranslator(str(marian), family="t5")


# ---- offline errors ---------------------------------------------------------------------


def test_unloadable_model_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    for translator in (
        HFTranslator(str(empty)),
        HFTranslator("Helsinki-NLP/opus-mt-es-en", local_files_only=True),
    ):
        with pytest.raises(BackendUnavailableError, match="cannot load MT model") as caught:
            translator.translate(["hola"], "es", "en")
        assert "local folder" in str(caught.value)


def test_a_missing_model_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs a model"):
        build_translator("hf", model=" ")
    with pytest.raises(ConfigError, match="bad options"):
        build_translator("hf")


def test_missing_python_package_is_named(marian: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def needs_sentencepiece(*args: object, **kwargs: object) -> None:
        raise ImportError("MarianTokenizer requires the SentencePiece library")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", needs_sentencepiece)
    with pytest.raises(BackendUnavailableError, match=r"pip install sentencepiece==0\.2\.3"):
        HFTranslator(str(marian)).translate(["el gato"], "es", "en")


def test_experiment_tt_hf_systems_translate_with_the_configured_model(
    nllb: Path, tmp_path: Path
) -> None:
    """``tt-hf-*`` in an experiment: ``[translate] hf_model`` is built (cached, on
    ``run.device``) into the workbench's ``hf`` translator; without it the systems are
    not applicable (a skipped cell, not a crash)."""
    from dataclasses import replace

    from optical.experiment.artifacts import setup_translators
    from optical.experiment.config import ExperimentConfig, RunSettings, TranslateSettings
    from optical.experiment.names import SystemSpec
    from optical.experiment.systems import SystemNotApplicable, translated_queries
    from optical.experiment.workbench import Workbench
    from optical.types import Query

    spec = SystemSpec.parse("tt-hf-dense")
    base = ExperimentConfig(systems=("zero-shot", "tt-hf-dense"), run=RunSettings("cpu"))
    cfg = replace(base, translate=TranslateSettings(hf_model=str(nllb)))
    wb = Workbench(tmp_path, device="cpu")
    setup_translators(wb, cfg, tmp_path, tmp_path, [spec])
    assert isinstance(wb.translators["hf"], CachedTranslator)
    queries = [Query(f"q{i}", text, "es") for i, text in enumerate(SPANISH[:2])]
    out = translated_queries(wb, cfg, "hf", queries)
    assert len(out) == 2 and all(isinstance(text, str) and text for text in out)
    bare = Workbench(tmp_path / "bare", device="cpu")
    setup_translators(bare, base, tmp_path, tmp_path, [spec])
    assert "hf" not in bare.translators
    with pytest.raises(SystemNotApplicable, match="translator 'hf' is not available"):
        translated_queries(bare, base, "hf", queries)
