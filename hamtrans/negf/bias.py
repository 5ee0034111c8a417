"""Bias potential profiles (potential energy of an electron, eV per orbital).

Convention: a bias ``V`` (volts) raises the left electrode's chemical potential
and bands by ``+V/2`` eV and lowers the right one's by ``−V/2``
(``μ_L = E_F + V/2``, ``μ_R = E_F − V/2``). In between, the potential drops
linearly across a region of the transport axis; it is added to the device
Hamiltonian as ``½(U S + S U)`` (:meth:`Device.with_potential`), which keeps H
Hermitian and shifts the spectrum exactly by ``U`` where ``U`` is flat, also in
a non-orthogonal basis. This is a non-self-consistent (frozen-charge) bias.
"""

from __future__ import annotations

import numpy as np

from hamtrans.errors import HamtransError
from hamtrans.negf.device import Device


def linear_drop_potential(device: Device, bias: float, region: tuple[float, float] | None = None) -> np.ndarray:
    """Per-orbital potential energy (eV, input orbital order) for a linear drop.

    Parameters
    ----------
    device
        The device.
    bias
        Applied bias ``V`` (volts): ``+V/2`` on the left electrode, ``−V/2`` on the right.
    region
        ``(start, stop)`` coordinates (Å) along the transport axis where the
        potential drops; default: from the end of the left lead principal layer to
        the start of the right one. It must not overlap the lead principal layers.
    """
    x = device.orbital_positions[:, device.axis]
    first, last = device.block_sizes[0], device.block_sizes[-1]
    left_edge, right_edge = x[:first].max(), x[-last:].min()
    start, stop = (left_edge, right_edge) if region is None else (float(region[0]), float(region[1]))
    if not stop > start:
        raise HamtransError(f"bias region must have start < stop, got ({start}, {stop}) Å")
    if start < left_edge - 1e-9 or stop > right_edge + 1e-9:
        raise HamtransError(
            f"bias region ({start:.3f}, {stop:.3f}) Å overlaps a lead principal layer "
            f"(the leads end at {left_edge:.3f} Å and start at {right_edge:.3f} Å); the leads are shifted rigidly"
        )
    fraction = np.clip((x - start) / (stop - start), 0.0, 1.0)
    potential = bias * (0.5 - fraction)
    return device.to_input_order(potential)


def biased_device(device: Device, bias: float, region: tuple[float, float] | None = None,
                  potential: np.ndarray | None = None) -> Device:
    """Device under bias: the given per-orbital ``potential`` (eV, input order) or a linear drop."""
    if potential is None:
        potential = linear_drop_potential(device, bias, region)
    return device.with_potential(potential)
