"""Model devices for the NEGF tests (dense references are computed from these) and a toy H-wire record."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.graphs import build_graph
from hamtrans.negf import Device, lead_self_energies


def random_chain_device(n_sites: int = 14, orbitals: int = 2, lead_sites: int = 4, disorder: float = 0.5,
                        complex_hopping: bool = False, seed: int = 0):
    """Non-orthogonal multi-orbital chain with couplings to 1st and 2nd neighbours.

    The first and last ``lead_sites`` sites are clean (periodic); the interior has
    random onsite and coupling disorder. Returns ``(H, S, orbital_positions)``.
    """
    rng = np.random.default_rng(seed)

    def hermitian(scale):
        a = rng.normal(size=(orbitals, orbitals)) * scale
        return (a + a.T) / 2

    def coupling(scale):
        a = rng.normal(size=(orbitals, orbitals)) * scale
        if complex_hopping:
            a = a + 1j * rng.normal(size=(orbitals, orbitals)) * scale
        return a

    onsite_h, hop1_h, hop2_h = hermitian(1.0) + np.diag(np.arange(orbitals)), coupling(1.0), coupling(0.3)
    onsite_s, hop1_s, hop2_s = np.eye(orbitals), coupling(0.08).real, coupling(0.02).real
    n = n_sites * orbitals
    dtype = complex if complex_hopping else float
    h, s = np.zeros((n, n), dtype), np.zeros((n, n))
    block = lambda i: slice(i * orbitals, (i + 1) * orbitals)
    interior = lambda i: lead_sites <= i < n_sites - lead_sites
    for i in range(n_sites):
        h[block(i), block(i)] = onsite_h + (hermitian(disorder) if interior(i) else 0)
        s[block(i), block(i)] = onsite_s
        for distance, (hh, ss) in ((1, (hop1_h, hop1_s)), (2, (hop2_h, hop2_s))):
            j = i + distance
            if j < n_sites:
                noise = coupling(0.2 * disorder) if interior(i) and interior(j) else 0
                h[block(i), block(j)] = hh + noise
                s[block(i), block(j)] = ss
    h = np.triu(h, 1) + np.triu(h, 1).conj().T + np.diag(np.diag(h).real)
    s = np.triu(s, 1) + np.triu(s, 1).T + np.diag(np.diag(s))
    positions = np.zeros((n, 3))
    positions[:, 0] = np.repeat(np.arange(n_sites, dtype=float), orbitals)
    return sp.csr_matrix(h), sp.csr_matrix(s), positions


def hydrogen_wire_record(n_atoms: int = 14, perturb_second_cell: float = 0.0) -> Record:
    """Periodic H chain (GFN1 basis: 2 orbitals per atom) with a barrier in the middle, toy H and S blocks."""
    basis = OrbitalBasis.named("gfn1-xtb")
    atoms = Atoms("H" * n_atoms, positions=[[1.0 * k, 0, 0] for k in range(n_atoms)],
                  cell=[n_atoms * 1.0, 10.0, 10.0], pbc=[True, False, False])
    graph = build_graph(atoms, 1.2)
    onsite_h = np.tile(np.array([[0.0, 0.3], [0.3, 1.5]]), (n_atoms, 1, 1))
    onsite_h[n_atoms // 2] += 0.8 * np.eye(2)  # barrier atom
    onsite_h[1] += perturb_second_cell * np.eye(2)
    hop_h, hop_s = np.array([[-1.0, -0.4], [-0.4, -0.6]]), np.array([[0.1, 0.05], [0.05, 0.08]])
    onsite_s = np.tile(np.eye(2), (n_atoms, 1, 1))
    n_edges = graph.n_edges
    h = BlockSparseMatrix(basis, atoms.numbers, graph, onsite_h.ravel(), np.tile(hop_h, (n_edges, 1, 1)).ravel())
    s = BlockSparseMatrix(basis, atoms.numbers, graph, onsite_s.ravel(), np.tile(hop_s, (n_edges, 1, 1)).ravel())
    return Record(atoms, h, s, fermi_level=0.2, name="h-wire")


def write_dataset(path, record: Record) -> None:
    """A dataset at ``path`` holding ``record`` alone."""
    with DatasetWriter(path, record.hamiltonian.basis, {"source": "test"}) as writer:
        writer.append(record)


def dense_reference(device: Device, energies: np.ndarray, eta: float = 0.0) -> dict[str, np.ndarray]:
    """T, orbital DOS and G by inverting the whole ``zS − H − Σ`` (internal order)."""
    z = np.asarray(energies) + 1j * eta
    sigma_l, sigma_r = lead_self_energies(device, z)
    h, s = device.hamiltonian.toarray(), device.overlap.toarray()
    n, nl, nr = device.n_orbitals, device.block_sizes[0], device.block_sizes[-1]
    transmission, dos = [], []
    for k, zk in enumerate(z):
        full_l, full_r = np.zeros((n, n), complex), np.zeros((n, n), complex)
        full_l[:nl, :nl], full_r[-nr:, -nr:] = sigma_l[k], sigma_r[k]
        g = np.linalg.inv(zk * s - h - full_l - full_r)
        gamma_l, gamma_r = 1j * (full_l - full_l.conj().T), 1j * (full_r - full_r.conj().T)
        transmission.append(np.trace(gamma_l @ g @ gamma_r @ g.conj().T).real)
        spectral = 1j * (g - g.conj().T)
        dos.append(np.diag(spectral @ s).real / (2 * np.pi))
    return {"transmission": np.array(transmission), "dos": np.array(dos)}
