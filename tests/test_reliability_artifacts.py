"""Nothing silently wrong: every saved artifact is checked when it is read back.

Each case damages a tiny artifact the way a disk or an interrupted copy would (random or
zeroed bytes, lost lines, NaN weights) and checks that the damage is caught: a clear
error naming the file or input, or (for derived data) a logged recomputation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from optical.cli import main
from optical.errors import OpticalError
from optical.train.checkpoint import (
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from optical.train.config import OptimConfig, RunConfig
from optical.train.loop import fit
from tiny_models import build_tiny_encoder
from tiny_tasks import Regression, RegressionConfig

SRC = Path(__file__).resolve().parents[1] / "src"


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def _damage_middle(path: Path, size: int = 64 * 1024, zeroed: bool = False) -> None:
    """Overwrite ``size`` bytes in the middle of ``path`` (random bytes, or zeros)."""
    length = path.stat().st_size
    assert length > size, f"{path} is too small ({length} bytes) to damage {size} bytes"
    data = bytes(size) if zeroed else np.random.default_rng(0).bytes(size)
    _overwrite(path, (length - size) // 2, data)


def _one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    # a progress bar interrupted by the error may leave its ``\r`` frames before it
    assert "optical: error: " in err, err
    err = err[err.index("optical: error: ") :].rstrip(" \r\n")
    assert "\n" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# --------------------------------------------------------------------------- students


@pytest.fixture(scope="module")
def student_folder(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    """A saved student (BERT hidden 64 × 2, projection 64 → 24) written by save_student."""
    from transformers import AutoModel, AutoTokenizer

    from optical.models.registry import resolve_encoder
    from optical.models.student import StudentModule, save_student

    root = tmp_path_factory.mktemp("student")
    base = build_tiny_encoder(root / "base", hidden=64, layers=2, seed=0)
    torch.manual_seed(0)
    module = StudentModule(
        AutoModel.from_pretrained(base, add_pooling_layer=False), nn.Linear(64, 24), "mean", True
    )
    tokenizer = AutoTokenizer.from_pretrained(base)
    spec = resolve_encoder(str(base))
    save_student(root / "full", module, tokenizer, spec, {"steps": 0}, delta=False)
    return save_student(root / "student", module, tokenizer, spec, {"steps": 0})


@pytest.fixture(scope="module")
def full_student_folder(student_folder: Path) -> Path:
    """The same student in the full format (1) that folders written before deltas have."""
    return student_folder.parent / "full"


def _copy(folder: Path, to: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, to))


def test_intact_student_loads_and_encodes_finite(student_folder: Path) -> None:
    from optical.models.student import load_student

    encoded = load_student(student_folder).encode(["the cat runs"], "query")
    assert encoded.pooled.shape == (1, 24) and np.isfinite(encoded.pooled).all()


@pytest.mark.parametrize(
    ("full", "name"),
    [
        (False, "optical-delta.safetensors"),
        (False, "optical-projection.safetensors"),
        (True, "model.safetensors"),
        (True, "optical-projection.safetensors"),
    ],
)
def test_student_with_damaged_weights_is_a_clear_error(
    student_folder: Path, full_student_folder: Path, tmp_path: Path, full: bool, name: str
) -> None:
    from optical.models.student import load_student

    folder = _copy(full_student_folder if full else student_folder, tmp_path / "student")
    if name != "optical-projection.safetensors":
        _damage_middle(folder / name)  # 64 KB of random bytes
    else:
        _damage_middle(folder / name, size=64)
    with pytest.raises(OpticalError, match="SHA-256") as info:
        load_student(folder)
    assert str(folder / name) in str(info.value)


def test_older_student_without_per_file_hashes_is_checked_too(
    full_student_folder: Path, tmp_path: Path
) -> None:
    from optical.models.student import STUDENT_FILE, load_student

    folder = _copy(full_student_folder, tmp_path / "student")
    info = json.loads((folder / STUDENT_FILE).read_text())
    del info["files_sha256"]
    (folder / STUDENT_FILE).write_text(json.dumps(info))
    load_student(folder)  # intact: still loads
    _damage_middle(folder / "model.safetensors")
    with pytest.raises(OpticalError, match="weights_sha256") as raised:
        load_student(folder)
    assert "model.safetensors" in str(raised.value)


def test_cli_search_with_a_damaged_student_exits_2(
    capsys: pytest.CaptureFixture[str], student_folder: Path, tmp_path: Path
) -> None:
    folder = _copy(student_folder, tmp_path / "student")
    _damage_middle(folder / "optical-delta.safetensors")
    passages, queries = _search_inputs(tmp_path)
    code = main(
        ["search", "--passages", str(passages), "--queries", str(queries), "--encoder",
         str(folder), "--method", "dense", "--fp32", "--cache-dir", str(tmp_path / "cache"),
         "--out", str(tmp_path / "run.trec")]
    )  # fmt: skip
    _, err = capsys.readouterr()
    _one_line_error(code, err, str(folder / "optical-delta.safetensors"), "SHA-256")
    assert not (tmp_path / "run.trec").exists()


# --------------------------------------------------------------------------- NaN embeddings


def _search_inputs(tmp_path: Path) -> tuple[Path, Path]:
    passages = tmp_path / "passages.jsonl"
    passages.write_text(
        "".join(
            json.dumps({"id": pid, "text": text}) + "\n"
            for pid, text in [("p1", "the cat runs"), ("p2", "a dog sleeps near the house")]
        )
    )
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tthe cat\nq2\ta big dog\n")
    return passages, queries


@pytest.fixture(scope="module")
def nan_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with one NaN in a layer's weights (a damaged model folder whose
    damage no hash can see: plain ``transformers`` folders record none)."""
    import shutil

    from transformers import AutoModel

    folder = tmp_path_factory.mktemp("nan-bert")
    model = AutoModel.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.embeddings.LayerNorm.weight[0] = float("nan")
    model.save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_model_dir / name).is_file():
            shutil.copy(tiny_model_dir / name, folder / name)
    return folder


def test_nan_encoder_output_is_an_error_naming_encoder_and_texts(nan_model_dir: Path) -> None:
    from optical.models.encoder import Encoder
    from optical.models.registry import resolve_encoder

    encoder = Encoder.load(resolve_encoder(str(nan_model_dir)))
    with pytest.raises(OpticalError, match=r"non-finite.*2 query text\(s\) at position\(s\) 0, 1"):
        encoder.encode(["the cat", "a dog"], "query")


def test_dense_index_refuses_non_finite_embeddings() -> None:
    from optical.search import DenseIndex

    good = np.eye(3, dtype=np.float32)
    bad = good.copy()
    bad[1, 0] = np.nan
    with pytest.raises(OpticalError, match=r"passage embeddings of 1 of 3 .*ids b\b"):
        DenseIndex(bad, ["a", "b", "c"])
    index = DenseIndex(good, ["a", "b", "c"])
    with pytest.raises(OpticalError, match=r"query embeddings of 1 of 2 .*ids q2"):
        index.search(["q1", "q2"], np.stack([good[0], np.full(3, np.inf, np.float32)]), 2)
    assert set(index.search(["q1"], good[:1], 2)["q1"]) == {"a", "b"}


def test_cli_dense_search_with_a_nan_model_exits_2(
    capsys: pytest.CaptureFixture[str], nan_model_dir: Path, tmp_path: Path
) -> None:
    passages, queries = _search_inputs(tmp_path)
    code = main(
        ["search", "--passages", str(passages), "--queries", str(queries), "--encoder",
         str(nan_model_dir), "--method", "dense", "--fp32", "--cache-dir",
         str(tmp_path / "cache"), "--out", str(tmp_path / "run.trec")]
    )  # fmt: skip
    _, err = capsys.readouterr()
    _one_line_error(code, err, "non-finite", "passage text(s)", str(nan_model_dir))
    assert not (tmp_path / "run.trec").exists()


# --------------------------------------------------------------------------- checkpoints


def _wide_model() -> nn.Module:
    """A 1 → 2048 → 1 regression, wide enough that its checkpoint (~100 KB of weights and
    Adam moments) survives 64 KB of zeros as a loadable file."""
    return nn.Sequential(nn.Linear(1, 2048), nn.Tanh(), nn.Linear(2048, 1))


def _Config(**changes: Any) -> RegressionConfig:
    base = RegressionConfig(
        name="wide",
        optim=OptimConfig(lr=0.01, warmup_steps=1, max_steps=6, batch_size=8),
        run=RunConfig(
            checkpoint_every=2, keep_checkpoints=2, eval_every=0, log_every=1, progress=False
        ),
    )
    return replace(base, **changes)


def _Wide(config: RegressionConfig, poison_at: int | None = None) -> Regression:
    return Regression(config, poison_at, model=_wide_model)


class _Crash(RuntimeError):
    pass


def _crash_at(step: int):  # a test helper: returns a callback
    def callback(info: Any) -> None:
        if info.step == step:
            raise _Crash

    return callback


def _zero_tensor_data(path: Path, size: int = 64 * 1024) -> None:
    """Zero ``size`` bytes of the largest tensor record of a ``torch.save`` archive: the
    file still unpickles, with different numbers."""
    with zipfile.ZipFile(path) as archive:
        largest = max(archive.infolist(), key=lambda i: i.file_size)
    with open(path, "rb") as handle:
        handle.seek(largest.header_offset + 26)
        name_len, extra_len = np.frombuffer(handle.read(4), dtype="<u2")
    start = largest.header_offset + 30 + int(name_len) + int(extra_len)
    _overwrite(path, start, bytes(min(size, largest.file_size)))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    return fit(_Wide(_Config()), tmp_path_factory.mktemp("wide") / "whole")


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "state.pt", weights_only=True)


def test_damaged_newest_checkpoint_falls_back_to_the_older_one(
    tmp_path: Path, uninterrupted: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "cut"
    with pytest.raises(_Crash):
        fit(_Wide(_Config()), out, callbacks=[_crash_at(5)])
    assert [s for s, _ in list_checkpoints(out / "checkpoints")] == [2, 4]
    newest = checkpoint_path(out / "checkpoints", 4)
    _zero_tensor_data(newest)
    torch.load(newest, weights_only=True)  # the damage is silent to torch.load
    with pytest.raises(OpticalError, match="does not match its recorded SHA-256"):
        load_checkpoint(newest)
    steps: list[int] = []
    with caplog.at_level(logging.WARNING, logger="optical"):
        folder = fit(_Wide(_Config()), out, resume=True, callbacks=[lambda i: steps.append(i.step)])
    assert steps == [3, 4, 5, 6]  # resumed from step 2
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert str(newest) in warned and "checkpoint-0000002.pt" in warned
    assert "damaged" in warned
    whole, resumed = _weights(uninterrupted), _weights(folder)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)  # an exact resume
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]


def test_no_intact_checkpoint_is_an_error_naming_the_files(tmp_path: Path) -> None:
    out = tmp_path / "cut"
    with pytest.raises(_Crash):
        fit(_Wide(_Config()), out, callbacks=[_crash_at(5)])
    paths = [p for _, p in list_checkpoints(out / "checkpoints")]
    _zero_tensor_data(paths[0])
    _damage_middle(paths[1], size=1024)
    with pytest.raises(OpticalError, match="no intact checkpoint") as raised:
        fit(_Wide(_Config()), out, resume=True)
    assert all(str(p) in str(raised.value) for p in paths)


def _legacy_state(step: int) -> dict[str, Any]:
    return {
        "format": 1,
        "step": step,
        "model": {"w": torch.arange(40000, dtype=torch.float32)},
        "projection": {},
        "optimizer": {"state": {}, "param_groups": []},
        "scheduler": {"last_epoch": step},
        "rng": {"torch": torch.get_rng_state(), "sampler": {"step": step}},
        "config": {"name": "t"},
    }


def test_checkpoint_without_content_hash_is_checked_by_crc(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path, 1)
    torch.save(_legacy_state(1), path)  # written before content_sha256 existed
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.arange(40000.0))
    _zero_tensor_data(path)
    with pytest.raises(OpticalError, match="CRC"):
        load_checkpoint(path)


def test_saved_checkpoint_round_trips_its_content_hash(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path, _legacy_state(3))
    state = load_checkpoint(path)
    assert "content_sha256" not in state and state["step"] == 3


def test_non_finite_loss_names_the_step_and_batch(tmp_path: Path, one_thread: None) -> None:
    config = _Config(
        optim=OptimConfig(lr=0.01, warmup_steps=1, max_steps=2, batch_size=8, grad_accum=4)
    )
    with pytest.raises(
        OpticalError, match=r"non-finite training loss at step 1 \(micro-batch 2 of 4, 2 items: "
    ):
        fit(_Wide(config, poison_at=2), tmp_path / "nan")


# --------------------------------------------------------------------------- cells


def _cell(tmp_path: Path) -> tuple[Any, str]:
    from optical.experiment.cells import Cell, cell_key, save_cell

    cell = Cell("xquad", "dense", "es")
    key = cell_key({"x": 1})
    run = {f"q{i}": {"p1": 1.0, "p2": 0.5, "p3": 0.25} for i in range(20)}
    save_cell(tmp_path, cell, key, {"x": 1}, run, 1.0)
    return cell, key


def test_cell_whose_run_lost_lines_is_recomputed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from optical.experiment.cells import load_cell

    cell, key = _cell(tmp_path)
    record = json.loads(cell.record_path(tmp_path).read_text())
    assert record["run_lines"] == 60 and len(record["run_sha256"]) == 64
    run, _ = load_cell(tmp_path, cell, key)
    assert len(run) == 20
    path = cell.run_path(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-7]))  # still a well-formed run, 18 queries
    with caplog.at_level(logging.WARNING, logger="optical"):
        assert load_cell(tmp_path, cell, key) is None
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "recomputing" in message and str(path) in message and "53 lines, 60 recorded" in message


def test_cell_record_without_run_hash_is_recomputed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from optical.experiment.cells import load_cell

    cell, key = _cell(tmp_path)
    record_path = cell.record_path(tmp_path)
    record = json.loads(record_path.read_text())
    for name in ("run_sha256", "run_lines"):
        del record[name]
    record_path.write_text(json.dumps(record))  # an older record: readable
    with caplog.at_level(logging.WARNING, logger="optical"):
        assert load_cell(tmp_path, cell, key) is None
    assert "predates" in caplog.text


# --------------------------------------------------------------------------- NMT


_NMT_SAVE = """
import sys
import torch
from optical.nmt.config import NmtModelConfig
from optical.nmt.model import NmtModel
from optical.nmt.package import save_nmt
from optical.nmt.vocab import CompactVocab

torch.set_num_threads(1)
torch.manual_seed(0)
vocab = CompactVocab(("en", "fi"), tuple(range(100, 130)))
config = NmtModelConfig(layers=1, hidden=16, heads=2, ffn=32, vocab_size=30, dropout=0.0)
save_nmt(sys.argv[1], NmtModel(config, vocab, encoder_dim=8).eval(), "enc", {"steps": 1})
"""


def test_nmt_saves_are_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    from optical.nmt.package import load_nmt

    folders = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(SRC)}
        folder = tmp_path / f"seed{seed}"
        subprocess.run([sys.executable, "-c", _NMT_SAVE, str(folder)], env=env, check=True)
        folders.append(folder)
    digests = {hashlib.sha256((f / "model.safetensors").read_bytes()).hexdigest() for f in folders}
    assert len(digests) == 1
    recorded = {json.loads((f / "nmt.json").read_text())["weights_sha256"] for f in folders}
    assert recorded == digests
    model, _ = load_nmt(folders[0])  # tied weights are tied again
    assert (
        model.decoder.cls.predictions.decoder.weight.data_ptr()
        == model.decoder.bert.embeddings.word_embeddings.weight.data_ptr()
    )


def test_nmt_folder_written_by_save_model_still_loads(tmp_path: Path) -> None:
    from safetensors.torch import save_model

    from optical.io_utils import sha256_file
    from optical.nmt.package import load_nmt, save_nmt
    from test_nmt import _tiny_model

    model = _tiny_model()
    folder = save_nmt(tmp_path / "new", model, "enc", {"steps": 1})
    save_model(model, str(folder / "model.safetensors"))  # the former writer
    info = json.loads((folder / "nmt.json").read_text())
    info["weights_sha256"] = sha256_file(folder / "model.safetensors")
    (folder / "nmt.json").write_text(json.dumps(info))
    loaded, _ = load_nmt(folder)
    expected = model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())


# --------------------------------------------------------------------------- embedding cache


def _shard_and_cache(tmp_path: Path, encoder: Any) -> tuple[Any, Path, Any]:
    from optical.embed_cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path, encoder)
    good = cache.encode(["the cat", "a dog", "the river"], "passage", with_tokens=True)
    (shard,) = [p for p in cache.folder.iterdir() if p.name.startswith("shard-")]
    return good, shard, cache


def _rewrite(shard: Path, name: str, array: np.ndarray, n: int | None = None) -> None:
    """Replace one array and re-record its hash, so only the shape checks can see it."""
    from optical.io_utils import sha256_file

    np.save(shard / name, array)
    meta = json.loads((shard / "meta.json").read_text())
    meta["sha256"][name] = sha256_file(shard / name)
    if n is not None:
        meta["n"] = n
    (shard / "meta.json").write_text(json.dumps(meta))


def _unlist_pooled(shard: Path) -> None:
    meta = json.loads((shard / "meta.json").read_text())
    del meta["sha256"]["pooled.npy"]
    (shard / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda s: _damage_middle(s / "pooled.npy", size=64), "pooled.npy does not match"),
        (lambda s: _rewrite(s, "keys.npy", np.load(s / "keys.npy")[:2], n=2), "pooled.npy is"),
        (lambda s: _rewrite(s, "pooled.npy", np.full((3, 32), np.nan, np.float32)), "non-finite"),
        (lambda s: _rewrite(s, "pooled.npy", np.zeros((3, 8), np.float32)), "expected (3, 32)"),
        (lambda s: _rewrite(s, "offsets.npy", np.array([0, 1, 2, 999])), "offsets.npy"),
        (lambda s: _rewrite(s, "keys.npy", np.load(s / "keys.npy"), n=7), "n = 7"),
        (_unlist_pooled, "no SHA-256 for pooled.npy"),
    ],
    ids=["bytes", "count", "nan", "dim", "offsets", "meta-n", "unlisted"],
)
def test_damaged_embedding_shard_is_reencoded_with_a_warning(
    tmp_path: Path, tiny_encoder: Any, damage: Any, reason: str
) -> None:
    from optical.embed_cache import CacheStats, CorruptCacheWarning, EmbeddingCache

    good, shard, _ = _shard_and_cache(tmp_path, tiny_encoder)
    damage(shard)
    with pytest.warns(CorruptCacheWarning) as caught:
        cache = EmbeddingCache(tmp_path, tiny_encoder)
    message = str(caught[0].message)
    assert str(shard) in message and reason in message, message
    assert not shard.exists()
    again = cache.encode(["the cat", "a dog", "the river"], "passage", with_tokens=True)
    assert cache.last_stats == CacheStats(hits=0, encoded=3)
    np.testing.assert_allclose(again.pooled, good.pooled, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptCacheWarning)
        EmbeddingCache(tmp_path, tiny_encoder)
