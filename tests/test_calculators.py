"""ASE calculators for Hamiltonians (model or reference behind one interface) and transport."""

import numpy as np
import pytest
from ase import Atoms

from hamtrans.calculators import HamiltonianCalculator, TransportCalculator
from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import bulk_tin
from hamtrans.errors import FileFormatError, HamtransError, UnknownElementError
from hamtrans.models import HamiltonianPredictor
from tests.conftest import CLUSTER_POSITIONS, CLUSTER_SYMBOLS
from tests.toy_electronic import unit_overlap_models

@pytest.fixture(scope="module")
def predictor() -> HamiltonianPredictor:
    """Random-weight H model and an overlap model fixed to S = 1 (a well-conditioned toy electronic structure)."""
    return HamiltonianPredictor(*unit_overlap_models())


def test_model_calculator_matches_the_predictor_and_caches(predictor):
    atoms = bulk_tin((2, 1, 1))
    calls = []
    original = predictor.predict

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    calc = HamiltonianCalculator(model=predictor)
    predictor.predict = counting
    try:
        atoms.calc = calc
        h = calc.get_property("hamiltonian", atoms)
        s = calc.get_property("overlap", atoms)
        assert len(calls) == 1  # unchanged atoms: no second prediction
        reference_h, reference_s = original(atoms)
        np.testing.assert_allclose(h.toarray(), reference_h.to_sparse().toarray(), atol=1e-12)
        np.testing.assert_allclose(s.toarray(), np.eye(s.shape[0]), atol=1e-12)
        atoms.positions[0, 0] += 0.1
        calc.get_property("hamiltonian", atoms)
        assert len(calls) == 2
    finally:
        predictor.predict = original
    assert len(calc.orbital_slices()) == len(atoms) and calc.orbital_slices()[-1].stop == h.shape[0]


def test_reference_calculator_is_interchangeable():
    cluster = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    calc = HamiltonianCalculator(reference="gfn1-xtb", reference_options={"cutoff": 5.0})
    h = calc.get_property("hamiltonian", cluster)
    direct = TBLiteReference(cutoff=5.0).compute(cluster)
    np.testing.assert_allclose(h.toarray(), direct.hamiltonian.to_sparse().toarray(), atol=1e-10)
    assert calc.fermi_level == pytest.approx(direct.fermi_level)


def test_calculator_errors(predictor, tmp_path):
    with pytest.raises(HamtransError, match="exactly one"):
        HamiltonianCalculator()
    with pytest.raises(HamtransError, match="unknown reference"):
        HamiltonianCalculator(reference="pbe")
    with pytest.raises(FileFormatError, match="does not exist"):
        HamiltonianCalculator(model=tmp_path / "missing.pt")
    with pytest.raises(UnknownElementError, match="H"):
        HamiltonianCalculator(model=predictor).get_property("hamiltonian", Atoms(CLUSTER_SYMBOLS, CLUSTER_POSITIONS))


def test_transport_through_a_perfect_wire_is_integer_and_conducts(predictor):
    wire = bulk_tin((6, 1, 1))  # periodic along x: electrodes continue across the cell boundary
    fermi = 0.0
    calc = TransportCalculator(HamiltonianCalculator(model=predictor), axis="x", bias=0.2, fermi_level=fermi,
                               energies=np.linspace(-1.0, 1.0, 9))
    with pytest.raises(HamtransError, match="periodic along the transport axis"):
        calc.get_property("current", Atoms(wire.symbols, wire.positions, cell=wire.cell, pbc=[False, True, True]))
    unbiased = TransportCalculator(HamiltonianCalculator(model=predictor), axis="x", fermi_level=fermi,
                                   energies=np.linspace(-1.0, 1.0, 9))
    unbiased.get_property("current", wire)
    assert "transmission" not in unbiased.results  # only what was asked for is computed
    device = unbiased.device
    t = unbiased.get_property("transmission", wire)
    assert unbiased.device is device  # same atoms: the device is not rebuilt
    np.testing.assert_allclose(t, np.round(t), atol=1e-6)  # a perfect crystal: integer channel counts
    assert unbiased.results["current"] == 0.0
    assert calc.get_property("current", wire) > 0
    with pytest.raises(HamtransError, match="Fermi level"):
        TransportCalculator(HamiltonianCalculator(model=predictor), axis="x").get_property("current", wire)
