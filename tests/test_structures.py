import json

import numpy as np
import pytest

from hamtrans.data.graphs import build_graph, check_structure
from hamtrans.data.structures import (
    REGIONS,
    DeviceSpec,
    build_vcm_device,
    bulk_hfo2,
    bulk_ti,
    bulk_tin,
    cut_cluster,
    min_pair_distance,
)
from hamtrans.errors import HamtransError


def oxygen_in_cylinder(atoms, spec):
    ly, lz = atoms.cell.lengths()[1:]
    oxide = atoms.arrays["region"] == REGIONS["oxide"]
    delta = atoms.positions[:, 1:] - np.array(spec.filament_center) * [ly, lz]
    delta -= np.round(delta / [ly, lz]) * [ly, lz]
    return oxide & (atoms.numbers == 8) & (np.linalg.norm(delta, axis=1) < spec.filament_radius)


def test_default_device_layout():
    atoms = build_vcm_device(vacancies="none")
    region = atoms.arrays["region"]
    x = atoms.positions[:, 0]
    assert atoms.pbc.all() and atoms.info["transport_axis"] == 0
    # regions in order along x; electrodes are pure TiN of equal size, oxide is HfO2
    assert x[region == 1].min() > x[region == 0].max() and x[region == 2].min() > x[region == 1].max()
    assert np.sum(region == 0) == np.sum(region == 3)
    assert set(atoms[region == 0].get_chemical_symbols()) == {"Ti", "N"}
    oxide = atoms[region == 1]
    assert np.sum(oxide.numbers == 8) == 2 * np.sum(oxide.numbers == 72)
    assert set(atoms[region == 2].get_chemical_symbols()) == {"Ti"}
    check_structure(atoms, min_distance=1.6)


def test_relaxation_enforces_minimum_distances():
    atoms = build_vcm_device(vacancies="random", seed=4)
    graph = build_graph(atoms, 3.3)
    z = atoms.numbers[graph.edge_index]
    limits = np.array([min_pair_distance(int(a), int(b)) for a, b in z.T])
    assert np.all(graph.distances > limits - 0.05)


def test_electrodes_continue_across_boundary():
    atoms = build_vcm_device()
    graph = build_graph(atoms, 2.2)
    crossing = graph.shifts[:, 0] != 0
    d = graph.distances[crossing]
    assert crossing.any() and np.allclose(d, 2.12, atol=1e-6)  # perfect rock-salt Ti-N bonds across x


def test_vacancy_modes():
    spec = DeviceSpec(filament_radius=2.6, seed=1)
    pristine = build_vcm_device(spec, vacancies="none")
    random = build_vcm_device(spec, vacancies="random", vacancy_fraction=0.1)
    n_oxygen = np.sum(pristine.numbers == 8)
    assert np.sum(random.numbers == 8) == n_oxygen - round(0.1 * n_oxygen)
    filament = build_vcm_device(spec, vacancies="filament", oxide_rattle=0.0)
    removed = n_oxygen - np.sum(filament.numbers == 8)
    assert removed > 0
    assert not oxygen_in_cylinder(filament, spec).any()
    broken = build_vcm_device(spec, vacancies="broken", oxide_rattle=0.0)
    kept = oxygen_in_cylinder(broken, spec)
    assert 0 < kept.sum() < removed  # oxygen only in the gap
    span = np.ptp(broken.positions[kept, 0])
    assert span <= spec.gap_length + 0.8


def test_seeded_and_recorded():
    a, b = build_vcm_device(seed=7), build_vcm_device(seed=7)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.array_equal(a.positions, build_vcm_device(seed=8).positions)
    assert json.loads(a.info["device"])["seed"] == 7


def test_paper_size_device():
    """The paper's cell: 93.4 Å long, 5,268 atoms."""
    atoms = build_vcm_device(cross_section=(25.44, 25.44), electrode_length=21.2, oxide_length=34.0, ti_length=14.0)
    assert len(atoms) == pytest.approx(5268, abs=100)
    assert atoms.cell.lengths()[0] == pytest.approx(93.4, abs=1.0)


def test_bad_cross_section():
    with pytest.raises(HamtransError, match="does not fit whole cells"):
        build_vcm_device(cross_section=(10.6, 12.72))
    with pytest.raises(HamtransError, match="vacancies must be"):
        build_vcm_device(vacancies="lots")


def test_bulk_and_cluster_builders():
    assert len(bulk_hfo2()) == 12 and len(bulk_tin()) == 8 and len(bulk_ti()) == 4
    for atoms in (bulk_hfo2((2, 2, 2)), bulk_tin((2, 2, 2)), bulk_ti((3, 2, 2))):
        check_structure(atoms, min_distance=1.9)
    cluster = cut_cluster(bulk_hfo2((2, 2, 2)), center=0, radius=3.0)
    assert not cluster.pbc.any() and cluster.get_chemical_formula() == "HfO8"


def test_nanowire_and_no_ti_options():
    wire = build_vcm_device(cross_section=(8.48, 8.48), vacuum=9.0, ti_length=0.0)
    np.testing.assert_allclose(wire.cell.lengths()[1:], [17.48, 17.48])
    assert not np.any(wire.arrays["region"] == REGIONS["ti"])
    yz = wire.positions[:, 1:]
    assert yz.min() > 4.5 - 1.0 and yz.max() < 4.5 + 8.48 + 1.0  # the wire is centred in its vacuum
    stack = build_vcm_device(ti_length=4.24, vacancies="none", ti_rattle=0.0)
    ti = stack[stack.arrays["region"] == REGIONS["ti"]]
    graph = build_graph(ti, 3.1)
    assert len(ti) > 0 and np.median(graph.distances) == pytest.approx(3.0, abs=0.01)  # epitaxial fcc Ti


def test_electrode_matches_the_device_electrode_lattice():
    from hamtrans.data.structures import build_electrode

    spec = DeviceSpec(cross_section=(8.48, 8.48), electrode_length=8.48, oxide_length=5.0, ti_length=0.0, vacuum=6.0)
    device, electrode = build_vcm_device(spec), build_electrode(spec, cells=3)
    assert electrode.get_chemical_formula() == "N48Ti48" and electrode.cell.lengths()[0] == pytest.approx(12.72)
    np.testing.assert_allclose(electrode.cell.lengths()[1:], device.cell.lengths()[1:])
    left = device[device.arrays["region"] == 0]
    left = left[left.positions[:, 0] < 4.24 - 1e-3]
    first = electrode[electrode.positions[:, 0] < 4.24 - 1e-3]
    key = lambda atoms: sorted(zip(atoms.get_chemical_symbols(), *np.round(atoms.positions.T, 6)))
    assert key(left) == key(first)  # the same sites: a separately computed electrode maps onto the device
