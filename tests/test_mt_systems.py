"""Translate-test systems, back-translation data and MT quality, with a fake translator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from optical.errors import BackendUnavailableError, ConfigError, UnsupportedLanguageError
from optical.evaluate.mt import bleu_tokenizer, corpus_scores, ntrex_mt_scores
from optical.experiment.artifacts import data_identity, student_folder, translators_needed
from optical.experiment.backtranslation import chosen_pairs, roundtrip_bitext, synthetic_bitext
from optical.experiment.benchmarks import NTREX
from optical.experiment.config import ExperimentConfig, ModelsConfig, TranslateSettings, load_config
from optical.experiment.names import METHODS, SystemSpec
from optical.experiment.run import mt_quality_rows
from optical.experiment.systems import (
    SystemNotApplicable,
    resolve_systems,
    run_system,
    translated_queries,
)
from optical.experiment.workbench import Workbench
from optical.translate.base import check_request, make_translations
from optical.types import BitextPair, Passage, Query, RetrievalBenchmark

QUICK = Path(__file__).resolve().parents[1] / "configs" / "quick.toml"
DICTIONARY = {
    "kato dormas": "the cat sleeps",
    "hundo manĝas": "the dog eats",
    "the cat sleeps": "kato dormas",
    "the dog eats": "hundo manĝas",
    "the house is big": "domo granda",
    "domo granda": "the big house",
}


class FakeTranslator:
    """Dictionary lookups (``??`` for unknown text; empty output for ``"silence"``)."""

    name = "fake"

    def __init__(self, languages: tuple[str, ...] = ("en", "fi")) -> None:
        self.languages = languages
        self.calls: list[tuple[str, str, int]] = []

    def fingerprint(self) -> str:
        return "fake-1"

    def translate(self, texts, source_lang, target_lang, progress=False):
        items, source, target = check_request(texts, source_lang, target_lang)
        if target not in self.languages:
            raise UnsupportedLanguageError(f"fake cannot translate into {target!r}")
        self.calls.append((source, target, len(items)))
        outputs = ["" if t == "silence" else DICTIONARY.get(t, "??") for t in items]
        return make_translations(items, outputs, source, target, self.name)


# --- translate-test -----------------------------------------------------------------------


def _bench() -> RetrievalBenchmark:
    passages = (
        Passage("p0", "the cat sleeps"),
        Passage("p1", "the dog eats"),
        Passage("p2", "a red tree under the house"),
    )
    queries = {
        "fi": (Query("q0", "kato dormas", "fi"), Query("q1", "hundo manĝas", "fi")),
        "en": (Query("q0", "the cat sleeps", "en"),),
    }
    return RetrievalBenchmark("tiny", passages, queries, {"q0": {"p0": 1}, "q1": {"p1": 1}})


def test_tt_dense_and_bm25_retrieve_with_the_translation(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    cfg = ExperimentConfig(
        systems=("oracle", "zero-shot", "tt-nmt-dense", "tt-nmt-bm25"),
        models=ModelsConfig(
            student=str(tiny_model_dir),
            teacher=str(tiny_model_dir),
            oracle_candidates=(str(tiny_model_dir),),
            bf16=False,
        ),
    )
    wb = Workbench(tmp_path, bf16=False)
    fake = FakeTranslator()
    wb.translators["nmt"] = fake
    systems = resolve_systems(cfg)
    bench = _bench()
    dense = run_system(systems["tt-nmt-dense"], wb, cfg, bench, bench.queries["fi"])
    bm25 = run_system(systems["tt-nmt-bm25"], wb, cfg, bench, bench.queries["fi"])
    for run in (dense, bm25):
        assert max(run["q0"], key=run["q0"].get) == "p0"
        assert max(run["q1"], key=run["q1"].get) == "p1"
    assert fake.calls == [("fi", "en", 2), ("fi", "en", 2)]
    # English questions are not translated
    run_system(systems["tt-nmt-dense"], wb, cfg, bench, bench.queries["en"])
    assert len(fake.calls) == 2


def test_translated_queries_fall_back_and_skip(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    cfg = ExperimentConfig(translate=TranslateSettings(apertium_languages=("es",)))
    wb = Workbench(tmp_path, bf16=False)
    wb.translators["nmt"] = FakeTranslator()
    queries = (Query("q0", "kato dormas", "fi"), Query("q1", "silence", "fi"))
    assert translated_queries(wb, cfg, "nmt", queries) == ["the cat sleeps", "silence"]
    assert "1 empty translation" in caplog.text
    with pytest.raises(SystemNotApplicable, match="apertium is not used for fi"):
        translated_queries(wb, cfg, "apertium", queries)
    with pytest.raises(SystemNotApplicable, match="'oracle' is not available"):
        translated_queries(wb, cfg, "oracle", queries)


def test_a_language_the_backend_does_not_serve_skips_the_cell(tmp_path: Path) -> None:
    """Human translations exist only for some languages (none for Xhosa): the cell is
    skipped with the reason, never answered with made-up text."""
    from optical.translate.oracle import OracleTranslator

    cfg = ExperimentConfig()
    wb = Workbench(tmp_path, bf16=False)
    wb.translators["oracle"] = OracleTranslator(data_dir=tmp_path)
    xhosa = (Query("xh-0", "Ngubani owabhala uHarry Potter?", "xh"),)
    with pytest.raises(SystemNotApplicable, match=r"no human translations for xh→en"):
        translated_queries(wb, cfg, "oracle", xhosa)
    wb.translators["nmt"] = FakeTranslator(languages=("fi",))  # no tag for English
    with pytest.raises(SystemNotApplicable, match="cannot translate into 'en'"):
        translated_queries(wb, cfg, "nmt", (Query("q0", "kato dormas", "fi"),))


def test_system_names_and_backends() -> None:
    cfg = load_config(QUICK)
    systems = resolve_systems(cfg)
    assert {"tt-nmt-dense", "tt-oracle-dense", "bt-synthetic-ot", "bt-roundtrip-ot"} <= set(systems)
    assert translators_needed(cfg.systems) == ["apertium", "nmt", "oracle", "psq"]
    tt_oracle = SystemSpec.parse("tt-oracle-dense")
    assert tt_oracle.reads_english and not NTREX.english_readers  # not run on NTREX
    with pytest.raises(ConfigError, match="unknown system 'tt-google-dense'"):
        replace(cfg, systems=("oracle", "tt-google-dense"))


# --- back-translation data ----------------------------------------------------------------


def _bitext() -> dict[str, list[BitextPair]]:
    english = ["the cat sleeps", "the dog eats", "the house is big"]
    sources = ["kato dormas", "hundo manĝas", "domo estas granda"]
    return {
        "fi": [
            BitextPair(s, e, "fi", f"fi-{i}", "test")
            for i, (s, e) in enumerate(zip(sources, english, strict=True))
        ],
        "sv": [BitextPair("katten sover", "the cat sleeps", "sv", "sv-0", "test")],
    }


def test_chosen_pairs_are_training_pairs_of_translatable_languages() -> None:
    chosen = chosen_pairs(
        _bitext(), seed=0, pairs_per_language=2, validation_per_language=0, languages=["fi"]
    )
    assert list(chosen) == ["fi"] and len(chosen["fi"]) == 2
    assert all(p in _bitext()["fi"] for p in chosen["fi"])
    everything = chosen_pairs(_bitext(), 0, 0, 0, ["fi", "sv"])
    assert {lang: len(p) for lang, p in everything.items()} == {"fi": 3, "sv": 1}


def test_synthetic_bitext_replaces_the_source_with_the_translation() -> None:
    chosen = {"fi": _bitext()["fi"]}
    synthetic = synthetic_bitext(chosen, FakeTranslator(), progress=False)
    pairs = synthetic["fi"]
    assert [(p.source, p.english) for p in pairs] == [
        ("kato dormas", "the cat sleeps"),
        ("hundo manĝas", "the dog eats"),
        ("domo granda", "the house is big"),
    ]
    assert all(p.origin == "bt-synthetic" and p.id.startswith("bt:") for p in pairs)


def test_degenerate_and_evaluation_text_outputs_are_not_training_pairs() -> None:
    """A weak model's output without a letter or digit (a lone ``።``) is no pair, and a
    pair whose MT output is evaluation text is dropped before the leak guard sees it."""
    from optical.experiment.backtranslation import usable_text, without_evaluation_text

    assert not usable_text("።") and not usable_text(" ?? ") and usable_text("ድመት ።")
    chosen = {"fi": [BitextPair("x", "unknown words", "fi", "fi-9", "test")]}
    assert synthetic_bitext(chosen, FakeTranslator(), progress=False) == {"fi": []}

    class Index:  # the EvaluationIndex interface the filter uses
        def sets(self, text: str) -> tuple[str, ...]:
            return ("NTREX sentence",) if text == "hundo manĝas" else ()

    synthetic = synthetic_bitext({"fi": _bitext()["fi"]}, FakeTranslator(), progress=False)
    kept, dropped = without_evaluation_text(synthetic, Index())
    assert dropped == 1 and [p.source for p in kept["fi"]] == ["kato dormas", "domo granda"]


def test_roundtrip_adds_paraphrases_that_differ() -> None:
    bitext = _bitext()
    out = roundtrip_bitext(bitext, {"fi": bitext["fi"]}, FakeTranslator(), progress=False)
    assert out["sv"] == bitext["sv"]
    added = [p for p in out["fi"] if p.origin == "bt-roundtrip"]
    # the cat / the dog come back unchanged (not added); the house comes back paraphrased
    assert [(p.source, p.english) for p in added] == [("domo estas granda", "the big house")]
    assert out["fi"][:3] == bitext["fi"]


# --- trained back-translation systems -----------------------------------------------------


def test_bt_students_are_keyed_by_their_mt_data(tmp_path: Path) -> None:
    cfg = load_config(QUICK)
    assert METHODS["bt-synthetic-ot"].data == "synthetic"
    assert (
        METHODS["bt-roundtrip-mse"].data == "roundtrip" and METHODS["optical-ot"].data == "bitext"
    )
    bt, ot = SystemSpec.parse("bt-synthetic-ot"), SystemSpec.parse("optical-ot")
    assert data_identity(ot, cfg, tmp_path) is None
    identity = data_identity(bt, cfg, tmp_path)
    assert identity["mode"] == "synthetic" and identity["nmt"].startswith("nmt-quick-")
    a = student_folder(bt, cfg, tmp_path)
    b = student_folder(bt, replace(cfg, translate=replace(cfg.translate, beams=4)), tmp_path)
    c = student_folder(ot, cfg, tmp_path)
    assert len({a, b, c}) == 3
    assert identity["unk"] == "suppressed"  # pairs decoded without <unk>


def test_bt_students_decoded_with_unk_allowed_keep_their_old_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pairs decoded with ``<unk>`` allowed (as before ``[decode] allow_unk`` existed) are
    other training data: another student, keyed as such students were."""
    import optical.experiment.artifacts as artifacts

    cfg = load_config(QUICK)
    bt = SystemSpec.parse("bt-synthetic-ot")
    suppressed = student_folder(bt, cfg, tmp_path)
    real = artifacts.nmt_config_for

    def allowing(*args: object, **kwargs: object):
        config = real(*args, **kwargs)
        return replace(config, decode=replace(config.decode, allow_unk=True))

    monkeypatch.setattr(artifacts, "nmt_config_for", allowing)
    assert "unk" not in data_identity(bt, cfg, tmp_path)
    assert student_folder(bt, cfg, tmp_path) != suppressed


# --- MT quality ---------------------------------------------------------------------------


def test_corpus_scores_and_tokenizers() -> None:
    perfect = corpus_scores(["the cat sleeps here"], ["the cat sleeps here"], "en")
    assert perfect["BLEU"] == pytest.approx(100.0) and perfect["chrF"] == pytest.approx(100.0)
    poor = corpus_scores(["a dog"], ["the cat sleeps here"], "en")
    assert poor["BLEU"] < 10 and poor["chrF"] < 30
    assert (bleu_tokenizer("zh"), bleu_tokenizer("ja"), bleu_tokenizer("fi")) == (
        "zh",
        "char",
        "13a",
    )


def test_ntrex_mt_rows_per_direction_and_macro(tmp_path: Path) -> None:
    queries = {
        "fi": (
            Query("n1", "kato dormas", "fi", english="the cat sleeps"),
            Query("n2", "hundo manĝas", "fi", english="the dog eats"),
        ),
        "sv": (Query("n1", "katten sover", "sv", english="the cat sleeps"),),
    }
    scores = ntrex_mt_scores(
        queries, ["fake"], lambda b, t, s, g: [x.text for x in FakeTranslator().translate(t, s, g)]
    )
    langs = {(s.lang, s.measure) for s in scores}
    assert ("fi-en", "BLEU") in langs and ("en-fi", "chrF") in langs and ("sv-en", "BLEU") in langs
    assert ("en-sv", "BLEU") not in langs  # the fake has no Swedish target: skipped
    fi_en = next(s for s in scores if s.lang == "fi-en" and s.measure == "chrF")
    assert fi_en.value == pytest.approx(100.0) and fi_en.n == 2

    wb = Workbench(tmp_path, bf16=False)
    wb.translators["nmt"] = FakeTranslator()
    wb.translators["oracle"] = FakeTranslator()
    rows = mt_quality_rows(wb, queries)
    assert {r.system for r in rows} == {"nmt"}  # the oracle is not an MT system to score
    macro = {r.lang: r for r in rows if r.lang.startswith("macro") and r.measure == "chrF"}
    assert set(macro) == {"macro-xx-en", "macro-en-xx"}
    assert macro["macro-xx-en"].n == 2 and macro["macro-en-xx"].n == 1
    assert {r.benchmark for r in rows} == {"ntrex-mt"}
    questions = mt_quality_rows(wb, queries, tmp_path / "out", "questions-mt")
    assert {r.benchmark for r in questions} == {"questions-mt"}
    assert (tmp_path / "out" / "cells" / "questions-mt.json").is_file()


def test_backends_of_budget_variants() -> None:
    def backend_of(name: str) -> str | None:
        return SystemSpec.parse(name).translator

    assert backend_of("tt-nmt-dense") == "nmt"
    assert backend_of("tt-nmt-bm25-data10") == "nmt-data10"
    assert backend_of("bt-synthetic-ot-data30") == "nmt-data30"
    assert backend_of("bt-roundtrip-ot") == "nmt"
    assert backend_of("optical-ot") is None and backend_of("zero-shot") is None
    specs = [
        SystemSpec.parse(s) for s in ("tt-apertium-dense", "bt-synthetic-mse", "optical-ot-data10")
    ]
    assert translators_needed(specs) == ["apertium", "nmt"]
    cfg = load_config(QUICK)
    systems = resolve_systems(replace(cfg, systems=("oracle", "zero-shot", "tt-nmt-bm25-data30")))
    assert "tt-nmt-bm25-data30" in systems


def test_setup_translators_skips_a_missing_apertium(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from optical.experiment.artifacts import setup_translators
    from optical.translate import base

    def unavailable(name: str, **options):
        if name == "apertium":
            raise BackendUnavailableError("apertium is not installed")
        return FakeTranslator()

    monkeypatch.setattr(base, "build_translator", unavailable)
    cfg = ExperimentConfig(systems=("oracle", "zero-shot", "tt-apertium-dense", "tt-oracle-dense"))
    wb = Workbench(tmp_path, bf16=False)
    setup_translators(wb, cfg, tmp_path, tmp_path, cfg.systems)
    assert set(wb.translators) == {"oracle"}
    assert "apertium unavailable, its systems are skipped" in caplog.text
    with pytest.raises(SystemNotApplicable):
        translated_queries(
            wb,
            replace(cfg, translate=TranslateSettings(apertium_languages=("fi",))),
            "apertium",
            (Query("q0", "kato dormas", "fi"),),
        )
