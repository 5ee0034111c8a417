"""ASE calculators for Hamiltonians (model or reference behind one interface) and transport."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

from hamtrans.calculators import HamiltonianCalculator, TransportCalculator
from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import A_TIN, bulk_tin
from hamtrans.errors import FileFormatError, HamtransError, UnknownElementError
from hamtrans.models import HamiltonianPredictor
from tests.structures import CLUSTER_POSITIONS, CLUSTER_SYMBOLS
from tests.toy_electronic import unit_overlap_models


@pytest.fixture(scope="module")
def predictor() -> HamiltonianPredictor:
    """Random-weight H model and an overlap model fixed to S = 1 (a well-conditioned toy electronic structure)."""
    return HamiltonianPredictor(*unit_overlap_models())


def test_model_calculator_matches_the_predictor_and_caches(predictor):
    atoms = bulk_tin((2, 1, 1))
    calls = []
    original = predictor.predict_all

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    calc = HamiltonianCalculator(model=predictor)
    predictor.predict_all = counting
    try:
        atoms.calc = calc
        h = calc.get_property("hamiltonian", atoms)
        s = calc.get_property("overlap", atoms)
        assert len(calls) == 1  # unchanged atoms: no second prediction
        reference_h = original(atoms).hamiltonian
        np.testing.assert_allclose(h.toarray(), reference_h.to_sparse().toarray(), atol=1e-12)
        np.testing.assert_allclose(s.toarray(), np.eye(s.shape[0]), atol=1e-12)
        atoms.positions[0, 0] += 0.1
        calc.get_property("hamiltonian", atoms)
        assert len(calls) == 2
        with pytest.raises(PropertyNotImplementedError):  # a local model has no charges
            calc.get_property("charges", atoms)
    finally:
        predictor.predict_all = original
    assert len(calc.orbital_slices()) == len(atoms) and calc.orbital_slices()[-1].stop == h.shape[0]


def test_reference_calculator_is_interchangeable():
    cluster = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    calc = HamiltonianCalculator(reference="gfn1-xtb", reference_options={"cutoff": 5.0})
    h = calc.get_property("hamiltonian", cluster)
    direct = TBLiteReference(cutoff=5.0).compute(cluster)
    np.testing.assert_allclose(h.toarray(), direct.hamiltonian.to_sparse().toarray(), atol=1e-10)
    assert calc.fermi_level == pytest.approx(direct.fermi_level)
    np.testing.assert_allclose(calc.get_charges(cluster), direct.charges, atol=1e-10)


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
    # a model has no Fermi level of its own: the leads' bands give it, the same for the device's own
    # repeating end cells and for leads that continue the (perfect) wire across its cell boundary
    own = TransportCalculator(HamiltonianCalculator(model=predictor), leads="own")
    periodic = TransportCalculator(HamiltonianCalculator(model=predictor), leads="periodic", lead_cell=A_TIN)
    own.calculate(wire, properties=())
    periodic.calculate(wire, properties=())
    assert (own.setup.leads, periodic.setup.leads) == ("own", "periodic")
    assert own.fermi_level == pytest.approx(periodic.fermi_level, abs=1e-6)
    assert np.isfinite(own.fermi_level)


def test_separate_electrode_and_sub_basis_in_the_calculators(predictor):
    wire = bulk_tin((6, 1, 1))
    energies = np.linspace(-1.0, 1.0, 5)
    own = TransportCalculator(HamiltonianCalculator(model=predictor), axis="x", fermi_level=0.0, energies=energies)
    spliced = TransportCalculator(HamiltonianCalculator(model=predictor), axis="x", fermi_level=0.0,
                                  energies=energies, electrode=bulk_tin((4, 1, 1)))
    # a perfect wire: its end cells are bulk, so the separate electrode changes nothing
    np.testing.assert_allclose(spliced.get_property("transmission", wire), own.get_property("transmission", wire),
                               atol=1e-8)
    assert max(spliced.device.electrode_mismatch) < 1e-5
    periodic = TransportCalculator(HamiltonianCalculator(model=predictor), axis="x", fermi_level=0.0,
                                   energies=energies, electrode="periodic", lead_cell=4.24)
    np.testing.assert_allclose(periodic.get_property("transmission", wire), own.get_property("transmission", wire),
                               atol=1e-8)
    assert max(periodic.device.electrode_mismatch) < 1e-5
    with pytest.raises(HamtransError, match="needs lead_cell"):
        TransportCalculator(HamiltonianCalculator(model=predictor), electrode="periodic").get_property("current", wire)
    electrode = spliced.electrode
    wire.positions[np.argsort(wire.positions[:, 0])[len(wire) // 2], 1] += 0.01  # an interior atom
    spliced.get_property("transmission", wire)
    assert spliced.electrode is electrode  # computed once, reused for every device

    full = HamiltonianCalculator(model=predictor).get_property("hamiltonian", wire).toarray()
    compact = HamiltonianCalculator(model=predictor, basis="gfn1-xtb-compact")
    keep = np.concatenate([sl.start + np.arange({22: 6, 7: 4}[z]) for sl, z in
                           zip(HamiltonianCalculator(model=predictor).orbital_slices(wire), wire.numbers)])
    np.testing.assert_allclose(compact.get_property("hamiltonian", wire).toarray(), full[np.ix_(keep, keep)], atol=1e-12)
    with pytest.raises(HamtransError, match="not a sub-basis"):
        HamiltonianCalculator(model=predictor, basis="szv-molopt-sr-gth")


def test_reference_for_a_model_uses_its_block_cutoff_and_basis():
    from ase import Atoms

    from hamtrans.calculators import HamiltonianCalculator
    from hamtrans.errors import ParameterError

    atoms = Atoms("HfO2", positions=[[0, 0, 0], [1.9, 0.2, 0], [-0.3, 1.9, 0.4]])
    atoms.center(vacuum=6.0)
    model = HamiltonianCalculator(model="vcm-gfn1", basis="gfn1-xtb-compact")
    reference = HamiltonianCalculator.reference_for(model)
    assert reference.generator.cutoff == model.predictor.config.block_cutoff
    h_model, h_ref = model.get_property("hamiltonian", atoms), reference.get_property("hamiltonian", atoms)
    assert h_model.shape == h_ref.shape and reference.basis.name == "gfn1-xtb-compact"
    assert model.blocks[0].graph.n_edges == reference.blocks[0].graph.n_edges
    with pytest.raises(ParameterError, match="the model's cutoff is 4.5"):
        HamiltonianCalculator.reference_for(model, cutoff=5.0)
    with pytest.raises(ParameterError, match="of a model"):
        HamiltonianCalculator.reference_for(reference)
