"""Loss terms shared by the training tasks."""

from __future__ import annotations

import torch

__all__ = ["loss_terms"]


def loss_terms(errors: torch.Tensor, kind: str) -> torch.Tensor:
    """Sum of squared (``"mse"``) or absolute (``"mae"``) errors.

    Parameters
    ----------
    errors
        Prediction − reference, any shape (eV, eV/Å, eV/Å³ or overlap units).
    kind
        ``"mse"`` or ``"mae"`` (``training.loss``).

    Returns
    -------
    torch.Tensor
        Scalar sum; the trainer normalises by the batch's entry count.
    """
    return (errors**2).sum() if kind == "mse" else errors.abs().sum()
