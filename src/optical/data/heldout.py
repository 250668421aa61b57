"""The XOR-TyDi held-out split: a fixed 10% of the translated XOR train questions.

Membership depends only on the question id: ``sha256(SALT + id)`` read as a number
in [0, 1) is below :data:`HELDOUT_FRACTION`. No random state, no file order, no
``PYTHONHASHSEED``: the same ids are held out on every machine.

Held-out text never reaches training: :func:`optical.data.training.training_bitext`
drops every pair whose source or English side equals a held-out question or any of
its human translations (also when another train question repeats the same text
under a different id).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..types import XorQuestion
from ._io import resolve_data_dir
from .xor_tydi import load_xor_train

HELDOUT_SALT = "optical/xor-tydi-heldout/v1"
HELDOUT_FRACTION = 0.10


def heldout_score(question_id: str) -> float:
    """The id's position in [0, 1) under the salted SHA-256 hash (first 8 bytes)."""
    digest = hashlib.sha256(f"{HELDOUT_SALT}\x00{question_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_heldout(question_id: str) -> bool:
    """True when the XOR train question ``question_id`` belongs to the held-out split."""
    return heldout_score(question_id) < HELDOUT_FRACTION


def heldout_questions(data_dir: str | Path | None = None) -> list[XorQuestion]:
    """Held-out XOR train questions (with their human English translation), in file order."""
    return [
        question
        for question in load_xor_train(resolve_data_dir(data_dir))
        if question.english is not None and is_heldout(question.id)
    ]


def heldout_sizes(data_dir: str | Path | None = None) -> dict[str, int]:
    """Number of held-out questions per language, sorted by language."""
    sizes: dict[str, int] = {}
    for question in heldout_questions(data_dir):
        sizes[question.lang] = sizes.get(question.lang, 0) + 1
    return dict(sorted(sizes.items()))
