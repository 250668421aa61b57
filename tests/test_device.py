"""The ``device`` setting (:mod:`optical.device`): parsing, resolution, errors, and the
device-dependent paths on the CPU. The CUDA-only asserts at the end are skipped (with the
reason) on machines without CUDA; ``scripts/gpu-smoke`` runs them on a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from optical.device import (
    autocast,
    check_device_name,
    process_group_backend,
    resolve_device,
    to_device,
)
from optical.errors import ConfigError
from tiny_models import build_tiny_encoder, tiny_bitext, tiny_config

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (run scripts/gpu-smoke on a GPU)"
)


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine, whatever it is, seen as one without CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine seen as one with two CUDA devices (nothing is allocated on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny-device")
    student = build_tiny_encoder(root / "student", hidden=16, layers=2, seed=0)
    teacher = build_tiny_encoder(root / "teacher", hidden=24, layers=2, seed=1)
    return student, teacher


def test_device_names_are_parsed_once_and_checked() -> None:
    assert check_device_name(" CUDA:1 ") == "cuda:1"
    for name in ("auto", "cpu", "cuda", "cuda:0", "mps"):
        assert check_device_name(name) == name
    for bad in ("gpu", "cuda:", "cuda:x", "tpu", ""):
        with pytest.raises(ConfigError, match=r"run\.device.*expected auto"):
            check_device_name(bad, "run.device")


def test_auto_and_cpu_without_cuda(no_cuda: None) -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_cuda_without_cuda_is_a_clear_error(no_cuda: None) -> None:
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match=r"CUDA is not available here.*use 'cpu' or 'auto'"):
            resolve_device(name, "run.device")


def test_cuda_index_out_of_range(two_gpus: None) -> None:
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"2 CUDA device\(s\) \(cuda:0 … cuda:1\)"):
        resolve_device("cuda:2")


def test_torchrun_binds_each_rank_to_its_local_gpu(
    two_gpus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)  # explicit: as given
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(ConfigError, match="means cuda:2"):
        resolve_device("auto")


def test_mps_without_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no MPS device"):
        resolve_device("mps")


def test_process_group_backend() -> None:
    assert process_group_backend(torch.device("cuda", 3)) == "nccl"
    assert process_group_backend(torch.device("cpu")) == "gloo"


def test_init_distributed_single_process_carries_the_device(no_cuda: None) -> None:
    from optical.train.runtime import init_distributed

    info = init_distributed("cpu")
    assert (info.rank, info.world_size, info.initialised_here) == (0, 1, False)
    assert info.device == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^run\.device: 'cuda' requested"):
        init_distributed("cuda")


def test_to_device_and_autocast_on_cpu() -> None:
    batch = {"ids": torch.ones(2, dtype=torch.long), "names": ["a", "b"]}
    moved = to_device(batch, torch.device("cpu"))
    assert moved["ids"] is batch["ids"] and moved["names"] == ["a", "b"]
    with autocast(torch.device("cpu"), True):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.bfloat16
    with autocast("cpu", False):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_precision_depends_on_the_device_type(monkeypatch: pytest.MonkeyPatch) -> None:
    from optical import precision

    monkeypatch.delenv("OPTICAL_BF16", raising=False)
    monkeypatch.setattr(precision, "cuda_bf16", lambda: True)
    assert precision.use_bf16(True, "cuda")
    assert not precision.use_bf16(False, "cuda")
    assert not precision.use_bf16(True, "mps")
    monkeypatch.setattr(precision, "cuda_bf16", lambda: False)
    assert not precision.use_bf16(True, "cuda")  # a pre-Ampere GPU: fp32
    monkeypatch.setattr(precision, "int8_engine", lambda: True)
    assert precision.use_int8(True, "cpu")
    assert not precision.use_int8(True, "cuda")  # dynamic int8 is a CPU engine
    assert precision.encode_precision(True, True, "cuda") == precision.precision_name(True, "cuda")


def test_run_config_device_is_checked_and_resume_free() -> None:
    from optical.train.config import RESUME_FREE_KEYS, DistillConfig

    assert "run.device" in RESUME_FREE_KEYS
    assert DistillConfig().run.device == "auto"
    assert DistillConfig().with_overrides(run={"device": "CPU"}).run.device == "cpu"
    with pytest.raises(ConfigError, match=r"run\.device: 'gpu' is not a device"):
        DistillConfig().with_overrides(run={"device": "gpu"})


def test_experiment_run_section(tmp_path: Path, no_cuda: None) -> None:
    from optical.experiment.config import load_config

    path = tmp_path / "e.toml"
    path.write_text('[experiment]\nname = "d"\n\n[run]\ndevice = "cpu"\n', encoding="utf-8")
    cfg = load_config(path)
    assert cfg.run.device == "cpu" and cfg.device_type == "cpu"
    path.write_text('[run]\ndevice = "cuda:x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run.device: 'cuda:x' is not a device"):
        load_config(path)


def test_cli_device_cuda_without_cuda_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_cuda: None
) -> None:
    from optical.cli import main

    passages = tmp_path / "p.tsv"
    passages.write_text("id\ttext\ttitle\n1\ta text\tA\n", encoding="utf-8")
    argv = ["index", "--passages", str(passages), "--out", str(tmp_path / "i")]
    code = main([*argv, "--device", "cuda", "--shard", "0/1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("optical: error: --device: 'cuda' requested, but CUDA is not available")
    hf = ["translate", "--backend", "hf", "--model", "x", "--source", "fi", "--target", "en"]
    code = main([*hf, "--device", "gpu", "hello"])
    err = capsys.readouterr().err
    assert code == 2 and "'gpu' is not a device" in err and err.count("\n") == 1, err


def test_encoder_moves_and_keeps_its_vectors(tiny_encoder) -> None:
    texts = ["the cat", "a dog runs"]
    before = tiny_encoder.encode(texts, kind="query").pooled
    assert tiny_encoder.device == torch.device("cpu")
    tiny_encoder.to("cpu")
    np.testing.assert_array_equal(tiny_encoder.encode(texts, kind="query").pooled, before)


def test_distiller_builds_on_the_requested_device(tiny_pair: tuple[Path, Path]) -> None:
    from optical.train.distill import build_distiller

    config = tiny_config(*tiny_pair)
    distiller = build_distiller(config, torch.device("cpu"))
    assert distiller.device == torch.device("cpu")
    devices = {p.device for p in distiller.core.parameters()} | {
        p.device for p in distiller.teacher.model.parameters()
    }
    assert devices == {torch.device("cpu")}
    loss, _, pooled = distiller.loss_on(next(iter(tiny_bitext(4).values())))
    assert torch.isfinite(loss) and pooled.device == torch.device("cpu")


# ------------------------------------------------------------------ CUDA only (gpu-smoke)


@needs_cuda
def test_cuda_encoder_matches_cpu(tiny_model_dir: Path) -> None:
    from optical.models.encoder import Encoder
    from optical.models.registry import resolve_encoder

    spec = resolve_encoder(str(tiny_model_dir), query_prefix="", passage_prefix="")
    texts = ["the cat", "a dog runs", "the cats"]
    cpu = Encoder.load(spec).encode(texts, kind="query").pooled
    gpu = Encoder.load(spec, device="cuda").encode(texts, kind="query").pooled
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)


@needs_cuda
def test_cuda_distillation_trains_on_the_gpu(tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    from optical.models.student import load_student
    from optical.train.distill import train_distill

    config = tiny_config(*tiny_pair, run={"device": "cuda"})
    seen: list[torch.device] = []
    student = train_distill(
        config,
        tmp_path / "run",
        bitext=tiny_bitext(),
        callbacks=[lambda info: seen.append(next(info.model.parameters()).device)],
    )
    assert seen and all(d.type == "cuda" for d in seen)
    assert load_student(student).encode(["the cat"], kind="query").pooled.shape[0] == 1
