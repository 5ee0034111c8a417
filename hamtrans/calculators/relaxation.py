"""Relaxation of a device's oxide with the interatomic potential (electrodes fixed).

:func:`hamtrans.data.structures.build_vcm_device` amorphises its oxide by random
displacements and a soft-sphere push-apart, which leaves Hf atoms with too few O
neighbours and states inside the oxide's gap. Relaxing the oxide (and Ti) atoms with the
shipped potential restores an insulating oxide: in PBE / SZV (CP2K) a 96-atom fluorite
cell rattled as the builder rattles it has a gap of 0.60 eV, 2.78 eV after this
relaxation (1.54 eV for the perfect crystal, all three with 6 Å blocks; docs/cp2k.md).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from hamtrans.data.regions import REGIONS
from hamtrans.errors import HamtransError

#: Regions whose atoms move (the electrodes stay bulk TiN).
MOVABLE_REGIONS = ("oxide", "ti")


def relax_oxide(atoms: Atoms, potential="vcm-gfn1-potential", fmax: float = 0.05, steps: int = 2000,
                device: str = "cpu") -> Atoms:
    """A copy of ``atoms`` whose oxide and Ti atoms are relaxed by FIRE with the potential.

    Parameters
    ----------
    atoms
        A device of :func:`~hamtrans.data.structures.build_vcm_device` (its ``region`` array
        says which atoms move).
    potential
        Shipped potential name, model file or loaded potential (:class:`PotentialCalculator`).
    fmax
        Convergence threshold on the largest force component of a moving atom, eV/Å.
    steps
        Largest number of FIRE steps.
    device
        torch device of the potential.

    Returns
    -------
    ase.Atoms
        The relaxed structure (no calculator, no constraint); ``info["relaxation"]`` holds
        ``{"fmax_eV_per_A": ..., "steps": ..., "converged": ...}``.

    Raises
    ------
    HamtransError
        No ``region`` array, no atom to move, or ``fmax``/``steps`` not positive.
    """
    from ase.constraints import FixAtoms
    from ase.optimize import FIRE

    from hamtrans.calculators.potential import PotentialCalculator

    if "region" not in atoms.arrays:
        raise HamtransError("relax_oxide needs the builder's 'region' array (build_vcm_device) to keep the "
                            "electrodes fixed")
    if not (np.isfinite(fmax) and fmax > 0) or isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise HamtransError(f"fmax = {fmax!r} (eV/Å) and steps = {steps!r} must be a positive number and a positive "
                            "integer")
    moving = np.isin(atoms.arrays["region"], [REGIONS[name] for name in MOVABLE_REGIONS])
    if not moving.any():
        raise HamtransError("no oxide or Ti atom to relax: the region array marks only electrodes")
    relaxed = atoms.copy()
    relaxed.set_constraint(FixAtoms(mask=~moving))
    relaxed.calc = PotentialCalculator(potential, device=device)
    optimizer = FIRE(relaxed, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    largest = float(np.abs(relaxed.get_forces()[moving]).max())
    relaxed.calc = None
    relaxed.set_constraint()
    relaxed.info["relaxation"] = {"fmax_eV_per_A": largest, "steps": int(optimizer.nsteps), "converged": converged}
    return relaxed
