"""Invocation records (optical.experiment.provenance): append, round trip, bad lines, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optical.errors import DataFormatError
from optical.experiment.provenance import (
    INVOCATIONS,
    Hardware,
    Invocation,
    load_invocations,
    provenance_section,
    record_invocation,
    this_hardware,
)

BOX = Hardware("AMD EPYC", 2, 23.5, False, "Linux x86_64, Python 3.11.7")


def _invocation(command: str, wall_s: float, computed: int = 3) -> Invocation:
    return Invocation(command, "2026-11-30 09:45", wall_s, computed, 1, None, "fp32", BOX)


def test_records_append_and_round_trip(tmp_path: Path) -> None:
    assert load_invocations(tmp_path) == []
    first = _invocation("optical experiment a.toml --out o --only-seeds 0", 7425.0)
    assert record_invocation(tmp_path, first) == [first]
    second = _invocation("optical experiment a.toml --out o", 61.5, computed=0)
    assert record_invocation(tmp_path, second) == [first, second]
    assert load_invocations(tmp_path) == [first, second]
    assert len((tmp_path / INVOCATIONS).read_text().splitlines()) == 2
    assert not list(tmp_path.glob("*.tmp*"))  # written through a temp file, then renamed


def test_a_bad_line_names_the_file_and_line_and_keeps_the_file(tmp_path: Path) -> None:
    record_invocation(tmp_path, _invocation("a", 1.0))
    path = tmp_path / INVOCATIONS
    path.write_text(path.read_text() + json.dumps({"command": "b"}) + "\n")
    before = path.read_text()
    with pytest.raises(DataFormatError, match=rf"{INVOCATIONS}:2: not an invocation record"):
        record_invocation(tmp_path, _invocation("c", 1.0))
    assert path.read_text() == before
    # a start that is not a UTC timestamp (a clock reading) is refused the same way
    clock = json.loads(before.splitlines()[0]) | {"started": 25908.3}
    path.write_text(json.dumps(clock) + "\n")
    with pytest.raises(DataFormatError, match=rf"{INVOCATIONS}:1: .*started must be"):
        load_invocations(tmp_path)


def test_section_lists_every_invocation_and_the_total() -> None:
    lines = provenance_section([_invocation("optical experiment x", 7425.0), _invocation("y", 65)])
    text = "\n".join(lines)
    assert text.startswith("## How this was produced")
    assert "| `optical experiment x` | 2 h 03 min | 3 | 1 | fp32 | AMD EPYC, 2 cores" in text
    assert "| `y` | 1 min 05 s |" in text
    assert "Total wall time of the recorded invocations: 2 h 04 min." in text
    assert provenance_section([]) == []


def test_this_hardware_describes_the_machine() -> None:
    box = this_hardware()
    assert box.cores >= 1 and box.cpu and box.memory_gib > 0
    assert f"{box.cores} cores" in box.describe()
