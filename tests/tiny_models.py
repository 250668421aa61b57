"""Tiny random encoders and synthetic bitext for the training tests (no downloads).

``build_tiny_encoder`` writes a ``transformers`` BERT folder with a word-level fast
tokenizer over a fixed vocabulary and an ``optical-encoder.json`` giving it the e5
prefixes, so ``resolve_encoder(folder)`` and ``Encoder.load`` treat it like e5.
Bitext: two pseudo-languages whose words translate English words one to one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from optical.types import BitextPair

# fmt: off
ENGLISH = ["the", "a", "cat", "dog", "house", "tree", "red", "big", "small", "old", "runs",
           "sleeps", "eats", "sees", "near", "under"]
XX = ["le", "un", "kato", "hundo", "domo", "arbo", "ruga", "granda", "eta", "malnova", "kuras",
      "dormas", "mangxas", "vidas", "apud", "sub"]
YY = ["de", "en", "katt", "hund", "hus", "tre", "rod", "stor", "liten", "gammel", "loper",
      "sover", "spiser", "ser", "ved", "under2"]
# fmt: on
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = [*SPECIALS, "query", "passage", ":", *ENGLISH, *XX, *YY]


def build_tiny_encoder(
    folder: Path, hidden: int = 16, layers: int = 2, seed: int = 0, max_length: int = 32
) -> Path:
    """A random BERT encoder (``hidden`` wide, ``layers`` deep) saved in ``folder``."""
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(VOCAB)}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    spec = {
        "name": f"tiny-{hidden}x{layers}-{seed}",
        "path": str(folder),
        "pooling": "mean",
        "query_prefix": "query: ",
        "passage_prefix": "passage: ",
        "max_length": max_length,
        "normalize": True,
        "offline": True,
    }
    (folder / "optical-encoder.json").write_text(json.dumps(spec))
    return folder


def tiny_bitext(pairs_per_language: int = 40, seed: int = 0) -> dict[str, list[BitextPair]]:
    """Sentences of 3–6 random English words and their word-by-word translations."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[BitextPair]] = {}
    for lang, words in (("xx", XX), ("yy", YY)):
        pairs = []
        for index in range(pairs_per_language):
            ids = rng.choice(len(ENGLISH), size=int(rng.integers(3, 7)))
            pairs.append(
                BitextPair(
                    source=" ".join(words[i] for i in ids),
                    english=" ".join(ENGLISH[i] for i in ids),
                    lang=lang,
                    id=f"{lang}-{index}",
                    origin="test",
                )
            )
        out[lang] = pairs
    return out


def tiny_config(student: Path, teacher: Path, **sections: dict[str, Any]) -> Any:
    """A fast :class:`DistillConfig` for the tiny models (sections override keys)."""
    from optical.train.config import DistillConfig

    base: dict[str, Any] = {
        "name": "tiny",
        "model": {
            "student": str(student),
            "teacher": str(teacher),
            "max_length": 16,
            "bf16": False,
            "freeze_embeddings": True,
            "freeze_layers": 1,
        },
        "loss": {"name": "ot", "options": {"eps": 0.1, "max_iter": 200}},
        "data": {"validation_pairs_per_language": 6, "temperature": 2.0},
        "optim": {"lr": 3e-3, "warmup_steps": 1, "max_steps": 4, "batch_size": 8},
        "run": {
            "seed": 0,
            "checkpoint_every": 2,
            "eval_every": 0,
            "log_every": 1,
            "progress": False,
        },
    }
    for key, values in sections.items():
        base[key] = {**base.get(key, {}), **values}
    return DistillConfig.from_dict(base)


def ddp_worker(rank: int, world: int, port: int, student: str, teacher: str, out: str) -> None:
    """One rank of the DDP test: train, record the pairs seen and the final weights."""
    import torch

    from optical.train.distill import train_distill

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    config = tiny_config(
        Path(student), Path(teacher), model={"dropout": False}, run={"checkpoint_every": 0}
    )
    seen: dict[int, list[str]] = {}
    final: dict[str, Any] = {}

    def record(info: Any) -> None:
        seen[info.step] = [f"{p.lang}/{p.id}" for p in info.pairs]
        if info.step == config.optim.max_steps:
            final.update(
                {
                    n: p.detach().clone()
                    for n, p in info.student.named_parameters()
                    if p.requires_grad
                }
            )

    train_distill(config, Path(out) / "run", bitext=tiny_bitext(), callbacks=[record])
    torch.save({"seen": seen, "weights": final}, Path(out) / f"rank{rank}.pt")


def nmt_ddp_worker(rank: int, world: int, port: int, encoder: str, out: str) -> None:
    """One rank of the NMT DDP test: train, record the examples seen and the final weights."""
    import torch

    from optical.nmt.config import NmtConfig
    from optical.nmt.train import train_nmt

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    config = NmtConfig.from_dict(
        {
            "model": {
                "encoder": encoder,
                "layers": 1,
                "hidden": 16,
                "heads": 2,
                "ffn": 32,
                "vocab_size": 60,
                "max_source_length": 12,
                "max_target_length": 10,
                "dropout": 0.0,
                "bf16": False,
            },
            "data": {"validation_pairs_per_language": 4},
            "optim": {"lr": 3e-3, "warmup_steps": 1, "max_steps": 3, "batch_size": 8},
            "run": {"checkpoint_every": 0, "eval_every": 0, "progress": False},
        }
    )
    seen: dict[int, list[str]] = {}
    final: dict[str, Any] = {}

    def record(info: Any) -> None:
        seen[info.step] = [f"{e.direction}:{e.source}" for e in info.examples]
        if info.step == config.optim.max_steps:
            final.update({n: p.detach().clone() for n, p in info.model.state_dict().items()})

    renamed = {"xx": "fi", "yy": "sv"}
    bitext = {
        renamed[lang]: [
            BitextPair(p.source, p.english, renamed[lang], p.id, p.origin) for p in pairs
        ]
        for lang, pairs in tiny_bitext(30).items()
    }
    train_nmt(
        config,
        Path(out) / "run",
        bitext=bitext,
        cache=Path(out) / f"cache{rank}",
        callbacks=[record],
    )
    torch.save({"seen": seen, "weights": final}, Path(out) / f"rank{rank}.pt")
