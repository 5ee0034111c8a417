"""Bond currents: conservation at every interior atom, the plane sums equal T(E) and the Landauer current."""

import numpy as np
import pytest

from hamtrans.errors import HamtransError
from hamtrans.negf import Device, current, transmission
from hamtrans.negf.bond_currents import bond_currents, bond_transmission
from hamtrans.negf.tight_binding import square_strip
from tests.negf_systems import hydrogen_wire_record, random_chain_device, write_dataset


def interior_atoms(device: Device) -> np.ndarray:
    """Atoms (input numbering) outside the two lead principal layers."""
    lead = np.concatenate([device.orbital_atoms[:device.block_sizes[0]], device.orbital_atoms[-device.block_sizes[-1]:]])
    return np.setdiff1d(np.unique(device.orbital_atoms), lead)


@pytest.mark.parametrize("complex_hopping", [False, True])
def test_bond_flux_is_conserved_and_every_plane_carries_the_transmission(complex_hopping):
    """Non-orthogonal two-orbital chain with couplings to second neighbours (bonds skip over planes)."""
    h, s, positions = random_chain_device(n_sites=16, orbitals=2, complex_hopping=complex_hopping, seed=3)
    device = Device.from_matrices(h, s, positions)
    energies = np.array([-0.7, 0.2, 0.9, 1.6])
    bonds = bond_transmission(device, energies)
    expected = transmission(device, energies)
    assert expected.max() > 0.3
    for plane in (3.5, 5.5, 7.5, 10.5, 12.5):
        np.testing.assert_allclose(bonds.through_plane(plane), expected, rtol=1e-9, atol=1e-12)
    inside = interior_atoms(device)
    assert np.abs(bonds.atom_balance()[:, inside]).max() < 1e-10 * expected.max()
    # first- and second-neighbour bonds share the flux across a plane: parallel paths, not one chain of bonds
    x = bonds.positions[bonds.atoms, 0]
    crossing = (x[:, 0] < 7.5) & (x[:, 1] > 7.5)
    assert np.sum(np.abs(bonds.transmission[1, crossing]) > 1e-3 * expected[1]) >= 3


def test_bond_flux_of_a_disordered_strip_takes_many_paths_and_is_conserved():
    h, s, positions = square_strip(width=6, length=10, disorder=2.0, overlap=0.1, seed=2)
    device = Device.from_matrices(h, s, positions)
    energies = np.array([-1.2, 0.4])
    bonds = bond_transmission(device, energies)
    expected = transmission(device, energies)
    for plane in (2.5, 6.5, 9.5):
        np.testing.assert_allclose(bonds.through_plane(plane), expected, rtol=1e-9, atol=1e-12)
    balance = bonds.atom_balance()[:, interior_atoms(device)]
    assert np.abs(balance).max() < 1e-10
    # flux along y (within a column) exists: the paths are not straight lines
    along_y = bonds.positions[bonds.atoms[:, 0], 0] == bonds.positions[bonds.atoms[:, 1], 0]
    assert np.abs(bonds.transmission[:, along_y]).max() > 1e-2


def test_bond_currents_across_a_plane_equal_the_landauer_current():
    h, s, positions = random_chain_device(n_sites=14, orbitals=2, seed=3)
    device = Device.from_matrices(h, s, positions)
    result = bond_currents(device, bias=0.4, temperature=300.0, fermi_level=0.2, points=61)
    landauer = current(device, 0.4, 300.0, 0.2, grid="uniform", points=61)
    assert abs(landauer.current) > 1e-7
    for plane in (4.5, 6.5, 9.5):
        assert result.through_plane(plane) == pytest.approx(landauer.current, rel=1e-9)
    assert np.abs(result.atom_balance()[interior_atoms(device)]).max() < 1e-9 * abs(landauer.current)
    assert result.error.shape == result.current.shape


def test_bond_currents_refuse_zero_bias():
    h, s, positions = random_chain_device()
    with pytest.raises(HamtransError, match="bias = 0"):
        bond_currents(Device.from_matrices(h, s, positions), bias=0.0)


def test_transport_command_writes_bond_currents_and_their_plot(tmp_path):
    from hamtrans.cli import main

    write_dataset(tmp_path / "wire.h5", hydrogen_wire_record())
    out = tmp_path / "out"
    assert main(["transport", str(tmp_path / "wire.h5"), "--bias", "0.3", "--points", "11", "--bond-currents", "31",
                 "--out", str(out)]) == 0
    table = np.loadtxt(out / "bond_currents.dat")
    summary = __import__("json").loads((out / "current.json").read_text())
    # the chain's bond 6 -> 7 carries the whole current (nearest neighbours only)
    bond = table[(table[:, 0] == 6) & (table[:, 1] == 7)]
    assert bond[0, 2] == pytest.approx(summary["current_A"], rel=2e-2)  # adaptive current vs 31 trapezoid energies
    assert (out / "bond_currents.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["transport", str(tmp_path / "wire.h5"), "--bond-currents", "31", "--out", str(out)]) == 2
