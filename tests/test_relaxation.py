"""Oxide relaxation with the shipped potential: forces below fmax, electrodes fixed, Hf better coordinated."""

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from hamtrans.calculators.relaxation import relax_oxide
from hamtrans.data.structures import REGIONS, DeviceSpec, build_vcm_device
from hamtrans.errors import HamtransError


def oxygen_neighbours_of_hafnium(atoms) -> np.ndarray:
    i, j = neighbor_list("ij", atoms, 2.6)
    symbols = np.array(atoms.get_chemical_symbols())
    hafnium = np.flatnonzero((symbols == "Hf") & (atoms.arrays["region"] == REGIONS["oxide"]))
    return np.array([np.sum((i == h) & (symbols[j] == "O")) for h in hafnium])


def test_relaxed_oxide_meets_fmax_keeps_the_electrodes_and_binds_hafnium():
    atoms = build_vcm_device(DeviceSpec(cross_section=(8.48, 4.24), electrode_length=8.48, oxide_length=10.0,
                                        ti_length=0.0, vacancies="none", vacuum=0.0, seed=1))
    relaxed = relax_oxide(atoms, fmax=0.1, steps=600)
    info = relaxed.info["relaxation"]
    assert info["converged"] and info["fmax_eV_per_A"] < 0.1
    electrodes = atoms.arrays["region"] != REGIONS["oxide"]
    np.testing.assert_array_equal(relaxed.positions[electrodes], atoms.positions[electrodes])
    assert np.abs(relaxed.positions - atoms.positions).max() > 0.05
    assert oxygen_neighbours_of_hafnium(relaxed).min() > oxygen_neighbours_of_hafnium(atoms).min()
    assert relaxed.calc is None and not relaxed.constraints


def test_relaxation_needs_the_region_array_and_positive_limits():
    atoms = build_vcm_device(DeviceSpec(cross_section=(4.24, 4.24), electrode_length=4.24, oxide_length=5.0,
                                        ti_length=0.0, vacuum=0.0))
    bare = atoms.copy()
    del bare.arrays["region"]
    with pytest.raises(HamtransError, match="region"):
        relax_oxide(bare)
    with pytest.raises(HamtransError, match="fmax"):
        relax_oxide(atoms, fmax=0.0)
    with pytest.raises(HamtransError, match="steps"):
        relax_oxide(atoms, steps=0)
