"""O(3) equivariance checks shared by the model tests: random rotations, the inversion, a mirror, a rotoinversion.

A Hamiltonian or overlap model is E(3)-equivariant when, for every orthogonal ``R`` (det ±1)
and translation, the matrices of the moved structure are ``D(R) H D(R)ᵀ``, with the orbitals'
Wigner matrices and their parity ``(−1)^l`` (:func:`hamtrans.data.orbital_order.rotation_matrix_for_orbitals`).
An interatomic potential's energy is invariant, its forces turn with ``R`` and its virial as
``R W Rᵀ``. Periodic structures have their cell moved with them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.orbital_order import rotation_matrix_for_orbitals

#: Translation applied together with every transformation (Å).
SHIFT = np.array([0.3, -1.2, 2.0])


def o3_elements(seed: int = 0, rotations: int = 2) -> list[tuple[str, np.ndarray]]:
    """``rotations`` random proper rotations, the inversion, the mirror x → −x and a random rotoinversion."""
    random = Rotation.random(rotations + 1, random_state=seed).as_matrix()
    elements = [(f"rotation {i}", r) for i, r in enumerate(random[:rotations])]
    return elements + [("inversion", -np.eye(3)), ("mirror", np.diag([-1.0, 1.0, 1.0])),
                       ("rotoinversion", -random[rotations])]


def moved(atoms: Atoms, transformation: np.ndarray) -> Atoms:
    """``atoms`` with positions (and cell) mapped by ``x → R x + SHIFT``."""
    copy = atoms.copy()
    if atoms.pbc.any():
        copy.set_cell(atoms.cell.array @ transformation.T)
    copy.positions = atoms.positions @ transformation.T + SHIFT
    return copy


def assert_matrices_equivariant(predict: Callable[[Atoms], Sequence], atoms: Atoms, basis: OrbitalBasis,
                                tolerance: float, seed: int = 0) -> None:
    """Check ``predict(R·atoms) = D predict(atoms) Dᵀ`` for every element of :func:`o3_elements`.

    Parameters
    ----------
    predict
        Structure → sequence of orbital matrices (:class:`~hamtrans.data.blocks.BlockSparseMatrix`
        or dense arrays), all in ``basis`` and in the structure's atom order.
    tolerance
        Largest allowed deviation relative to ``max(1, max |H|)``.

    Raises
    ------
    AssertionError
        Naming the transformation and the deviation; also when the matrices of the inverted
        structure equal the original ones without ``D`` (the check would be vacuous).
    """
    dense = [_dense(m) for m in predict(atoms)]
    scale = max(1.0, max(np.abs(m).max() for m in dense))
    for name, transformation in o3_elements(seed):
        d = rotation_matrix_for_orbitals(basis, atoms.numbers, transformation).toarray()
        for index, (original, turned) in enumerate(zip(dense, (_dense(m) for m in predict(moved(atoms, transformation))))):
            error = np.abs(d @ original @ d.T - turned).max()
            assert error < tolerance * scale, f"{name}, matrix {index}: |D H Dᵀ − H(R x)| = {error:.3g}"
            if name == "inversion":  # negative control: odd-l blocks must change sign
                assert np.abs(original - turned).max() > 1e-3 * scale, "the inversion left the matrices unchanged"


def assert_potential_equivariant(evaluate: Callable[[Atoms], dict], atoms: Atoms, tolerance: float,
                                 seed: int = 0) -> None:
    """Energy invariant, forces ``F R ᵀ``, virial ``R W Rᵀ`` (when returned) for every element of :func:`o3_elements`.

    ``evaluate``: structure → ``{"energy": eV, "forces": (n, 3) eV/Å, optional "virial": (3, 3) eV}``.
    """
    reference = evaluate(atoms)
    for name, transformation in o3_elements(seed):
        out = evaluate(moved(atoms, transformation))
        assert abs(out["energy"] - reference["energy"]) < tolerance, f"{name}: energy"
        np.testing.assert_allclose(out["forces"], reference["forces"] @ transformation.T, atol=tolerance,
                                   err_msg=f"{name}: forces")
        if "virial" in reference:
            np.testing.assert_allclose(out["virial"], transformation @ reference["virial"] @ transformation.T,
                                       atol=tolerance, err_msg=f"{name}: virial")


def _dense(matrix) -> np.ndarray:
    return matrix.to_sparse().toarray() if hasattr(matrix, "to_sparse") else np.asarray(matrix)
