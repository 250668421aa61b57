"""Read and write TREC runs, TREC qrels and XOR-Retrieve prediction files.

Formats (whitespace-separated columns, one record a line):

- TREC run: ``qid Q0 docid rank score tag``. Written sorted by score
  (descending) with ranks from 1. Ties are ordered like ``trec_eval`` orders
  them (score descending, then doc id descending), so the written ranks are the
  ranks every ``ir_measures`` / ``trec_eval`` measure sees. When reading, the
  rank and ``Q0`` columns are checked for shape but ignored: evaluation tools rank
  by score.
- TREC qrels: ``qid 0 docid rel`` with an integer relevance grade.
- XOR-Retrieve predictions (the official ``eval_xor_retrieve.py`` input): a JSON
  list ``[{"id": ..., "lang": ..., "ctxs": [passage text, ...]}, ...]`` whose
  ``ctxs`` are the passage texts (no titles) in rank order.

Every write is atomic. A malformed record raises :class:`DataFormatError`
naming ``FILE:LINE`` (TREC files) or the item index (JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import DataFormatError, OpticalError
from .io_utils import atomic_write_text
from .types import Qrels, Run

__all__ = [
    "XorPrediction",
    "ctxs_by_id",
    "predictions_from_run",
    "ranked",
    "read_qrels",
    "read_run",
    "read_xor_predictions",
    "write_qrels",
    "write_run",
    "write_xor_predictions",
]


@dataclass(frozen=True)
class XorPrediction:
    """One question's ranked passage texts in the XOR-Retrieve prediction format."""

    id: str
    lang: str
    ctxs: tuple[str, ...]


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(docid, score)`` pairs best first, ties broken like ``trec_eval`` (docid descending)."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def _check_field(path: Path, value: str, what: str) -> None:
    if not value or any(ch.isspace() for ch in value):
        raise DataFormatError(
            path,
            None,
            f"{what} {value!r} is empty or contains whitespace; TREC files need one token",
        )


# --------------------------------------------------------------------------- runs


def write_run(path: str | Path, run: Run, tag: str = "optical", depth: int | None = None) -> Path:
    """Write ``run`` as a TREC run file (``qid Q0 docid rank score tag``), atomically.

    Queries are written in sorted id order; within a query, documents by
    descending score with ranks from 1. ``depth`` keeps only the top ``depth``
    documents of each query. Scores are written in Python's shortest round-trip
    form, so reading the file back gives the same floats.
    """
    path = Path(path)
    _check_field(path, tag, "run tag")
    if depth is not None and depth < 1:
        raise DataFormatError(path, None, f"depth must be ≥ 1 (got {depth})")
    lines: list[str] = []
    for qid in sorted(run):
        _check_field(path, qid, "query id")
        docs = ranked(run[qid])
        if depth is not None:
            docs = docs[:depth]
        for rank, (docid, score) in enumerate(docs, start=1):
            _check_field(path, docid, f"doc id (query {qid})")
            value = float(score)
            if not math.isfinite(value):
                raise DataFormatError(
                    path,
                    None,
                    f"score of query {qid!r} doc {docid!r} is {value}; scores must be finite",
                )
            lines.append(f"{qid} Q0 {docid} {rank} {value!r} {tag}\n")
    return atomic_write_text(path, "".join(lines))


def read_run(path: str | Path) -> Run:
    """Read a TREC run file into ``{qid: {docid: score}}``.

    Blank lines are skipped. A line without exactly six columns, a rank that is
    not an integer, a score that is not a finite number, or a repeated
    ``(qid, docid)`` raises :class:`DataFormatError` with ``FILE:LINE``.
    """
    path = Path(path)
    run: Run = {}
    for lineno, fields in _records(path):
        if len(fields) != 6:
            raise DataFormatError(
                path,
                lineno,
                f"expected 6 columns 'qid Q0 docid rank score tag', found {len(fields)}",
            )
        qid, _q0, docid, rank, score, _tag = fields
        try:
            int(rank)
        except ValueError:
            raise DataFormatError(path, lineno, f"rank {rank!r} is not an integer") from None
        value = _parse_float(path, lineno, score)
        docs = run.setdefault(qid, {})
        if docid in docs:
            raise DataFormatError(path, lineno, f"doc {docid!r} appears twice for query {qid!r}")
        docs[docid] = value
    return run


def _parse_float(path: Path, lineno: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(path, lineno, f"score {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataFormatError(path, lineno, f"score {text!r} is not finite")
    return value


def _records(path: Path) -> Iterable[tuple[int, list[str]]]:
    """``(line number, columns)`` of the non-blank lines of a UTF-8 text file."""
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise DataFormatError(path, None, "file not found") from None
    with handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                fields = line.split()
                if fields:
                    yield lineno, fields
        except UnicodeDecodeError as err:
            raise DataFormatError(path, None, f"not UTF-8 text ({err})") from None


# -------------------------------------------------------------------------- qrels


def write_qrels(path: str | Path, qrels: Qrels) -> Path:
    """Write ``qrels`` as a TREC qrels file (``qid 0 docid rel``), sorted by qid then docid."""
    path = Path(path)
    lines: list[str] = []
    for qid in sorted(qrels):
        _check_field(path, qid, "query id")
        for docid in sorted(qrels[qid]):
            _check_field(path, docid, f"doc id (query {qid})")
            grade = qrels[qid][docid]
            if isinstance(grade, bool) or int(grade) != grade:
                raise DataFormatError(
                    path, None, f"grade of query {qid!r} doc {docid!r} is {grade!r}; need an int"
                )
            lines.append(f"{qid} 0 {docid} {int(grade)}\n")
    return atomic_write_text(path, "".join(lines))


def read_qrels(path: str | Path) -> Qrels:
    """Read a TREC qrels file (``qid iter docid rel``) into ``{qid: {docid: grade}}``.

    The second column is ignored. A line without four columns, a grade that is
    not an integer, or a repeated ``(qid, docid)`` raises :class:`DataFormatError`.
    """
    path = Path(path)
    qrels: Qrels = {}
    for lineno, fields in _records(path):
        if len(fields) != 4:
            raise DataFormatError(
                path, lineno, f"expected 4 columns 'qid 0 docid rel', found {len(fields)}"
            )
        qid, _iter, docid, rel = fields
        try:
            grade = int(rel)
        except ValueError:
            raise DataFormatError(path, lineno, f"relevance {rel!r} is not an integer") from None
        docs = qrels.setdefault(qid, {})
        if docid in docs:
            raise DataFormatError(path, lineno, f"doc {docid!r} judged twice for query {qid!r}")
        docs[docid] = grade
    return qrels


# ---------------------------------------------------------------- XOR predictions


def write_xor_predictions(path: str | Path, predictions: Iterable[XorPrediction]) -> Path:
    """Write XOR-Retrieve predictions as the official JSON list, atomically."""
    items = [{"id": p.id, "lang": p.lang, "ctxs": list(p.ctxs)} for p in predictions]
    text = json.dumps(items, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)


def read_xor_predictions(path: str | Path) -> list[XorPrediction]:
    """Read an XOR-Retrieve prediction JSON file.

    Each item must be an object with a string ``id``, a string ``lang`` and a
    list of strings ``ctxs`` (passage texts in rank order). A malformed item or
    a repeated ``id`` raises :class:`DataFormatError` naming the item index.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, None, "file not found") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(path, None, f"not UTF-8 text ({err})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(path, err.lineno, f"invalid JSON: {err.msg}") from None
    if not isinstance(data, list):
        raise DataFormatError(
            path, None, f"expected a JSON list of predictions, found {type(data).__name__}"
        )
    predictions: list[XorPrediction] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        prediction = _xor_item(path, index, item)
        if prediction.id in seen:
            raise DataFormatError(path, None, f"item {index}: id {prediction.id!r} repeats")
        seen.add(prediction.id)
        predictions.append(prediction)
    return predictions


def _xor_item(path: Path, index: int, item: object) -> XorPrediction:
    where = f"item {index}"
    if not isinstance(item, dict):
        raise DataFormatError(
            path, None, f"{where}: expected an object, found {type(item).__name__}"
        )
    for key in ("id", "lang", "ctxs"):
        if key not in item:
            raise DataFormatError(path, None, f"{where}: missing key {key!r}")
    qid, lang, ctxs = item["id"], item["lang"], item["ctxs"]
    if not isinstance(qid, str) or not isinstance(lang, str):
        raise DataFormatError(path, None, f"{where}: 'id' and 'lang' must be strings")
    if not isinstance(ctxs, list):
        raise DataFormatError(
            path, None, f"{where} ({qid}): 'ctxs' must be a list of passage texts"
        )
    for rank, ctx in enumerate(ctxs, start=1):
        if not isinstance(ctx, str):
            raise DataFormatError(
                path,
                None,
                f"{where} ({qid}): ctxs[{rank - 1}] is {type(ctx).__name__}, expected the passage "
                "text as a string (no title)",
            )
    return XorPrediction(id=qid, lang=lang, ctxs=tuple(ctxs))


def ctxs_by_id(predictions: Iterable[XorPrediction]) -> dict[str, tuple[str, ...]]:
    """``{question id: ranked passage texts}``, the input of :func:`optical.evaluate.xor_recall`."""
    return {p.id: p.ctxs for p in predictions}


def predictions_from_run(
    run: Run, texts: Mapping[str, str], langs: Mapping[str, str], depth: int = 100
) -> list[XorPrediction]:
    """Turn a run into XOR predictions: the top ``depth`` passage texts of each query.

    ``texts`` maps passage id → passage text (no title); ``langs`` maps query
    id → language. A passage or query the mappings lack, or a ``depth`` below 1, raises
    :class:`OpticalError`.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise OpticalError(f"depth (passages per prediction) must be at least 1, got {depth!r}")
    out: list[XorPrediction] = []
    for qid in sorted(run):
        if qid not in langs:
            raise OpticalError(f"query {qid!r} of the run has no language in 'langs'")
        ctxs: list[str] = []
        for docid, _score in ranked(run[qid])[:depth]:
            if docid not in texts:
                raise OpticalError(
                    f"passage {docid!r} (query {qid!r}) is not in 'texts'; "
                    "pass the collection the run was retrieved from"
                )
            ctxs.append(texts[docid])
        out.append(XorPrediction(id=qid, lang=langs[qid], ctxs=tuple(ctxs)))
    return out
