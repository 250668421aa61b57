"""Evaluation: IR measures, oracle agreement, the XOR-Retrieve R@kt metric, significance tests.

Importing this package is cheap: ``nltk``, ``scipy`` and ``numpy`` are imported
by the functions that need them, and nothing imports ``torch``.
"""

from .agreement import AGREEMENT_MEASURE, agreement, agreement_per_query, oracle_qrels
from .errors import EvaluationError
from .measures import DEFAULT_MEASURES, aggregate, parse_measures, per_query
from .punkt_offline import ensure_punkt
from .significance import PairedTest, holm, paired_test
from .xor_metric import DEFAULT_KS, XorRecall, metric_name, xor_eval, xor_recall

__all__ = [
    "AGREEMENT_MEASURE",
    "DEFAULT_KS",
    "DEFAULT_MEASURES",
    "EvaluationError",
    "PairedTest",
    "XorRecall",
    "aggregate",
    "agreement",
    "agreement_per_query",
    "ensure_punkt",
    "holm",
    "metric_name",
    "oracle_qrels",
    "paired_test",
    "parse_measures",
    "per_query",
    "xor_eval",
    "xor_recall",
]
