r"""Staying close to the starting encoder: LoRA adapters, the L2-SP reference and the
frozen starting encoder of the self anchor.

* :func:`add_lora` freezes the whole transformer and injects LoRA adapters (``peft``):
  a targeted linear layer ``y = W x + b`` becomes
  :math:`y = W x + b + \frac{\alpha}{r} B A \,\mathrm{dropout}(x)` with
  ``A ∈ R^{r×d_in}`` (Kaiming-uniform init) and ``B ∈ R^{d_out×r}`` (zeros), so the
  student starts equal to its base; only ``A`` and ``B`` train.
* :func:`merged_copy` is the trained model with every adapter folded into its weight,
  :math:`W' = W + \frac{\alpha}{r} B A`, as a plain ``transformers`` model with the base's
  parameter names: what :func:`optical.models.student.save_student` stores (the usual
  delta over the base), so loaders and the sentence-transformers export need no peft.
* :func:`initial_weights` / :func:`parameter_distance`: the L2-SP penalty
  :math:`\sum_i \lVert\theta_i - \theta_i^0\rVert^2` over the trainable parameters.
* :func:`frozen_reference`: the starting encoder ``f_0`` (a copy taken before training
  that shares every frozen tensor with the student, so it costs only the memory of the
  trainable part), in eval mode without gradients.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import ConfigError
from .config import ModelConfig

__all__ = ["add_lora", "frozen_reference", "initial_weights", "merged_copy", "parameter_distance"]


def add_lora(model: nn.Module, cfg: ModelConfig, frozen_layers: int) -> nn.Module:
    """Inject LoRA adapters into ``model`` in place (see the module docstring) on the
    linear layers whose names end with one of ``cfg.lora_targets``, in every transformer
    layer but the lowest ``frozen_layers``; freeze everything else. Returns ``model``.

    Raises:
        ConfigError: no module matches the targets.
    """
    from peft import LoraConfig, inject_adapter_in_model

    depth = int(model.config.num_hidden_layers)
    config = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_targets),
        layers_to_transform=list(range(frozen_layers, depth)) or None,
        bias="none",
    )
    if frozen_layers >= depth:
        raise ConfigError("model.adapter = 'lora' with every layer frozen: nothing to train")
    try:
        model = inject_adapter_in_model(config, model)
    except ValueError as exc:
        raise ConfigError(f"model.lora_targets {list(cfg.lora_targets)}: {exc}") from None
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"model.lora_targets {list(cfg.lora_targets)} match no layer")
    return model


def has_lora(model: nn.Module) -> bool:
    """Whether ``model`` carries LoRA adapters."""
    from peft.tuners.lora import LoraLayer

    return any(isinstance(module, LoraLayer) for module in model.modules())


def merged_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every LoRA adapter merged into its base layer and the
    adapter modules removed (parameter names as in the base model); ``model`` itself is
    unchanged."""
    from peft.tuners.lora import LoraLayer

    merged = copy.deepcopy(model)
    for name, module in list(merged.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge(safe_merge=True)
            parent_name, _, child = name.rpartition(".")
            parent = merged.get_submodule(parent_name) if parent_name else merged
            setattr(parent, child, module.get_base_layer())
    for param in merged.parameters():
        param.requires_grad_(False)
    return merged


def initial_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies ``θ_i^0`` of ``model``'s trainable parameters (name → tensor)."""
    return {
        name: param.detach().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def parameter_distance(model: nn.Module, initial: dict[str, torch.Tensor]) -> torch.Tensor:
    r"""Scalar :math:`\sum_i \lVert\theta_i - \theta_i^0\rVert^2` (float32) over the
    parameters named in ``initial`` (differentiable in ``θ``)."""
    params = dict(model.named_parameters())
    device = next(iter(params.values())).device if params else torch.device("cpu")
    total = torch.zeros((), dtype=torch.float32, device=device)
    for name, start in initial.items():
        total = total + (params[name].float() - start.float()).pow(2).sum()
    return total


def frozen_reference(model: nn.Module) -> nn.Module:
    """The starting encoder: a deep copy of ``model`` that shares its frozen tensors (a
    frozen tensor never changes), in eval mode, every parameter without gradient."""
    memo = {id(p): p for p in model.parameters() if not p.requires_grad}
    reference = copy.deepcopy(model, memo)
    reference.eval()
    for param in reference.parameters():
        param.requires_grad_(False)
    return reference
