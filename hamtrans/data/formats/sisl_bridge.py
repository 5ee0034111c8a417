"""sisl bridge: block-sparse H, S with their cell shifts <-> ``sisl.Hamiltonian`` (and TBtrans' TSHS).

sisl (and SIESTA/TBtrans) order the functions of a shell as the standard real harmonics
``m = −l..l`` about z: ``p = (py, pz, px)``, ``d = (xy, yz, z², xz, x² − y²)`` (sisl's own
orbital names, checked by the tests). That is the ``"sisl"`` entry of
:data:`hamtrans.data.orbital_order.SOURCE_ORDERS`, the one conversion table of this format:
``H_sisl(S) = Tᵀ H(S) T`` with ``T`` of :func:`~hamtrans.data.orbital_order.orbital_transform`.

The supercell of the sisl geometry holds every cell shift of the graph (``nsc = 2 max|S| + 1``
per direction); sisl's Bloch phase ``H(k) = Σ_R H(R) e^{2πi k·R}`` is the one of
:meth:`~hamtrans.data.blocks.BlockSparseMatrix.to_sparse`, so eigenvalues at any ``k`` agree.
Energies are eV in both. :func:`write_tshs` writes SIESTA's binary TSHS through sisl, which
TBtrans and sisl read.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.graphs import AtomGraph
from hamtrans.data.orbital_order import orbital_transform
from hamtrans.errors import FileFormatError, HamtransError

ORDER = "sisl"


def _sisl():
    try:
        import sisl
    except ImportError:
        raise HamtransError("the sisl bridge needs sisl: pip install sisl (or pip install -e '.[sisl]')") from None
    return sisl


def to_sisl(atoms: Atoms, hamiltonian: BlockSparseMatrix, overlap: BlockSparseMatrix | None = None):
    """A ``sisl.Hamiltonian`` (eV) of ``atoms`` with every image of the blocks.

    Parameters
    ----------
    atoms
        The structure of the blocks (Å; its cell is the sisl lattice).
    hamiltonian, overlap
        Blocks on the same graph; ``overlap=None`` gives an orthogonal sisl Hamiltonian.
    """
    sisl = _sisl()
    if len(atoms) != len(hamiltonian.numbers) or np.any(atoms.numbers != hamiltonian.numbers):
        raise HamtransError("atoms and hamiltonian differ in their atoms: give the structure the blocks belong to")
    if overlap is not None and overlap.graph is not hamiltonian.graph and overlap.graph.n_edges != hamiltonian.graph.n_edges:
        raise HamtransError("H and S are on different graphs: give both blocks of one record or prediction")
    basis = hamiltonian.basis
    reach = float(hamiltonian.graph.distances.max(initial=1.0))
    species = {}
    for z in np.unique(atoms.numbers):
        orbitals, zeta = [], {}
        for l in basis.shells_of(int(z)):
            zeta[l] = zeta.get(l, 0) + 1
            orbitals += [sisl.AtomicOrbital(n=l + 1, l=l, m=m, zeta=zeta[l], R=reach) for m in range(-l, l + 1)]
        species[int(z)] = sisl.Atom(int(z), orbitals)
    shifts = hamiltonian.graph.shifts
    nsc = [2 * int(np.abs(shifts[:, a]).max(initial=0)) + 1 for a in range(3)]
    lattice = sisl.Lattice(np.asarray(atoms.cell), nsc=nsc)
    geometry = sisl.Geometry(atoms.positions, [species[int(z)] for z in atoms.numbers], lattice=lattice)
    transform = orbital_transform(basis, atoms.numbers, ORDER)

    def supercell_matrix(blocks: BlockSparseMatrix) -> sp.csr_matrix:
        n = blocks.n_orbitals
        columns = [sp.csr_matrix((n, n))] * geometry.n_s
        for shift, matrix in blocks.image_matrices().items():
            columns[geometry.lattice.sc_index(list(shift))] = (transform.T @ matrix @ transform).tocsr()
        return sp.hstack(columns, format="csr")

    h = supercell_matrix(hamiltonian)
    if overlap is None:
        return sisl.Hamiltonian.fromsp(geometry, [h])
    return sisl.Hamiltonian.fromsp(geometry, [h], supercell_matrix(overlap))


def from_sisl(hamiltonian, basis_name: str = "sisl") -> tuple[Atoms, BlockSparseMatrix, BlockSparseMatrix]:
    """``(atoms, H, S)`` from a ``sisl.Hamiltonian`` (eV): blocks on the graph of its nonzero couplings.

    Parameters
    ----------
    hamiltonian
        A non-spin-polarised ``sisl.Hamiltonian``; orthogonal ones get ``S = 1``.
    basis_name
        Name of the :class:`OrbitalBasis` built from the sisl atoms' orbitals.

    Raises
    ------
    FileFormatError
        A shell whose functions are not ``m = −l..l`` in order, an element with two
        different orbital sets, or spin components.
    """
    _sisl()
    geometry = hamiltonian.geometry
    if not hamiltonian.spin.is_unpolarized:
        raise FileFormatError("only non-polarised sisl Hamiltonians are supported (one spin component)")
    shells: dict[str, tuple[int, ...]] = {}
    for atom in geometry.atoms.atom:
        ls, k = [], 0
        orbitals = list(atom.orbitals)
        while k < len(orbitals):
            l = int(orbitals[k].l)
            ms = [int(o.m) for o in orbitals[k:k + 2 * l + 1]]
            if ms != list(range(-l, l + 1)) or any(int(o.l) != l for o in orbitals[k:k + 2 * l + 1]):
                raise FileFormatError(f"{atom.symbol}: orbitals {[o.name() for o in orbitals[k:k + 2 * l + 1]]} are "
                                      f"not one shell ordered m = −{l}..{l}")
            ls.append(l)
            k += 2 * l + 1
        if atom.symbol in shells and shells[atom.symbol] != tuple(ls):
            raise FileFormatError(f"element {atom.symbol} appears with two orbital sets: give one per element")
        shells[atom.symbol] = tuple(ls)
    basis = OrbitalBasis(basis_name, shells)
    atoms = Atoms(numbers=[a.Z for a in geometry.atoms], positions=geometry.xyz, cell=geometry.cell,
                  pbc=[n > 1 for n in geometry.nsc])
    n = geometry.no
    h_big = hamiltonian.tocsr(0).tocoo()
    s_big = (hamiltonian.tocsr(hamiltonian.S_idx) if not hamiltonian.orthogonal
             else sp.hstack([sp.identity(n)] + [sp.csr_matrix((n, n))] * (geometry.n_s - 1))).tocoo()
    owner = geometry.o2a(np.arange(n))
    # atom pairs and cell shifts with a nonzero entry in H or S: the block graph
    rows = np.concatenate([h_big.row, s_big.row])
    cols = np.concatenate([h_big.col, s_big.col])
    pair_i, pair_j, image = owner[rows], owner[cols % n], cols // n
    offsets = geometry.lattice.sc_off
    keys = np.unique(np.stack([pair_i, pair_j, image], 1), axis=0)
    keys = keys[~((keys[:, 0] == keys[:, 1]) & np.all(offsets[keys[:, 2]] == 0, axis=1))]
    graph = AtomGraph.from_edges(atoms, keys[:, :2].T, offsets[keys[:, 2]])[0]
    transform = orbital_transform(basis, atoms.numbers, ORDER)

    def blocks(big) -> BlockSparseMatrix:
        big = big.tocsr()
        images = {tuple(int(v) for v in offsets[isc]): transform @ big[:, isc * n:(isc + 1) * n] @ transform.T
                  for isc in range(geometry.n_s)}
        return BlockSparseMatrix.from_images(images, basis, atoms.numbers, graph)

    return atoms, blocks(h_big), blocks(s_big)


def write_tshs(path: str | os.PathLike, atoms: Atoms, hamiltonian: BlockSparseMatrix,
               overlap: BlockSparseMatrix, fermi_level: float | None = None) -> None:
    """SIESTA/TBtrans binary ``.TSHS`` file of H, S through sisl (which TBtrans and sisl read).

    A TSHS written by sisl stores no Fermi level, and TBtrans reads energies relative to
    E_F: with ``fermi_level`` (eV) the file holds ``H − E_F S``, so its E_F is 0.
    """
    sisl_hamiltonian = to_sisl(atoms, hamiltonian, overlap)
    if fermi_level is not None:
        sisl_hamiltonian.shift(-float(fermi_level))  # in place: H − E_F S
    sisl_hamiltonian.write(str(path))
