"""Experiment configuration: TOML in, typed frozen dataclasses out, every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from optical.errors import ConfigError
from optical.experiment.config import BASE_SYSTEMS, ExperimentConfig, load_config
from optical.experiment.names import SystemSpec

QUICK = Path(__file__).resolve().parents[1] / "configs" / "quick.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_quick_config_loads() -> None:
    cfg = load_config(QUICK)
    assert cfg.name == "quick"
    assert cfg.benchmarks == ("xquad", "xor-tydi-heldout", "ntrex", "afriqa")
    assert cfg.afriqa.languages == ("bem", "ha", "ig", "rw", "tw", "yo", "zu")
    assert (cfg.afriqa.max_questions_per_language, cfg.afriqa.afriqa_passages) == (50, 700)
    assert cfg.afriqa.wikipedia_vital_passages == 0
    assert all(isinstance(s, SystemSpec) for s in cfg.systems)
    assert set(BASE_SYSTEMS) <= set(cfg.system_names)
    assert {"optical-ot", "distill-mse"} <= set(cfg.system_names)
    assert cfg.distill.config == "configs/distill-quick.toml"
    assert len(cfg.ntrex.languages) == 15 and cfg.ntrex.max_sentences == 60
    assert {"tt-nmt-dense", "tt-apertium-dense", "bt-synthetic-ot", "bt-roundtrip-ot"} <= set(
        cfg.system_names
    )
    assert (
        cfg.translate.nmt == "configs/nmt-quick.toml"
        and cfg.xquad.max_questions_per_language == 120
    )
    assert cfg.models.oracle_candidates == ("multilingual-e5-small", "all-MiniLM-L6-v2")
    assert cfg.models.bf16 is True
    assert cfg.retrieval.depth == 100 and cfg.retrieval.maxsim_depth == 20
    assert cfg.xquad.languages == ("ar", "de", "es", "hi", "ru", "zh")
    assert cfg.xor_tydi_heldout.languages == ("ar", "bn", "fi", "ja", "ko", "ru", "te")
    assert cfg.xor_tydi_heldout.max_questions_per_language == 100
    assert cfg.xor_tydi_heldout.wikipedia_vital_passages == 1000
    assert cfg.to_dict()["xquad"]["languages"] == ("ar", "de", "es", "hi", "ru", "zh")


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == ExperimentConfig()


def test_lists_become_tuples(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            '[experiment]\nsystems = ["oracle", "zero-shot"]\nbenchmarks = ["xquad"]\n'
            '[xquad]\nlanguages = ["de"]\n[models]\noracle_candidates = []\n',
        )
    )
    assert cfg.systems == (SystemSpec.parse("oracle"), SystemSpec.parse("zero-shot"))
    assert cfg.system_names == ["oracle", "zero-shot"]
    assert cfg.benchmarks == ("xquad",)
    assert cfg.xquad.languages == ("de",)
    assert cfg.models.oracle_candidates == ()
    hash(cfg)  # frozen all the way down: usable as a key


def test_sections_keep_other_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "[retrieval]\ndepth = 10\n[models]\nbf16 = false\n"))
    assert cfg.retrieval.depth == 10 and cfg.retrieval.maxsim_depth == 20
    assert cfg.models.bf16 is False and cfg.models.student == "multilingual-e5-small"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[experiment]\nnmae = 'x'\n", "nmae"),
        ("[retrieval]\ndepht = 3\n", "depht"),
        ("[xquad]\nlanguage = ['de']\n", "language"),
        ("[modles]\nstudent = 'x'\n", "modles"),
        ("[xor_tydi_heldout]\nlanguages = ['ar']\n", "xor_tydi_heldout"),
        ("stray = 1\n", "stray"),
    ],
)
def test_unknown_section_or_key_is_named(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[experiment]\nseed = 'zero'\n", r"\[experiment\]\.seed: expected an integer"),
        ("[experiment]\nseed = 1.5\n", r"seed: expected an integer"),
        ("[experiment]\nseed = [1]\n", r"seed: expected an integer"),
        ("[experiment]\nname = ['a']\n", r"name: expected a string"),
        ("[experiment]\nsystems = 'oracle'\n", r"systems: expected a list of strings"),
        ("[models]\nbf16 = 1\n", r"bf16: expected true or false"),
        ("[models]\nstudent = 5\n", r"student: expected a string"),
        ("[retrieval]\ndepth = true\n", r"depth: expected an integer"),
        ("[retrieval]\ndepth = '100'\n", r"depth: expected an integer"),
        ("[xquad]\nlanguages = 'de'\n", r"languages: expected a list"),
        ("[xquad]\nlanguages = [1, 2]\n", r"languages: expected a list of strings"),
        ("[experiment]\nmodels = 'x'\n", r"models: is a section: write it as \[models\]"),
        ("[experiment]\nxor_tydi_heldout = {}\n", r"write it as \[xor-tydi-heldout\]"),
        ("models = 'x'\n", r"\[models\]: expected a table"),
        ("experiment = 3\n", r"\[experiment\]: expected a table"),
    ],
)
def test_wrong_type_is_a_config_error(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(write(tmp_path, text))


def test_unknown_benchmark_and_test(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown benchmark\(s\) mkqa"):
        load_config(write(tmp_path, "[experiment]\nbenchmarks = ['xquad', 'mkqa']\n"))
    with pytest.raises(ConfigError, match="significance_test 'wilcoxon'"):
        load_config(write(tmp_path, "[experiment]\nsignificance_test = 'wilcoxon'\n"))
    cfg = load_config(write(tmp_path, "[experiment]\nsignificance_test = 't-test'\n"))
    assert cfg.significance_test == "t-test"


def test_unknown_benchmark_lists_the_valid_ones(tmp_path: Path) -> None:
    from optical.experiment.benchmarks import BENCHMARKS, benchmark

    known = ", ".join(BENCHMARKS)
    assert known == "xquad, xor-tydi-heldout, xor-tydi-dev, ntrex, afriqa"
    with pytest.raises(ConfigError, match=rf"unknown benchmark\(s\) mkqa; known: {known}$"):
        load_config(write(tmp_path, "[experiment]\nbenchmarks = ['mkqa']\n"))
    with pytest.raises(ConfigError, match=rf"unknown benchmark 'mkqa'; known: {known}$"):
        benchmark("mkqa")
    assert benchmark("ntrex") is BENCHMARKS["ntrex"]


def test_config_key_ignores_run_only_keys_and_includes_precision() -> None:
    from optical.configfile import config_key

    config = {"name": "a", "optim": {"lr": 1e-4, "steps": 5}, "run": {"log_every": 10, "seed": 0}}
    ignore = ("name", "run.log_every")
    key = config_key(config, ignore, {})
    assert len(key) == 12 and set(key) <= set("0123456789abcdef")
    assert config_key({**config, "name": "b"}, ignore, {}) == key
    quieter = {**config, "run": {**config["run"], "log_every": 99}}
    assert config_key(quieter, ignore, {}) == key
    faster = {**config, "optim": {**config["optim"], "lr": 2e-4}}
    assert config_key(faster, ignore, {}) != key
    reseeded = {**config, "run": {**config["run"], "seed": 1}}
    assert config_key(reseeded, ignore, {}) != key  # a sibling of an ignored key still counts
    assert config_key(config, ignore, {"precision": "bf16"}) != key
    assert config_key(config, ignore, {}, extra={"training_data": {"pairs": 3}}) != key
    assert config == {  # the input is left alone
        "name": "a",
        "optim": {"lr": 1e-4, "steps": 5},
        "run": {"log_every": 10, "seed": 0},
    }


def test_artifact_key_ignores_resume_free_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from optical.train.config import RESUME_FREE_KEYS, DistillConfig, artifact_key

    monkeypatch.setenv("OPTICAL_BF16", "off")  # the precision used is part of the key
    base = DistillConfig()
    key = artifact_key(base)
    run = base.run
    for dotted in sorted(RESUME_FREE_KEYS):
        if dotted == "name":
            changed = base.with_overrides(name="another-name")
        else:
            field = dotted.removeprefix("run.")
            value = getattr(run, field)
            if isinstance(value, bool):
                new = not value
            elif isinstance(value, str):  # run.device: cpu is a device on every machine
                new = "cpu" if value != "cpu" else "auto"
            else:
                new = value + 1
            changed = base.with_overrides(run={field: new})
        assert changed != base, dotted
        assert artifact_key(changed) == key, dotted
    assert artifact_key(base.with_overrides(optim={"lr": base.optim.lr * 2})) != key
    assert artifact_key(base.with_overrides(run={"seed": run.seed + 1})) != key
    assert artifact_key(base, {"training_data": {"pairs": 3}}) != key
    monkeypatch.setenv("OPTICAL_BF16", "on")
    assert artifact_key(base) != key


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[experiment\nname = 1\n"))


def test_every_shipped_experiment_config_loads_and_resolves() -> None:
    from optical.experiment.artifacts import distill_config_for
    from optical.experiment.systems import resolve_systems

    for path in sorted(QUICK.parent.glob("*.toml")):
        if path.name.startswith(("distill-", "nmt-", "ablation")):
            continue  # distillation, NMT and ablation configs have their own loaders
        cfg = load_config(path)
        systems = resolve_systems(cfg)
        assert cfg.significance_baseline in systems, path
        for spec in cfg.systems:
            if spec.is_trained:
                dcfg = distill_config_for(spec, cfg)
                assert dcfg.model.student == cfg.models.student


def test_a_config_extends_another(tmp_path: Path) -> None:
    """``extends``: tables merge key by key, arrays and other values replace, chains work,
    and a missing base, a non-string or a circle is a ConfigError naming the file."""
    from optical.configfile import read_toml

    (tmp_path / "base.toml").write_text(
        'name = "base"\n[model]\nlayers = 3\nhidden = 384\n[data]\nsources = ["a", "b"]\n'
        "[loss.options]\neps = 0.02\nmax_iter = 500\n"
    )
    (tmp_path / "mid.toml").write_text(
        'extends = "base.toml"\n[model]\nlayers = 2\n[data]\nsources = ["c"]\n'
    )
    (tmp_path / "top.toml").write_text(
        f'extends = "{tmp_path / "mid.toml"}"\nname = "top"\n[loss.options]\neps = 0.05\n'
    )
    assert read_toml(tmp_path / "top.toml") == {
        "name": "top",
        "model": {"layers": 2, "hidden": 384},
        "data": {"sources": ["c"]},
        "loss": {"options": {"eps": 0.05, "max_iter": 500}},
    }
    for text, problem in [
        ('extends = "nowhere.toml"\n', "no such file"),
        ("extends = 3\n", "must name a TOML file"),
        ('extends = "loop.toml"\n', "circle"),
    ]:
        (tmp_path / "loop.toml").write_text(text)
        with pytest.raises(ConfigError, match=rf"loop\.toml.*{problem}"):
            read_toml(tmp_path / "loop.toml")


def test_a_distill_variant_that_extends_the_study_budget(tmp_path: Path) -> None:
    """A distillation config of a few lines over ``configs/distill-study.toml`` equals the
    study config with those overrides (so its artifact key is theirs)."""
    from optical.train.config import artifact_key, load_distill_config

    variant = tmp_path / "lora.toml"
    variant.write_text(
        'extends = "configs/distill-study.toml"\nname = "lora"\n'
        '[model]\nadapter = "lora"\n[optim]\nlr = 5e-4\n'
    )
    study = load_distill_config("configs/distill-study.toml")
    expected = study.with_overrides(name="lora", model={"adapter": "lora"}, optim={"lr": 5e-4})
    assert load_distill_config(variant) == expected
    assert artifact_key(load_distill_config(variant)) == artifact_key(expected)
    assert artifact_key(expected) != artifact_key(study)
