"""The in-project NMT model: vocabulary, config, decoder, trainer (resume) and backend."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from optical.errors import ConfigError, OpticalError
from optical.nmt.config import NmtConfig, NmtModelConfig
from optical.nmt.model import NmtModel, pad_states, pad_targets, sequence_loss
from optical.nmt.package import load_nmt, read_info
from optical.nmt.train import examples_from_bitext, train_nmt
from optical.nmt.vocab import EOS, PAD, UNK, CompactVocab, build_vocab
from optical.translate.base import build_translator
from optical.translate.cache import CachedTranslator
from optical.types import BitextPair
from tiny_models import build_tiny_encoder, tiny_bitext


def _bitext(n: int = 60) -> dict[str, list[BitextPair]]:
    """The tiny word-by-word bitext with real language codes (fi ← xx, sv ← yy)."""
    renamed = {"xx": "fi", "yy": "sv"}
    return {
        renamed[lang]: [
            BitextPair(p.source, p.english, renamed[lang], p.id, p.origin) for p in pairs
        ]
        for lang, pairs in tiny_bitext(n).items()
    }


def _config(encoder: Path, **sections: dict) -> NmtConfig:
    base = {
        "name": "tiny-nmt",
        "model": {
            "encoder": str(encoder),
            "layers": 1,
            "hidden": 16,
            "heads": 2,
            "ffn": 32,
            "vocab_size": 60,
            "max_source_length": 12,
            "max_target_length": 10,
            "dropout": 0.0,
            "label_smoothing": 0.0,
            "bf16": False,
        },
        "data": {"validation_pairs_per_language": 4},
        "optim": {"lr": 3e-3, "warmup_steps": 2, "max_steps": 6, "batch_size": 8},
        "run": {"checkpoint_every": 2, "eval_every": 0, "progress": False, "log_every": 1},
        "decode": {"max_new_tokens": 10, "validation_sentences": 4},
    }
    for key, values in sections.items():
        base[key] = {**base.get(key, {}), **values}
    return NmtConfig.from_dict(base)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("nmt-encoder"), hidden=16, layers=1)


@pytest.fixture(scope="module")
def trained(encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained long enough to learn the word-by-word translation."""
    out = tmp_path_factory.mktemp("nmt-trained")
    config = _config(
        encoder_dir,
        model={"hidden": 64, "ffn": 128},
        optim={"max_steps": 300, "lr": 1e-2, "warmup_steps": 10, "batch_size": 16},
        run={"checkpoint_every": 0, "eval_every": 300, "eval_at_start": True},
    )
    return train_nmt(config, out / "run", bitext=_bitext(), cache=out / "cache")


# --- vocabulary ---------------------------------------------------------------------------


def test_vocab_keeps_the_most_frequent_pieces_and_maps_back() -> None:
    vocab = build_vocab([[7, 7, 9], [9, 7, 11], [12]], ["sv", "en"], size=2)
    assert vocab.languages == ("en", "sv")
    assert vocab.base_ids == (7, 9)  # 7 ×3, 9 ×2; 11 and 12 left out
    assert vocab.tag("en") == 3 and vocab.tag("sv") == 4 and vocab.offset == 5
    assert vocab.encode([9, 11, 7]) == [6, UNK, 5]
    assert vocab.decode([4, 6, UNK, 5, EOS, 6]) == [9, 7]  # tag/unk dropped, stops at </s>
    assert vocab.coverage([[7, 9, 11, 12]]) == 0.5
    assert CompactVocab.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(ConfigError, match="cannot translate into 'fi'"):
        vocab.tag("fi")


def test_a_sampling_weighted_vocabulary_keeps_the_pieces_of_the_training_mix() -> None:
    """``sampling_weights``: a target weighs ``p_pool / n_pool``, so a small pool drawn
    often keeps its pieces against a large one; ``build_vocab`` counts with the weights."""
    from optical.nmt.vocab import sampling_weights

    pools = ["en-fi"] * 9 + ["en-sv"]  # nine Finnish targets, one Swedish
    targets = [[10, 11]] * 9 + [[20, 21]]
    weights = sampling_weights(pools, {"en-fi": 0.4, "en-sv": 0.6})
    assert weights == pytest.approx([0.4 / 9] * 9 + [0.6])
    by_frequency = build_vocab(targets, ["fi", "sv"], 2)
    by_sampling = build_vocab(targets, ["fi", "sv"], 2, weights)
    assert by_frequency.base_ids == (10, 11)
    assert by_sampling.base_ids == (20, 21)  # the Swedish target is drawn 60 % of the time
    with pytest.raises(OpticalError, match="no sampling probability"):
        sampling_weights(["en-xx"], {"en-fi": 1.0})
    with pytest.raises(OpticalError, match="2 weights for 1 targets"):
        build_vocab([[1]], ["fi"], 2, [1.0, 1.0])


def test_vocab_ties_break_by_piece_id() -> None:
    assert build_vocab([[5, 3, 4]], [], size=2).base_ids == (3, 4)


# --- config -------------------------------------------------------------------------------


def test_config_validation() -> None:
    assert NmtConfig().optim.lr == 5e-4
    with pytest.raises(ConfigError, match="unknown key"):
        NmtConfig.from_dict({"model": {"layer": 2}})
    with pytest.raises(ConfigError, match="directions"):
        NmtConfig.from_dict({"data": {"directions": ["xx-yy"]}})
    with pytest.raises(ConfigError, match="divisible"):
        NmtModelConfig(hidden=10, heads=3)
    assert NmtConfig().with_overrides(optim={"max_steps": 3}).optim.max_steps == 3
    assert NmtConfig().decode.length_penalty == 1.0
    with pytest.raises(ConfigError, match=r"decode\.length_penalty must be finite"):
        NmtConfig.from_dict({"decode": {"length_penalty": float("nan")}})


def test_validation_translations_are_spread_over_the_languages() -> None:
    from optical.nmt.train import spread

    pools = examples_from_bitext(_bitext(5), ["xx-en"])
    listed = [e for pool in pools.values() for e in pool]  # every fi pair, then every sv
    chosen = spread(listed, 4)
    assert [e.direction for e in chosen] == ["fi-en", "sv-en", "fi-en", "sv-en"]
    assert chosen[0] is pools["fi-en"][0] and chosen[2] is pools["fi-en"][1]
    assert len(spread(listed, 100)) == len(listed) and spread([], 3) == []


def test_examples_read_pairs_in_both_directions() -> None:
    pools = examples_from_bitext(_bitext(3), ["xx-en", "en-xx"])
    assert sorted(pools) == ["en-fi", "en-sv", "fi-en", "sv-en"]
    there, back = pools["fi-en"][0], pools["en-fi"][0]
    assert (there.source, there.target) == (back.target, back.source)
    assert there.direction == "fi-en" and back.target_lang == "fi"


# --- model --------------------------------------------------------------------------------


def _tiny_model(seed: int = 0) -> NmtModel:
    torch.manual_seed(seed)
    vocab = CompactVocab(("en", "fi"), tuple(range(100, 130)))
    config = NmtModelConfig(layers=1, hidden=16, heads=2, ffn=32, vocab_size=30, dropout=0.0)
    return NmtModel(config, vocab, encoder_dim=8).eval()


def test_padding_is_masked_out_of_the_loss() -> None:
    model = _tiny_model()
    states = [np.random.default_rng(0).normal(size=(5, 8)).astype(np.float16)]
    padded, mask = pad_states(states, 12)
    wide, wide_mask = pad_states([*states, np.zeros((9, 8), np.float16)], 12)
    short = pad_targets([[3, 10, 11, EOS]])
    long = torch.cat([short, torch.full((1, 4), PAD)], dim=1)
    a, n = sequence_loss(model, padded, mask, short)
    b, m = sequence_loss(model, wide[:1], wide_mask[:1], long)
    assert n == m == 3
    assert torch.allclose(a, b, atol=1e-5)


def test_packed_logits_give_the_loss_and_gradients_of_the_full_logits() -> None:
    """The output layer at the predicted positions only (``packed``) is the same loss and
    the same gradients as logits at every position with the pads ignored."""
    model = _tiny_model()
    rng = np.random.default_rng(1)
    states, mask = pad_states([rng.normal(size=(n, 8)).astype(np.float16) for n in (5, 2, 7)], 12)
    targets = pad_targets([[3, 10, 11, EOS], [4, 12, EOS], [3, 13, 14, 15, 16, EOS]])
    losses, grads = [], []
    for packed in (False, True):
        model.zero_grad()
        loss, count = sequence_loss(model, states, mask, targets, 0.1, packed=packed)
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
        assert count == 3 + 2 + 5
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads, strict=True))


def test_fused_and_per_tensor_adamw_take_the_same_step() -> None:
    from optical.nmt.train import nmt_optimizer

    config = NmtConfig.from_dict({"optim": {"lr": 1e-2, "weight_decay": 0.1}})
    models = [_tiny_model(), _tiny_model()]
    states, mask = pad_states([np.ones((4, 8), np.float16)], 12)
    targets = pad_targets([[3, 10, 11, EOS]])
    for model, fused in zip(models, (False, True), strict=True):
        optimizer = nmt_optimizer(model, config, fused=fused)
        assert bool(optimizer.defaults["fused"]) is fused
        for _ in range(3):
            sequence_loss(model, states, mask, targets)[0].backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)  # rounding (Adam divides by small moments)
    assert nmt_optimizer(models[0], config).defaults["fused"]  # the default on a CPU


def test_generate_matches_step_by_step_greedy_and_beam_search_runs() -> None:
    model = _tiny_model()
    for module in model.modules():  # make outputs depend on the source
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.5)
    states = torch.randn(3, 4, 8)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0, 2:] = False
    greedy = model.generate(states, mask, "fi", beams=1, max_new_tokens=6)
    ids = torch.full((3, 1), model.vocab.tag("fi"))
    with torch.no_grad():
        for _ in range(6):
            logits = model(states, mask, ids)[:, -1]
            logits[:, UNK] = float("-inf")  # never generated (decode.allow_unk = false)
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
    for row, seq in enumerate(greedy):
        expected = []
        for index in ids[row, 1:].tolist():
            if index in (EOS, PAD):
                break
            expected.append(index)
        assert seq == expected
    beams = model.generate(states, mask, "fi", beams=4, max_new_tokens=6)
    assert len(beams) == 3 and all(len(s) <= 6 for s in beams)
    seen: dict[str, object] = {}
    real = model.decoder.generate

    def spy(**kwargs: object) -> object:
        seen.update(kwargs)
        return real(**kwargs)

    model.decoder.generate = spy  # type: ignore[method-assign]
    model.generate(states, mask, "fi", beams=4, max_new_tokens=6, length_penalty=0.6)
    assert seen["length_penalty"] == 0.6 and seen["num_beams"] == 4
    with pytest.raises(ConfigError):
        model.generate(states, mask, "sv")


def test_unk_is_never_generated_unless_allowed() -> None:
    """A model that prefers ``<unk>`` (it decodes to nothing) above every piece: by
    default its translations hold none, with ``allow_unk`` nothing else."""
    model = _tiny_model()
    with torch.no_grad():
        model.decoder.cls.predictions.bias[UNK] = 100.0
    states, mask = torch.randn(2, 4, 8), torch.ones(2, 4, dtype=torch.bool)
    allowed = model.generate(states, mask, "fi", beams=1, max_new_tokens=5, allow_unk=True)
    assert allowed == [[UNK] * 5, [UNK] * 5]
    for beams in (1, 3):
        suppressed = model.generate(states, mask, "fi", beams=beams, max_new_tokens=5)
        assert all(seq and UNK not in seq for seq in suppressed)


def _adaptive_model(seed: int = 0) -> NmtModel:
    torch.manual_seed(seed)
    vocab = CompactVocab(("en", "fi"), tuple(range(100, 130)))
    config = NmtModelConfig(
        layers=1,
        hidden=16,
        heads=2,
        ffn=32,
        vocab_size=30,
        dropout=0.0,
        label_smoothing=0.0,
        adaptive_cutoffs=(4, 12),
    )
    return NmtModel(config, vocab, encoder_dim=8).eval()


def test_the_adaptive_softmax_is_a_distribution_and_its_loss_is_the_targets_nll() -> None:
    """With ``adaptive_cutoffs`` the decoder's logits are log-probabilities over the whole
    vocabulary (they sum to one), the training loss is the mean −log p of the targets read
    from them, gradients reach the head and the clusters, and greedy decoding runs."""
    from optical.nmt.model import AdaptiveOutput

    model = _adaptive_model()
    assert isinstance(model.adaptive, AdaptiveOutput) and _tiny_model().adaptive is None
    # cutoffs are piece ranks, shifted past the 3 specials and 2 tags
    assert model.adaptive.adaptive.cutoffs == [5 + 4, 5 + 12, model.vocab.size]
    states, mask = pad_states([np.ones((4, 8), np.float16), np.ones((2, 8), np.float16)], 12)
    targets = pad_targets([[3, 10, 20, 33, EOS], [4, 30, EOS]])
    with torch.no_grad():
        log_prob = model(states, mask, targets[:, :-1])
    assert log_prob.shape == (2, 4, model.vocab.size)
    assert torch.allclose(log_prob.exp().sum(-1), torch.ones(2, 4), atol=1e-5)
    labels = targets[:, 1:]
    expected = -log_prob.gather(-1, labels.unsqueeze(-1)).squeeze(-1)[labels != PAD].mean()
    loss, count = sequence_loss(model, states, mask, targets)
    assert count == 6 and torch.allclose(loss, expected, atol=1e-5)
    in_bf16, _ = sequence_loss(model, states, mask, targets, bf16=True)  # the body in bf16
    assert torch.allclose(in_bf16, expected, atol=0.05)
    loss.backward()
    tails = model.adaptive.adaptive.tail
    assert model.adaptive.adaptive.head.weight.grad is not None
    assert all(p.grad is not None for p in tails.parameters())  # targets 20, 30, 33 in tails
    assert model.decoder.get_input_embeddings().weight.data_ptr() not in {
        p.data_ptr() for p in model.adaptive.parameters()
    }  # untied
    assert len(model.generate(states, mask, "fi", beams=2, max_new_tokens=4)) == 2
    # every output row starts from its piece's word embedding, as a tied softmax's does
    base = torch.randn(200, 16)
    assert model.init_embeddings(base)
    pieces = base[torch.tensor(model.vocab.base_ids)]
    adaptive = model.adaptive.adaptive
    assert torch.equal(adaptive.head.weight[5 : 5 + 4], pieces[:4])
    for (project, output), (low, high) in zip(adaptive.tail, [(4, 12), (12, 30)], strict=True):
        assert torch.equal(project.weight, torch.eye(16))
        assert torch.equal(output.weight, pieces[low:high])


def test_adaptive_cutoffs_are_validated() -> None:
    with pytest.raises(ConfigError, match="label_smoothing must be 0"):
        NmtModelConfig(adaptive_cutoffs=(2000,))
    with pytest.raises(ConfigError, match="vocab_weighting must be one of"):
        NmtModelConfig(vocab_weighting="balanced")
    for bad in ((0,), (3000, 2000), (16000,)):
        with pytest.raises(ConfigError, match="rise strictly"):
            NmtModelConfig(label_smoothing=0.0, adaptive_cutoffs=bad)
    vocab = CompactVocab(("en",), tuple(range(100, 130)))  # 30 pieces
    config = NmtModelConfig(vocab_size=100, label_smoothing=0.0, adaptive_cutoffs=(40,))
    assert NmtModel(config, vocab, encoder_dim=8).adaptive is None  # no cluster: full softmax
    config = NmtModelConfig(vocab_size=100, label_smoothing=0.0, adaptive_cutoffs=(10, 40))
    model = NmtModel(config, vocab, encoder_dim=8)  # the empty cluster is left out
    assert model.adaptive is not None
    assert model.adaptive.adaptive.cutoffs == [4 + 10, vocab.size]


def test_an_adaptive_model_trains_saves_and_loads(encoder_dir: Path, tmp_path: Path) -> None:
    config = _config(
        encoder_dir,
        model={"adaptive_cutoffs": [8], "vocab_weighting": "sampling"},
        optim={"max_steps": 4},
    )
    folder = train_nmt(config, tmp_path / "run", bitext=_bitext(), cache=tmp_path / "c")
    model, info = load_nmt(folder)
    assert info["steps"] == 4 and model.adaptive is not None
    assert info["model"]["adaptive_cutoffs"] == [8]
    translator = build_translator("nmt", model=str(folder))
    assert len(translator.translate(["a b c"], "fi", "en")) == 1


# --- trainer ------------------------------------------------------------------------------


def test_training_learns_the_tiny_translation(trained: Path) -> None:
    _model, info = load_nmt(trained)
    assert info["steps"] == 300 and set(info["vocab"]["languages"]) == {"en", "fi", "sv"}
    lines = [
        line
        for line in (trained.parent / "metrics.jsonl").read_text().splitlines()
        if "validation" in line
    ]
    import json

    first, last = (json.loads(lines[0])["validation"], json.loads(lines[-1])["validation"])
    assert last["loss"] < 0.5 * first["loss"]
    # held-out sentences of the word-by-word language: translated almost perfectly
    assert last["chrF_xx-en"] > 70 and last["chrF_en-xx"] > 70


def test_translator_contract(trained: Path, tmp_path: Path) -> None:
    translator = build_translator("nmt", model=str(trained), cache=tmp_path)
    assert translator.languages == ("en", "fi", "sv")
    texts = ["le kato dormas", "le hundo vidas le domo", "un granda arbo"]
    batch = translator.translate(texts, "fi", "en")
    assert [t.source for t in batch] == texts
    assert all(t.source_lang == "fi" and t.target_lang == "en" for t in batch)
    one_by_one = [translator.translate([t], "fi", "en")[0].text for t in texts]
    assert [t.text for t in batch] == one_by_one
    expected = ["the cat sleeps", "the dog sees the house", "a big tree"]
    assert sum(t.text == e for t, e in zip(batch, expected, strict=True)) >= 2
    assert translator.translate([], "fi", "en") == []
    with pytest.raises(ConfigError, match="cannot translate into 'de'"):
        translator.translate(["the cat"], "en", "de")
    beam = build_translator("nmt", model=str(trained), beams=3, cache=tmp_path)
    assert beam.fingerprint() != translator.fingerprint()
    plain = build_translator("nmt", model=str(trained), beams=3, length_penalty=1.0, cache=tmp_path)
    assert plain.fingerprint() == beam.fingerprint()  # the default: the old cache key
    short = build_translator("nmt", model=str(trained), beams=3, length_penalty=0.0, cache=tmp_path)
    assert short.fingerprint() != beam.fingerprint()
    assert all(isinstance(t.text, str) for t in short.translate(texts, "fi", "en"))
    permissive = build_translator("nmt", model=str(trained), allow_unk=True, cache=tmp_path)
    assert permissive.fingerprint() != translator.fingerprint()  # <unk> allowed: another key
    cached = CachedTranslator(translator, root=tmp_path / "tr")
    assert [t.text for t in cached.translate(texts, "fi", "en")] == [t.text for t in batch]
    assert cached.translate(texts, "fi", "en") and cached.last_stats.hits == 3


def test_sources_without_training_pairs_are_translated_zero_shot_with_a_warning(
    trained: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    translator = build_translator("nmt", model=str(trained), cache=tmp_path)
    assert translator.trained_languages == {"fi", "sv"}
    caplog.set_level(logging.WARNING, logger="optical.translate.nmt")
    translator.translate(["le kato dormas"], "fi", "en")
    translator.translate(["the cat sleeps"], "en", "fi")
    assert not caplog.records
    for _ in range(2):  # once per direction
        assert len(translator.translate(["le kato dormas"], "tw", "en")) == 1
    translator.translate(["le kato dormas"], "de", "en")
    twi, german = (r.getMessage() for r in caplog.records)
    assert "nmt tw→en" in twi and "no Twi training pairs: translating zero-shot" in twi
    assert "its encoder was not pre-trained on either" in twi
    assert "no German training pairs" in german and "pre-trained" not in german


def test_length_bucketed_batches_train(encoder_dir: Path, tmp_path: Path) -> None:
    """``data.length_buckets``: the task's batches come from the bucketing sampler, with
    less padding than the plain ones, and training runs."""
    from optical.nmt.train import NmtTask
    from optical.train.runtime import DistInfo
    from optical.train.sampling import LengthBucketedSampler

    config = _config(encoder_dir, data={"length_buckets": 4}, optim={"max_steps": 4})
    task = NmtTask(config, bitext=_bitext(), cache=tmp_path / "c")
    task.setup(DistInfo(0, 1, False))
    assert isinstance(task.sampler, LengthBucketedSampler)
    model = train_nmt(config, tmp_path / "run", bitext=_bitext(), cache=tmp_path / "c")
    assert load_nmt(model)[1]["steps"] == 4
    with pytest.raises(ConfigError, match="length_buckets"):
        _config(encoder_dir, data={"length_buckets": -1})


def test_token_budget_batches_train(encoder_dir: Path, tmp_path: Path) -> None:
    """``data.max_tokens``: the task's batches come from the token-budget sampler (sized
    by the loop's micro-batches), none over the budget, and training runs; the budget
    needs length buckets and is never negative."""
    from optical.nmt.train import NmtTask
    from optical.train.runtime import DistInfo
    from optical.train.sampling import TokenBudgetSampler

    config = _config(
        encoder_dir,
        data={"length_buckets": 4, "max_tokens": 40},
        optim={"max_steps": 3, "grad_accum": 2},
    )
    task = NmtTask(config, bitext=_bitext(), cache=tmp_path / "c")
    task.setup(DistInfo(0, 1, False))
    assert isinstance(task.sampler, TokenBudgetSampler) and task.sampler.multiple == 2
    for _ in range(6):
        batch = task.sampler.next_batch(config.optim.batch_size)
        assert len(batch) % 2 == 0
        assert max(map(task.target_length, batch)) * len(batch) <= 40
    model = train_nmt(config, tmp_path / "run", bitext=_bitext(), cache=tmp_path / "c")
    assert load_nmt(model)[1]["steps"] == 3
    with pytest.raises(ConfigError, match="max_tokens needs data"):
        _config(encoder_dir, data={"max_tokens": 40})
    with pytest.raises(ConfigError, match="max_tokens must be >= 0"):
        _config(encoder_dir, data={"length_buckets": 4, "max_tokens": -1})
    with pytest.raises(ConfigError, match=r"below model\.max_target_length"):
        _config(encoder_dir, data={"length_buckets": 4, "max_tokens": 19}, optim={"grad_accum": 2})


def test_resume_after_a_crash_equals_the_uninterrupted_run(
    encoder_dir: Path, tmp_path: Path
) -> None:
    config = _config(encoder_dir, model={"dropout": 0.1})
    whole = train_nmt(config, tmp_path / "whole", bitext=_bitext(), cache=tmp_path / "c")

    def crash(info) -> None:
        if info.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_nmt(
            config, tmp_path / "cut", bitext=_bitext(), cache=tmp_path / "c", callbacks=[crash]
        )
    with pytest.raises(OpticalError, match="already holds checkpoints"):
        train_nmt(config, tmp_path / "cut", bitext=_bitext(), cache=tmp_path / "c")
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        train_nmt(
            config.with_overrides(optim={"lr": 1e-3}),
            tmp_path / "cut",
            resume=True,
            bitext=_bitext(),
            cache=tmp_path / "c",
        )
    resumed = train_nmt(
        config, tmp_path / "cut", resume=True, bitext=_bitext(), cache=tmp_path / "c"
    )
    a, _ = load_nmt(whole)
    b, _ = load_nmt(resumed)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_shipped_nmt_configs_load() -> None:
    from optical.nmt.config import load_nmt_config

    root = Path(__file__).resolve().parents[1] / "configs"
    quick = load_nmt_config(root / "nmt-quick.toml")
    study = load_nmt_config(root / "nmt-study.toml")
    assert quick.data.directions == study.data.directions == ("xx-en", "en-xx")
    assert study.optim.max_steps > quick.optim.max_steps
    assert study.data.max_pairs_per_language == 0  # the whole pool (0 = no cap)
    assert quick.data.max_pairs_per_language > 0
    assert study.run.early_stopping_patience > 0 and study.run.eval_every > 0


def test_corrupt_model_is_detected(trained: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    with open(copy / "model.safetensors", "r+b") as handle:
        handle.seek(-8, 2)
        handle.write(b"\x00" * 8)
    with pytest.raises(OpticalError, match="SHA-256"):
        load_nmt(copy)
    with pytest.raises(OpticalError, match="not an NMT model folder"):
        read_info(tmp_path)


def test_cli_translate_and_train_nmt_errors(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from optical.cli import main

    args = ["translate", "--model", str(trained), "--source", "fi", "--target", "en"]
    assert main([*args, "le kato dormas", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "the cat sleeps"
    assert main([*args, "--target", "de", "kato", "--cache-dir", str(tmp_path)]) == 2
    assert "cannot translate into 'de'" in capsys.readouterr().err
    assert main(["translate", "--source", "fi", "--target", "en", "x"]) == 2
    assert "--backend nmt needs --model" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nlayers = 0\n")
    assert main(["train-nmt", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "model.layers must be >= 1" in capsys.readouterr().err


def test_nmt_curves_compares_runs_by_training_time(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``optical nmt-curves RUN… --out F.md``: each run's validation table with the
    training time so far (``train_s``, which every validation now carries) and the figure
    against it; a folder without validations is an error naming it."""
    import json

    from optical.cli import main

    log = [json.loads(line) for line in (trained.parent / "metrics.jsonl").read_text().splitlines()]
    validations = [r["validation"] for r in log if "validation" in r]
    assert validations[0]["train_s"] == 0 and validations[-1]["train_s"] > 0
    out = tmp_path / "cmp" / "curves.md"
    assert main(["nmt-curves", str(trained.parent), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| step | training time | validation loss |" in text and "| 300 |" in text
    assert (out.parent / "curves.png").is_file() and "curves.png" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["nmt-curves", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "no validation" in capsys.readouterr().err


@pytest.mark.slow
def test_the_nmt_step_bench_reports_both_steps(real_data_dir: Path) -> None:
    """``optical bench nmt-step --json``: the fields the README names, from a two-step run
    on four real pairs per language and direction (a smoke run, not a measurement)."""
    from optical.perf.nmt_step import run

    result = run(steps=2, pairs=4)
    for key in ("ratio", "baseline_tokens_per_s", "candidate_tokens_per_s", "vocab_size"):
        assert result[key] > 0, key
    assert result["pairs_per_language"] == 4 and result["adaptive_cutoffs"] == [2000, 8000]
    for key in ("baseline", "candidate"):
        assert 0 <= result[f"{key}_padding"] < 1
        assert 0 < result[f"{key}_optimizer_share"] < 1
    assert result["ratio"] == pytest.approx(
        result["candidate_tokens_per_s"] / result["baseline_tokens_per_s"], rel=1e-2
    )


def test_revalidation_rescores_the_saved_model_and_joins_the_curve(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``revalidate_nmt`` scores the saved model on the run's own validation pairs: the
    same model and pairs give the loss and chrF the run logged. The curve then ends with
    a re-scored point; a run whose config predates ``decode.allow_unk`` decoded with
    ``<unk>`` allowed, and the report marks its chrF †."""
    import json
    import shutil

    from optical.cli import main
    from optical.experiment.report_sections import nmt_curve_section
    from optical.nmt.train import REVALIDATION_FILE, nmt_validation_curve, revalidate_nmt

    run = tmp_path / "run"
    shutil.copytree(trained.parent, run, ignore=shutil.ignore_patterns("checkpoints"))
    logged = nmt_validation_curve(run)
    assert [p["unk_allowed"] for p in logged] == [False, False]
    record = revalidate_nmt(run, bitext=_bitext(), cache=tmp_path / "cache")
    assert record["step"] == 300 and record["decode"]["allow_unk"] is False
    for key in ("loss", "chrF_xx-en", "chrF_en-xx"):
        assert record["validation"][key] == pytest.approx(logged[-1][key], abs=1e-4)
    assert json.loads((run / REVALIDATION_FILE).read_text()) == record
    curve = nmt_validation_curve(run)
    assert curve[:-1] == logged and curve[-1]["revalidated"] and curve[-1]["step"] == 300

    saved = json.loads((run / "config.json").read_text())
    del saved["decode"]["allow_unk"]  # as written before the option existed
    (run / "config.json").write_text(json.dumps(saved))
    old = nmt_validation_curve(run)
    assert [p["unk_allowed"] for p in old] == [True, True, False]
    text = "\n".join(nmt_curve_section({"nmt": old}, tmp_path))
    assert "† chrF of translations decoded with `<unk>` allowed" in text
    assert "| 300 (re-scored) |" in text and text.count(" † |") == 2 * 2

    (run / REVALIDATION_FILE).write_text("{}")
    with pytest.raises(OpticalError, match="malformed re-validation record"):
        nmt_validation_curve(run)
    (tmp_path / "empty").mkdir()
    assert main(["nmt-revalidate", str(tmp_path / "empty"), "--cache-dir", str(tmp_path)]) == 2
    assert "not an NMT model folder" in capsys.readouterr().err
