"""Benchmark ``translate``: throughput of the ``nmt`` backend on CPU.

The model is the quick-budget NMT model when ``make experiment`` has trained it into the
cache (``configs/nmt-quick.toml``), otherwise a randomly initialised model of the same
architecture on the real e5-small encoder (decoding then runs to the length limit: a
worst case). 96 fixed sentences in six languages are translated into English:

* greedy, translation cache cold (source states encoded, then decoded) — the baseline;
* the same request from a new translator on the same cache folder, translation cache
  warm (entries read from disk) — the candidate (``ratio`` = warm speed / cold speed);
* beam search with 4 beams, translation cache cold (source states already cached).

Models are loaded before the clock starts (a warm-up sentence).

Speeds are sentences per second.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

SENTENCES = {
    "de": "Wer hat das erste Telefon erfunden und in welchem Jahr wurde es vorgestellt?",
    "es": "¿Cuál es el río más largo de América del Sur y por qué países pasa?",
    "fi": "Milloin Suomi itsenäistyi ja kuka oli sen ensimmäinen presidentti?",
    "ru": "Когда была основана Москва и кто считается её основателем?",
    "bn": "বাংলাদেশের জাতীয় সংসদে মোট কতটি আসন রয়েছে?",
    "sw": "Mlima Kilimanjaro una urefu wa mita ngapi juu ya usawa wa bahari?",
}


def _texts(n: int = 96) -> list[tuple[str, str]]:
    langs = sorted(SENTENCES)
    return [
        (lang, f"{SENTENCES[lang]} ({index})") for index in range(n // len(langs)) for lang in langs
    ]


def _model(cache: Path) -> tuple[Path, str]:
    import torch

    from ..models.student import load_any_encoder
    from ..nmt.config import NmtConfig, load_nmt_config
    from ..nmt.model import NmtModel
    from ..nmt.package import is_nmt_folder, nmt_folder, save_nmt
    from ..nmt.vocab import CompactVocab
    from ..settings import DATA_ENV, cache_dir, data_dir

    quick = Path("configs/nmt-quick.toml")
    config = load_nmt_config(quick) if quick.is_file() else NmtConfig()
    # a trained model's key holds its training pool: look it up with the data, if any
    data = data_dir() if os.environ.get(DATA_ENV) else None
    folder = nmt_folder(config, cache_dir(), data)
    if is_nmt_folder(folder / "model"):
        return folder / "model", "nmt-quick (trained)"
    encoder = load_any_encoder(config.model.encoder, bf16=True)
    torch.manual_seed(0)
    vocab = CompactVocab(("en",), tuple(range(10, 10 + config.model.vocab_size)))
    model = NmtModel(config.model, vocab, encoder.dim)
    path = save_nmt(cache / "random-model", model, config.model.encoder, {"steps": 0})
    return path, "random init (quick architecture)"


def run() -> dict[str, Any]:
    from ..translate.cache import CachedTranslator
    from ..translate.nmt import NmtTranslator

    texts = _texts()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, label = _model(root)

        def fresh(beams: int, translations: Path) -> CachedTranslator:
            translator = CachedTranslator(
                NmtTranslator(model, beams=beams, cache=root / "states"), root=translations
            )
            translator.translate(["Aufwärmen: zuerst die Modelle laden."], "de", "en")
            return translator

        def timed(translator: CachedTranslator) -> float:
            start = time.perf_counter()
            for lang in SENTENCES:
                translator.translate([t for code, t in texts if code == lang], lang, "en")
            return time.perf_counter() - start

        cold = timed(fresh(1, root / "greedy"))
        # warm: a new translator on the same cache folder reads the entries from disk
        warm = timed(
            CachedTranslator(NmtTranslator(model, cache=root / "states"), root=root / "greedy")
        )
        beam = timed(fresh(4, root / "beam"))
    n = len(texts)
    return {
        "name": "translate",
        "ratio": cold / warm,
        "baseline_s": cold,
        "candidate_s": warm,
        "sentences": n,
        "greedy_cold_sent_per_s": n / cold,
        "greedy_warm_sent_per_s": n / warm,
        "beam4_cold_sent_per_s": n / beam,
        "model": label,
    }
