"""Separately computed electrodes attached to a device's ends (TranSIESTA-style splice)."""

import numpy as np
import pytest

from hamtrans.errors import LeadError
from hamtrans.negf import Device, transmission
from hamtrans.negf.electrodes import Electrode
from hamtrans.negf.tight_binding import chain, square_strip

ENERGIES = np.array([-2.5, -1.3, -0.2, 0.4, 1.7])


def strip_electrode(width=3, columns=4, overlap=0.1, offset=0.0):
    h, s, positions = square_strip(width, 0, overlap=overlap, lead_columns=columns // 2)
    positions[:, 0] += offset
    return Electrode.from_matrices(h, s, positions, axis=0)


def test_separate_electrode_equals_the_devices_own_leads():
    h, s, positions = square_strip(3, 6, disorder=2.0, overlap=0.1, seed=3)
    own = Device.from_matrices(h, s, positions)
    electrode = strip_electrode(offset=-40.0)  # any frame: mapped by a translation along the axis
    assert electrode.n_orbitals == 3 and electrode.thickness == pytest.approx(1.0)
    spliced = Device.from_matrices(h, s, positions, electrodes=(electrode, electrode))
    assert spliced.electrode_mismatch == (0.0, 0.0)
    np.testing.assert_allclose(transmission(spliced, ENERGIES), transmission(own, ENERGIES), rtol=0, atol=1e-10)


def test_device_end_is_a_scatterer_against_the_bulk_electrode():
    # orthogonal chain, E = 2t cos k; an onsite ε on the device's first site (its end block) scatters:
    # T = (2t sin k)² / ((2t sin k)² + ε²)
    t, eps = -1.0, 0.7
    onsite = np.zeros(8)
    onsite[0] = eps
    h, s, positions = chain(8, hopping=t, onsite=onsite)
    electrode = Electrode.from_matrices(*chain(3, hopping=t), axis=0)
    device = Device.from_matrices(h, s, positions, electrodes=(electrode, electrode), electrode_tolerance=1.0)
    assert device.electrode_mismatch == pytest.approx((eps, 0.0))
    energies = np.array([-1.5, -0.4, 0.3, 1.2])
    k = np.arccos(energies / (2 * t))
    expected = (2 * t * np.sin(k)) ** 2 / ((2 * t * np.sin(k)) ** 2 + eps**2)
    np.testing.assert_allclose(transmission(device, energies), expected, rtol=1e-9)


def test_bad_electrodes_are_refused():
    h, s, positions = square_strip(3, 4, disorder=1.0, seed=1)
    with pytest.raises(LeadError, match="is not a cell of the given electrode"):
        Device.from_matrices(h, s, positions, electrodes=(strip_electrode(width=4),) * 2)
    shifted = h.tolil()
    shifted[0, 0] = 0.4  # the device's left end is not the electrode's bulk
    with pytest.raises(LeadError, match="left end block differs from the electrode cell by 4.000e-01 eV"):
        Device.from_matrices(shifted.tocsr(), s, positions, electrodes=(strip_electrode(overlap=0.0),) * 2,
                             electrode_tolerance=0.1)


def test_potential_alignment_absorbs_a_gauge_shift_of_the_device():
    # the same device computed with another potential zero: H + c S. Aligned, the bulk electrode follows it.
    c = 0.37
    h, s, positions = square_strip(3, 5, disorder=1.5, overlap=0.1, seed=2)
    own = transmission(Device.from_matrices(h, s, positions), ENERGIES)
    electrode = strip_electrode()
    with pytest.raises(LeadError, match="differs from the electrode cell"):
        Device.from_matrices(h + c * s, s, positions, electrodes=(electrode,) * 2)
    aligned = Device.from_matrices(h + c * s, s, positions, electrodes=(electrode,) * 2, align_electrodes=True)
    assert aligned.electrode_shift == pytest.approx(c, abs=1e-12)
    assert max(aligned.electrode_mismatch) < 1e-12
    np.testing.assert_allclose(transmission(aligned, ENERGIES + c), own, atol=1e-10)


def test_electrode_fermi_level_fills_its_bands():
    # chain band E = 2t cos k, one orbital per cell: half filling at E = 0, quarter filling at 2t cos(π/4)
    electrode = Electrode.from_matrices(*chain(4, hopping=-1.0), axis=0)
    assert electrode.fermi_level(1.0, 300.0, 400) == pytest.approx(0.0, abs=0.02)
    assert electrode.fermi_level(0.5, 300.0, 400) == pytest.approx(-2 * np.cos(np.pi / 4), abs=0.02)
    assert electrode.fermi_level(0.5, 300.0, 400) + 0.3 == pytest.approx(
        Electrode(electrode.lead.shifted(0.3), electrode.orbital_positions, electrode.orbital_atoms,
                  electrode.thickness, 0).fermi_level(0.5, 300.0, 400), abs=1e-9)


def test_valence_electron_counts():
    from hamtrans.data.electrons import valence_electrons
    from hamtrans.errors import HamtransError

    assert valence_electrons("gfn1-xtb-compact", [22, 7, 72, 8, 8]) == 4 + 5 + 4 + 12
    assert valence_electrons("szv-molopt-sr-gth", [22]) == 12
    with pytest.raises(HamtransError, match="no valence-electron table for basis 'sto-3g'"):
        valence_electrons("sto-3g", [22])
