"""The error raised for bad evaluation input (mismatched ids, unknown measures, empty input)."""

from __future__ import annotations

from ..errors import OpticalError


class EvaluationError(OpticalError, ValueError):
    """Input an evaluation cannot score: the message says what is wrong and how to fix it.

    It is also a :class:`ValueError`, so callers that expect the standard
    bad-input exception catch it too.
    """
