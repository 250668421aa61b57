"""The official XOR-Retrieve metric R@kt (answer recall within the top k thousand tokens).

This follows ``evals/eval_xor_retrieve.py`` of the XOR QA release
(AkariAsai/XORQA, function ``evaluate_top_k_hit``) step by step:

1. Per question, drop the answers that are exactly ``"yes"`` or ``"no"``
   (case-sensitive, as in the script); skip the question when none remain.
2. Tokenize each ranked passage text (no title) on its own with
   ``nltk.word_tokenize`` and concatenate the token lists in rank order,
   stopping once ``N`` tokens are collected; keep exactly the first ``N``
   tokens and join them with single spaces.
3. The question is a hit when any remaining gold answer is a case-sensitive
   substring of that string (answers are not tokenized, so an answer such as
   ``"$3.50"`` only matches if the tokenized text contains it verbatim).
4. Score per language = 100 × hits / scored questions; the final score is the
   unweighted (macro) mean over the languages that have a scored question.

Two deliberate differences from the script, both about which questions are
scored (the per-question rule is identical):

- The script iterates over the *predictions*, so a gold question with no
  prediction silently drops out of the denominator. Here every gold question
  is scored and one without a prediction counts as a **miss** — a system cannot
  gain by not answering. With a prediction for every gold question (the normal
  case) the numbers are the same.
- The language comes from the gold question (``XorQuestion.lang``, stripped of
  surrounding whitespace: the train file has ``" ar"``) instead of the
  prediction's ``lang`` field. Predictions for ids not in the gold set are
  ignored, as in the script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..types import XorQuestion
from .errors import EvaluationError
from .punkt_offline import ensure_punkt

DEFAULT_KS: tuple[int, ...] = (2000, 5000)
YES_NO = frozenset({"yes", "no"})


@dataclass(frozen=True)
class XorRecall:
    """R@kt at one token budget.

    ``per_lang``: language → percentage of scored questions that hit;
    ``macro``: mean of ``per_lang``; ``n``: language → number of scored
    questions; ``hits``: question id → 1 (hit) or 0 (miss) for every scored
    question, the input of :func:`optical.evaluate.paired_test`.
    """

    n_tokens: int
    per_lang: dict[str, float]
    macro: float
    n: dict[str, int]
    hits: dict[str, int]


def span_answers(answers: Sequence[str]) -> list[str]:
    """The answers the metric uses: all but the exact strings ``"yes"`` and ``"no"``."""
    return [answer for answer in answers if answer not in YES_NO]


@lru_cache(maxsize=8192)
def _tokens(text: str) -> tuple[str, ...]:
    """``nltk.word_tokenize`` of one passage (cached: top passages recur across questions)."""
    from nltk.tokenize import word_tokenize

    return tuple(word_tokenize(text))


def top_tokens(ctxs: Sequence[str], n_tokens: int) -> list[str]:
    """The first ``n_tokens`` word tokens of the ranked passages, each tokenized on its own."""
    tokens: list[str] = []
    for text in ctxs:
        tokens.extend(_tokens(text))
        if len(tokens) >= n_tokens:
            break
    return tokens[:n_tokens]


def is_hit(tokens: Sequence[str], answers: Sequence[str], n_tokens: int) -> bool:
    """Whether any answer is a case-sensitive substring of the first ``n_tokens`` tokens joined."""
    text = " ".join(tokens[:n_tokens])
    return any(answer in text for answer in answers)


def _check_gold(gold: Sequence[XorQuestion]) -> None:
    seen: set[str] = set()
    for question in gold:
        if question.id in seen:
            raise EvaluationError(f"gold question id {question.id!r} appears twice")
        seen.add(question.id)


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or any(k < 1 for k in ks):
        raise EvaluationError(f"token budgets must be positive integers (got {ks})")
    return ks


def _score(
    gold: Sequence[XorQuestion],
    predictions: Mapping[str, Sequence[str]],
    ks: tuple[int, ...],
) -> dict[int, XorRecall]:
    _check_gold(gold)
    budget = max(ks)
    n: dict[str, int] = {}
    hits: dict[int, dict[str, int]] = {k: {} for k in ks}
    langs: dict[str, str] = {}
    for question in gold:
        answers = span_answers(question.answers)
        if not answers:
            continue
        lang = question.lang.strip()
        langs[question.id] = lang
        n[lang] = n.get(lang, 0) + 1
        ctxs = predictions.get(question.id, ())
        if isinstance(ctxs, str):
            raise EvaluationError(
                f"prediction for {question.id!r} is one string; "
                "pass the list of ranked passage texts"
            )
        tokens = top_tokens(ctxs, budget)
        for k in ks:
            hits[k][question.id] = int(is_hit(tokens, answers, k))
    if not n:
        raise EvaluationError(
            "no gold question has a span answer (all are 'yes'/'no' or the gold set is empty): "
            "R@kt is undefined"
        )
    results: dict[int, XorRecall] = {}
    for k in ks:
        found = {lang: 0 for lang in n}
        for qid, hit in hits[k].items():
            found[langs[qid]] += hit
        per_lang = {lang: 100.0 * found[lang] / n[lang] for lang in sorted(n)}
        macro = sum(per_lang.values()) / len(per_lang)
        results[k] = XorRecall(
            n_tokens=k, per_lang=per_lang, macro=macro, n=dict(sorted(n.items())), hits=hits[k]
        )
    return results


def xor_recall(
    gold: Sequence[XorQuestion], predictions: Mapping[str, Sequence[str]], n_tokens: int
) -> XorRecall:
    """R@kt for one token budget ``n_tokens`` (2000 for R@2kt, 5000 for R@5kt).

    ``predictions`` maps question id → passage texts (no titles) in rank order.
    A gold question without a prediction counts as a miss; see the module docs.
    """
    ks = _check_ks((n_tokens,))
    ensure_punkt()
    return _score(gold, predictions, ks)[ks[0]]


def metric_name(n_tokens: int) -> str:
    """``"R@2kt"`` for 2000 tokens, ``"R@5kt"`` for 5000; ``"R@1500t"`` when not whole thousands."""
    if n_tokens % 1000 == 0:
        return f"R@{n_tokens // 1000}kt"
    return f"R@{n_tokens}t"


def xor_eval(
    gold: Sequence[XorQuestion],
    predictions: Mapping[str, Sequence[str]],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, dict[str, float] | dict[str, int]]:
    """The official report of R@kt for each budget in ``ks``.

    The result is ``{"R@2kt": {lang: pct, …, "macro": pct}, "R@5kt": {…}, "n": {lang: scored}}``.
    Passages are tokenized once, for the largest budget.
    """
    ks = _check_ks(ks)
    ensure_punkt()
    results = _score(gold, predictions, ks)
    report: dict[str, dict[str, float] | dict[str, int]] = {}
    for k in ks:
        result = results[k]
        report[metric_name(k)] = {**result.per_lang, "macro": result.macro}
    report["n"] = dict(results[ks[0]].n)
    return report
