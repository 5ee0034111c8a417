"""The hamtrans model files (``.pt``) and the Hamiltonian predictor built from one.

Both formats are a ``torch.save`` dictionary of plain types and tensors only, so
they load with ``torch.load(weights_only=True)`` (no pickled code). Files of
another major version are refused with a message naming both versions.

Hamiltonian model, format ``hamtrans-hamiltonian-model`` version 1.x (1.1 added the
optional ``electrostatics``/``charge_width`` config keys and the charge head's weights)::

    format        "hamtrans-hamiltonian-model"
    version       [major, minor]      files of another major version are refused
    hamtrans      package version that wrote it
    config        HamiltonianModelConfig as a dict (basis as JSON, species as Z)
    hamiltonian   state_dict of HamiltonianModel
    overlap       state_dict of OverlapModel, or None (then S must be supplied)
    metadata      JSON string: training data, metrics, reference used

Interatomic potential, format ``hamtrans-potential`` version 1.x::

    format, version, hamtrans   as above
    config        PotentialConfig as a dict (species as Z)
    potential     state_dict of InteratomicPotential (incl. fitted shifts/scales)
    metadata      JSON string

Files are written to ``<path>.partial`` and renamed. Reading one checks every entry:
a file that is not one of these dictionaries (a plain state dict, a training
checkpoint, a corrupt or non-torch file) is a :class:`~hamtrans.errors.FileFormatError`
naming the file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from hamtrans.atomic_files import atomic_write
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.graphs import AtomGraph, build_graph
from hamtrans.errors import FileFormatError, HamtransError
from hamtrans.models.electrostatics import electron_potential, neutralized, potential_blocks
from hamtrans.models.hamiltonian import HamiltonianModel, HamiltonianModelConfig, OverlapModel
from hamtrans.models.inputs import prepare_inputs
from hamtrans.models.potential import InteratomicPotential, PotentialConfig

MODEL_FORMAT = "hamtrans-hamiltonian-model"
MODEL_VERSION = (1, 1)
POTENTIAL_FORMAT = "hamtrans-potential"
POTENTIAL_VERSION = (1, 0)
_KIND = {MODEL_FORMAT: "Hamiltonian model", POTENTIAL_FORMAT: "interatomic potential"}
#: Entries every file of a format has, besides format/version/hamtrans (the overlap may be ``None``).
_ENTRIES = {MODEL_FORMAT: ("config", "hamiltonian", "overlap", "metadata"),
            POTENTIAL_FORMAT: ("config", "potential", "metadata")}


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch device ``device`` names, checked to exist on this machine.

    Raises
    ------
    HamtransError
        ``device`` is no torch device name, or names a CUDA GPU (or Apple MPS) this machine lacks.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise HamtransError(f"device {device!r} is not a torch device name; use 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA support"
            raise HamtransError(f"device {device!r}: torch finds no CUDA GPU on this machine (torch "
                                f"{torch.__version__}, {build}); use device 'cpu'")
        if resolved.index is not None and resolved.index >= count:
            raise HamtransError(f"device {device!r}: this machine has {count} CUDA GPU(s), 'cuda:0' to "
                                f"'cuda:{count - 1}'; use one of them or 'cpu'")
    elif resolved.type not in ("cpu", "cuda"):  # e.g. Apple MPS, which has no float64 for the edge geometry
        raise HamtransError(f"device {device!r} is not supported by hamtrans models; use 'cpu' or 'cuda'")
    return resolved


def portable_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State dict without e3nn's code-generation constants (rebuilt when a model is constructed)."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items() if "._compiled_main" not in k}


def save_model(path: str | os.PathLike, hamiltonian: HamiltonianModel, overlap: OverlapModel | None = None,
               metadata: dict | None = None) -> Path:
    """Write a model file atomically; returns its path."""
    config = hamiltonian.config
    return _write(path, MODEL_FORMAT, MODEL_VERSION, {
        "config": {**config.to_dict(), "basis": config.orbital_basis().to_json()},
        "hamiltonian": portable_state(hamiltonian),
        "overlap": None if overlap is None else portable_state(overlap),
        "metadata": json.dumps(metadata or {}),
    })


def save_potential(path: str | os.PathLike, potential: InteratomicPotential, metadata: dict | None = None) -> Path:
    """Write an interatomic-potential file atomically; returns its path."""
    return _write(path, POTENTIAL_FORMAT, POTENTIAL_VERSION, {
        "config": potential.config.to_dict(),
        "potential": portable_state(potential),
        "metadata": json.dumps(metadata or {}),
    })


def _write(path: str | os.PathLike, format_name: str, version: tuple[int, int], content: dict) -> Path:
    from hamtrans import __version__

    payload = {"format": format_name, "version": list(version), "hamtrans": __version__, **content}
    path = Path(path)
    atomic_write(path, lambda partial: torch.save(payload, partial))
    return path


def file_format(path: str | os.PathLike) -> str:
    """``"hamtrans-hamiltonian-model"`` or ``"hamtrans-potential"`` (the ``format`` entry of a model file)."""
    from hamtrans.models.pretrained import pretrained_path

    resolved = pretrained_path(str(path)) or Path(path)
    if not resolved.exists():
        return ""
    try:
        payload = torch.load(resolved, map_location="cpu", weights_only=True)
    except Exception:
        return ""
    return payload.get("format", "") if isinstance(payload, dict) else ""


def _read(path: str | os.PathLike, format_name: str, version: tuple[int, int], device: str | torch.device
          ) -> tuple[Path, dict]:
    """Resolve a shipped name, load safely, check format, major version and the entries of the format."""
    from hamtrans.models.pretrained import available, pretrained_path

    device = resolve_device(device)
    shipped = pretrained_path(str(path))
    path = shipped if shipped is not None else Path(path)
    if not path.exists():
        raise FileFormatError(f"model file {path} does not exist (shipped models: {', '.join(available())})")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch's own text is about its weights_only default: name the file and the cause
        cause = ("it holds pickled Python objects (e.g. a whole torch module), which hamtrans does not load"
                 if "Unsupported global" in str(exc) else f"torch cannot read it ({type(exc).__name__}): it is "
                 f"corrupt, truncated or not a torch file")
        raise FileFormatError(f"{path} is not a loadable hamtrans model file: {cause}; give a model file written "
                              f"by hamtrans (best.pt, save_model, save_potential)") from None
    kind = _KIND[format_name]
    article = "an" if kind[0] in "aeiou" else "a"
    if not isinstance(payload, dict):
        raise FileFormatError(f"{path} is not a hamtrans model file: it holds a {type(payload).__name__}, not the "
                              f"dictionary of {article} {kind} file; give a model file written by hamtrans (best.pt)")
    if "format" not in payload:
        what = ("a training checkpoint, not a model file" if {"optimizer", "model"} <= set(payload)
                else "not a hamtrans model file (it has no 'format' entry: a plain state dict?)")
        raise FileFormatError(f"{path} is {what}; give {article} {kind} file written by hamtrans train (best.pt) "
                              f"or save_{'model' if format_name == MODEL_FORMAT else 'potential'}")
    if payload["format"] != format_name:
        found = _KIND.get(payload["format"], f"format {payload['format']!r}")
        raise FileFormatError(f"{path} is not a hamtrans {kind} (it is: {found})")
    try:
        major = int(payload["version"][0])
    except (KeyError, IndexError, TypeError, ValueError):
        raise FileFormatError(f"{path}: the version entry is missing or unreadable "
                              f"({payload.get('version')!r}); the file is damaged: write it again") from None
    if major != version[0]:
        raise FileFormatError(
            f"{path} is {kind} format {major}.x, written by hamtrans {payload.get('hamtrans')}; this "
            f"hamtrans reads {version[0]}.x: use a matching hamtrans version or retrain"
        )
    missing = [key for key in _ENTRIES[format_name] if key not in payload]
    if missing:
        raise FileFormatError(f"{path}: this {kind} file lacks {', '.join(missing)}; it is damaged or was not "
                              f"written by hamtrans: write it again (hamtrans train, save_model/save_potential)")
    if not isinstance(payload["config"], dict):
        raise FileFormatError(f"{path}: its config is a {type(payload['config']).__name__}, not a mapping of "
                              f"hyper-parameters; the file is damaged: write it again")
    return path, payload


def _built(path: Path, build):
    """``build()``: a model, config or metadata from the entries of ``path``; its errors become FileFormatErrors."""
    try:
        return build()
    except FileFormatError:
        raise
    except (HamtransError, KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{path}: its config or metadata do not describe a model this hamtrans can build "
                              f"({type(exc).__name__}: {exc}); the file is damaged or from another program") from None


@dataclass
class Prediction:
    """What a model predicts for one structure.

    Attributes
    ----------
    hamiltonian
        Block-sparse H, eV (with the long-range term when the model has electrostatics).
    overlap
        Block-sparse S, or ``None`` without an overlap model.
    charges
        ``(N,)`` atomic charges in e, neutralised to the requested total, or ``None``
        without electrostatics.
    """

    hamiltonian: BlockSparseMatrix
    overlap: BlockSparseMatrix | None
    charges: np.ndarray | None = None


@dataclass
class HamiltonianPredictor:
    """A loaded model: predicts block-sparse H (eV) and S for any structure.

    Attributes
    ----------
    hamiltonian, overlap
        The networks (``overlap`` may be ``None``: pass S to the caller's workflow).
    metadata
        What the file says about its training.
    """

    hamiltonian: HamiltonianModel
    overlap: OverlapModel | None
    metadata: dict = field(default_factory=dict)

    @property
    def config(self) -> HamiltonianModelConfig:
        return self.hamiltonian.config

    @property
    def basis(self):
        return self.hamiltonian.basis

    def graph(self, atoms: Atoms) -> AtomGraph:
        """Block graph at the model's ``block_cutoff``."""
        return build_graph(atoms, self.config.block_cutoff)

    def predict(self, atoms: Atoms, graph: AtomGraph | None = None, device: str = "cpu"
                ) -> tuple[BlockSparseMatrix, BlockSparseMatrix | None]:
        """``(H, S)`` of ``atoms`` as :class:`BlockSparseMatrix` (S is ``None`` without an overlap model)."""
        prediction = self.predict_all(atoms, graph, device)
        return prediction.hamiltonian, prediction.overlap

    def predict_all(self, atoms: Atoms, graph: AtomGraph | None = None, device: str = "cpu",
                    total_charge: float = 0.0) -> Prediction:
        """H, S and (with electrostatics) the charges of a whole structure.

        With electrostatics, the predicted charges are shifted uniformly to sum to
        ``total_charge`` (e) and ``½(VS + SV)`` of their potential is added to the local H.
        """
        device = resolve_device(device)
        graph = graph or self.graph(atoms)
        inputs = prepare_inputs(atoms, graph, self.basis, list(self.config.species), self.config.mp_cutoff,
                                self.config.torch_dtype).to(device)
        as_blocks = lambda onsite, edges: BlockSparseMatrix(
            self.basis, atoms.numbers, graph, onsite.double().cpu().numpy(), edges.double().cpu().numpy())
        with torch.no_grad():
            onsite, edges, charges = self.hamiltonian.to(device).eval().forward_with_charges(inputs)
            hamiltonian = as_blocks(onsite, edges)
            overlap = None if self.overlap is None else as_blocks(*self.overlap.to(device).eval()(inputs))
        if charges is None:
            return Prediction(hamiltonian, overlap)
        charges = neutralized(charges.double().cpu().numpy(), total_charge)
        term = potential_blocks(overlap, electron_potential(atoms, charges, self.config.charge_width))
        hamiltonian = hamiltonian.copy_with(hamiltonian.onsite + term.onsite, hamiltonian.edges + term.edges)
        return Prediction(hamiltonian, overlap, charges)

    def timed_predict(self, atoms: Atoms, device: str = "cpu") -> tuple[BlockSparseMatrix, BlockSparseMatrix | None, dict]:
        """:meth:`predict` plus wall time (s) and peak resident memory (MiB) of this process."""
        import resource

        start = time.perf_counter()
        h, s = self.predict(atoms, device=device)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return h, s, {"seconds": seconds, "peak_memory_MiB": peak}


def load_model(path: str | os.PathLike, device: str = "cpu") -> HamiltonianPredictor:
    """Load a model file safely (``weights_only=True``); refuse other formats and major versions.

    ``path`` may also name a shipped model (:mod:`hamtrans.models.pretrained`, e.g. ``"vcm-gfn1"``).
    """
    path, payload = _read(path, MODEL_FORMAT, MODEL_VERSION, device)
    config_dict = dict(payload["config"])
    config_dict.pop("edge_chunk", None)  # older files stored this machine setting (now HamiltonianModel.edge_chunk)
    config_dict.setdefault("smooth_cutoffs", False)  # files without the key were trained without it
    config = _built(path, lambda: HamiltonianModelConfig(**{**config_dict, "species": tuple(config_dict["species"])}))
    hamiltonian = _built(path, lambda: HamiltonianModel(config))
    _load_state(hamiltonian, payload["hamiltonian"], path)
    overlap = None
    if payload["overlap"] is not None:
        overlap = OverlapModel(config)
        _load_state(overlap, payload["overlap"], path)
    elif config.electrostatics:
        raise FileFormatError(f"{path}: a model with electrostatics needs its overlap model, which the file lacks")
    metadata = _built(path, lambda: json.loads(payload["metadata"]))
    return HamiltonianPredictor(hamiltonian.to(device).eval(), None if overlap is None else overlap.to(device).eval(),
                                metadata)


def load_potential(path: str | os.PathLike, device: str = "cpu", dtype: str | None = None) -> InteratomicPotential:
    """Load an interatomic-potential file (or shipped name) safely; its metadata is ``model.metadata``.

    ``dtype`` (``"float32"``/``"float64"``) rebuilds the model in another precision than it was trained in.
    """
    path, payload = _read(path, POTENTIAL_FORMAT, POTENTIAL_VERSION, device)
    config_dict = dict(payload["config"])
    if dtype is not None:
        config_dict["dtype"] = dtype
    config = _built(path, lambda: PotentialConfig(**{**config_dict, "species": tuple(config_dict["species"])}))
    potential = _built(path, lambda: InteratomicPotential(config))
    _load_state(potential, payload["potential"], path)
    potential.metadata = _built(path, lambda: json.loads(payload["metadata"]))
    return potential.to(device).eval()


def _load_state(module: torch.nn.Module, state: dict, path: Path) -> None:
    """Load weights; only e3nn's regenerated code constants may be absent or extra."""
    if not isinstance(state, dict):
        raise FileFormatError(f"{path}: the weights are a {type(state).__name__}, not a state dict; the file is "
                              f"damaged: write it again")
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that do not fit
        raise FileFormatError(f"{path}: weights do not fit the model its config describes ({exc})") from None
    bad = [k for k in list(result.missing_keys) + list(result.unexpected_keys) if "._compiled_main" not in k]
    if bad:
        raise FileFormatError(f"{path}: weights do not fit the model its config describes ({', '.join(bad[:5])})")
