"""Atom-resolved DOS of open devices: the analytic chain with overlap, the k-sum, the CLI files."""

import json

import numpy as np
import pytest

from hamtrans.cli import main
from hamtrans.errors import HamtransError
from hamtrans.negf import Device, biased_device, periodic_electrodes
from hamtrans.negf.density_of_states import atom_dos
from hamtrans.negf.kpoints import kpoint_devices, transverse_kpoints
from hamtrans.negf.tight_binding import chain
from tests.lattice_films import BASIS, SPACING, lattice_film, write_film_dataset


def chain_states_per_site(energies, hopping, overlap):
    """States per site and eV of the infinite chain ``E(k) = 2t cos k / (1 + 2s cos k)`` (ε = 0)."""
    c = energies / (2 * hopping - 2 * overlap * energies)  # cos k at E
    return (1 + 2 * overlap * c) ** 2 / (np.pi * abs(2 * hopping) * np.sqrt(1 - c**2))


def test_inner_sites_of_a_clean_non_orthogonal_chain_have_the_bulk_mulliken_dos():
    hopping, overlap = -1.0, 0.15
    energies = np.array([-1.4, -0.9, -0.2, 0.4, 1.3, 2.6])  # inside the band [−1.54, 2.86]
    device = Device.from_matrices(*chain(10, hopping, overlap))
    assert device.block_sizes[0] == device.block_sizes[-1] == 1
    result = atom_dos(device, energies)
    expected = chain_states_per_site(energies, hopping, overlap)
    np.testing.assert_allclose(result.atom_dos[:, 1:-1], np.repeat(expected[:, None], 8, axis=1), rtol=1e-9)
    # the orthogonal chain's DOS at the same energies is another function: the overlap is in the sum
    common = np.abs(energies) < 2  # inside the orthogonal band too
    assert np.abs(chain_states_per_site(energies[common], hopping, 0.0) / expected[common] - 1).max() > 0.1
    # the end slabs lack the overlap population with the leads (S_DL is outside the device) ...
    assert np.all(np.abs(result.atom_dos[:, [0, -1]] / expected[:, None] - 1) > 1e-3)
    # ... which vanishes with S = I: then every site is bulk
    orthogonal = atom_dos(Device.from_matrices(*chain(10, hopping)), energies[common])
    bulk = chain_states_per_site(energies[common], hopping, 0.0)
    np.testing.assert_allclose(orthogonal.atom_dos, np.repeat(bulk[:, None], 10, axis=1), rtol=1e-9)
    np.testing.assert_allclose(result.total, result.atom_dos.sum(1))
    outside = atom_dos(device, [-1.6, 3.0])
    np.testing.assert_allclose(outside.atom_dos, 0.0, atol=1e-10)


def test_kpoint_averaged_dos_equals_the_supercell_at_gamma_per_atom():
    cutoff, lead_cell = 3.2, 3 * SPACING
    atoms, h, s = lattice_film(12, 2, 1, cutoff, barrier=0.9)
    kpoints = transverse_kpoints((1, 2, 1))
    energies = np.array([-2.7, -1.1, 0.35, 1.6])
    result = atom_dos(kpoint_devices(h, s, atoms, kpoints, lead_cell=lead_cell), energies, kpoints.weights)
    big, bh, bs = lattice_film(12, 4, 1, cutoff, barrier=0.9)
    supercell = Device.from_atoms(bh.to_sparse(axis=0), bs.to_sparse(axis=0), big, BASIS,
                                  electrodes=periodic_electrodes(bh, bs, big, 0, lead_cell))
    folded = atom_dos(supercell, energies).atom_dos.reshape(4, 12, 2, 2).sum(2)  # (E, x, y mod 2) over the images
    assert result.atom_dos.max() > 0.05
    np.testing.assert_allclose(result.atom_dos.reshape(4, 12, 2), folded / 2, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(result.positions, atoms.positions, atol=1e-12)
    centres, sliced = result.along_axis(SPACING)
    np.testing.assert_allclose(centres, (np.arange(12) + 0.5) * SPACING)
    np.testing.assert_allclose(sliced, result.atom_dos.reshape(4, 12, 2).sum(2), rtol=1e-12)


def test_bad_dos_input_is_a_named_error():
    devices = [Device.from_matrices(*chain(6))] * 2
    with pytest.raises(HamtransError, match="needs their 2 weights"):
        atom_dos(devices, [0.1])
    with pytest.raises(HamtransError, match="positive length"):
        atom_dos(devices[0], [0.1]).along_axis(0.0)


def test_transport_command_writes_the_k_averaged_atom_dos_and_its_plot(tmp_path):
    atoms, h, s = write_film_dataset(tmp_path / "film.h5")
    out = tmp_path / "out"
    assert main(["transport", str(tmp_path / "film.h5"), "--leads", "periodic", "--lead-cell", str(3 * SPACING),
                 "--kpoints", "1", "2", "1", "--points", "5", "--bias", "0.2", "--dos", "--out", str(out)]) == 0
    table = np.loadtxt(out / "dos.dat")
    assert table.shape == (5, 3 + len(atoms))
    np.testing.assert_allclose(table[:, 1], table[:, 0] + 1.0, atol=1e-6)
    np.testing.assert_allclose(table[:, 2], table[:, 3:].sum(1), rtol=1e-5)
    kpoints = transverse_kpoints((1, 2, 1))
    devices = [biased_device(d, 0.2) for d in kpoint_devices(h, s, atoms, kpoints, lead_cell=3 * SPACING)]
    np.testing.assert_allclose(table[:, 3:], atom_dos(devices, table[:, 0], kpoints.weights).atom_dos, rtol=1e-5)
    assert (out / "dos.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "current.json").read_text())["kpoint_mesh"] == [1, 2, 1]
