"""System names: every configured name parses once into a SystemSpec and round-trips."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from optical.errors import ConfigError
from optical.experiment.config import load_config
from optical.experiment.names import METHODS, SystemSpec, parse_systems, translator_budget

ROOT = Path(__file__).resolve().parents[1]


def _configured_names() -> set[str]:
    names = set()
    for path in [*(ROOT / "configs").glob("*.toml"), *(ROOT / "reproduction").glob("*.toml")]:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        names |= set(raw.get("experiment", {}).get("systems", []))
        for condition in raw.get("condition", []):
            names |= {
                e["system"] for e in condition.get("expect", []) if "mt" not in e["benchmark"]
            }
    return names


def test_every_configured_system_name_parses_and_round_trips() -> None:
    names = _configured_names()
    assert {"optical-ot-maxsim", "tt-nmt-dense-data10", "bt-synthetic-ot-data30"} <= names
    for name in names:
        spec = SystemSpec.parse(name)
        assert str(spec) == name == spec.name
        assert SystemSpec.parse(spec.name) == spec


def test_every_experiment_config_loads_its_systems_as_specs() -> None:
    for path in [*(ROOT / "configs").glob("*.toml"), *(ROOT / "reproduction").glob("*.toml")]:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        if "experiment" in raw:
            cfg = load_config(path)
            assert all(isinstance(s, SystemSpec) for s in cfg.systems)
            assert cfg.system_names == raw["experiment"]["systems"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oracle", dict(kind="oracle", is_oracle=True, reads_english=True, translator=None)),
        (
            "oracle@all-MiniLM-L6-v2",
            dict(kind="oracle", is_oracle=False, encoder="all-MiniLM-L6-v2"),
        ),
        ("zero-shot-maxsim", dict(kind="zero-shot", maxsim=True, is_trained=False)),
        ("bm25-human-translation", dict(kind="bm25-human", reads_english=True)),
        (
            "optical-ot-maxsim",
            dict(kind="student", method="optical-ot", maxsim=True, student_id="optical-ot"),
        ),
        (
            "distill-mse-data10",
            dict(student_id="distill-mse-data10", fraction=0.1, family="distill-mse"),
        ),
        (
            "bt-synthetic-ot-data30",
            dict(translator="nmt-data30", is_back_translation=True, is_curve_point=True),
        ),
        ("bt-roundtrip-ot", dict(translator="nmt", is_back_translation=True, is_nmt_based=True)),
        ("tt-hf-dense", dict(is_back_translation=False, is_nmt_based=True)),
        ("tt-psq-bm25", dict(is_nmt_based=False)),
        ("optical-ot", dict(is_nmt_based=False)),
        (
            "tt-nmt-bm25-data10",
            dict(kind="translate-test", retriever="bm25", translator="nmt-data10"),
        ),
        ("tt-oracle-dense", dict(translator="oracle", reads_english=True, is_trained=False)),
        ("tt-apertium-dense", dict(translator="apertium", reads_english=False, is_nmt_based=False)),
    ],
)
def test_a_spec_declares_what_its_system_needs(name: str, expected: dict) -> None:
    spec = SystemSpec.parse(name)
    for attribute, value in expected.items():
        assert getattr(spec, attribute) == value, attribute


def test_trained_methods_declare_loss_and_data() -> None:
    assert METHODS["optical-ot"].loss == "ot" and METHODS["optical-ot"].data == "bitext"
    assert SystemSpec.parse("bt-synthetic-mse").method_spec.data == "synthetic"
    assert SystemSpec.parse("bt-roundtrip-ot").method_spec.data == "roundtrip"
    assert SystemSpec.parse("zero-shot").method_spec is None


@pytest.mark.parametrize(
    "name",
    [
        "optical-sinkhorn",
        "tt-google-dense",
        "tt-nmt-sparse",
        "tt-oracle-dense-data10",  # human translations have no data budget
        "zero-shot-data10",
        "optical-ot-data0",
        "optical-ot-data101",
        "optical-ot-maxsim-maxsim",
        "oracle@",
        "",
    ],
)
def test_an_unknown_name_lists_the_grammar(name: str) -> None:
    with pytest.raises(ConfigError, match="system") as err:
        SystemSpec.parse(name)
    if name and "data" not in name:
        assert "tt-<backend>-<dense|bm25>" in str(err.value) and "optical-ot" in str(err.value)


def test_a_config_lists_a_system_once() -> None:
    with pytest.raises(ConfigError, match="listed twice: zero-shot"):
        parse_systems(["zero-shot", "oracle", "zero-shot"], "x.toml")
    with pytest.raises(ConfigError, match=r"x\.toml: unknown system 'nope'"):
        parse_systems(["nope"], "x.toml")


def test_translator_budget_of_mt_rows() -> None:
    assert translator_budget("nmt-data10") == pytest.approx(0.1)
    assert translator_budget("nmt") is None and translator_budget("apertium") is None
