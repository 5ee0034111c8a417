"""Atomic-orbital bases: which shells (angular momenta) each element carries.

An :class:`OrbitalBasis` fixes the orbital layout of every matrix in hamtrans:
atoms in structure order, each atom's shells in the basis' shell order, and
within a shell the ``2l + 1`` functions in e3nn's real-spherical-harmonic order
(see :mod:`hamtrans.data.orbital_order`).

Named bases ship for the elements of the VCM stack (H, N, O, Ti, Hf):

``gfn1-xtb``
    tblite's GFN1-xTB valence basis; shell order as tblite writes it
    (Ti/Hf: d, s, p).
``gfn1-xtb-compact``
    ``gfn1-xtb`` without the diffuse polarisation shell of H (2s), Ti and Hf (p):
    a sub-basis for transport. The full GFN1 overlap of TiN, Ti and HfO2 is
    nearly singular (smallest eigenvalue ~1e-3, from the metal p shell) and any
    truncation of it to finite-range blocks is indefinite (still −0.05 at 8 Å);
    without that shell the smallest eigenvalue is 0.11–0.23 and blocks truncated
    at 6 Å stay positive definite. Matrices in it are the full ones restricted to
    its orbitals (:meth:`~hamtrans.data.blocks.BlockSparseMatrix.restricted`).
``szv-molopt-sr-gth`` and ``dzvp-molopt-sr-gth``
    CP2K's MOLOPT bases; shells in CP2K's order (by set, then l ascending).

Other CP2K bases are read from a CP2K basis-set file with
:meth:`OrbitalBasis.from_cp2k_file`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from hamtrans.errors import FileFormatError, HamtransError, UnknownElementError

_NAMED_BASES: dict[str, dict[str, tuple[int, ...]]] = {
    "gfn1-xtb": {
        "H": (0, 0),
        "N": (0, 1),
        "O": (0, 1),
        "Ti": (2, 0, 1),
        "Hf": (2, 0, 1),
    },
    "gfn1-xtb-compact": {
        "H": (0,),
        "N": (0, 1),
        "O": (0, 1),
        "Ti": (2, 0),
        "Hf": (2, 0),
    },
    "szv-molopt-sr-gth": {
        "H": (0,),
        "N": (0, 1),
        "O": (0, 1),
        "Ti": (0, 0, 1, 2),
        "Hf": (0, 0, 1, 2),
    },
    "dzvp-molopt-sr-gth": {
        "H": (0, 0, 1),
        "N": (0, 0, 1, 1, 2),
        "O": (0, 0, 1, 1, 2),
        "Ti": (0, 0, 0, 1, 1, 2, 2, 3),
        "Hf": (0, 0, 0, 1, 1, 2, 2, 3),
    },
}


@dataclass(frozen=True)
class OrbitalBasis:
    """Shells per element and the orbital layout they imply.

    Parameters
    ----------
    name
        Basis name, stored with datasets and models.
    shells
        Element symbol -> angular momentum ``l`` of each shell, in order.
    """

    name: str
    shells: Mapping[str, tuple[int, ...]]

    def __post_init__(self) -> None:
        clean: dict[str, tuple[int, ...]] = {}
        for symbol, ls in self.shells.items():
            if symbol not in atomic_numbers:
                raise UnknownElementError(f"basis '{self.name}': '{symbol}' is not an element symbol")
            ls = tuple(int(l) for l in ls)
            if not ls or min(ls) < 0:
                raise HamtransError(f"basis '{self.name}': element {symbol} needs at least one shell with l >= 0")
            clean[symbol] = ls
        object.__setattr__(self, "shells", dict(sorted(clean.items(), key=lambda kv: atomic_numbers[kv[0]])))

    # -- construction ---------------------------------------------------------------
    @classmethod
    def named(cls, name: str) -> "OrbitalBasis":
        """Return a shipped basis by (case-insensitive) name."""
        key = name.lower()
        if key not in _NAMED_BASES:
            raise UnknownElementError(
                f"no shipped basis called '{name}'; shipped: {', '.join(_NAMED_BASES)}. "
                "Read other CP2K bases with OrbitalBasis.from_cp2k_file()."
            )
        return cls(key, _NAMED_BASES[key])

    @staticmethod
    def available() -> tuple[str, ...]:
        """Names accepted by :meth:`named`."""
        return tuple(_NAMED_BASES)

    @classmethod
    def from_cp2k_file(
        cls, path: str | os.PathLike, basis_name: str, elements: Iterable[str] | None = None
    ) -> "OrbitalBasis":
        """Read the shell structure of ``basis_name`` from a CP2K basis-set file.

        The CP2K format per element is a header ``Symbol NAME [ALIAS ...]``, the
        number of sets, then per set ``n lmin lmax nexp nshell(lmin) ... nshell(lmax)``
        followed by ``nexp`` exponent lines. Functions are ordered by set, then by
        ``l`` ascending, then by contraction, which is the order CP2K writes matrices in.

        Parameters
        ----------
        path
            CP2K basis file, e.g. ``/usr/share/cp2k/BASIS_MOLOPT``.
        basis_name
            Name or alias as written in the file (case-insensitive).
        elements
            Restrict to these symbols; each must be present in the file.
        """
        wanted = None if elements is None else set(elements)
        lines = [ln.split("#", 1)[0].strip() for ln in open(path, encoding="utf-8", errors="replace")]
        lines = [ln for ln in lines if ln]
        shells: dict[str, tuple[int, ...]] = {}
        k = 0
        try:
            while k < len(lines):
                words = lines[k].split()
                symbol, names = words[0], [w.upper() for w in words[1:]]
                nsets = int(lines[k + 1].split()[0])
                k += 2
                ls: list[int] = []
                for _ in range(nsets):
                    head = [int(v) for v in lines[k].split()]
                    lmin, lmax, nexp = head[1], head[2], head[3]
                    counts = head[4 : 4 + lmax - lmin + 1]
                    if len(counts) != lmax - lmin + 1:
                        raise FileFormatError(f"{path}: set header '{lines[k]}' lists too few shell counts")
                    for l, count in zip(range(lmin, lmax + 1), counts):
                        ls.extend([l] * count)
                    k += 1 + nexp
                if basis_name.upper() in names and (wanted is None or symbol in wanted):
                    shells[symbol] = tuple(ls)
        except (IndexError, ValueError) as exc:
            raise FileFormatError(f"{path}: not a CP2K basis-set file near line {k + 1} ({exc})") from exc
        missing = sorted((wanted or set()) - set(shells))
        if missing or not shells:
            raise UnknownElementError(
                f"{path}: basis '{basis_name}' not found for {', '.join(missing) or 'any element'}"
            )
        return cls(basis_name.lower(), shells)

    # -- queries ------------------------------------------------------------------
    @property
    def elements(self) -> tuple[str, ...]:
        """Element symbols covered, by atomic number."""
        return tuple(self.shells)

    def shells_of(self, element: str | int) -> tuple[int, ...]:
        """Angular momenta of the shells of one element (symbol or atomic number)."""
        symbol = chemical_symbols[element] if isinstance(element, (int, np.integer)) else element
        try:
            return self.shells[symbol]
        except KeyError:
            raise UnknownElementError(
                f"basis '{self.name}' has no shells for element {symbol}; it covers "
                f"{', '.join(self.elements)}. Use another basis or remove {symbol} atoms."
            ) from None

    def n_orbitals(self, element: str | int) -> int:
        """Number of orbitals of one element."""
        return sum(2 * l + 1 for l in self.shells_of(element))

    def irreps(self, element: str | int) -> str:
        """e3nn irreps string of one atom's orbitals, e.g. ``'1x2e+1x0e+1x1o'``."""
        return "+".join(f"1x{l}{'e' if l % 2 == 0 else 'o'}" for l in self.shells_of(element))

    def orbital_counts(self, numbers: Sequence[int] | np.ndarray) -> np.ndarray:
        """Orbitals per atom, shape ``(n_atoms,)``; raises for elements not covered."""
        numbers = np.asarray(numbers)
        table = {z: self.n_orbitals(int(z)) for z in np.unique(numbers)}
        return np.array([table[z] for z in numbers.tolist()], dtype=np.int64)

    def orbital_atoms(self, numbers: Sequence[int] | np.ndarray) -> np.ndarray:
        """Index of the atom each orbital belongs to, shape ``(n_orbitals,)``, in matrix order."""
        counts = self.orbital_counts(numbers)
        return np.repeat(np.arange(len(counts)), counts)

    def orbital_offsets(self, numbers: Sequence[int] | np.ndarray) -> np.ndarray:
        """First orbital of each atom plus the total, shape ``(n_atoms + 1,)``."""
        return np.concatenate([[0], np.cumsum(self.orbital_counts(numbers))])

    def shell_table(self, numbers: Sequence[int] | np.ndarray) -> list[tuple[int, int, int]]:
        """``(atom, l, first_orbital)`` of every shell, in matrix order."""
        offsets = self.orbital_offsets(numbers)
        table = []
        for atom, z in enumerate(np.asarray(numbers).tolist()):
            start = int(offsets[atom])
            for l in self.shells_of(int(z)):
                table.append((atom, l, start))
                start += 2 * l + 1
        return table

    def orbitals_within(self, parent: "OrbitalBasis", element: str | int) -> np.ndarray:
        """Positions of this basis' orbitals of ``element`` inside ``parent``'s orbitals of it.

        Shells are matched in order (this basis' shells must be an ordered subsequence of the
        parent's), so a matrix block in ``parent`` restricted to these rows/columns is the
        block in this basis.

        Returns
        -------
        numpy.ndarray
            ``(n_orbitals(element),)`` indices into ``range(parent.n_orbitals(element))``.
        """
        wanted, available = self.shells_of(element), parent.shells_of(element)
        picked, start, k = [], 0, 0
        for l in available:
            if k < len(wanted) and wanted[k] == l:
                picked.extend(range(start, start + 2 * l + 1))
                k += 1
            start += 2 * l + 1
        if k < len(wanted):
            raise HamtransError(
                f"basis '{self.name}' is not a sub-basis of '{parent.name}' for element "
                f"{chemical_symbols[element] if isinstance(element, (int, np.integer)) else element}: shells "
                f"l={list(wanted)} are not an ordered subsequence of l={list(available)}"
            )
        return np.asarray(picked, dtype=np.int64)

    # -- serialisation ----------------------------------------------------------------
    def to_json(self) -> str:
        """JSON text with name and shells, as stored in datasets and model files."""
        return json.dumps({"name": self.name, "shells": {s: list(l) for s, l in self.shells.items()}})

    @classmethod
    def from_json(cls, text: str) -> "OrbitalBasis":
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(data["name"], {s: tuple(l) for s, l in data["shells"].items()})
