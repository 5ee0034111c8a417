"""Irreps ↔ orbital blocks through Clebsch–Gordan coupling.

A block between an atom with shells ``(l_a, ...)`` and one with shells
``(l_b, ...)`` holds, for every shell pair ``(l1, l2)``, the product
representation ``l1 ⊗ l2 = ⊕_{L=|l1−l2|}^{l1+l2} L`` with parity ``(−1)^{l1+l2}``.
:class:`BlockCoupling` stores, per element pair, the irreps of all these
components ("slots", one copy each: their dimensions add up to ``n_a · n_b``)
and the orthogonal matrix that maps the slot vector onto the row-major flat
block using e3nn's real Wigner 3j symbols. Equivariance follows: rotating the
slots by ``D^L`` rotates the block as ``D^{l_a} B D^{l_b}ᵀ``.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3

from hamtrans.data.basis import OrbitalBasis


def shell_pair_irreps(l1: int, l2: int) -> list[tuple[int, int]]:
    """``(L, parity)`` components of ``l1 ⊗ l2`` in ascending L."""
    parity = (-1) ** (l1 + l2)
    return [(big_l, parity) for big_l in range(abs(l1 - l2), l1 + l2 + 1)]


def coupling_matrix(shells_a: tuple[int, ...], shells_b: tuple[int, ...]) -> tuple[o3.Irreps, torch.Tensor]:
    """Slot irreps and the ``(n_a·n_b, n_a·n_b)`` orthogonal map slots → flat row-major block.

    Slots are ordered by shell pair (row shell major), then by L.
    """
    n_a = sum(2 * l + 1 for l in shells_a)
    n_b = sum(2 * l + 1 for l in shells_b)
    matrix = torch.zeros(n_a * n_b, n_a * n_b, dtype=torch.float64)
    irreps = []
    column = 0
    row_offset = 0
    for l1 in shells_a:
        col_offset = 0
        for l2 in shells_b:
            for big_l, parity in shell_pair_irreps(l1, l2):
                w3j = o3.wigner_3j(l1, l2, big_l, dtype=torch.float64) * math.sqrt(2 * big_l + 1)
                for m1 in range(2 * l1 + 1):
                    for m2 in range(2 * l2 + 1):
                        flat = (row_offset + m1) * n_b + col_offset + m2
                        matrix[flat, column:column + 2 * big_l + 1] = w3j[m1, m2]
                irreps.append((1, (big_l, parity)))
                column += 2 * big_l + 1
            col_offset += 2 * l2 + 1
        row_offset += 2 * l1 + 1
    return o3.Irreps(irreps), matrix


class BlockCoupling(torch.nn.Module):
    """Slot irreps and coupling matrices for every ordered element pair of a basis.

    Parameters
    ----------
    basis
        The orbital basis.
    species
        Atomic numbers the model knows, in the model's species order.
    """

    def __init__(self, basis: OrbitalBasis, species: list[int]) -> None:
        super().__init__()
        self.species = list(species)
        self.pair_irreps: dict[tuple[int, int], o3.Irreps] = {}
        for a, za in enumerate(self.species):
            for b, zb in enumerate(self.species):
                irreps, matrix = coupling_matrix(basis.shells_of(za), basis.shells_of(zb))
                self.pair_irreps[(a, b)] = irreps
                self.register_buffer(f"coupling_{a}_{b}", matrix.to(torch.get_default_dtype()))

    def matrix(self, a: int, b: int) -> torch.Tensor:
        """Slots → flat block map for species indices ``(a, b)``."""
        return getattr(self, f"coupling_{a}_{b}")

    def all_irreps(self) -> o3.Irreps:
        """Every ``(L, parity)`` any slot needs (multiplicity 1 each), sorted."""
        found = set()
        for irreps in self.pair_irreps.values():
            for _, ir in irreps:
                found.add((ir.l, ir.p))
        return o3.Irreps([(1, (l, p)) for l, p in sorted(found)])
