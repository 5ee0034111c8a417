"""E(3)-equivariant interatomic potential (NequIP / SevenNet style).

The energy is a sum of atomic energies,
``E = Σ_i [scale · ε_i + shift(Z_i)]``, where ``ε_i`` is read out from the
scalar features of atom ``i`` after ``n_layers`` interactions:

``h_i ← Gate( SC(h_i, Z_i) + W · (1/√n̄) Σ_j R_k(|r_ij|) ⊙ [U h_j ⊗ Y(r̂_ij)] )``

with species embedding ``h⁰ = E · onehot(Z)``, a linear "up" map ``U``, a
channel-wise tensor product whose weights come from a radial MLP of Bessel
functions times a smooth envelope (exactly zero beyond ``cutoff``), the average
neighbour count ``n̄`` fitted from data, a species-dependent self-connection
``SC`` (a tensor product with the one-hot species) and a gated nonlinearity. The
last layer keeps only scalars.

Every geometric input enters through the edge vectors ``r_e = r_j + S·cell − r_i``
(receiver ``i``, sender ``j``), so all derivatives follow from ``g_e = ∂E/∂r_e``:

* forces ``F_i = Σ_{e: i receives} g_e − Σ_{e: i sends} g_e`` (eV/Å);
* virial ``W = −Σ_e r_e ⊗ g_e`` and ASE stress ``σ = −W / V`` (eV/Å³).

The forward pass is also exposed stage by stage (:meth:`InteratomicPotential.embed`,
:meth:`~InteratomicPotential.interact`, :meth:`~InteratomicPotential.readout`)
over "local" atoms, which receive messages, and "ghost" atoms, copies of atoms
owned elsewhere: :mod:`hamtrans.models.staged` drives these stages with a
feature exchange between layers, as the LAMMPS pair style does with MPI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn

from hamtrans.data.graphs import build_graph
from hamtrans.errors import ConfigError
from hamtrans.models.equivariant import DTYPES, ModelConfigMixin, channelwise_tensor_product, default_dtype
from hamtrans.models.graph_inputs import GraphInputs
from hamtrans.models.inputs import species_indices
from hamtrans.models.radial import BesselBasis


@dataclass(frozen=True)
class PotentialConfig(ModelConfigMixin):
    """Hyper-parameters of :class:`InteratomicPotential` (stored in model files).

    Attributes
    ----------
    species
        Atomic numbers the potential handles.
    cutoff
        Interaction radius, Å (one layer's reach; the receptive field is ``n_layers · cutoff``).
    lmax
        Highest l of the spherical harmonics and of the features.
    channels
        Multiplicity of every irrep of the node features.
    n_layers
        Interaction layers.
    n_radial
        Bessel functions of the radial basis.
    radial_hidden
        Width of the radial MLPs (two hidden layers).
    dtype
        ``"float32"`` (default) or ``"float64"``; the model is built in this precision.
    """

    species: tuple[int, ...]
    cutoff: float = 5.0
    lmax: int = 2
    channels: int = 16
    n_layers: int = 3
    n_radial: int = 8
    radial_hidden: int = 64
    dtype: str = "float32"

    @property
    def receptive_field(self) -> float:
        """Å from which an atom's energy can be influenced."""
        return self.n_layers * self.cutoff


@dataclass(kw_only=True)
class PotentialInputs(GraphInputs):
    """Tensors of one structure for the potential: the graph of edges within its cutoff.

    The keys are those of :class:`~hamtrans.models.graph_inputs.GraphInputs`; the potential needs no more.
    """


def prepare_potential_inputs(atoms: Atoms, species: list[int], cutoff: float,
                             dtype: torch.dtype = torch.float32) -> PotentialInputs:
    """:class:`PotentialInputs` of ``atoms`` with edges within ``cutoff`` Å (own periodic images included).

    The geometry stays float64; ``dtype`` (the model's precision) is that of the edge vectors.
    """
    graph = build_graph(atoms, cutoff)
    return PotentialInputs(
        species=torch.as_tensor(species_indices(atoms.numbers, species), dtype=torch.long),
        positions=torch.as_tensor(atoms.positions, dtype=torch.float64),
        cell=torch.as_tensor(atoms.cell.array, dtype=torch.float64),
        edge_index=torch.as_tensor(graph.edge_index, dtype=torch.long),
        shifts=torch.as_tensor(graph.shifts, dtype=torch.float64),
        dtype=dtype,
    )


class Interaction(nn.Module):
    """One NequIP-style convolution with gated nonlinearity; see the module docstring."""

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, n_species: int, channels: int, lmax: int,
                 n_radial: int, radial_hidden: int, scalars_only: bool) -> None:
        super().__init__()
        natural = {(l, (-1) ** l) for l in range(lmax + 1)}
        self.up = o3.Linear(irreps_in, irreps_in)
        self.tp, irreps_mid = channelwise_tensor_product(irreps_in, irreps_sh, natural)
        self.radial = FullyConnectedNet([n_radial, radial_hidden, radial_hidden, self.tp.weight_numel],
                                        torch.nn.functional.silu)
        scalars = o3.Irreps([(channels, (0, 1))])
        gated = o3.Irreps("") if scalars_only else o3.Irreps([(channels, (l, (-1) ** l)) for l in range(1, lmax + 1)])
        gates = o3.Irreps([(gated.num_irreps, (0, 1))]) if gated.num_irreps else o3.Irreps("")
        self.gate = Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid] if gated.num_irreps else [],
                         gated)
        self.down = o3.Linear(irreps_mid, self.gate.irreps_in)
        self.self_connection = o3.FullyConnectedTensorProduct(irreps_in, o3.Irreps([(n_species, (0, 1))]),
                                                              self.gate.irreps_in)
        self.irreps_out = self.gate.irreps_out

    def forward(self, h: torch.Tensor, onehot_centres: torch.Tensor, receivers: torch.Tensor, senders: torch.Tensor,
                sh: torch.Tensor, radial: torch.Tensor, inverse_neighbours: torch.Tensor) -> torch.Tensor:
        """New features of the ``len(onehot_centres)`` receiving atoms (the first rows of ``h``)."""
        n_centres = onehot_centres.shape[0]
        messages = self.tp(self.up(h)[senders], sh, self.radial(radial))
        aggregated = torch.zeros(n_centres, messages.shape[1], dtype=h.dtype, device=h.device)
        aggregated = aggregated.index_add(0, receivers, messages) * inverse_neighbours
        return self.gate(self.self_connection(h[:n_centres], onehot_centres) + self.down(aggregated))


class InteratomicPotential(nn.Module):
    """Energies of atoms from their neighbourhoods; see the module docstring.

    Parameters
    ----------
    config
        :class:`PotentialConfig`.
    """

    def __init__(self, config: PotentialConfig) -> None:
        super().__init__()
        if config.dtype not in DTYPES:
            raise ConfigError(f"model.dtype must be 'float32' or 'float64', not {config.dtype!r}")
        if config.n_layers < 1:
            raise ConfigError(f"model.n_layers must be at least 1, not {config.n_layers}")
        with default_dtype(config.torch_dtype):
            self._build(config)

    def _build(self, config: PotentialConfig) -> None:
        self.config = config
        self.species = list(config.species)
        n_species = len(self.species)
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)
        self.radial_basis = BesselBasis(config.cutoff, config.n_radial)
        irreps = o3.Irreps([(config.channels, (0, 1))])
        self.embedding = o3.Linear(o3.Irreps([(n_species, (0, 1))]), irreps)
        layers = []
        for k in range(config.n_layers):
            layer = Interaction(irreps, self.irreps_sh, n_species, config.channels, config.lmax, config.n_radial,
                                config.radial_hidden, scalars_only=k == config.n_layers - 1)
            layers.append(layer)
            irreps = layer.irreps_out
        self.layers = nn.ModuleList(layers)
        self.readout = FullyConnectedNet([config.channels, config.channels, 1], torch.nn.functional.silu)
        # data statistics (fitted by the trainer from the training set)
        self.register_buffer("energy_shift", torch.zeros(n_species))     # eV per atom of each species
        self.register_buffer("energy_scale", torch.ones(()))             # eV
        self.register_buffer("average_neighbours", torch.ones(()))       # neighbours within the cutoff

    # -- stages (local atoms first, then ghosts) ---------------------------------------------
    def onehot(self, species: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(species, len(self.species)).to(self.energy_shift.dtype)

    def embed(self, species: torch.Tensor) -> torch.Tensor:
        """Layer-0 features of local and ghost atoms, ``(N, channels)``."""
        return self.embedding(self.onehot(species))

    def edge_basis(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Spherical harmonics ``(E, (lmax+1)²)`` and radial basis ``(E, n_radial)`` of edge vectors (Å)."""
        sh = o3.spherical_harmonics(self.irreps_sh, vectors, normalize=True, normalization="component")
        # × cutoff: the Bessel functions (~ 1/d) then have O(1) magnitude, as the radial MLPs expect
        return sh, self.radial_basis(vectors.norm(dim=1)) * self.config.cutoff

    def interact(self, layer: int, h: torch.Tensor, species_local: torch.Tensor, edge_index: torch.Tensor,
                 sh: torch.Tensor, radial: torch.Tensor) -> torch.Tensor:
        """Features of the local atoms after interaction ``layer`` (0-based).

        Parameters
        ----------
        h
            Features of local then ghost atoms, ``(N_local + N_ghost, dim)``.
        species_local
            ``(N_local,)`` species indices of the receiving atoms.
        edge_index
            ``(2, E)``: receiver (a local atom) and sender (local or ghost).
        sh, radial
            :meth:`edge_basis` of the edges.
        """
        inverse = self.average_neighbours.rsqrt()  # NequIP's normalisation: messages / √n̄
        return self.layers[layer](h, self.onehot(species_local), edge_index[0], edge_index[1], sh, radial, inverse)

    def atomic_energies(self, h: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Energies (eV) of atoms from their final scalar features, ``(N,)``."""
        return self.energy_scale * self.readout(h).squeeze(-1) + self.energy_shift[species]

    # -- serial evaluation ----------------------------------------------------------------------
    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """Atomic energies ``(N,)`` (eV) of a whole structure from its edge vectors ``(E, 3)``."""
        sh, radial = self.edge_basis(vectors)
        h = self.embed(species)
        for k in range(len(self.layers)):
            h = self.interact(k, h, species, edge_index, sh, radial)
        return self.atomic_energies(h, species)


def edge_forces(gradients: torch.Tensor, edge_index: torch.Tensor, n_atoms: int) -> torch.Tensor:
    """Forces ``(n_atoms, 3)`` (eV/Å) from edge gradients ``g_e = ∂E/∂r_e``."""
    receivers, senders = edge_index
    forces = torch.zeros(n_atoms, 3, dtype=gradients.dtype, device=gradients.device)
    return forces.index_add(0, receivers, gradients).index_add(0, senders, -gradients)


def edge_virial(gradients: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Virial ``W = −Σ_e r_e ⊗ g_e`` (eV), symmetrised, ``(3, 3)``."""
    virial = -(vectors.transpose(0, 1) @ gradients)
    return 0.5 * (virial + virial.transpose(0, 1))


def evaluate(model: InteratomicPotential, inputs: PotentialInputs, training: bool = False) -> dict[str, torch.Tensor]:
    """Energy, atomic energies, forces and virial of one structure.

    Parameters
    ----------
    training
        Keep the graph of the forces so a loss on them can be differentiated.

    Returns
    -------
    dict
        ``energy`` (eV, scalar), ``energies`` ``(N,)``, ``forces`` ``(N, 3)`` eV/Å,
        ``virial`` ``(3, 3)`` eV (divide by −volume for the ASE stress).
    """
    vectors = inputs.edge_vectors().detach().requires_grad_(True)
    energies = model(inputs.species, inputs.edge_index, vectors)
    energy = energies.sum()
    (gradients,) = torch.autograd.grad(energy, vectors, create_graph=training)
    return {
        "energy": energy,
        "energies": energies,
        "forces": edge_forces(gradients, inputs.edge_index, len(inputs.species)),
        "virial": edge_virial(gradients, vectors),
    }


def stress_from_virial(virial: np.ndarray, volume: float) -> np.ndarray:
    """ASE Voigt stress ``(xx, yy, zz, yz, xz, xy)`` in eV/Å³ from a virial (eV)."""
    sigma = -np.asarray(virial) / volume
    return sigma.flat[[0, 4, 8, 5, 2, 1]].copy()
