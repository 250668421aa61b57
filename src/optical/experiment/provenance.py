"""How an experiment's outputs were produced: one record per invocation of
``optical experiment`` (command, start, wall time, cells computed / read back, scope,
hardware), appended to ``invocations.jsonl`` beside ``results.json``.

A study finished in parts (``--only-systems`` / ``--only-seeds``, or resumed after an
interruption) is the sum of its invocations; the report lists them all, so its command,
wall time and hardware are recorded by the runner, not written by hand.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import DataFormatError
from ..io_utils import atomic_write_text

INVOCATIONS = "invocations.jsonl"
STARTED_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


@dataclass(frozen=True)
class Hardware:
    """The machine an invocation ran on."""

    cpu: str
    cores: int
    memory_gib: float
    native_bf16: bool
    system: str

    def describe(self) -> str:
        bf16 = "native bf16" if self.native_bf16 else "no native bf16"
        return f"{self.cpu}, {self.cores} cores, {self.memory_gib:.0f} GiB, {bf16}, {self.system}"


@dataclass(frozen=True)
class Invocation:
    """One run of the experiment runner over an output folder."""

    command: str
    started: str  # "YYYY-MM-DD HH:MM", UTC
    wall_s: float
    cells_computed: int
    cells_read_back: int
    scope: str | None  # None: the whole configuration
    precision: str  # "bf16" | "fp32", the precision actually used
    hardware: Hardware

    def __post_init__(self) -> None:
        if not isinstance(self.started, str) or not STARTED_FORMAT.fullmatch(self.started):
            raise ValueError(f"started must be 'YYYY-MM-DD HH:MM' (UTC), got {self.started!r}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 0.0


def this_hardware() -> Hardware:
    from ..precision import native_bf16

    return Hardware(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        memory_gib=round(_memory_gib(), 1),
        native_bf16=native_bf16(),
        system=f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
    )


def load_invocations(out_dir: str | Path) -> list[Invocation]:
    """The invocations recorded in ``out_dir`` (none when the file is absent). A line
    that is not a record is a :class:`DataFormatError` naming the file and line."""
    path = Path(out_dir) / INVOCATIONS
    if not path.is_file():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            found.append(Invocation(**{**raw, "hardware": Hardware(**raw["hardware"])}))
        except (ValueError, TypeError, KeyError) as exc:  # JSONDecodeError is a ValueError
            raise DataFormatError(path, number, f"not an invocation record: {exc!r}") from exc
    return found


def record_invocation(out_dir: str | Path, invocation: Invocation) -> list[Invocation]:
    """Append ``invocation`` to ``out_dir/invocations.jsonl`` (rewritten atomically, so an
    interruption never loses the earlier records); returns all records."""
    records = [*load_invocations(out_dir), invocation]
    text = "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records)
    atomic_write_text(Path(out_dir) / INVOCATIONS, text)
    return records


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def provenance_section(invocations: Sequence[Invocation]) -> list[str]:
    """Markdown lines: every recorded invocation and the total wall time."""
    if not invocations:
        return []
    lines = [
        "## How this was produced",
        "",
        f"Recorded by the runner in `{INVOCATIONS}`: every invocation that wrote into this "
        "folder (a study run in parts or resumed after an interruption has several). "
        "Cells computed by one invocation are read back by the later ones; an invocation "
        "interrupted before its end is not recorded (the cells it finished count as read "
        "back by the one that resumed it).",
        "",
        "| started (UTC) | command | wall time | cells computed | read back | precision "
        "| hardware |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in invocations:
        lines.append(
            f"| {r.started} | `{r.command}` | {_duration(r.wall_s)} | {r.cells_computed} "
            f"| {r.cells_read_back} | {r.precision} | {r.hardware.describe()} |"
        )
    total = sum(r.wall_s for r in invocations)
    lines += ["", f"Total wall time of the recorded invocations: {_duration(total)}.", ""]
    return lines
