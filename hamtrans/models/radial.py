"""Radial basis: Bessel functions times a smooth polynomial envelope.

The envelope is exactly zero at and beyond the cutoff (with zero first and
second derivatives there), so every model built on it is strictly local: an atom
beyond the cutoff changes nothing, not even by round-off.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def polynomial_envelope(distance: torch.Tensor, cutoff: float, power: int = 6) -> torch.Tensor:
    """Smooth cutoff ``u(d)``: 1 at d = 0, 0 with vanishing derivatives at ``d ≥ cutoff``.

    The polynomial of Klicpera et al. (DimeNet) with exponent ``power``.
    """
    x = distance / cutoff
    p = power
    value = (1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2))
    return torch.where(x < 1.0, value, torch.zeros_like(value))


class BesselBasis(nn.Module):
    """``√(2/c) sin(nπ d / c) / d · u(d)`` for ``n = 1..n_basis`` (Å⁻¹ scale), shape ``(E, n_basis)``.

    Parameters
    ----------
    cutoff
        Radius in Å beyond which the basis is exactly zero.
    n_basis
        Number of Bessel functions.
    trainable
        Learn the frequencies (initialised at nπ/c).
    """

    def __init__(self, cutoff: float, n_basis: int = 8, trainable: bool = False) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        frequencies = torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype()) * math.pi / self.cutoff
        self.frequencies = nn.Parameter(frequencies, requires_grad=trainable)
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        d = distance.clamp_min(1e-9)[:, None]
        basis = self.prefactor * torch.sin(self.frequencies * d) / d
        return basis * polynomial_envelope(distance, self.cutoff)[:, None]
