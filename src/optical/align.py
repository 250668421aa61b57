r"""Seeing the alignment: the OT plan between a sentence and its English translation.

For a source sentence ``x`` encoded by the student (as a query) and its English
translation ``y`` encoded by the teacher (as a query), the cost is
:math:`C_{ij} = 1 - \cos(s_i, t_j)` over the content tokens (special tokens and, by
default, the ``query:`` prefix left out) and the plan is the entropic OT solution

.. math:: P = \arg\min_{P \in U(a, b)} \langle P, C \rangle - \varepsilon H(P),
          \quad a = \mathbf{1}_n / n, \; b = \mathbf{1}_m / m,

exactly what the ``ot`` training loss uses (:class:`optical.losses.OTLoss`). The heatmap
shows :math:`n \cdot P` (each source row sums to 1: where source token ``i`` sends its
mass) with the source tokens on the y axis and the English tokens on the x axis.

``optical align --model MODEL "SOURCE" "ENGLISH" --out FILE.png`` calls
:func:`plot_alignment`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Alignment", "compute_alignment", "draw_alignment", "plot_alignment"]


@dataclass(frozen=True)
class Alignment:
    """The OT alignment of one sentence pair.

    ``plan``: ``[n, m]`` float64 transport plan over the aligned tokens (sums to 1);
    ``source_tokens`` (``n``) / ``english_tokens`` (``m``): their token strings;
    ``cost``: :math:`\\langle P, C \\rangle`; ``eps``, ``iterations``, ``converged``:
    the solver's settings and outcome.
    """

    source_tokens: list[str]
    english_tokens: list[str]
    plan: np.ndarray
    cost: float
    eps: float
    iterations: int
    converged: bool


def _display(token: str) -> str:
    return token.replace("▁", "") or "▁"


def _resolve(model: Any, bf16: bool, device: str) -> Any:
    from .models.encoder import Encoder
    from .models.student import load_any_encoder

    if isinstance(model, Encoder):
        return model
    from .device import resolve_device

    return load_any_encoder(model, bf16=bf16, device=resolve_device(device))


def compute_alignment(
    model: Any,
    source_sentence: str,
    english_sentence: str,
    *,
    teacher: Any = None,
    layer: int | None = None,
    teacher_layer: int | None = None,
    eps: float | None = None,
    exclude_prefix: bool = True,
    bf16: bool = False,
    device: str = "auto",
) -> Alignment:
    """The OT plan between ``source_sentence`` (student) and ``english_sentence`` (teacher).

    Args:
        model: a student folder, any encoder name/folder, or an ``Encoder`` /
            ``StudentEncoder``.
        teacher: encoder name or ``Encoder`` for the English side; default: the teacher a
            distilled student records, else ``model`` itself (zero-shot alignment).
        layer / teacher_layer / eps: default to what the student was trained with
            (else the last layer and ε = 0.05).
        exclude_prefix: leave the ``query:`` prefix tokens out (as training does).
        device: where models loaded by name run (:mod:`optical.device`); an ``Encoder``
            passed in stays where it is.
    """
    import torch

    from .device import to_device
    from .losses import EncodedPair, OTLoss
    from .models.encoder import tokenize_with_prefix

    student = _resolve(model, bf16, device)
    meta: dict[str, Any] = getattr(student, "metadata", {}) or {}
    if teacher is None:
        teacher = meta.get("teacher") or student
    teacher = _resolve(teacher, bf16, device)
    options = (meta.get("loss_options") or {}) if meta.get("loss") == "ot" else {}
    eps = float(eps if eps is not None else options.get("eps", 0.05))
    layer = int(layer if layer is not None else meta.get("layer", -1))
    if teacher_layer is None:
        teacher_layer = int(meta.get("teacher_layer", layer))

    def side(encoder: Any, text: str, which_layer: int) -> tuple[Any, torch.Tensor, list[str]]:
        batch = to_device(tokenize_with_prefix(encoder, [text], "query"), encoder.device)
        with torch.no_grad():
            out = encoder.forward(batch, layer=which_layer)
        mask = out.content_mask
        if exclude_prefix:
            mask = mask & ~batch["prefix_mask"]
        ids = out.input_ids[0][mask[0]].tolist()
        return out, mask, [_display(t) for t in encoder.tokenizer.convert_ids_to_tokens(ids)]

    s_out, s_mask, s_tokens = side(student, source_sentence, layer)
    t_out, t_mask, t_tokens = side(teacher, english_sentence, teacher_layer)
    if s_out.tokens.shape[-1] != t_out.tokens.shape[-1]:
        raise ValueError(
            f"student dim {s_out.tokens.shape[-1]} != teacher dim {t_out.tokens.shape[-1]}: "
            "pass the teacher this student was distilled into"
        )
    pair = EncodedPair(s_out.tokens, s_mask, s_out.pooled, t_out.tokens, t_mask, t_out.pooled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = OTLoss(eps=eps, max_iter=2000, tol=1e-6).transport(pair)
    plan = result.plan[0][s_mask[0]][:, t_mask[0]].double().cpu().numpy()
    return Alignment(
        s_tokens,
        t_tokens,
        plan,
        float(result.cost[0]),
        eps,
        int(result.iterations),
        bool(result.converged),
    )


def plot_alignment(
    model_dir_or_encoder: Any,
    source_sentence: str,
    english_sentence: str,
    out_png: str | Path,
    **options: Any,
) -> Alignment:
    """Draw :func:`compute_alignment`'s plan as a heatmap into ``out_png`` (atomic write);
    ``options`` are those of :func:`compute_alignment`. Returns the alignment."""
    alignment = compute_alignment(
        model_dir_or_encoder, source_sentence, english_sentence, **options
    )
    draw_alignment(alignment, out_png)
    return alignment


def draw_alignment(alignment: Alignment, out_png: str | Path) -> None:
    """The heatmap of ``alignment`` as a PNG file (atomic write).

    The token labels are drawn with the installed fonts that cover their scripts
    (:func:`optical.fonts.fonts_for`); characters no installed font has are named in one
    logged warning (matplotlib's per-glyph warnings are then silenced) and show as boxes.
    """
    from matplotlib.figure import Figure

    from .fonts import fonts_for
    from .io_utils import atomic_write

    n, m = alignment.plan.shape
    shown = alignment.plan * n  # each row sums to 1
    fig = Figure(figsize=(max(4.0, 0.5 * m + 2.5), max(3.0, 0.42 * n + 1.8)))
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=max(float(shown.max()), 1e-12))
    fonts = fonts_for([*alignment.english_tokens, *alignment.source_tokens])
    ax.set_xticks(
        range(m), alignment.english_tokens, rotation=60, ha="right", family=fonts.families
    )
    ax.set_yticks(range(n), alignment.source_tokens, family=fonts.families)
    ax.set_xlabel("English tokens (teacher)")
    ax.set_ylabel("source tokens (student)")
    ax.set_title(
        f"OT alignment: ⟨P, C⟩ = {alignment.cost:.3f}, ε = {alignment.eps:g}",
        fontsize=10,
    )
    fig.colorbar(image, ax=ax, label="n · P (rows sum to 1)", shrink=0.8)
    out_png = Path(out_png)
    with warnings.catch_warnings():
        if fonts.missing:  # already named in fonts_for's warning
            warnings.filterwarnings("ignore", message=r"Glyph .* missing from font")
        fig.tight_layout()
        atomic_write(out_png, lambda tmp: fig.savefig(tmp, format="png", dpi=150))
