"""Staying close to the starting encoder (issue 18): LoRA, L2-SP, the self anchor, early
stopping, and artifact keys that do not move at the defaults. Tiny random models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from optical.models.encoder import tokenize_with_prefix
from optical.models.student import STUDENT_FILE, load_any_encoder, saved_step
from optical.train.config import artifact_key, load_distill_config
from optical.train.distill import DistillTask, build_distiller, train_distill
from optical.train.runtime import DistInfo
from optical.train.sampling import GeneralSentence, general_count
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["le kato", "un granda hundo kuras", "the red house"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny-forget")
    student = build_tiny_encoder(root / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(root / "teacher", hidden=24, layers=2, seed=1)
    return student, teacher


def test_default_options_keep_the_artifact_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys of the shipped configs with these options at their defaults (equal to those
    of the code before the options existed, for the same config: a student trained
    before reuses its folder; the distill-quick keys are those of its ``freeze_layers =
    6`` budget at 100 steps, nmt-quick's those without length buckets, the budgets the keys
    were pinned at). The keys pinned are the fp32 ones: a CPU
    with native bf16 adds the precision to every key (``precision_key``), so the test
    fixes the precision rather than depend on the machine."""
    monkeypatch.setenv("OPTICAL_BF16", "off")
    quick = load_distill_config(ROOT / "configs/distill-quick.toml").with_overrides(
        optim={"max_steps": 100, "warmup_steps": 10}
    )
    assert artifact_key(quick) == "93dccb8eda26"
    assert artifact_key(quick, {"pool": "abc"}) == "f8b1479e362d"
    study = load_distill_config(ROOT / "configs/distill-study.toml").with_overrides(
        optim={"max_steps": 150, "warmup_steps": 15}, data={"validation_pairs_per_language": 24}
    )  # the first study's budget
    assert artifact_key(study) == "b59c3491a652"
    from optical.nmt.config import load_nmt_config

    nmt = load_nmt_config(ROOT / "configs/nmt-quick.toml")
    # the quick NMT before its length buckets and adaptive softmax: the key it had then
    before = nmt.with_overrides(
        data={"length_buckets": 0}, model={"adaptive_cutoffs": [], "label_smoothing": 0.1}
    )
    assert artifact_key(before) == "abd2834bace3"
    changed = {
        artifact_key(quick.with_overrides(model={"adapter": "lora"})),
        artifact_key(quick.with_overrides(loss={"l2sp_weight": 0.1})),
        artifact_key(quick.with_overrides(loss={"self_anchor_weight": 0.1})),
        artifact_key(quick.with_overrides(data={"general_ratio": 0.25})),
        artifact_key(quick.with_overrides(run={"early_stopping_patience": 2})),
    }
    assert len(changed) == 5 and artifact_key(quick) not in changed


def _encode(encoder, texts=TEXTS) -> torch.Tensor:
    return torch.as_tensor(encoder.encode(texts, kind="query").pooled)


def test_lora_trains_only_adapters_and_saves_identically(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    config = tiny_config(*models, model={"adapter": "lora", "lora_rank": 2, "freeze_layers": 0})
    seen: dict[str, torch.Tensor] = {}

    def check(info) -> None:
        for name, param in info.student.model.named_parameters():
            assert (param.grad is None) or ("lora_" in name)
            if "lora_" not in name:
                start = seen.setdefault(name, param.detach().clone())
                assert torch.equal(start, param.detach()), name

    task = DistillTask(config, bitext=tiny_bitext())
    from optical.train.loop import fit

    folder = fit(task, tmp_path / "run", callbacks=[check])
    trainable = [n for n, p in task.model.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    base = load_any_encoder(models[0])
    saved = load_any_encoder(folder)
    from optical.models.student import StudentEncoder

    live = StudentEncoder(
        saved.spec, task.model.model, saved.tokenizer, task.model.projection, bf16=False
    )
    live.module.eval()
    assert torch.allclose(_encode(saved), _encode(live), atol=1e-6)
    lora_b = [p for n, p in task.model.model.named_parameters() if "lora_B" in n]
    assert any(float(p.detach().abs().max()) > 0 for p in lora_b)  # it did train (B starts at 0)
    # the merged delta changes only the targeted weights; the base's others stay
    merged = saved.model.state_dict()
    for name, tensor in base.model.state_dict().items():
        if "embeddings" in name or "LayerNorm" in name or name.endswith(".bias"):
            assert torch.equal(merged[name], tensor), name


def test_lora_export_matches(models: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from optical.models.export import export_sentence_transformers

    config = tiny_config(*models, model={"adapter": "lora", "lora_rank": 2})
    folder = train_distill(config, tmp_path / "run", bitext=tiny_bitext())
    export_sentence_transformers(folder, tmp_path / "st")  # checks its own encodings


def _final_weights(config, out: Path) -> dict[str, torch.Tensor]:
    folder = train_distill(config, out, bitext=tiny_bitext())
    return dict(load_any_encoder(folder).model.state_dict())


def test_l2sp_weight_zero_is_plain_training_and_large_weight_stays_close(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    plain = _final_weights(tiny_config(*models), tmp_path / "plain")
    zero = _final_weights(tiny_config(*models, loss={"l2sp_weight": 0.0}), tmp_path / "zero")
    assert all(torch.equal(plain[k], zero[k]) for k in plain)
    start = dict(load_any_encoder(models[0]).model.state_dict())
    # lr 3e-3 and 4 steps move an unpenalised weight by up to ~1e-2; the penalty's
    # gradient 2·w·(θ − θ⁰) pulls it back at once when w is large
    strong = tiny_config(*models, loss={"l2sp_weight": 1e4}, optim={"max_grad_norm": 0.0})
    held = _final_weights(strong, tmp_path / "strong")
    drift_plain = max(float((plain[k] - start[k]).abs().max()) for k in start)
    drift_held = max(float((held[k] - start[k]).abs().max()) for k in start)
    assert drift_held < 0.5 * drift_plain


def test_general_share_is_exact_and_deterministic(models: tuple[Path, Path]) -> None:
    config = tiny_config(*models, data={"general_ratio": 0.25}, loss={"self_anchor_weight": 1.0})
    general = {"en": tiny_bitext(20, seed=5)["xx"]}

    def batches() -> list[list]:
        task = DistillTask(config, bitext=tiny_bitext(), general=general)
        task.setup(DistInfo(rank=0, world_size=1, initialised_here=False))
        return [task.sampler.next_batch(8) for _ in range(5)]

    first, second = batches(), batches()
    assert first == second
    for batch in first:
        assert sum(isinstance(x, GeneralSentence) for x in batch) == general_count(0.25, 8) == 2
    assert general_count(0.3, 10) == 3 and general_count(0.25, 10) == 3


def test_self_anchor_is_zero_at_the_start(models: tuple[Path, Path]) -> None:
    config = tiny_config(
        *models,
        model={"dropout": False},
        data={"general_ratio": 0.25},
        loss={"self_anchor_weight": 1.0},
    )
    distiller = build_distiller(config)
    pairs = [*tiny_bitext()["xx"][:3], GeneralSentence("the big dog"), GeneralSentence("a cat")]
    _loss, diagnostics, _ = distiller.loss_on(pairs)
    assert diagnostics["self_anchor"] == pytest.approx(0.0, abs=1e-12)
    batch = tokenize_with_prefix(distiller.student_encoder, ["a tree"], "query", 16)
    assert distiller.reference_pooled(batch, 0).shape == (1, 16)


def test_a_self_anchored_student_validates_before_and_after_training(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    """Validation batches hold no general sentence: the anchor term is 0 there (the
    reference encoder is not run on zero rows), at step 0 and at the end."""
    config = tiny_config(
        *models,
        data={"general_ratio": 0.25},
        loss={"self_anchor_weight": 1.0},
        optim={"max_steps": 4},
        run={"eval_at_start": True, "eval_every": 4},
    )
    distiller = build_distiller(config)
    _loss, diagnostics, _ = distiller.loss_on(tiny_bitext()["xx"][:3])
    assert diagnostics["self_anchor"] == 0.0
    general = {"en": tiny_bitext(20, seed=5)["xx"]}
    train_distill(config, tmp_path / "run", bitext=tiny_bitext(), general=general)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    validated = [r for r in map(json.loads, lines) if "validation" in r]
    assert validated[0]["step"] == 0 and len(validated) >= 2
    assert all(r["validation"]["self_anchor"] == 0.0 for r in validated)


def test_early_stopping_keeps_the_best(models: tuple[Path, Path], tmp_path: Path) -> None:
    from optical.train.loop import Task

    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1])
    config = tiny_config(
        *models,
        optim={"max_steps": 8},
        run={"eval_every": 1, "early_stopping_patience": 2, "checkpoint_every": 0},
    )

    class Scripted(DistillTask):
        def validation_score(self, result):
            return next(scores)

    steps: list[int] = []
    state: dict = {}

    def record(info) -> None:
        steps.append(info.step)
        if info.step == 2:
            state.update({k: v.clone() for k, v in info.student.model.state_dict().items()})

    task = Scripted(config, bitext=tiny_bitext())
    from optical.train.loop import fit

    folder = fit(task, tmp_path / "run", callbacks=[record])
    assert steps == [1, 2, 3, 4]  # best at 2, two worse validations, stop
    saved = load_any_encoder(folder).model.state_dict()
    assert all(torch.equal(saved[k], state[k]) for k in state)
    assert saved_step(folder) == 2 and saved_step(tmp_path) is None
    assert isinstance(Task.validation_score(task, {"loss": 2.0}), float)
    # resuming the early-stopped run trains nothing and keeps the saved student, from its
    # stopped checkpoint or, once the checkpoints are dropped, from its config.json
    before = (folder / STUDENT_FILE).stat().st_mtime_ns
    assert fit(Scripted(config, bitext=tiny_bitext()), tmp_path / "run", resume=True,
               callbacks=[pytest.fail]) == folder  # fmt: skip
    dropped = config.with_overrides(run={"keep_checkpoints_when_done": False})
    fit(Scripted(dropped, bitext=tiny_bitext()), tmp_path / "run", resume=True)
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert fit(Scripted(dropped, bitext=tiny_bitext()), tmp_path / "run", resume=True,
               callbacks=[pytest.fail]) == folder  # fmt: skip
    assert (folder / STUDENT_FILE).stat().st_mtime_ns == before
