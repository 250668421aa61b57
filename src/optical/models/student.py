r"""The saved-student format: transformer + linear map into the teacher's space.

Shapes: the student transformer gives hidden states ``h ∈ R^{B×L×d_s}``; the optional
projection ``W ∈ R^{d_t×d_s}, b ∈ R^{d_t}`` maps them into the teacher's space,
``z = h Wᵀ + b ∈ R^{B×L×d_t}``. The pooled embedding is the masked mean of the projected
last layer, L2-normalised when the spec says so:
:math:`\bar s = \mathrm{norm}(W \cdot \mathrm{mean}_{i \in \text{mask}} h_i + b)` (a linear
map commutes with the mean). Without a projection ``W = I, b = 0``.

A saved student is a ``transformers`` model folder plus

* ``optical-projection.safetensors`` (``weight [d_t, d_s]``, ``bias [d_t]``) when there is
  a projection,
* ``optical-encoder.json`` — the :class:`~optical.models.registry.EncoderSpec` fields
  (pooling, prefixes, max length as the base model; the name carries a digest of the
  weights, so the spec's fingerprint changes whenever the weights do),
* ``optical-student.json`` — base model, teacher, layer, loss and the resolved config,
  ``weights_sha256`` (one digest over the weight files) and ``files_sha256`` (each weight
  file's SHA-256).

:func:`load_student` checks the weight files against the recorded SHA-256 before loading
them: a damaged file is an :class:`~optical.errors.OpticalError` naming it, never a
student that silently encodes NaN (folders saved before ``files_sha256`` are checked
against ``weights_sha256``).

:func:`load_student` reads it back as a :class:`StudentEncoder`, which has
:class:`~optical.models.encoder.Encoder`'s interface (``encode``, ``forward``,
``tokenize``, ``dim``, ``spec``, ``bf16``) with the projection applied, so embedding
caches and MaxSim treat it like any encoder. ``Encoder.load`` on the same folder would
silently skip the projection: use :func:`load_student` or :func:`load_any_encoder`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import OpticalError
from ..io_utils import atomic_folder, sha256_file
from .encoder import Encoder, TokenOutput, pool
from .registry import EncoderSpec, resolve_encoder

__all__ = [
    "PROJECTION_FILE",
    "SPEC_FILE",
    "STUDENT_FILE",
    "StudentEncoder",
    "StudentModule",
    "eval_mode",
    "is_student_folder",
    "load_any_encoder",
    "load_student",
    "save_student",
    "student_is_complete",
    "verify_student",
]

PROJECTION_FILE = "optical-projection.safetensors"
STUDENT_FILE = "optical-student.json"
SPEC_FILE = "optical-encoder.json"


class StudentModule(nn.Module):
    """Transformer + optional projection; ``forward`` returns ``(tokens, pooled)``.

    ``tokens``: ``[B, L, d_t]`` float32, projected hidden states of ``layer``;
    ``pooled``: ``[B, d_t]`` float32, projected masked mean of the last layer (normalised
    when ``normalize``). Autocast is the caller's choice.
    """

    def __init__(
        self, model: nn.Module, projection: nn.Linear | None, pooling: str, normalize: bool
    ) -> None:
        super().__init__()
        self.model = model
        self.projection = projection
        self.pooling = pooling
        self.normalize = normalize

    @property
    def dim(self) -> int:
        if self.projection is not None:
            return int(self.projection.out_features)
        return int(self.model.config.hidden_size)

    def _project(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden if self.projection is None else self.projection(hidden)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        layer: int = -1,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        out = self.model(**inputs, output_hidden_states=layer != -1)
        last = out.last_hidden_state
        hidden = last if layer == -1 else out.hidden_states[layer]
        tokens = self._project(hidden).float()
        pooled = self._project(pool(last, attention_mask.bool(), self.pooling)).float()
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return tokens, pooled


class StudentEncoder(Encoder):
    """A trained student with :class:`Encoder`'s interface; outputs live in the teacher's
    space (``dim`` = teacher dim when there is a projection)."""

    def __init__(
        self,
        spec: EncoderSpec,
        model: nn.Module,
        tokenizer: Any,
        projection: nn.Linear | None = None,
        bf16: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, model, tokenizer, bf16=bf16)
        self.module = StudentModule(model, projection, spec.pooling, spec.normalize)
        self.module.eval()
        self.metadata = dict(metadata or {})

    @property
    def projection(self) -> nn.Linear | None:
        return self.module.projection

    @property
    def teacher_name(self) -> str | None:
        """The teacher this student was distilled from (``None`` if unknown)."""
        return self.metadata.get("teacher")

    @property
    def dim(self) -> int:
        return self.module.dim

    def forward(self, batch: dict[str, torch.Tensor], layer: int = -1) -> TokenOutput:
        """Like :meth:`Encoder.forward`, with tokens and pooled embedding projected."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            tokens, pooled = self.module(
                batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"), layer
            )
        mask = batch["attention_mask"].bool()
        special = batch.get("special_tokens_mask")
        content = mask & ~special.bool() if special is not None else mask
        return TokenOutput(tokens, mask, content, pooled, batch["input_ids"])


def is_student_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`save_student`."""
    return (Path(path) / STUDENT_FILE).is_file()


def student_is_complete(folder: str | Path, steps: int) -> bool:
    """Whether ``folder`` holds a saved student trained for exactly ``steps`` steps."""
    if not is_student_folder(folder):
        return False
    try:
        info = json.loads((Path(folder) / STUDENT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return info.get("steps") == steps


def _digest(folder: Path, names: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        path = folder / name
        if path.is_file():
            digest.update(name.encode())
            with open(path, "rb") as handle:
                for chunk in iter(lambda h=handle: h.read(1 << 22), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def _weight_files(folder: Path) -> list[str]:
    """The weight files of a saved student in :func:`save_student`'s digest order."""
    names = sorted(
        p.name for p in folder.iterdir() if p.suffix == ".safetensors" and p.name != PROJECTION_FILE
    )
    return [*names, PROJECTION_FILE] if (folder / PROJECTION_FILE).is_file() else names


def verify_student(folder: str | Path, metadata: dict[str, Any]) -> None:
    """Check a saved student's weight files against their recorded SHA-256.

    Raises :class:`OpticalError` naming the damaged (or missing) file. A folder that
    records no hash at all (never written by :func:`save_student`) is not checked.
    """
    folder = Path(folder)
    advice = "the student folder is damaged: restore it or train it again"
    recorded = metadata.get("files_sha256")
    if isinstance(recorded, dict):
        for name, digest in sorted(recorded.items()):
            path = folder / name
            if not path.is_file():
                raise OpticalError(f"{path}: weight file missing; {advice}")
            if sha256_file(path) != digest:
                raise OpticalError(
                    f"{path}: weights do not match their recorded SHA-256 "
                    f"(files_sha256 in {STUDENT_FILE}); {advice}"
                )
        return
    digest = metadata.get("weights_sha256")
    if digest is None:
        return
    names = _weight_files(folder)
    if _digest(folder, names) != digest:
        raise OpticalError(
            f"{folder}: weights ({', '.join(names) or 'none found'}) do not match their "
            f"recorded SHA-256 (weights_sha256 in {STUDENT_FILE}); {advice}"
        )


def save_student(
    folder: str | Path,
    module: StudentModule,
    tokenizer: Any,
    base_spec: EncoderSpec,
    metadata: dict[str, Any],
) -> Path:
    """Write the student (see the module docstring) into ``folder``, replacing it.

    The folder is assembled under a temporary name next to it and renamed into place.
    """
    from safetensors.torch import save_file
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = Path(folder)
    with atomic_folder(folder) as staging:
        module.model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        files = sorted(p.name for p in staging.iterdir() if p.suffix == ".safetensors")
        if module.projection is not None:
            save_file(
                {
                    "weight": module.projection.weight.detach().float().contiguous(),
                    "bias": module.projection.bias.detach().float().contiguous(),
                },
                str(staging / PROJECTION_FILE),
            )
            files.append(PROJECTION_FILE)
        digest = _digest(staging, files)
        files_sha256 = {name: sha256_file(staging / name) for name in files}
        spec = EncoderSpec(
            name=f"optical-student-{digest[:12]}",
            path=str(folder.resolve()),
            pooling=base_spec.pooling,
            query_prefix=base_spec.query_prefix,
            passage_prefix=base_spec.passage_prefix,
            max_length=base_spec.max_length,
            normalize=base_spec.normalize,
            offline=True,
        )
        (staging / SPEC_FILE).write_text(json.dumps(asdict(spec), indent=2) + "\n")
        info = {"format": 1, "weights_sha256": digest, "files_sha256": files_sha256, **metadata}
        info["projection"] = (
            None
            if module.projection is None
            else [module.projection.out_features, module.projection.in_features]
        )
        (staging / STUDENT_FILE).write_text(
            json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n"
        )
    return folder


def load_student(folder: str | Path, bf16: bool = False) -> StudentEncoder:
    """Load a folder written by :func:`save_student` (projection included)."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    folder = Path(folder)
    if not is_student_folder(folder):
        raise OpticalError(f"{folder} is not a distilled student folder (no {STUDENT_FILE})")
    try:
        metadata = json.loads((folder / STUDENT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise OpticalError(
            f"{folder / STUDENT_FILE}: unreadable student description: {exc}"
        ) from exc
    verify_student(folder, metadata)
    spec = resolve_encoder(str(folder))
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        try:
            model = AutoModel.from_pretrained(folder, add_pooling_layer=False)
        except TypeError:
            model = AutoModel.from_pretrained(folder)
    except OSError as exc:
        raise OpticalError(f"cannot load the student in {folder}: {exc}") from exc
    projection = None
    if (folder / PROJECTION_FILE).is_file():
        weights = load_file(str(folder / PROJECTION_FILE))
        out_dim, in_dim = weights["weight"].shape
        projection = nn.Linear(in_dim, out_dim)
        projection.load_state_dict(weights)
    elif metadata.get("projection"):
        raise OpticalError(f"{folder}: {PROJECTION_FILE} is missing")
    model.eval()
    for param in [*model.parameters(), *(projection.parameters() if projection else [])]:
        param.requires_grad_(False)
    return StudentEncoder(spec, model, tokenizer, projection, bf16=bf16, metadata=metadata)


def load_any_encoder(name: str | Path, bf16: bool = False) -> Encoder:
    """A distilled student folder through :func:`load_student`, anything else through
    ``Encoder.load(resolve_encoder(name))``."""
    if is_student_folder(name):
        return load_student(name, bf16=bf16)
    return Encoder.load(resolve_encoder(str(name)), bf16=bf16)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Temporarily put ``module`` in eval mode (restoring its previous mode)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
