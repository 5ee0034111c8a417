"""ASE calculator of the equivariant interatomic potential.

>>> atoms.calc = PotentialCalculator("vcm-gfn1-potential")     # shipped name or a .pt file
>>> atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()

Properties: ``energy`` and ``free_energy`` (eV, equal: the potential has no
electronic entropy), ``forces`` (eV/Å), ``stress`` (Voigt xx yy zz yz xz xy,
eV/Å³, ASE sign: −virial/volume; fully periodic cells only) and ``energies``
(per atom, eV). All of them come from one forward + backward pass, so asking for
forces after the energy of the same atoms costs nothing (ASE ``check_state``).
"""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import PropertyNotImplementedError, all_changes

from hamtrans.calculators.arguments import CheckedCalculator, file_or_name
from hamtrans.models.model_file import load_potential, resolve_device
from hamtrans.models.potential import InteratomicPotential, evaluate, prepare_potential_inputs, stress_from_virial
from hamtrans.models.pretrained import available


class PotentialCalculator(CheckedCalculator):
    """Energy, forces and stress from a trained :class:`~hamtrans.models.potential.InteratomicPotential`.

    Parameters
    ----------
    model
        Potential file, shipped name (``"vcm-gfn1-potential"``) or a loaded model.
    device
        torch device: ``"cpu"`` or ``"cuda"`` (refused with a clear error where this machine has no GPU).

    Raises
    ------
    ParameterError
        ``model`` is neither a path, a shipped name nor a loaded potential.
    FileFormatError
        ``model`` is missing, or a file that is no interatomic potential.

    Notes
    -----
    Positions are used in float64 until the edge vectors are formed; only those are
    cast to the model's precision, so a float32 potential gives the same forces for a
    structure translated 1,000 Å from the origin.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, model: str | InteratomicPotential, device: str = "cpu", **kwargs) -> None:
        super().__init__(**kwargs)
        file_or_name("PotentialCalculator", "model", model, InteratomicPotential, ", ".join(available()))
        device = resolve_device(device)
        if not isinstance(model, InteratomicPotential):
            model = load_potential(model, device)
        self.model = model.to(device).eval()
        self.device = device

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        periodic = bool(np.all(self.atoms.pbc))
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                f"stress needs a fully periodic cell; this structure has pbc={self.atoms.pbc.tolist()}")
        config = self.model.config
        inputs = prepare_potential_inputs(self.atoms, list(config.species), config.cutoff, config.torch_dtype)
        out = evaluate(self.model, inputs.to(self.device))
        as_numpy = lambda t: t.detach().to(device="cpu", dtype=torch.float64).numpy()
        energy = float(out["energy"].detach())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": as_numpy(out["energies"]),
            "forces": as_numpy(out["forces"]),
        }
        if periodic:
            self.results["stress"] = stress_from_virial(as_numpy(out["virial"]), self.atoms.get_volume())
