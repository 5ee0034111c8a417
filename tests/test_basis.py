import numpy as np
import pytest

from hamtrans.data.basis import OrbitalBasis
from hamtrans.errors import FileFormatError, UnknownElementError


@pytest.mark.parametrize(
    "name, counts",
    [
        ("gfn1-xtb", {"H": 2, "N": 4, "O": 4, "Ti": 9, "Hf": 9}),
        ("szv-molopt-sr-gth", {"H": 1, "N": 4, "O": 4, "Ti": 10, "Hf": 10}),
        ("dzvp-molopt-sr-gth", {"H": 5, "N": 13, "O": 13, "Ti": 26, "Hf": 26}),
    ],
)
def test_named_basis_orbital_counts(name, counts):
    basis = OrbitalBasis.named(name)
    assert {el: basis.n_orbitals(el) for el in counts} == counts


def test_offsets_and_shell_table():
    basis = OrbitalBasis.named("gfn1-xtb")
    numbers = [72, 8, 8]
    np.testing.assert_array_equal(basis.orbital_offsets(numbers), [0, 9, 13, 17])
    assert basis.shell_table(numbers)[:4] == [(0, 2, 0), (0, 0, 5), (0, 1, 6), (1, 0, 9)]
    assert basis.irreps("Hf") == "1x2e+1x0e+1x1o"
    np.testing.assert_array_equal(basis.orbital_atoms(numbers), [0] * 9 + [1] * 4 + [2] * 4)


def test_unknown_element_is_named():
    with pytest.raises(UnknownElementError, match="no shells for element Au"):
        OrbitalBasis.named("gfn1-xtb").orbital_counts([79])
    with pytest.raises(UnknownElementError, match="shipped"):
        OrbitalBasis.named("sto-3g")


def test_json_round_trip():
    basis = OrbitalBasis.named("dzvp-molopt-sr-gth")
    assert OrbitalBasis.from_json(basis.to_json()) == basis


CP2K_BASIS_TEXT = """# synthetic file in CP2K's basis-set format (exponents are made up)
Hf DZVP-MOLOPT-SR-GTH DZVP-MOLOPT-SR-GTH-q12
 1
 2 0 3 3 3 2 2 1
   1.0  0.1 0.2 0.3  0.4 0.5  0.6 0.7  0.8
   0.5  0.1 0.2 0.3  0.4 0.5  0.6 0.7  0.8
   0.1  0.1 0.2 0.3  0.4 0.5  0.6 0.7  0.8
O  DZVP-MOLOPT-SR-GTH DZVP-MOLOPT-SR-GTH-q6
 1
 2 0 2 2 2 2 1
   2.0  0.1 0.2 0.3 0.4 0.5
   0.7  0.1 0.2 0.3 0.4 0.5
O  SZV-MOLOPT-SR-GTH SZV-MOLOPT-SR-GTH-q6
 2
 2 0 0 1 1
   1.0 0.5
 2 1 1 1 1
   1.0 0.5
"""


def test_cp2k_basis_file(tmp_path):
    path = tmp_path / "BASIS"
    path.write_text(CP2K_BASIS_TEXT)
    dzvp = OrbitalBasis.from_cp2k_file(path, "DZVP-MOLOPT-SR-GTH")
    shipped = OrbitalBasis.named("dzvp-molopt-sr-gth")
    assert dzvp.shells_of("Hf") == shipped.shells_of("Hf")
    assert dzvp.shells_of("O") == shipped.shells_of("O")
    alias = OrbitalBasis.from_cp2k_file(path, "szv-molopt-sr-gth-q6", elements=["O"])
    assert alias.shells_of("O") == (0, 1)
    with pytest.raises(UnknownElementError, match="Ti"):
        OrbitalBasis.from_cp2k_file(path, "DZVP-MOLOPT-SR-GTH", elements=["Ti"])


def test_cp2k_basis_file_truncated(tmp_path):
    path = tmp_path / "BASIS"
    path.write_text("Hf DZVP\n 1\n 2 0 3\n")
    with pytest.raises(FileFormatError, match="shell counts|not a CP2K basis"):
        OrbitalBasis.from_cp2k_file(path, "DZVP")
