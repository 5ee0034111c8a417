"""ASE calculator for electronic Hamiltonians: an ML model or the GFN1-xTB reference behind one interface.

>>> atoms.calc = HamiltonianCalculator(model="vcm-gfn1")          # or reference="gfn1-xtb"
>>> h = atoms.calc.get_property("hamiltonian")                    # scipy CSR, eV, Γ-folded

Results (ASE ``results``): ``hamiltonian`` and ``overlap`` as scipy sparse CSR
matrices (eV; S dimensionless) in the internal orbital order, Γ-folded over periodic
images. The block-sparse matrices (for open/transport matrices along an axis) are
:attr:`blocks`; :attr:`basis` and :meth:`orbital_slices` describe the layout.
``charges`` (e, per atom): the reference's Mulliken charges, or a model's latent
charges when it has electrostatics (they define its long-range potential and are
not Mulliken charges); a local model has none.
Atoms unchanged since the last call are not recomputed (ASE ``check_state``).
"""

from __future__ import annotations

import inspect

import numpy as np
from ase.calculators.calculator import all_changes

from hamtrans.calculators.arguments import CheckedCalculator, file_or_name, keyword_options, shown
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.errors import HamtransError, ParameterError

REFERENCES = ("gfn1-xtb",)


class HamiltonianCalculator(CheckedCalculator):
    """H and S of a structure from a trained model or from the reference generator.

    Parameters
    ----------
    model
        Model file, shipped model name (``"vcm-gfn1"``) or a loaded
        :class:`~hamtrans.models.HamiltonianPredictor`.
    reference
        ``"gfn1-xtb"``: compute H, S with tblite instead (``reference_options`` go to
        :class:`~hamtrans.data.reference.TBLiteReference`, e.g. ``cutoff``, ``image_range``).
    device
        torch device of the model.
    basis
        Return H and S in this sub-basis of the model's basis (e.g.
        ``"gfn1-xtb-compact"`` for transport; see :class:`~hamtrans.data.basis.OrbitalBasis`).
        With ``reference=`` give it in ``reference_options`` instead (the reference
        then also recomputes its Fermi level for the sub-basis).
    comm
        mpi4py communicator (model only): its ranks split each prediction into slabs along
        ``partition_axis`` (:mod:`hamtrans.models.distributed`) and every rank receives the
        whole H and S. A structure that cannot be cut (a model with electrostatics, periodic
        cell vectors tilted against the axis) is predicted whole on every rank. ``None``: one
        process predicts everything.
    partition_axis
        The axis the ranks split the structure along (the transport axis), 0, 1 or 2.

    Raises
    ------
    ParameterError
        An argument of the wrong type, or ``reference_options`` with a key that
        :class:`~hamtrans.data.reference.TBLiteReference` does not take.
    FileFormatError
        ``model`` is missing, or a file that is no Hamiltonian model.
    """

    implemented_properties = ["hamiltonian", "overlap", "charges"]

    def __init__(self, model=None, reference: str | None = None, device: str = "cpu",
                 reference_options: dict | None = None, basis: str | None = None, comm=None,
                 partition_axis: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if (model is None) == (reference is None):
            raise HamtransError("give exactly one of model= (a trained model) or reference= ('gfn1-xtb')")
        if comm is not None and model is None:
            raise HamtransError("comm= spreads a model's prediction over ranks; the reference runs in one process")
        self.device = device
        self.comm, self.partition_axis = comm, partition_axis
        self.blocks: tuple[BlockSparseMatrix, BlockSparseMatrix] | None = None
        self.fermi_level: float | None = None
        if basis is not None and not isinstance(basis, str):
            raise ParameterError(f"HamiltonianCalculator(basis={shown(basis)}): give a basis name such as "
                                 "'gfn1-xtb-compact', or None for the model's own basis")
        if model is not None:
            from hamtrans.data.basis import OrbitalBasis
            from hamtrans.models import HamiltonianPredictor, load_model
            from hamtrans.models.model_file import resolve_device
            from hamtrans.models.pretrained import available

            file_or_name("HamiltonianCalculator", "model", model, HamiltonianPredictor, ", ".join(available()))
            resolve_device(device)
            self.predictor = model if isinstance(model, HamiltonianPredictor) else load_model(model, device)
            self.generator = None
            self.basis = self.predictor.basis if basis is None else OrbitalBasis.named(basis)
            for z in self.predictor.config.species:
                self.basis.orbitals_within(self.predictor.basis, int(z))  # not a sub-basis: fails here
        else:
            if basis is not None:
                raise HamtransError("with reference= give the basis in reference_options={'basis': ...}")
            if reference not in REFERENCES:
                raise HamtransError(f"unknown reference {reference!r}; available: {', '.join(REFERENCES)}")
            from hamtrans.data.reference import TBLiteReference

            valid = list(inspect.signature(TBLiteReference).parameters)
            self.predictor = None
            self.generator = TBLiteReference(**keyword_options("HamiltonianCalculator", "reference_options",
                                                               reference_options, valid))
            self.basis = self.generator.basis

    @classmethod
    def reference_for(cls, model_calculator: "HamiltonianCalculator", reference: str = "gfn1-xtb",
                      **reference_options) -> "HamiltonianCalculator":
        """The reference calculator to compare a model calculator with: the model's block cutoff and basis.

        A model predicts blocks within its ``block_cutoff`` in its (sub-)basis; a reference with
        another cutoff or basis has other blocks, and ``H_model − H_ref`` then measures the
        difference of the settings, not the model's error. ``reference_options`` may add
        TBLiteReference settings (``image_range``, ...) but not change those two.

        Raises
        ------
        ParameterError
            ``model_calculator`` is not a model calculator, or ``reference_options`` sets another
            ``cutoff`` or ``basis``.
        """
        if not isinstance(model_calculator, HamiltonianCalculator) or model_calculator.predictor is None:
            raise ParameterError("reference_for needs a HamiltonianCalculator of a model (model=...)")
        matched = {"cutoff": float(model_calculator.predictor.config.block_cutoff),
                   "basis": model_calculator.basis.name}
        for key, value in matched.items():
            if key in reference_options and reference_options[key] != value:
                raise ParameterError(f"reference_for(..., {key}={reference_options[key]!r}): the model's {key} is "
                                     f"{value!r}; a reference with another {key} has other blocks, so leave it out")
        return cls(reference=reference, reference_options={**reference_options, **matched})

    def calculate(self, atoms=None, properties=("hamiltonian",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        split = self.predictor is not None and self.comm is not None
        if split:
            from hamtrans.models.distributed import gather_prediction, not_distributable, predict_owned_blocks

            # the same answer on every rank: a structure that cannot be cut is predicted whole on each
            split = not_distributable(self.predictor, self.atoms, self.partition_axis) is None
        if split:
            local = predict_owned_blocks(self.predictor, self.atoms, self.comm, self.partition_axis,
                                         device=self.device)
            (h, s), charges = gather_prediction(local, self.atoms, self.predictor.basis, self.comm, root=None), None
            if s is None:
                raise HamtransError("this model has no overlap head; it cannot give S")
            h, s = h.restricted(self.basis), s.restricted(self.basis)
            self.fermi_level = None
        elif self.predictor is not None:
            prediction = self.predictor.predict_all(self.atoms, device=self.device)
            h, s, charges = prediction.hamiltonian, prediction.overlap, prediction.charges
            if s is None:
                raise HamtransError("this model has no overlap head; it cannot give S")
            h, s = h.restricted(self.basis), s.restricted(self.basis)
            self.fermi_level = None
        else:
            result = self.generator.compute(self.atoms)
            h, s, charges = result.hamiltonian, result.overlap, result.charges
            self.fermi_level = result.fermi_level
        if charges is not None:
            self.results["charges"] = charges
        self.blocks = (h, s)
        self.results["hamiltonian"] = h.to_sparse()
        self.results["overlap"] = s.to_sparse()

    def orbital_slices(self, atoms=None) -> list[slice]:
        """Orbital range of every atom in the matrices."""
        numbers = (atoms or self.atoms).numbers
        offsets = self.basis.orbital_offsets(numbers)
        return [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:])]

    def open_matrices(self, atoms, axis: int):
        """``(H, S)`` open along ``axis`` (no wrap-around couplings): the input of a transport device."""
        self.get_property("hamiltonian", atoms)
        h, s = self.blocks
        return h.to_sparse(axis=axis), s.to_sparse(axis=axis)

    @property
    def orbital_positions(self) -> np.ndarray:
        """``(N_orb, 3)`` Å: the position of the atom of each orbital (last structure)."""
        if self.atoms is None:
            raise ParameterError("HamiltonianCalculator.orbital_positions: no structure computed yet; call "
                                 "get_property('hamiltonian', atoms) first")
        return self.atoms.positions[self.basis.orbital_atoms(self.atoms.numbers)]
