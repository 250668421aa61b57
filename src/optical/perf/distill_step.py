"""Benchmark ``distill-step``: one OPTICAL training step with the ``ot`` loss (candidate)
against the ``mse-pooled`` loss (baseline), same batch, same model.

Both run the trainer's own step (:meth:`optical.train.distill.Distiller.loss_on`, backward,
grad-norm clipping, AdamW step) with the offline multilingual-e5-small as student and as
frozen teacher, bf16 autocast, on 16 question pairs in 16 languages (written for this
benchmark, not taken from any benchmark or training set), with the settings of
``configs/distill-quick.toml`` (``max_length`` 48, embeddings frozen, the lowest
``freeze_layers`` = 6 layers frozen, OT ε = 0.02, ``max_iter`` 500, tol 1e-4; the quick
config trains with 32 pairs a step, the benchmark uses 16). The learning rate is 0, so
every timed step sees the same weights. The two losses are timed alternately after one
warm-up step each; the best of ``repeats`` is kept (the least disturbed by other
processes). ``ratio`` = baseline time / candidate
time: the OT solver's overhead is ``1/ratio - 1``; the target is ``ratio >= 0.87``.
"""

from __future__ import annotations

import time
from typing import Any

NAME = "distill-step"

PAIRS: tuple[tuple[str, str, str], ...] = (
    ("es", "¿Cuándo se construyó la torre Eiffel?", "When was the Eiffel Tower built?"),
    (
        "de",
        "Wer hat die Relativitätstheorie entwickelt?",
        "Who developed the theory of relativity?",
    ),
    ("ru", "Какая самая длинная река в мире?", "What is the longest river in the world?"),
    ("ja", "日本で一番高い山は何ですか？", "What is the highest mountain in Japan?"),
    ("ko", "조선 왕조는 몇 년 동안 지속되었나요?", "How many years did the Joseon dynasty last?"),
    ("ar", "ما هي عاصمة مصر؟", "What is the capital of Egypt?"),
    ("fi", "Kuka kirjoitti Kalevalan?", "Who wrote the Kalevala?"),
    ("bn", "পৃথিবীর বৃহত্তম মহাসাগর কোনটি?", "Which is the largest ocean on Earth?"),
    ("te", "భారతదేశ జనాభా ఎంత?", "What is the population of India?"),
    ("zh", "中国有多少个省？", "How many provinces does China have?"),
    ("sw", "Nani aligundua penisilini?", "Who discovered penicillin?"),
    ("tl", "Kailan nagsimula ang Ikalawang Digmaang Pandaigdig?", "When did World War II begin?"),
    ("tr", "İstanbul hangi yılda fethedildi?", "In which year was Istanbul conquered?"),
    ("sv", "Hur många invånare har Stockholm?", "How many inhabitants does Stockholm have?"),
    ("ms", "Siapakah presiden pertama Indonesia?", "Who was the first president of Indonesia?"),
    ("hi", "सूर्य से पृथ्वी की दूरी कितनी है?", "How far is the Earth from the Sun?"),
)


def run(
    *,
    repeats: int = 5,
    batch: int = 16,
    max_length: int = 48,
    freeze_layers: int = 6,
    eps: float = 0.02,
    max_iter: int = 500,
    student: str = "multilingual-e5-small",
    teacher: str = "multilingual-e5-small",
) -> dict[str, Any]:
    """Time the trainer's step with ``ot`` and with ``mse-pooled`` (see the module doc).

    Returns ``{"name", "ratio" (= baseline_s / candidate_s), "baseline_s" (mse-pooled),
    "candidate_s" (ot), "max_plan_diff": None}`` plus the OT diagnostics of the step,
    the settings and the model load time.
    """
    import torch

    from ..losses import build_loss
    from ..train.config import DistillConfig
    from ..train.distill import build_distiller
    from ..types import BitextPair

    pairs = [
        BitextPair(src, eng, lang, id=f"bench-{i}")
        for i, (lang, src, eng) in enumerate(PAIRS[i % len(PAIRS)] for i in range(batch))
    ]
    config = DistillConfig.from_dict(
        {
            "model": {
                "student": student,
                "teacher": teacher,
                "max_length": max_length,
                "bf16": True,
                "freeze_embeddings": True,
                "freeze_layers": freeze_layers,
            },
            "loss": {"name": "ot"},
            "optim": {"lr": 0.0, "batch_size": batch},
        }
    )
    started = time.perf_counter()
    distiller = build_distiller(config)
    load_s = time.perf_counter() - started
    trainable = [p for p in distiller.core.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=0.0)
    losses = {
        "mse-pooled": build_loss("mse-pooled"),
        "ot": build_loss("ot", eps=eps, max_iter=max_iter, tol=1e-4),
    }
    diagnostics: dict[str, dict[str, float]] = {}

    def step(name: str) -> float:
        distiller.loss_fn = losses[name]
        start = time.perf_counter()
        loss, diag, _ = distiller.loss_on(pairs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - start
        diagnostics[name] = diag
        return elapsed

    torch.manual_seed(0)
    for name in losses:  # warm-up
        step(name)
    times: dict[str, list[float]] = {name: [] for name in losses}
    for _ in range(repeats):
        for name in losses:
            times[name].append(step(name))
    baseline_s, candidate_s = min(times["mse-pooled"]), min(times["ot"])
    ot_diag = diagnostics["ot"]
    return {
        "name": NAME,
        "ratio": baseline_s / candidate_s,
        "baseline_s": baseline_s,
        "candidate_s": candidate_s,
        "max_plan_diff": None,
        "ot_overhead": candidate_s / baseline_s - 1.0,
        "baseline_times_s": times["mse-pooled"],
        "candidate_times_s": times["ot"],
        "ot_iterations": ot_diag.get("iterations"),
        "ot_marginal_error": ot_diag.get("marginal_error"),
        "ot_transport_cost": ot_diag.get("transport_cost"),
        "batch": batch,
        "max_length": max_length,
        "freeze_layers": freeze_layers,
        "eps": eps,
        "max_iter": max_iter,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "torch_threads": torch.get_num_threads(),
        "load_s": load_s,
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(), indent=2))
