"""Valence-electron counts of the reference methods behind the shipped bases.

A trained model predicts H and S but no Fermi level; an electrode's follows from
charge neutrality of its principal layer (:meth:`hamtrans.negf.Electrode.fermi_level`),
which needs the number of electrons the method puts on its atoms.
"""

from __future__ import annotations

from ase.data import chemical_symbols

from hamtrans.errors import HamtransError

#: Valence electrons per element, by basis family (GFN1-xTB: the elements' valence shells;
#: CP2K MOLOPT-SR with GTH-PBE pseudopotentials: Ti and Hf carry their semicore s and p).
VALENCE_ELECTRONS = {
    "gfn1-xtb": {"H": 1, "N": 5, "O": 6, "Ti": 4, "Hf": 4},
    "molopt-sr-gth": {"H": 1, "N": 5, "O": 6, "Ti": 12, "Hf": 12},
}


def valence_electrons(basis_name: str, numbers) -> int:
    """Valence electrons of a structure for a basis (named as in :class:`~hamtrans.data.basis.OrbitalBasis`)."""
    family = next((f for f in VALENCE_ELECTRONS if f in basis_name), None)
    if family is None:
        raise HamtransError(f"no valence-electron table for basis '{basis_name}'; known families: "
                            f"{', '.join(VALENCE_ELECTRONS)}. Give the Fermi level explicitly.")
    table = VALENCE_ELECTRONS[family]
    symbols = [chemical_symbols[int(z)] for z in numbers]
    missing = sorted(set(symbols) - set(table))
    if missing:
        raise HamtransError(f"no valence-electron count for {', '.join(missing)} in basis family '{family}'")
    return sum(table[s] for s in symbols)
