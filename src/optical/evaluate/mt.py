"""MT quality on NTREX-128 (evaluation-only text): corpus BLEU and chrF with sacrebleu.

For every backend and NTREX language, both directions where the backend serves them:
``xx-en`` (the language's sentence → English, against the English original) and
``en-xx`` (the English original → the language, against the human translation).
BLEU tokenisation: ``zh`` for Chinese targets, ``char`` for Japanese and Korean (no
MeCab here), sacrebleu's default ``13a`` otherwise. A direction a backend does not
serve (no Apertium pair, no target tag in the NMT model) is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import BackendUnavailableError, ConfigError
from ..types import Query

logger = logging.getLogger(__name__)

MEASURES = ("BLEU", "chrF")


@dataclass(frozen=True)
class MTScore:
    """Corpus-level score of one backend in one direction (``lang`` = ``"bn-en"`` …)."""

    backend: str
    lang: str
    measure: str
    value: float
    n: int


def bleu_tokenizer(target_lang: str) -> str:
    return {"zh": "zh", "ja": "char", "ko": "char"}.get(target_lang, "13a")


def corpus_scores(
    hypotheses: Sequence[str], references: Sequence[str], target_lang: str
) -> dict[str, float]:
    """``{"BLEU": …, "chrF": …}`` of ``hypotheses`` against one reference each."""
    import sacrebleu

    refs = [list(references)]
    bleu = sacrebleu.corpus_bleu(list(hypotheses), refs, tokenize=bleu_tokenizer(target_lang))
    chrf = sacrebleu.corpus_chrf(list(hypotheses), refs)
    return {"BLEU": float(bleu.score), "chrF": float(chrf.score)}


Translate = Callable[[str, Sequence[str], str, str], list[str]]
"""``translate(backend, texts, source, target)`` → translations."""


def ntrex_mt_scores(
    queries: Mapping[str, Sequence[Query]], backends: Sequence[str], translate: Translate
) -> list[MTScore]:
    """Scores of every backend on the NTREX ``queries`` (per language: the sentences,
    each with its English original in ``Query.english``)."""
    scores: list[MTScore] = []
    for backend in backends:
        for lang, items in sorted(queries.items()):
            if lang == "en" or not items:
                continue
            sources = [q.text for q in items]
            english = [q.english or "" for q in items]
            for source_lang, target_lang, inputs, refs in (
                (lang, "en", sources, english),
                ("en", lang, english, sources),
            ):
                try:
                    hyps = translate(backend, inputs, source_lang, target_lang)
                except (ConfigError, BackendUnavailableError) as exc:
                    logger.info(
                        "MT quality: %s %s→%s skipped: %s", backend, source_lang, target_lang, exc
                    )
                    continue
                for measure, value in corpus_scores(hyps, refs, target_lang).items():
                    scores.append(
                        MTScore(backend, f"{source_lang}-{target_lang}", measure, value, len(items))
                    )
    return scores
