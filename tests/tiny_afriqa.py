"""A tiny AfriQA release in the layout of the reference data (every file the loaders read).

Per language (the seven AfriQA file codes) and split, :data:`PER_FILE` questions; every
question but the last has a gold row, and in the dev split the one before the last has
``context: null``; Yorùbá dev has no gold file, as in the release. Texts are short
lower-case ASCII, so the tiny test tokenizer reads them without ``[UNK]`` and within its
64 positions. Question 0 of every test file answers ``yes`` (not scored by R@kt), and
question 1 of Hausa test has the apostrophe answer literal ``"['people's party']"``.
"""

from __future__ import annotations

import json
from pathlib import Path

from optical.data.afriqa import (
    AFRIQA_CODES,
    AFRIQA_FILE_CODES,
    AFRIQA_PASSAGES,
    SPLITS,
    WITHOUT_GOLD,
    gold_file,
    queries_file,
)

PER_FILE = 4
WORDS = ("cat", "dog", "river", "house", "city", "sea", "mat", "water")


def _jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def passage_text(code: str, split: str, index: int) -> str:
    """The gold passage of question ``index`` of ``code`` / ``split``."""
    word = WORDS[(index + SPLITS.index(split)) % len(WORDS)]
    return f"the {word} of {code} {split} {index} is {answer(code, split, index)}"


def answer(code: str, split: str, index: int) -> str:
    """The English answer of a question (``yes`` for question 0 of test)."""
    if split == "test" and index == 0:
        return "yes"
    if (code, split, index) == ("hau", "test", 1):
        return "people's party"
    return f"{code}{split}{index}"


def _answer_literal(text: str) -> str:
    return "['" + text + "']"


def has_gold(code: str, split: str, index: int) -> bool:
    """Whether a question has a non-empty gold passage."""
    if (code, split) in WITHOUT_GOLD or index == PER_FILE - 1:
        return False
    return not (split == "dev" and index == PER_FILE - 2)


def write_afriqa(root: Path) -> dict[str, int]:
    """Write the tiny release under ``root``; returns a few counts the tests check."""
    passages: list[dict] = []
    for code in AFRIQA_FILE_CODES:
        for split in SPLITS:
            questions, golds = [], []
            for index in range(PER_FILE):
                questions.append(
                    {
                        "id": index,
                        "question": f"{code} {split} question {index}",
                        "translated_question": f"what is the {code} {split} {index}",
                        "answers": _answer_literal(f"{code} answer {index}"),
                        "translated_answer": _answer_literal(answer(code, split, index)),
                        "lang": code,
                        "split": split,
                        "translation_type": "human_translation",
                    }
                )
                if index == PER_FILE - 1:
                    continue
                context = passage_text(code, split, index) if has_gold(code, split, index) else None
                golds.append({"id": str(index), "context": context, "title": f"{code} {index}"})
                if context is not None:
                    pid = f"afriqa-p{len(passages):05d}"
                    passages.append({"id": pid, "title": f"{code} {index}", "text": context})
            _jsonl(root / queries_file(code, split), questions)
            if (code, split) not in WITHOUT_GOLD:
                _jsonl(root / gold_file(code, split), golds)
    _jsonl(root / AFRIQA_PASSAGES, passages)
    test_gold = sum(
        has_gold(code, "test", i) for code in AFRIQA_FILE_CODES for i in range(PER_FILE)
    )
    return {"passages": len(passages), "languages": len(AFRIQA_CODES), "test_gold": test_gold}
