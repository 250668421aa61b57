"""The official XOR-Retrieve R@kt metric on hand-made cases."""

from __future__ import annotations

import nltk.data
import pytest

from optical.evaluate import EvaluationError, XorRecall, xor_eval, xor_recall
from optical.evaluate.xor_metric import span_answers, top_tokens
from optical.types import XorQuestion


@pytest.fixture(autouse=True, scope="module")
def _offline_punkt(tmp_path_factory):
    """Write the punkt model to a temp cache, and leave ``nltk.data.path`` as it was."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPTICAL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        patch.setattr(nltk.data, "path", list(nltk.data.path))
        yield


def q(qid: str, answers: tuple[str, ...], lang: str = "fi") -> XorQuestion:
    return XorQuestion(id=qid, question="?", answers=answers, lang=lang, split="dev")


def filler(n: int) -> str:
    """``n`` one-token words that contain no answer below."""
    return " ".join(["x"] * n)


def test_yes_no_answers_dropped_and_yes_no_only_question_skipped():
    assert span_answers(["yes", "no", "Yes", "Paris"]) == ["Yes", "Paris"]
    gold = [q("yn", ("yes",)), q("mixed", ("no", "Paris")), q("other", ("Oslo",))]
    preds = {"yn": ["yes"], "mixed": ["It is Paris."], "other": ["nothing here"]}
    result = xor_recall(gold, preds, 2000)
    assert result.n == {"fi": 2}  # "yn" is not scored at all
    assert result.hits == {"mixed": 1, "other": 0}
    assert result.per_lang == {"fi": 50.0}


def test_cut_at_exactly_n_tokens_across_passages():
    n = 2000
    gold = [q("at_n", ("Answer",)), q("after_n", ("Answer",)), q("split", ("Answer",))]
    preds = {
        "at_n": [filler(n - 1) + " Answer"],  # answer is token N
        "after_n": [filler(n) + " Answer"],  # answer is token N + 1
        # passages are concatenated in rank order: 1500 + 499 tokens, then the answer
        "split": [filler(1500), filler(499) + " Answer"],
    }
    result = xor_recall(gold, preds, n)
    assert result.hits == {"at_n": 1, "after_n": 0, "split": 1}
    assert result.n_tokens == n
    assert len(top_tokens(preds["after_n"], n)) == n
    assert xor_recall(gold, preds, 5000).hits["after_n"] == 1


def test_match_is_case_sensitive_substring_of_tokenized_text():
    gold = [
        q("case", ("paris",)),
        q("sub", ("Helsinki",)),
        q("multi", ("New York",)),
        q("period", ("Washington.",)),  # the tokenizer splits the final period off
        q("dollar", ("$3.50",)),  # "$ 3.50" after tokenization
    ]
    preds = {
        "case": ["He lives in Paris."],
        "sub": ["The Helsinkian capital."],
        "multi": ["She moved to New York in 1990."],
        "period": ["He went to Washington."],
        "dollar": ["He paid $3.50."],
    }
    assert xor_recall(gold, preds, 2000).hits == {
        "case": 0,
        "sub": 1,
        "multi": 1,
        "period": 0,
        "dollar": 0,
    }


def test_macro_average_over_languages_and_missing_prediction_is_a_miss():
    gold = [
        q("fi1", ("Oslo",), "fi"),
        q("fi2", ("Oslo",), "fi"),
        q("fi3", ("Oslo",), "fi"),  # no prediction: a miss
        q("ja1", ("Tokyo",), "ja"),
    ]
    preds = {"fi1": ["Oslo is big."], "fi2": ["Bergen."], "ja1": ["Tokyo."], "zz": ["ignored"]}
    result = xor_recall(gold, preds, 2000)
    assert result.per_lang == pytest.approx({"fi": 100 / 3, "ja": 100.0})
    assert result.macro == pytest.approx((100 / 3 + 100) / 2)  # not the micro 50.0
    assert result.n == {"fi": 3, "ja": 1}
    assert result.hits == {"fi1": 1, "fi2": 0, "fi3": 0, "ja1": 1}


def test_xor_eval_report_shape():
    gold = [
        q("a", ("Answer",), " ar"),  # the train file's Arabic lang has a leading space
        q("b", ("Answer",), "te"),
        q("c", ("no",), "te"),
    ]
    preds = {"a": [filler(2000) + " Answer"], "b": ["Answer"], "c": []}
    report = xor_eval(gold, preds)
    assert report == {
        "R@2kt": {"ar": 0.0, "te": 100.0, "macro": 50.0},
        "R@5kt": {"ar": 100.0, "te": 100.0, "macro": 100.0},
        "n": {"ar": 1, "te": 1},
    }
    assert isinstance(xor_recall(gold, preds, 5000), XorRecall)


def test_bad_input_is_an_actionable_error():
    with pytest.raises(EvaluationError, match="R@kt is undefined"):
        xor_recall([q("yn", ("yes", "no"))], {}, 2000)
    with pytest.raises(EvaluationError, match="appears twice"):
        xor_recall([q("a", ("A",)), q("a", ("A",))], {}, 2000)
    with pytest.raises(EvaluationError, match="one string"):
        xor_recall([q("a", ("A",))], {"a": "A passage"}, 2000)
    with pytest.raises(EvaluationError, match="positive"):
        xor_eval([q("a", ("A",))], {}, ks=(0,))
