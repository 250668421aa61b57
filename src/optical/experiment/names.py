"""System names: the one place where a system's name is read.

A configured system name is parsed once into a :class:`SystemSpec`, which declares
what the system needs; no other code looks inside a name. The grammar::

    oracle | oracle@<encoder>                 the teacher (or another English encoder)
                                              on the human English question
    zero-shot[-maxsim]                        the multilingual student, unadapted
    bm25-human-translation                    BM25 on the human English translation
    <method>[-maxsim][-dataNN]                a distilled student (method: see METHODS)
    tt-<backend>-<dense|bm25>[-dataNN]        translate-test (backend: nmt, oracle,
                                              apertium, psq, hf; -dataNN only for nmt;
                                              psq = probabilistic structured queries,
                                              bm25 only; hf = [translate] hf_model)

``-maxsim`` re-ranks the dense top-k by MaxSim over token embeddings; ``-dataNN``
trains on NN % (1-100) of the training bitext (the data-budget curves; for
back-translation the NMT model is cut alike). ``str(spec)`` gives the name back.

This module imports nothing of the project but :mod:`optical.errors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError

__all__ = [
    "BACKENDS",
    "METHODS",
    "Method",
    "SystemSpec",
    "budget_suffix",
    "parse_systems",
    "translator_budget",
]

Kind = Literal["oracle", "zero-shot", "bm25-human", "student", "translate-test"]
TrainingData = Literal["bitext", "synthetic", "roundtrip"]


@dataclass(frozen=True)
class Method:
    """A distillation method: its loss (:mod:`optical.losses`) and its training data
    (``bitext``: human pairs; ``synthetic``: the English side translated into the
    language by the in-project NMT model, translate-train; ``roundtrip``: the human pairs
    plus round-trip English paraphrases)."""

    loss: str
    data: TrainingData = "bitext"


METHODS: dict[str, Method] = {
    "optical-ot": Method("ot"),
    "distill-mse": Method("mse-pooled"),
    "distill-greedy": Method("greedy-align"),
    "bt-synthetic-ot": Method("ot", "synthetic"),
    "bt-synthetic-mse": Method("mse-pooled", "synthetic"),
    "bt-roundtrip-ot": Method("ot", "roundtrip"),
    "bt-roundtrip-mse": Method("mse-pooled", "roundtrip"),
}
"""The trained systems' methods, by name."""
BACKENDS = ("nmt", "oracle", "apertium", "psq", "hf")
"""Translation backends of translate-test systems."""
BUDGETED_BACKENDS = ("nmt",)
"""Backends trained here, so they take a data budget."""
NMT_BACKENDS = ("nmt", "hf")
"""Backends that are neural MT models: translate-test through them is NMT-based."""
LEXICAL_BACKENDS = ("psq",)
"""Backends that translate query terms, not queries (PSQ: weighted English terms for
BM25), so they have no dense retriever and no translator of texts."""
REFERENCES: dict[str, Kind] = {
    "oracle": "oracle",
    "zero-shot": "zero-shot",
    "zero-shot-maxsim": "zero-shot",
    "bm25-human-translation": "bm25-human",
}
_BUDGET = re.compile(r"-data(\d{1,3})$")
_MAXSIM = "-maxsim"
GRAMMAR = (
    "oracle | oracle@<encoder> | zero-shot[-maxsim] | bm25-human-translation | "
    "<method>[-maxsim][-dataNN] | tt-<backend>-<dense|bm25>[-dataNN]; methods: "
    + ", ".join(METHODS)
    + f"; backends: {', '.join(BACKENDS)} (-dataNN: 1-100 %, trained backends only: "
    + ", ".join(BUDGETED_BACKENDS)
    + ")"
)


def budget_suffix(fraction: float | None) -> str:
    """``0.1`` → ``"-data10"``; ``None`` → ``""``."""
    return "" if fraction is None else f"-data{round(fraction * 100)}"


@dataclass(frozen=True)
class SystemSpec:
    """One system, parsed from its name: what it is and what it needs.

    ``kind``: ``oracle`` (``encoder`` None = the teacher), ``zero-shot``,
    ``bm25-human``, ``student`` (``method``) or ``translate-test`` (``backend``,
    ``retriever``); ``maxsim``: dense top-k re-ranked by MaxSim; ``fraction``: the share
    of the training bitext (None = all)."""

    kind: Kind
    method: str | None = None
    backend: str | None = None
    retriever: Literal["dense", "bm25"] = "dense"
    encoder: str | None = None
    maxsim: bool = False
    fraction: float | None = None

    @classmethod
    def parse(cls, name: str) -> SystemSpec:
        """The spec of ``name``; a :class:`ConfigError` listing the grammar otherwise."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"system name must be a non-empty string, not {name!r}")
        spec = _parse(name)
        if spec is None or str(spec) != name:
            raise ConfigError(f"unknown system {name!r}; system names: {GRAMMAR}")
        return spec

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """The canonical name (``SystemSpec.parse(spec.name) == spec``)."""
        budget = budget_suffix(self.fraction)
        if self.kind == "oracle":
            return "oracle" if self.encoder is None else f"oracle@{self.encoder}"
        if self.kind == "zero-shot":
            return "zero-shot" + (_MAXSIM if self.maxsim else "")
        if self.kind == "bm25-human":
            return "bm25-human-translation"
        if self.kind == "student":
            return f"{self.method}{_MAXSIM if self.maxsim else ''}{budget}"
        return f"tt-{self.backend}-{self.retriever}{budget}"

    @property
    def is_trained(self) -> bool:
        """True when the queries are encoded by a distilled student."""
        return self.kind == "student"

    @property
    def method_spec(self) -> Method | None:
        """The distillation method of a trained system (None otherwise)."""
        return METHODS[self.method] if self.method is not None else None

    @property
    def student_id(self) -> str | None:
        """The student a trained system uses: its method and data budget
        (``optical-ot-maxsim`` → ``optical-ot``; ``optical-ot-data10`` stays)."""
        if not self.is_trained:
            return None
        return f"{self.method}{budget_suffix(self.fraction)}"

    @property
    def translator(self) -> str | None:
        """The translation backend the system reads (``nmt-data10``: the NMT model trained
        on 10 % of the bitext): translate-test systems and back-translation students."""
        if self.kind == "translate-test":
            return f"{self.backend}{budget_suffix(self.fraction)}"
        method = self.method_spec
        if method is not None and method.data != "bitext":
            return f"nmt{budget_suffix(self.fraction)}"
        return None

    @property
    def reads_english(self) -> bool:
        """True when the system's query is the human English text (the oracles, BM25 on the
        human translation, translate-test with human translations)."""
        return self.kind in ("oracle", "bm25-human") or self.backend == "oracle"

    @property
    def is_oracle(self) -> bool:
        """True for the teacher's oracle (``oracle``), the ceiling every gap is measured to."""
        return self.kind == "oracle" and self.encoder is None

    @property
    def is_curve_point(self) -> bool:
        """True for a data-budget variant (``-dataNN``)."""
        return self.fraction is not None

    @property
    def family(self) -> str:
        """The name without its data budget (``optical-ot-data10`` → ``optical-ot``):
        the points of one data-budget curve share it."""
        return SystemSpec(
            self.kind, self.method, self.backend, self.retriever, self.encoder, self.maxsim
        ).name

    @property
    def is_back_translation(self) -> bool:
        """NMT translate-test or a student trained on back-translated data."""
        method = self.method_spec
        return (self.kind == "translate-test" and self.backend == "nmt") or (
            method is not None and method.data != "bitext"
        )

    @property
    def is_nmt_based(self) -> bool:
        """A system whose queries or training data come from a neural MT model: translate-
        test through one (:data:`NMT_BACKENDS`) or a back-translation student (the
        NMT-based methods of the OPTICAL paper's claim)."""
        return self.is_back_translation or (
            self.kind == "translate-test" and self.backend in NMT_BACKENDS
        )


OPTICAL = SystemSpec("student", method="optical-ot")
"""The method under study (its student draws the OT alignment heatmaps)."""
NMT_TRANSLATE_TEST = SystemSpec("translate-test", backend="nmt", retriever="dense")
"""The NMT-based baseline of the OPTICAL paper's MAP claim."""
ZERO_SHOT = SystemSpec("zero-shot")


def _split_budget(name: str) -> tuple[str, float | None]:
    match = _BUDGET.search(name)
    if match is None:
        return name, None
    percent = int(match.group(1))
    if not 0 < percent <= 100:
        raise ConfigError(f"system {name!r}: the data budget must be 1-100 %")
    return name[: match.start()], percent / 100


def _parse(name: str) -> SystemSpec | None:
    if name.startswith("oracle@"):
        encoder = name.removeprefix("oracle@")
        return SystemSpec("oracle", encoder=encoder) if encoder.strip() else None
    if name in REFERENCES:
        return SystemSpec(REFERENCES[name], maxsim=name.endswith(_MAXSIM))
    head, fraction = _split_budget(name)
    if head.startswith("tt-"):
        parts = head.split("-")
        if len(parts) != 3 or parts[1] not in BACKENDS or parts[2] not in ("dense", "bm25"):
            return None
        if fraction is not None and parts[1] not in BUDGETED_BACKENDS:
            return None
        if parts[1] in LEXICAL_BACKENDS and parts[2] != "bm25":
            return None
        retriever: Literal["dense", "bm25"] = "dense" if parts[2] == "dense" else "bm25"
        return SystemSpec(
            "translate-test", backend=parts[1], retriever=retriever, fraction=fraction
        )
    method = head.removesuffix(_MAXSIM)
    if method not in METHODS:
        return None
    return SystemSpec("student", method=method, maxsim=head != method, fraction=fraction)


def translator_budget(backend: str) -> float | None:
    """The data budget of a translation backend's name (``nmt-data10`` → 0.1; the
    ``system`` of an MT-quality row is a backend name), None without one."""
    return _split_budget(backend)[1]


def parse_systems(names: tuple[str, ...] | list[str], where: str) -> tuple[SystemSpec, ...]:
    """Every name of a config's system list parsed (``where`` names the config in errors);
    a name listed twice is an error."""
    specs = []
    for name in names:
        try:
            specs.append(SystemSpec.parse(name))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    seen = [s.name for s in specs]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: system(s) listed twice: {', '.join(twice)}")
    return tuple(specs)
