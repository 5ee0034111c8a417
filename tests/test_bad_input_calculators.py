"""Bad input to the ASE calculators: every public parameter, one case per kind of bad value.

Kinds: wrong type, NaN/inf, zero, negative, out of range, missing file, wrong kind of file,
and unusable structures. Each case asserts the error type (a HamtransError subclass; ASE's
PropertyNotImplementedError where ASE's protocol asks for it) and a fragment of the message,
which names the parameter, the value and the fix. Every case fails before any H, S or NEGF work.
"""

import re

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

from hamtrans.calculators import HamiltonianCalculator, PotentialCalculator, TransportCalculator, TransportSettings
from hamtrans.data.structures import bulk_tin
from hamtrans.errors import FileFormatError, HamtransError, ParameterError, StructureError, UnknownElementError
from hamtrans.models import HamiltonianPredictor, save_model
from hamtrans.models.model_file import save_potential
from hamtrans.negf import SweepOptions
from tests.potential_teacher import random_potential
from tests.structures import CLUSTER_POSITIONS, CLUSTER_SYMBOLS
from tests.toy_electronic import unit_overlap_models

NAN, INF = float("nan"), float("inf")
WIRE = bulk_tin((6, 1, 1))
DIMER = Atoms("TiN", positions=[[0, 0, 0], [2.1, 0, 0]])
NO_GPU = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A toy Hamiltonian model file, a potential file, a text file and a folder."""
    folder = tmp_path_factory.mktemp("calculator_files")
    save_model(folder / "hamiltonian.pt", *unit_overlap_models())
    save_potential(folder / "potential.pt", random_potential(n_layers=1, cutoff=3.0))
    (folder / "notes.pt").write_text("not a model\n")
    (folder / "folder.pt").mkdir()
    return {"hamiltonian": folder / "hamiltonian.pt", "potential": folder / "potential.pt",
            "text": folder / "notes.pt", "folder": folder / "folder.pt", "missing": folder / "missing.pt"}


@pytest.fixture(scope="module")
def predictor() -> HamiltonianPredictor:
    return HamiltonianPredictor(*unit_overlap_models())


def raises(call, error: type, fragment: str):
    """``call()`` raises ``error`` whose message contains ``fragment`` (literally)."""
    with pytest.raises(error, match=re.escape(fragment)):
        call()


# -- HamiltonianCalculator ---------------------------------------------------------------------------------
HAMILTONIAN_CASES = {
    # model
    "model wrong type": (lambda f, p: HamiltonianCalculator(model=3), ParameterError,
                         "HamiltonianCalculator(model=3): give a model file path, a shipped model name"),
    "model missing file": (lambda f, p: HamiltonianCalculator(model=f["missing"]), FileFormatError, "does not exist"),
    "model unknown name": (lambda f, p: HamiltonianCalculator(model="vcm-gfn2"), FileFormatError,
                           "shipped models: vcm-gfn1"),
    "model is a potential": (lambda f, p: HamiltonianCalculator(model=f["potential"]), FileFormatError,
                             "is not a hamtrans Hamiltonian model (it is: interatomic potential)"),
    "model is a text file": (lambda f, p: HamiltonianCalculator(model=f["text"]), FileFormatError,
                             "is not a loadable hamtrans model file"),
    "model is a folder": (lambda f, p: HamiltonianCalculator(model=f["folder"]), FileFormatError,
                          "is not a loadable hamtrans model file"),
    # reference
    "neither model nor reference": (lambda f, p: HamiltonianCalculator(), HamtransError, "give exactly one of"),
    "model and reference": (lambda f, p: HamiltonianCalculator(model=p, reference="gfn1-xtb"), HamtransError,
                            "give exactly one of"),
    "reference unknown": (lambda f, p: HamiltonianCalculator(reference="pbe"), HamtransError,
                          "unknown reference 'pbe'; available: gfn1-xtb"),
    "reference wrong type": (lambda f, p: HamiltonianCalculator(reference=3), HamtransError, "unknown reference 3"),
    # device
    "device unknown": (lambda f, p: HamiltonianCalculator(model=p, device="tpu"), HamtransError,
                       "device 'tpu' is not a torch device name"),
    "device wrong type": (lambda f, p: HamiltonianCalculator(model=p, device=3), HamtransError,
                          "device 3 is not a torch device name"),
    # reference_options
    "options wrong type": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb", reference_options=[5.0]),
                           ParameterError, "HamiltonianCalculator(reference_options=[5.0]): give a dict"),
    "options unknown key": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb", reference_options={"cutof": 5}),
                            ParameterError, "unknown key 'cutof'; valid keys: cutoff, image_range"),
    "options NaN cutoff": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb",
                                                              reference_options={"cutoff": NAN}),
                           HamtransError, "cutoff must be a positive finite radius in Å, got nan"),
    "options inf image range": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb",
                                                                   reference_options={"image_range": INF}),
                                HamtransError, "image_range must be a positive length in Å"),
    "options negative temperature": (lambda f, p: HamiltonianCalculator(
        reference="gfn1-xtb", reference_options={"electronic_temperature": -300}), HamtransError,
        "electronic_temperature must be a positive temperature in K"),
    "options zero iterations": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb",
                                                                   reference_options={"max_iterations": 0}),
                                HamtransError, "max_iterations must be a positive integer"),
    "options damping out of range": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb",
                                                                        reference_options={"mixer_damping": 1.5}),
                                     HamtransError, "mixer_damping must be in (0, 1]"),
    "options basis not GFN1": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb",
                                                                  reference_options={"basis": "szv-molopt-sr-gth"}),
                               HamtransError, "is not a sub-basis of 'gfn1-xtb'"),
    # basis
    "basis wrong type": (lambda f, p: HamiltonianCalculator(model=p, basis=3), ParameterError,
                         "HamiltonianCalculator(basis=3): give a basis name such as 'gfn1-xtb-compact'"),
    "basis unknown": (lambda f, p: HamiltonianCalculator(model=p, basis="gfn2"), UnknownElementError,
                      "no shipped basis called 'gfn2'"),
    "basis not a sub-basis": (lambda f, p: HamiltonianCalculator(model=p, basis="szv-molopt-sr-gth"), HamtransError,
                              "is not a sub-basis of 'gfn1-xtb'"),
    "basis with reference": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb", basis="gfn1-xtb-compact"),
                             HamtransError, "give the basis in reference_options"),
    # the structure
    "atoms wrong type": (lambda f, p: HamiltonianCalculator(model=p).get_property("hamiltonian", "TiN"),
                         ParameterError, "the structure must be an ase.Atoms, not str 'TiN'"),
    "no atoms": (lambda f, p: HamiltonianCalculator(model=p).get_property("hamiltonian"), ParameterError,
                 "no structure yet: pass the atoms"),
    "atoms NaN position": (lambda f, p: HamiltonianCalculator(model=p).get_property(
        "hamiltonian", Atoms("TiN", positions=[[0, 0, 0], [NAN, 0, 0]])), StructureError,
        "atom 1 (N) has a non-finite position"),
    "atoms overlapping": (lambda f, p: HamiltonianCalculator(model=p).get_property(
        "hamiltonian", Atoms("TiN", positions=[[0, 0, 0], [0.1, 0, 0]])), StructureError, "overlap: 0.100 Å apart"),
    "atoms zero cell": (lambda f, p: HamiltonianCalculator(model=p).get_property(
        "hamiltonian", Atoms("TiN", positions=[[0, 0, 0], [2.1, 0, 0]], pbc=True)), StructureError,
        "zero or linearly dependent periodic cell vectors"),
    "atoms empty": (lambda f, p: HamiltonianCalculator(model=p).get_property("hamiltonian", Atoms()),
                    StructureError, "structure has no atoms"),
    "atoms unknown element": (lambda f, p: HamiltonianCalculator(model=p).get_property(
        "hamiltonian", Atoms(CLUSTER_SYMBOLS, CLUSTER_POSITIONS)), UnknownElementError, "H"),
    "reference atoms NaN position": (lambda f, p: HamiltonianCalculator(reference="gfn1-xtb").get_property(
        "hamiltonian", Atoms("TiN", positions=[[0, 0, 0], [NAN, 0, 0]])), StructureError, "non-finite position"),
    "orbital positions before a structure": (lambda f, p: HamiltonianCalculator(model=p).orbital_positions,
                                             ParameterError, "no structure computed yet"),
}
if NO_GPU:
    HAMILTONIAN_CASES["device without GPU"] = (lambda f, p: HamiltonianCalculator(model=f["hamiltonian"],
                                                                                  device="cuda"),
                                               HamtransError, "torch finds no CUDA GPU on this machine")


@pytest.mark.parametrize("case", HAMILTONIAN_CASES)
def test_hamiltonian_calculator_bad_input(case, files, predictor):
    call, error, fragment = HAMILTONIAN_CASES[case]
    raises(lambda: call(files, predictor), error, fragment)


def test_reference_scf_attempts_follow_the_measured_order():
    cluster = Atoms(CLUSTER_SYMBOLS, CLUSTER_POSITIONS)
    default = HamiltonianCalculator(reference="gfn1-xtb", reference_options={"max_iterations": 2, "cutoff": 4.0})
    with pytest.raises(HamtransError) as error:
        default.get_property("hamiltonian", cluster)
    tried = re.findall(r"damping=([\d.]+), memory=(\d+)", str(error.value))
    assert tried == [("0.2", "30"), ("0.1", "20"), ("0.4", "2")]
    given = HamiltonianCalculator(reference="gfn1-xtb", reference_options={"max_iterations": 2, "cutoff": 4.0,
                                                                           "mixer_damping": 0.1, "mixer_memory": 20})
    with pytest.raises(HamtransError) as error:
        given.get_property("hamiltonian", cluster)
    tried = re.findall(r"damping=([\d.]+), memory=(\d+)", str(error.value))
    assert tried == [("0.1", "20"), ("0.2", "30"), ("0.4", "2")]  # the given mixing first, not twice


# -- TransportCalculator -----------------------------------------------------------------------------------
def transport(predictor, **options) -> TransportCalculator:
    options = {"fermi_level": 0.0, "energies": [-0.5, 0.0, 0.5], **options}
    return TransportCalculator(HamiltonianCalculator(model=predictor), **options)


T = "TransportCalculator"
S = "TransportSettings."
TRANSPORT_CASES = {
    "hamiltonian wrong type": ({"hamiltonian": "vcm-gfn1"}, ParameterError,
                               f"{T}(hamiltonian='vcm-gfn1'): give a HamiltonianCalculator"),
    "axis unknown": ({"axis": "w"}, ParameterError, f"{S}axis must be 'x', 'y', 'z' or 0-2, not 'w'"),
    "axis out of range": ({"axis": 3}, ParameterError, f"{S}axis must be 'x', 'y', 'z' or 0-2, not 3"),
    "axis wrong type": ({"axis": 0.5}, ParameterError, f"{S}axis must be 'x', 'y', 'z' or 0-2, not 0.5"),
    "bias NaN": ({"bias": NAN}, ParameterError, f"{T}(bias=nan): give one finite number (V)"),
    "bias inf": ({"bias": INF}, ParameterError, f"{T}(bias=inf): give one finite number (V)"),
    "bias wrong type": ({"bias": "0.2"}, ParameterError, f"{T}(bias='0.2'): give one finite number (V)"),
    "bias None": ({"bias": None}, ParameterError, f"{T}(bias=None)"),
    "temperature negative": ({"temperature": -1.0}, ParameterError, f"{S}temperature must be a temperature ≥ 0 K, "
                                                                    "not -1.0"),
    "temperature NaN": ({"temperature": NAN}, ParameterError, f"{S}temperature must be a temperature ≥ 0 K, not nan"),
    "temperature wrong type": ({"temperature": "300"}, ParameterError, f"{S}temperature must be a temperature ≥ 0 K, "
                                                                       "not '300'"),
    "fermi level NaN": ({"fermi_level": NAN}, ParameterError, f"{S}fermi_level must be a finite energy (eV) or null, "
                                                              "not nan"),
    "fermi level inf": ({"fermi_level": -INF}, ParameterError, f"{S}fermi_level must be a finite energy (eV)"),
    "fermi level wrong type": ({"fermi_level": "0"}, ParameterError, f"{S}fermi_level must be a finite energy (eV)"),
    "energies NaN": ({"energies": [0.0, NAN]}, ParameterError, f"{T}(energies=[0.0, nan]): give a non-empty 1-D "
                                                               "sequence of finite real energies (eV)"),
    "energies inf": ({"energies": [0.0, INF]}, ParameterError, f"{T}(energies=[0.0, inf])"),
    "energies empty": ({"energies": []}, ParameterError, f"{T}(energies=[])"),
    "energies 2-D": ({"energies": [[0.0, 0.1]]}, ParameterError, f"{T}(energies=[[0.0, 0.1]])"),
    "energies wrong type": ({"energies": "0 1"}, ParameterError, f"{T}(energies='0 1')"),
    "energies complex": ({"energies": np.array([0.1 + 1e-3j])}, ParameterError, "give η as SweepOptions(eta=...)"),
    "lead cell zero": ({"lead_cell": 0.0}, ParameterError, f"{S}lead_cell must be a positive length (Å) or null, "
                                                           "not 0.0"),
    "lead cell negative": ({"lead_cell": -4.24}, ParameterError, f"{S}lead_cell must be a positive length (Å)"),
    "lead cell NaN": ({"lead_cell": NAN}, ParameterError, f"{S}lead_cell must be a positive length (Å)"),
    "lead cell wrong type": ({"lead_cell": "4.24"}, ParameterError, f"{S}lead_cell must be a positive length (Å)"),
    "lead tolerance zero": ({"lead_tolerance": 0.0}, ParameterError, f"{S}lead_tolerance must be a positive energy "
                                                                     "(eV), not 0.0"),
    "lead tolerance negative": ({"lead_tolerance": -1e-4}, ParameterError, f"{S}lead_tolerance must be a positive"),
    "lead tolerance NaN": ({"lead_tolerance": NAN}, ParameterError, f"{S}lead_tolerance must be a positive"),
    "tolerance zero": ({"tolerance": 0.0}, ParameterError, f"{S}tolerance must be a relative tolerance in (0, 1), "
                                                           "not 0.0"),
    "tolerance negative": ({"tolerance": -0.01}, ParameterError, f"{S}tolerance must be a relative tolerance"),
    "tolerance out of range": ({"tolerance": 2.0}, ParameterError, f"{S}tolerance must be a relative tolerance"),
    "tolerance NaN": ({"tolerance": NAN}, ParameterError, f"{S}tolerance must be a relative tolerance"),
    "sweep wrong type": ({"sweep": {"eta": 1e-5}}, ParameterError, f"{T}(sweep={{'eta': 1e-05}}): give a "
                                                                   "hamtrans.negf.SweepOptions"),
    "sweep eta NaN": ({"sweep": SweepOptions(eta=NAN)}, ParameterError, f"{S}eta must be an energy ≥ 0 eV, not nan"),
    "sweep eta negative": ({"sweep": SweepOptions(eta=-1e-3)}, ParameterError, f"{S}eta must be an energy ≥ 0 eV"),
    "sweep lead method unknown": ({"sweep": SweepOptions(lead_method="decimation")}, ParameterError,
                                  f"{S}lead_method must be 'eigenmode' or 'sancho-rubio', not 'decimation'"),
    "sweep Sancho-Rubio at zero eta": ({"sweep": SweepOptions(lead_method="sancho-rubio")}, ParameterError,
                                       f"{S}eta must be > 0 with {S}lead_method 'sancho-rubio'"),
    "eta and sweep eta differ": ({"eta": 1e-5, "sweep": SweepOptions(eta=1e-4)}, ParameterError,
                                 f"{T}: eta= and sweep=SweepOptions(eta=...) differ"),
    "leads unknown": ({"leads": "bulk"}, ParameterError, f"{S}leads must be 'auto', 'own' or 'periodic', not 'bulk'"),
    "unknown keyword": ({"tolerence": 1e-3}, ParameterError, f"{T}(tolerence=...): unknown keyword"),
    "settings and keywords": ({"settings": TransportSettings(), "temperature": 10.0}, ParameterError,
                              f"{T}: give settings= or its fields as keywords, not both (got fermi_level, temperature)"),
    "settings wrong type": ({"settings": {"temperature": 10.0}, "fermi_level": None}, ParameterError,
                            f"{T}(settings={{'temperature': 10.0}}): give a TransportSettings"),
    "sweep batch size zero": ({"sweep": SweepOptions(batch_size=0)}, ParameterError,
                              "SweepOptions(batch_size=0): give an integer ≥ 1"),
    "electrode wrong type": ({"electrode": 3}, ParameterError, f"{T}(electrode=3): give None"),
    "electrode unknown name": ({"electrode": "bulk"}, ParameterError, f"{T}(electrode='bulk'): give None"),
    "electrode tolerance zero": ({"electrode_tolerance": 0.0}, ParameterError, f"{S}electrode_tolerance must be a "
                                                                               "positive energy (eV), not 0.0"),
    "electrode tolerance negative": ({"electrode_tolerance": -0.25}, ParameterError,
                                     f"{S}electrode_tolerance must be a positive energy"),
    "electrode tolerance NaN": ({"electrode_tolerance": NAN}, ParameterError,
                                f"{S}electrode_tolerance must be a positive energy"),
    "align electrodes wrong type": ({"align_electrodes": "no"}, ParameterError,
                                    f"{S}align_electrodes must be true or false, not 'no'"),
    "points zero": ({"points": 0}, ParameterError, f"{S}points must be null (adaptive grid) or at least 3 uniform "
                                                   "energies, not 0"),
    "points negative": ({"points": -5}, ParameterError, f"{S}points must be null (adaptive grid) or at least 3"),
    "points too few": ({"points": 2}, ParameterError, f"{S}points must be null (adaptive grid) or at least 3"),
    "points wrong type": ({"points": 3.5}, ParameterError, f"{S}points must be null (adaptive grid) or at least 3"),
    "points bool": ({"points": True}, ParameterError, f"{S}points must be null (adaptive grid) or at least 3"),
    "resolution zero": ({"resolution": 0.0}, ParameterError, f"{S}resolution must be a positive energy (eV) or null, "
                                                             "not 0.0"),
    "resolution negative": ({"resolution": -0.01}, ParameterError, f"{S}resolution must be a positive energy"),
    "resolution NaN": ({"resolution": NAN}, ParameterError, f"{S}resolution must be a positive energy"),
    "lattice wrong type": ({"lattice": "yes"}, ParameterError, f"{S}lattice must be true or false, not 'yes'"),
    "points and resolution": ({"points": 5, "resolution": 0.01}, ParameterError,
                              f"{S}points (uniform grid) and {S}resolution (adaptive grid) exclude each other"),
    "points and lattice": ({"points": 5, "lattice": True}, ParameterError,
                           f"{S}lattice needs {S}resolution (the lattice spacing, eV) and no {S}points"),
}


@pytest.mark.parametrize("case", TRANSPORT_CASES)
def test_transport_calculator_bad_input(case, predictor):
    options, error, fragment = TRANSPORT_CASES[case]
    if "hamiltonian" in options:
        raises(lambda: TransportCalculator(**options), error, fragment)
    else:
        raises(lambda: transport(predictor, **options), error, fragment)


@pytest.mark.parametrize("case,options,atoms,error,fragment", [
    ("atoms wrong type", {}, "wire", ParameterError, "TransportCalculator: the structure must be an ase.Atoms"),
    ("no atoms", {}, None, ParameterError, "TransportCalculator: no structure yet"),
    ("open along the axis", {}, Atoms("TiN", positions=[[0, 0, 0], [2.1, 0, 0]], cell=[4.24] * 3,
                                      pbc=[False, True, True]), HamtransError, "periodic along the transport axis"),
    ("periodic leads without lead cell", {"electrode": "periodic"}, WIRE, HamtransError, "needs lead_cell="),
    ("electrode structure open along the axis", {"electrode": DIMER}, WIRE, HamtransError,
     "the electrode structure must be periodic along the transport axis"),
])
def test_transport_calculator_bad_structure(case, options, atoms, error, fragment, predictor):
    calc = transport(predictor, **options)
    raises(lambda: calc.get_property("current", atoms), error, fragment)


# -- PotentialCalculator -----------------------------------------------------------------------------------
POTENTIAL_CASES = {
    "model wrong type": (lambda f: PotentialCalculator(3.0), ParameterError,
                         "PotentialCalculator(model=3.0): give a model file path, a shipped model name"),
    "model missing file": (lambda f: PotentialCalculator(f["missing"]), FileFormatError, "does not exist"),
    "model is a Hamiltonian model": (lambda f: PotentialCalculator(f["hamiltonian"]), FileFormatError,
                                     "is not a hamtrans interatomic potential (it is: Hamiltonian model)"),
    "model is a text file": (lambda f: PotentialCalculator(f["text"]), FileFormatError,
                             "is not a loadable hamtrans model file"),
    "model is a folder": (lambda f: PotentialCalculator(f["folder"]), FileFormatError,
                          "is not a loadable hamtrans model file"),
    "device unknown": (lambda f: PotentialCalculator(f["potential"], device="tpu"), HamtransError,
                       "device 'tpu' is not a torch device name"),
    "device wrong type": (lambda f: PotentialCalculator(f["potential"], device=0.0), HamtransError,
                          "device 0.0 is not a torch device name"),
    "atoms wrong type": (lambda f: PotentialCalculator(f["potential"]).get_property("energy", [DIMER]),
                         ParameterError, "the structure must be an ase.Atoms, not list"),
    "no atoms": (lambda f: PotentialCalculator(f["potential"]).get_property("energy"), ParameterError,
                 "PotentialCalculator: no structure yet"),
    "atoms NaN position": (lambda f: PotentialCalculator(f["potential"]).get_property(
        "energy", Atoms("TiN", positions=[[0, 0, 0], [0, INF, 0]])), StructureError, "non-finite position"),
    "atoms overlapping": (lambda f: PotentialCalculator(f["potential"]).get_property(
        "forces", Atoms("TiN", positions=[[0, 0, 0], [0, 0, 0]])), StructureError, "overlap: 0.000 Å apart"),
    "atoms zero cell": (lambda f: PotentialCalculator(f["potential"]).get_property(
        "energy", Atoms("TiN", positions=[[0, 0, 0], [2.1, 0, 0]], pbc=True)), StructureError,
        "zero or linearly dependent periodic cell vectors"),
    "atoms empty": (lambda f: PotentialCalculator(f["potential"]).get_property("energy", Atoms()), StructureError,
                    "structure has no atoms"),
    "atoms unknown element": (lambda f: PotentialCalculator(f["potential"]).get_property(
        "energy", Atoms("TiH", positions=[[0, 0, 0], [1.8, 0, 0]])), UnknownElementError,
        "the model does not know element(s) H; it was trained on N, O, Ti, Hf"),
    # ASE's protocol: a property a calculator cannot give for this structure
    "stress of an open structure": (lambda f: PotentialCalculator(f["potential"]).get_property("stress", DIMER),
                                    PropertyNotImplementedError, "stress needs a fully periodic cell"),
}
if NO_GPU:
    POTENTIAL_CASES["device without GPU"] = (lambda f: PotentialCalculator(f["potential"], device="cuda:0"),
                                             HamtransError, "torch finds no CUDA GPU on this machine")


@pytest.mark.parametrize("case", POTENTIAL_CASES)
def test_potential_calculator_bad_input(case, files):
    call, error, fragment = POTENTIAL_CASES[case]
    raises(lambda: call(files), error, fragment)


def test_good_input_still_computes(files, predictor):
    """The checks refuse only bad values: numpy scalars, a range of energies and a loaded model pass."""
    calc = transport(predictor, bias=np.float64(0.2), temperature=np.int64(300), energies=np.linspace(-0.2, 0.2, 3),
                     points=np.int64(5))
    assert calc.get_property("current", WIRE) > 0
    assert np.isfinite(PotentialCalculator(files["potential"]).get_property("energy", WIRE))
