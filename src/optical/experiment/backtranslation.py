"""Back-translation training data from the in-project MT model, on the training bitext.

* :func:`synthetic_bitext` — translate-train: the English side of training pairs is
  translated into the pair's language (en→xx), giving synthetic
  ``(MT(english), english)`` pairs; the student is then distilled on those instead of
  the human sources (same English, same teacher, same budget).
* :func:`roundtrip_bitext` — augmentation: the English side is translated there and
  back (en→xx→en) into a paraphrase; the real pairs are kept and
  ``(source, paraphrase)`` pairs added, so the teacher sees more ways to say the
  same thing.

Which pairs: the first ``pairs_per_language`` training pairs of each language in the
seeded order of :func:`optical.train.sampling.split_bitext` (the validation pairs are
never used), only for languages the translator can produce. An MT output with no letter
or digit (a weak model emitting a lone ``።`` or ``.``) is dropped, and so is a pair whose
MT output is evaluation text (:func:`without_evaluation_text`: a model can reproduce a
sentence of an evaluation set, and the pool would then be refused by the leak guard).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..data.evaluation_text import EvaluationIndex
from ..types import BitextPair


def usable_text(text: str) -> bool:
    """Whether an MT output can be a side of a training pair: it has a letter or digit."""
    return any(ch.isalnum() for ch in text)


def without_evaluation_text(
    pool: Mapping[str, Sequence[BitextPair]], index: EvaluationIndex
) -> tuple[dict[str, list[BitextPair]], int]:
    """``pool`` less the pairs with a side that is evaluation text (``index.sets``, the
    guard's own test), and how many pairs were dropped."""
    kept: dict[str, list[BitextPair]] = {}
    dropped = 0
    for lang, pairs in pool.items():
        kept[lang] = [p for p in pairs if not (index.sets(p.source) or index.sets(p.english))]
        dropped += len(pairs) - len(kept[lang])
    return kept, dropped


def chosen_pairs(
    bitext: Mapping[str, Sequence[BitextPair]],
    seed: int,
    pairs_per_language: int,
    validation_per_language: int,
    languages: Sequence[str],
) -> dict[str, list[BitextPair]]:
    """The training pairs to translate, per language (``pairs_per_language`` 0 = all)."""
    from ..train.sampling import split_bitext

    split = split_bitext(
        {lang: pairs for lang, pairs in bitext.items() if lang in languages},
        seed,
        validation_per_language=validation_per_language,
        max_pairs_per_language=pairs_per_language,
    )
    return split.train


def synthetic_bitext(
    chosen: Mapping[str, Sequence[BitextPair]], translator, progress: bool = True
) -> dict[str, list[BitextPair]]:
    """``(MT_en→xx(english), english)`` for every chosen pair (outputs without a letter
    or digit dropped: :func:`usable_text`)."""
    out: dict[str, list[BitextPair]] = {}
    for lang, pairs in sorted(chosen.items()):
        english = [p.english for p in pairs]
        label = f"back-translate en→{lang}" if progress else False
        translated = translator.translate(english, "en", lang, progress=label)
        out[lang] = [
            BitextPair(t.text, p.english, lang, f"bt:{p.id}", "bt-synthetic")
            for p, t in zip(pairs, translated, strict=True)
            if usable_text(t.text)
        ]
    return out


def roundtrip_bitext(
    bitext: Mapping[str, Sequence[BitextPair]],
    chosen: Mapping[str, Sequence[BitextPair]],
    translator,
    progress: bool = True,
) -> dict[str, list[BitextPair]]:
    """Every pair of ``bitext`` plus ``(source, MT_xx→en(MT_en→xx(english)))`` for the
    chosen pairs whose paraphrase differs from the English (case and spaces ignored)."""
    out = {lang: list(pairs) for lang, pairs in bitext.items()}
    for lang, pairs in sorted(chosen.items()):
        english = [p.english for p in pairs]
        there = translator.translate(english, "en", lang, progress=progress and f"en→{lang}")
        kept = [(p, t.text) for p, t in zip(pairs, there, strict=True) if usable_text(t.text)]
        back = translator.translate(
            [text for _, text in kept], lang, "en", progress=progress and f"{lang}→en"
        )
        for (pair, _), paraphrase in zip(kept, back, strict=True):
            text = paraphrase.text.strip()
            if (
                usable_text(text)
                and " ".join(text.split()).casefold() != " ".join(pair.english.split()).casefold()
            ):
                out.setdefault(lang, []).append(
                    BitextPair(pair.source, text, lang, f"rt:{pair.id}", "bt-roundtrip")
                )
    return out
