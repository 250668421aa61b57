"""Tiny random MT models and a tiny oracle data folder for the translation tests (no downloads).

* :func:`build_tiny_marian`: a MarianMTModel (d_model 16, 1 layer each side) with source
  and target sentencepiece models trained here on a handful of sentences;
* :func:`build_tiny_m2m100` and :func:`build_tiny_nllb`: M2M100ForConditionalGeneration
  models of the same size behind an M2M100Tokenizer (a trained sentencepiece model) and a
  character-level NllbTokenizer, with their language tokens;
* :func:`write_oracle_data`: XOR-TyDi translation files, XQuAD and MKQA files in the
  layout of the reference data, with a few known pairs.

Models use ``init_std=1.0`` so that different inputs give different outputs.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

SPANISH = [
    "el gato duerme en la casa",
    "el perro come",
    "la casa es grande",
    "un árbol rojo",
    "el gato ve el perro",
    "la ciudad es vieja",
]
ENGLISH = [
    "the cat sleeps in the house",
    "the dog eats",
    "the house is big",
    "a red tree",
    "the cat sees the dog",
    "the city is old",
]


def _train_spm(lines: list[str], path: Path, **options: object) -> Path:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=40,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
        **options,
    )
    path.write_bytes(model.getvalue())
    return path


def _seq2seq_sizes() -> dict[str, int | float]:
    return {
        "d_model": 16,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "decoder_ffn_dim": 32,
        "max_position_embeddings": 64,
        "init_std": 1.0,
    }


def build_tiny_marian(
    folder: Path,
    source_lang: str | None = "es",
    target_lang: str | None = "en",
    seed: int = 0,
    target_tokens: tuple[str, ...] = (),
) -> Path:
    """A random Marian es→en model with its tokenizer, saved in ``folder/model``.

    ``target_tokens`` (e.g. ``(">>spa<<",)``) make it a multi-target model.
    """
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    options = {"bos_id": -1, "eos_id": 1, "unk_id": 0, "pad_id": -1}
    source_spm = _train_spm(SPANISH, folder / "source.spm", **options)
    target_spm = _train_spm(ENGLISH, folder / "target.spm", **options)
    import sentencepiece as spm

    vocab = {"</s>": 0, "<unk>": 1}
    for path in (source_spm, target_spm):
        processor = spm.SentencePieceProcessor(model_file=str(path))
        for index in range(processor.get_piece_size()):
            vocab.setdefault(processor.id_to_piece(index), len(vocab))
    for token in target_tokens:
        vocab.setdefault(token, len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = MarianTokenizer(
        source_spm=str(source_spm),
        target_spm=str(target_spm),
        vocab=str(folder / "vocab.json"),
        source_lang=source_lang,
        target_lang=target_lang,
    )
    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=len(vocab),
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=vocab["</s>"],
        **_seq2seq_sizes(),
    )
    out = folder / "model"
    MarianMTModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _tiny_m2m_model(vocab_size: int, seed: int):
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    torch.manual_seed(seed)
    config = M2M100Config(
        vocab_size=vocab_size,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        **_seq2seq_sizes(),
    )
    return M2M100ForConditionalGeneration(config)


def build_tiny_m2m100(folder: Path, seed: int = 0) -> Path:
    """A random M2M-100-architecture model behind an M2M100Tokenizer, in ``folder/model``."""
    from transformers import M2M100Tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    spm_file = _train_spm(SPANISH + ENGLISH, folder / "sentencepiece.bpe.model")
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(spm_file))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for index in range(processor.get_piece_size()):
        vocab.setdefault(processor.id_to_piece(index), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = M2M100Tokenizer(vocab_file=str(folder / "vocab.json"), spm_file=str(spm_file))
    size = max(tokenizer.lang_token_to_id.values()) + 1 + tokenizer.num_madeup_words
    out = folder / "model"
    _tiny_m2m_model(size, seed).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_nllb(folder: Path, seed: int = 0) -> Path:
    """A random NLLB-style model (M2M-100 architecture, character NllbTokenizer)."""
    from transformers import NllbTokenizer

    chars = sorted(set("".join(SPANISH + ENGLISH).replace(" ", "")))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "▁": 4}
    for char in chars:
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(f"▁{char}", len(vocab))
    tokenizer = NllbTokenizer(vocab=vocab, merges=[])
    size = max(tokenizer.get_vocab().values()) + 1
    out = folder / "model"
    _tiny_m2m_model(size, seed).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# ---- oracle data ----------------------------------------------------------------------------

XOR_FI = [
    ("Mikä on Suomen pääkaupunki?", "What is the capital of Finland?"),
    ("Kuka kirjoitti Kalevalan?", "Who wrote the Kalevala?"),
    ("Kuka kirjoitti Kalevalan?", "Who compiled the Kalevala?"),  # a second wording
]
XQUAD_ES = [
    ("q1", "¿Cuál es la capital de Francia?", "What is the capital of France?"),
    ("q2", "¿Quién escribió Don Quijote?", "Who wrote Don Quixote?"),
]
MKQA_ES = [
    ("101", "quién canta la canción", "who sings the song"),
    ("102", "¿Cuál es la capital de Francia?", "Which city is the capital of France?"),
]
MKQA_FI = "kuka laulaa laulun"  # MKQA 101 in Finnish


def _squad(questions: list[tuple[str, str]]) -> dict[str, object]:
    qas = [{"id": qid, "question": text, "answers": []} for qid, text in questions]
    return {"data": [{"title": "T", "paragraphs": [{"context": "Some context.", "qas": qas}]}]}


def write_oracle_data(root: Path) -> Path:
    """A data folder with XOR fi–en translations, XQuAD es/en and MKQA es/fi/en."""
    xor = root / "xor-tydi" / "translations" / "fi-en"
    xor.mkdir(parents=True)
    (xor / "fi.txt").write_text("".join(f"{fi}\n" for fi, _ in XOR_FI), encoding="utf-8")
    (xor / "en.txt").write_text("".join(f"{en}\n" for _, en in XOR_FI), encoding="utf-8")
    xquad = root / "xquad"
    xquad.mkdir()
    english = [(qid, en) for qid, _, en in XQUAD_ES]
    spanish = [(qid, es) for qid, es, _ in XQUAD_ES]
    (xquad / "xquad.en.json").write_text(json.dumps(_squad(english)), encoding="utf-8")
    (xquad / "xquad.es.json").write_text(json.dumps(_squad(spanish)), encoding="utf-8")
    mkqa = root / "bitext" / "mkqa"
    mkqa.mkdir(parents=True)
    for code, column in (("en", 2), ("es", 1)):
        lines = [
            json.dumps({"id": f"{row[0]}_{code}", "lang": code, "question": row[column]})
            for row in MKQA_ES
        ]
        (mkqa / f"mkqa-{code}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    finnish = {"id": "101_fi", "lang": "fi", "question": MKQA_FI}
    (mkqa / "mkqa-fi.jsonl").write_text(json.dumps(finnish) + "\n", encoding="utf-8")
    return root
