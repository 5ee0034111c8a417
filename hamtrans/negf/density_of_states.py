"""Atom-resolved density of states (ADOS) of an open device, at Γ or averaged over transverse k.

The ADOS of atom a is the Mulliken sum ``Σ_{i∈a} Re[(A S)_ii] / 2π`` over its orbitals,
with the spectral function ``A = i(G − Gᴴ)`` of the device coupled to its leads
(:func:`hamtrans.negf.green_function`); it sums to the device's DOS. As in TBtrans, the sum
runs over the device's orbitals: with S ≠ I the first and last slab (the leads' principal
layers inside the device) lack their overlap population with the leads (``Re[A_DL S_LD]``),
so their ADOS differs from the bulk's (by −11 … +20 % on the non-orthogonal chain of the
tests, s = 0.15, where the inner sites are exact; with S = I every site is exact). Read the ADOS of the region inside
those layers. Units: energies eV, DOS 1/eV (per transverse cell when k-averaged), positions Å.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hamtrans.errors import HamtransError
from hamtrans.negf.device import Device
from hamtrans.negf.transport import SweepOptions, green_function


@dataclass(frozen=True)
class AtomDOS:
    """Density of states per atom and energy.

    Attributes
    ----------
    energies
        ``(n_E,)`` eV.
    atom_dos
        ``(n_E, n_atoms)`` 1/eV, atoms in input numbering.
    positions
        ``(n_atoms, 3)`` Å, the atoms' positions in the device.
    axis
        The transport axis (0, 1, 2).
    """

    energies: np.ndarray
    atom_dos: np.ndarray
    positions: np.ndarray
    axis: int

    @property
    def total(self) -> np.ndarray:
        """``(n_E,)`` the device's DOS (1/eV)."""
        return self.atom_dos.sum(axis=1)

    def along_axis(self, width: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """The ADOS summed in slices of ``width`` Å along the transport axis.

        Returns
        -------
        centres
            ``(n_bins,)`` Å, slice centres along the axis.
        dos
            ``(n_E, n_bins)`` 1/eV per slice.
        """
        if not width > 0:
            raise HamtransError(f"slice width {width!r}: must be a positive length (Å)")
        coordinate = self.positions[:, self.axis]
        start = coordinate.min()
        index = np.floor((coordinate - start) / width).astype(int)
        dos = np.zeros((self.energies.size, index.max() + 1))
        np.add.at(dos, (slice(None), index), self.atom_dos)
        return start + (np.arange(index.max() + 1) + 0.5) * width, dos


def atom_positions(device: Device) -> np.ndarray:
    """``(n_atoms, 3)`` Å: each atom's position (input numbering), from its orbitals'."""
    positions = np.zeros((int(device.orbital_atoms.max()) + 1, 3))
    positions[device.orbital_atoms] = device.orbital_positions
    return positions


def atom_dos(devices: Device | list[Device], energies, weights=None, options: SweepOptions | None = None,
             **overrides) -> AtomDOS:
    """ADOS of one device, or the weighted average over the devices of transverse k-points.

    Parameters
    ----------
    devices
        A :class:`~hamtrans.negf.Device`, or the devices of
        :func:`hamtrans.negf.kpoints.kpoint_devices` (the same atoms at each k).
    energies
        ``(n_E,)`` eV.
    weights
        ``(n_k,)`` k-point weights summing to 1 (``TransverseKPoints.weights``); needed with a list.
    options, overrides
        Sweep options of :func:`hamtrans.negf.green_function` (η, lead method, backend, ...).
    """
    if isinstance(devices, Device):
        devices, weights = [devices], np.ones(1)
    if weights is None or len(weights) != len(devices):
        raise HamtransError(f"atom_dos of {len(devices)} k-point devices needs their {len(devices)} weights "
                            "(TransverseKPoints.weights)")
    energies = np.atleast_1d(np.asarray(energies, float))
    per_k = [green_function(d, energies, options, **overrides).per_atom("dos") for d in devices]
    if len({dos.shape for dos in per_k}) != 1:
        raise HamtransError("the k-point devices hold different atoms: build them with kpoint_devices from one record")
    dos = np.tensordot(np.asarray(weights, float), np.array(per_k), axes=1)
    return AtomDOS(energies, dos, atom_positions(devices[0]), devices[0].axis)
