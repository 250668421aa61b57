"""What training does to a student: the projection's init and freezing.

Prefix-aware tokenization is :func:`optical.models.encoder.tokenize_with_prefix`; the
saved-student format (:class:`StudentModule`, :func:`save_student`, :func:`load_student`,
…) is :mod:`optical.models.student`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["build_projection", "freeze_parameters"]


def build_projection(student_dim: int, teacher_dim: int, mode: str, seed: int) -> nn.Linear | None:
    """The student → teacher linear map for ``mode`` (see ``ModelConfig.projection``).

    ``auto``: ``None`` when ``student_dim == teacher_dim``, else a new map. ``linear``:
    always a map. ``none``: ``None`` (``ConfigError`` if the dimensions differ). A new map
    is the identity when the dimensions are equal, otherwise a (semi-)orthogonal matrix
    drawn from ``seed`` (norm-preserving, so cosines start meaningful); bias 0.
    """
    if mode == "none" or (mode == "auto" and student_dim == teacher_dim):
        if student_dim != teacher_dim:
            raise ConfigError(
                f"student dim {student_dim} != teacher dim {teacher_dim}: set "
                "model.projection to 'auto' or 'linear'"
            )
        return None
    if mode not in ("auto", "linear"):
        raise ConfigError(f"unknown projection mode {mode!r}")
    layer = nn.Linear(student_dim, teacher_dim)
    with torch.no_grad():
        if student_dim == teacher_dim:
            layer.weight.copy_(torch.eye(teacher_dim))
        else:
            generator = torch.Generator().manual_seed(int(seed))
            layer.weight.copy_(
                nn.init.orthogonal_(torch.empty_like(layer.weight), generator=generator)
            )
        layer.bias.zero_()
    return layer


def _transformer_layers(model: nn.Module) -> nn.ModuleList | None:
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    encoder = getattr(base, "encoder", None)
    for attr in ("layer", "layers"):
        layers = getattr(encoder, attr, None)
        if isinstance(layers, nn.ModuleList):
            return layers
    return None


def freeze_parameters(model: nn.Module, embeddings: bool, layers: int) -> list[str]:
    """Set ``requires_grad=False`` on the embedding block and the lowest ``layers``
    transformer layers; return the names of the frozen parameters."""
    frozen: list[nn.Module] = []
    if embeddings:
        base = getattr(model, getattr(model, "base_model_prefix", ""), model)
        block = getattr(base, "embeddings", None)
        frozen.append(block if isinstance(block, nn.Module) else model.get_input_embeddings())
    if layers:
        stack = _transformer_layers(model)
        if stack is None:
            raise ConfigError(
                f"model.freeze_layers: cannot find the transformer layers of "
                f"{type(model).__name__} (expected .encoder.layer)"
            )
        if layers > len(stack):
            raise ConfigError(
                f"model.freeze_layers = {layers}, but the student has only {len(stack)} layers"
            )
        frozen.extend(stack[:layers])
    ids = set()
    for module in frozen:
        for param in module.parameters():
            param.requires_grad_(False)
            ids.add(id(param))
    return [name for name, param in model.named_parameters() if id(param) in ids]
