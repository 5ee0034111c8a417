"""Loss terms shared by the training tasks."""

from __future__ import annotations

import torch

__all__ = ["loss_terms"]


def loss_terms(errors: torch.Tensor, kind: str, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of squared (``"mse"``) or absolute (``"mae"``) errors, each times its weight.

    Parameters
    ----------
    errors
        Prediction − reference, any shape (eV, eV/Å, eV/Å³ or overlap units).
    kind
        ``"mse"`` or ``"mae"`` (``training.loss``).
    weights
        Weight of every entry, the shape of ``errors``; ``None`` weighs all by 1.

    Returns
    -------
    torch.Tensor
        Scalar sum; the trainer normalises by the batch's entry count.
    """
    terms = errors**2 if kind == "mse" else errors.abs()
    return terms.sum() if weights is None else (weights * terms).sum()
