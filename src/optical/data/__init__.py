"""Data loaders: one module per collection or file format (stdlib only, cheap to import).

Benchmarks: :func:`load_xor_dev`, :func:`heldout_questions`, :func:`load_xquad`,
:func:`load_ntrex`. Training bitext corpora: :func:`load_tatoeba`, :func:`load_mkqa`
and the larger ones of :mod:`optical.data.more_bitext`. Training may only read
:func:`training_bitext` (sources registered in :mod:`optical.data.training`) and
:func:`training_questions`. Records left out by design are reported through
:func:`record_skips` and the ``optical.data`` logger.
"""

from .bitext import load_mkqa, load_ntrex, load_tatoeba, read_line_aligned, read_tmx
from .catalog import DATASETS, describe, format_description
from .heldout import heldout_questions, heldout_sizes, is_heldout
from .more_bitext import (
    load_lafand,
    load_menyo20k,
    load_newstest,
    load_opus_tatoeba,
    load_small_parallel_enja,
)
from .passages import iter_dpr_tsv, iter_passages_jsonl, load_passages, load_wikipedia_vital
from .skips import Skip, record_skips, skip_counts
from .training import protected_text, training_bitext, training_questions
from .xor_tydi import load_xor_dev, load_xor_train, load_xor_translations, read_xor_jsonl
from .xquad import load_xquad

__all__ = [
    "DATASETS",
    "Skip",
    "describe",
    "format_description",
    "heldout_questions",
    "heldout_sizes",
    "is_heldout",
    "iter_dpr_tsv",
    "iter_passages_jsonl",
    "load_lafand",
    "load_menyo20k",
    "load_mkqa",
    "load_newstest",
    "load_ntrex",
    "load_opus_tatoeba",
    "load_passages",
    "load_small_parallel_enja",
    "load_tatoeba",
    "load_wikipedia_vital",
    "load_xor_dev",
    "load_xor_train",
    "load_xor_translations",
    "load_xquad",
    "protected_text",
    "read_line_aligned",
    "read_tmx",
    "read_xor_jsonl",
    "record_skips",
    "skip_counts",
    "training_bitext",
    "training_questions",
]
