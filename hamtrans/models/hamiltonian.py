"""E(3)-equivariant, strictly local Hamiltonian (and overlap) model.

Architecture (one message-passing layer by default, as in arXiv 2602.02125):

1. species embedding → scalar node features;
2. ``n_layers`` attention interactions: messages ``TP(h_j, Y(r̂_ij))`` with
   radial-MLP weights, weighted by multi-head attention
   ``u_ij softmax_j(q_i·k_ij + log u_ij)`` (``u``: the smooth cutoff envelope, so a
   neighbour entering the sphere starts with zero weight and renormalises nothing),
   plus a self-connection and a gated nonlinearity;
3. edge features for every block edge from both end nodes:
   ``TP(W_a h_i + W_b h_j, Y(r̂_ij))`` with radial weights, or (``edge_convolution:
   so2``) the SO(2) convolution of :mod:`.so2` in the edge-aligned frame, whose
   cost grows as L³ instead of L⁶;
4. onsite features: node features plus the sum of the atom's edge features (which
   carry the odd-parity components nodes lack), weighted by an envelope that reaches
   0 at ``block_cutoff``;
5. heads per element pair: a linear map to the Clebsch–Gordan slots of every
   shell pair and the orthogonal slot → block map (:mod:`.block_head`);
6. hermiticity by construction: ``H_ij(S) ← ½(B_ij(S) + B_ji(−S)ᵀ)``.

With ``electrostatics`` on, a charge head reads latent atomic charges from the
node features; the long-range term ``½(VS + SV)`` of their potential is added to
the local blocks by the trainer and the predictor (:mod:`.electrostatics`), so the
blocks this module returns stay strictly local.

The overlap S is two-centre: :class:`OverlapModel` predicts each block from the
element pair and the bond vector only (radial MLP × spherical harmonics, the
Gaunt-allowed slots), onsite S blocks are per-element constants.

Strict locality: every radial function carries the polynomial envelope of
:mod:`.radial`, so an atom farther than ``mp_cutoff`` from both ends of a block
(or from the atom of an onsite block) changes it by exactly 0.

Continuity (``smooth_cutoffs``, the default of new models): H is a continuous function
of the positions, except for the block of a pair crossing ``block_cutoff`` itself,
which the block-sparse format truncates there (as every reference does). Files
written before the option existed load with ``smooth_cutoffs=False``: the softmax over
the whole sphere, multiplied by the envelope afterwards, and onsite weights that
reach 0 only at ``block_cutoff + block_margin``; there H jumps when an atom crosses
``mp_cutoff`` or ``block_cutoff``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from ase.data import chemical_symbols
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn

from hamtrans.data.basis import OrbitalBasis
from hamtrans.errors import ConfigError, HamtransError
from hamtrans.models.block_head import BlockCoupling
from hamtrans.models.equivariant import (
    DTYPES,
    ModelConfigMixin,
    ProductThenLinear,
    channelwise_tensor_product,
    default_dtype,
)
from hamtrans.models.inputs import ModelInputs
from hamtrans.models.radial import BesselBasis, polynomial_envelope
from hamtrans.models.so2 import EdgeFrame, SO2Convolution

#: Edge stages of :class:`HamiltonianModel` (``HamiltonianModelConfig.edge_convolution``).
EDGE_CONVOLUTIONS = ("tensor-product", "so2")


@dataclass(frozen=True)
class HamiltonianModelConfig(ModelConfigMixin):
    """Hyper-parameters (stored in model files).

    Attributes
    ----------
    basis
        Orbital basis name or JSON (see :class:`OrbitalBasis`).
    species
        Atomic numbers the model handles.
    block_cutoff
        Å; the largest block distance the model is used for. Edge radial functions
        span ``block_cutoff + block_margin`` so blocks right at the cutoff (nonzero in
        any real basis) are not damped by the envelope.
    block_margin
        Å added to ``block_cutoff`` for the range of the edge radial functions.
    mp_cutoff
        Å; message-passing radius (receptive field per layer).
    lmax
        Highest l of spherical harmonics and features (≥ 2·largest shell l).
    channels
        Multiplicity of every irrep in node and edge features.
    n_layers
        Interaction layers (receptive field = n_layers · mp_cutoff around each end).
    heads
        Attention heads (must divide ``channels``).
    n_radial
        Bessel functions.
    radial_hidden
        Width of the radial MLPs.
    dtype
        ``"float32"`` (default) or ``"float64"``; the model is built in this precision
        (e3nn's Clebsch–Gordan tables too: a float32 model cast to float64 is only
        equivariant to ~1e-8).
    smooth_cutoffs
        Attention weights and the onsite sum over block edges go to 0 smoothly at
        ``mp_cutoff`` and ``block_cutoff`` (module docstring). ``False`` reproduces
        models trained before the option existed.
    electrostatics
        Also predict latent atomic charges (e) and add the long-range term
        ``½(VS + SV)`` of their potential (:mod:`hamtrans.models.electrostatics`)
        to H; the charges are learned end to end from H.
    charge_width
        Å; Gaussian width σ of the charges in that potential.
    edge_convolution
        ``"tensor-product"`` (default): the edge stage is ``TP(·, Y(r̂))`` then a linear map;
        ``"so2"``: the SO(2) convolution of :mod:`hamtrans.models.so2` (every l_f of Y,
        ``|m| ≤ mmax``).
    mmax
        Largest ``|m|`` the SO(2) edge stage mixes (``None``: all, up to ``lmax``).
    """

    basis: str
    species: tuple[int, ...]
    block_cutoff: float = 4.5
    block_margin: float = 1.0
    mp_cutoff: float = 4.0
    lmax: int = 4
    channels: int = 16
    n_layers: int = 1
    heads: int = 4
    n_radial: int = 8
    radial_hidden: int = 32
    dtype: str = "float32"
    smooth_cutoffs: bool = True
    electrostatics: bool = False
    charge_width: float = 2.0
    edge_convolution: str = "tensor-product"
    mmax: int | None = None

    @property
    def receptive_field(self) -> float:
        """Å beyond a block's atoms from which atoms can change it.

        An edge block depends on atoms within ``n_layers · mp_cutoff`` of either end;
        an onsite block also gathers the atom's edge features, so it reaches
        ``block_cutoff`` further. The slab halo of augmented partitioning is
        ``block_cutoff + receptive_field``.
        """
        return self.n_layers * self.mp_cutoff

    @property
    def edge_radial_range(self) -> float:
        """Å spanned by the radial functions of block edges."""
        return self.block_cutoff + self.block_margin

    def orbital_basis(self) -> OrbitalBasis:
        if self.basis.lstrip().startswith("{"):
            return OrbitalBasis.from_json(self.basis)
        return OrbitalBasis.named(self.basis)


def check_config(config: HamiltonianModelConfig, basis: OrbitalBasis) -> None:
    """Refuse hyper-parameters the Hamiltonian model cannot be built with (:func:`check_lmax`, heads).

    Raises
    ------
    ConfigError
        Naming the key, its value and the fix.
    """
    if config.heads < 1 or config.channels % config.heads:
        raise ConfigError(f"model.heads = {config.heads} must divide model.channels = {config.channels}; "
                          f"choose heads among the divisors of channels")
    if config.edge_convolution not in EDGE_CONVOLUTIONS:
        raise ConfigError(f"model.edge_convolution = {config.edge_convolution!r}: choose one of {EDGE_CONVOLUTIONS}")
    if config.mmax is not None and config.edge_convolution != "so2":
        raise ConfigError(f"model.mmax = {config.mmax} applies to edge_convolution 'so2' only; remove it or set "
                          "edge_convolution: so2")
    check_lmax(config, basis)


def check_lmax(config: HamiltonianModelConfig, basis: OrbitalBasis) -> None:
    """Refuse an ``lmax`` below the highest l of the basis' blocks.

    The block of two shells ``l1, l2`` holds irreps up to ``l1 + l2``; both models build them
    from spherical harmonics and features of ``l ≤ lmax``, so ``lmax`` must reach twice the
    largest shell l of the model's species.

    Raises
    ------
    ConfigError
        Naming ``lmax``, the minimum and the element whose shells set it.
    """
    largest = {int(z): max(basis.shells_of(int(z))) for z in config.species}
    element = max(largest, key=largest.get)
    minimum = 2 * largest[element]
    if config.lmax < minimum:
        raise ConfigError(
            f"model.lmax = {config.lmax} is too small for basis '{basis.name}': two l = {largest[element]} shells "
            f"({chemical_symbols[element]}) couple to irreps up to l = {minimum}; set lmax to at least {minimum}")


def _place_blocks(out: torch.Tensor, pointer: torch.Tensor, owners: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """Write flat blocks ``(k, size)`` at ``pointer[owners]`` of the flat output ``out`` (in place; returns it)."""
    index = pointer[owners][:, None] + torch.arange(blocks.shape[1], device=blocks.device)
    return out.index_put_((index.flatten(),), blocks.flatten())


def _segment_softmax(logits: torch.Tensor, receivers: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """Softmax of ``logits (E, H)`` over edges sharing a receiver."""
    heads = logits.shape[1]
    maximum = torch.full((n_nodes, heads), -torch.inf, dtype=logits.dtype, device=logits.device)
    maximum = maximum.scatter_reduce(0, receivers[:, None].expand(-1, heads), logits, "amax", include_self=True)
    weights = torch.exp(logits - maximum[receivers])
    total = torch.zeros((n_nodes, heads), dtype=logits.dtype, device=logits.device).index_add(0, receivers, weights)
    return weights / total[receivers]


class AttentionInteraction(nn.Module):
    """One message-passing layer with multi-head attention over neighbours.

    ``smooth``: the envelope enters the logits as ``log u`` as well as multiplying the
    weights, so a neighbour's weight goes to 0 continuously at the cutoff and the
    others' do not jump when it enters; otherwise the softmax runs over every neighbour
    inside the cutoff and is multiplied by the envelope only afterwards.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, channels: int, lmax: int, heads: int,
                 n_radial: int, radial_hidden: int, key_dim: int = 8, smooth: bool = True) -> None:
        super().__init__()
        self.smooth = smooth
        natural = {(l, (-1) ** l) for l in range(lmax + 1)}
        self.tp, irreps_mid = channelwise_tensor_product(irreps_in, irreps_sh, natural)
        self.radial = FullyConnectedNet([n_radial, radial_hidden, radial_hidden, self.tp.weight_numel], torch.nn.functional.silu)
        scalars_in = irreps_in.count((0, 1))
        self.heads, self.key_dim = heads, key_dim
        self.query = nn.Linear(scalars_in, heads * key_dim)
        self.key = FullyConnectedNet([n_radial + scalars_in, radial_hidden, heads * key_dim], torch.nn.functional.silu)
        # head of every component of the message: channel c of an irrep belongs to head c // (mul / heads)
        head_of = []
        for mul, ir in irreps_mid:
            head_of += [c * heads // mul for c in range(mul) for _ in range(ir.dim)]
        self.register_buffer("head_of_component", torch.tensor(head_of, dtype=torch.long))
        gated = o3.Irreps([(channels, (l, (-1) ** l)) for l in range(1, lmax + 1)])
        scalars = o3.Irreps([(channels, (0, 1))])
        gates = o3.Irreps([(gated.num_irreps, (0, 1))])
        self.gate = Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], gated)
        self.linear = o3.Linear(irreps_mid, self.gate.irreps_in)
        self.self_connection = o3.Linear(irreps_in, self.gate.irreps_in)
        self.irreps_out = self.gate.irreps_out
        self._scalar_slice = irreps_in.slices()[0]

    def forward(self, h, receivers, senders, sh, radial, envelope):
        n_nodes = h.shape[0]
        scalars = h[:, self._scalar_slice]
        query = self.query(scalars).view(n_nodes, self.heads, self.key_dim)
        key = self.key(torch.cat([radial, scalars[senders]], dim=1)).view(-1, self.heads, self.key_dim)
        logits = (query[receivers] * key).sum(-1) / self.key_dim**0.5
        if self.smooth:
            logits = logits + torch.log(envelope.clamp_min(torch.finfo(envelope.dtype).tiny))[:, None]
        attention = _segment_softmax(logits, receivers, n_nodes) * envelope[:, None]
        messages = self.tp(h[senders], sh, self.radial(radial))
        messages = messages * attention[:, self.head_of_component]
        aggregated = torch.zeros(n_nodes, messages.shape[1], dtype=h.dtype, device=h.device).index_add(0, receivers, messages)
        return self.gate(self.self_connection(h) + self.linear(aggregated))


class HamiltonianModel(nn.Module):
    """Predicts the flat onsite and edge blocks of H (eV) in the layout of :class:`ModelInputs`.

    Parameters
    ----------
    config
        :class:`HamiltonianModelConfig`.

    Attributes
    ----------
    edge_chunk
        Block edges per chunk of the edge-feature stage. Changes speed and memory,
        never results, so it is a setting of the machine, not of the model (files do
        not store it). The default 2,000 keeps a chunk's intermediates in cache: on
        one core it was 1.4× faster than 20,000 (measured in ``docs/architecture.md``).
    """

    edge_chunk: int = 2000

    def __init__(self, config: HamiltonianModelConfig) -> None:
        super().__init__()
        if config.dtype not in DTYPES:
            raise ConfigError(f"model.dtype must be 'float32' or 'float64', not {config.dtype!r}")
        with default_dtype(config.torch_dtype):
            self._build(config)

    def _build(self, config: HamiltonianModelConfig) -> None:
        self.config = config
        # the range over which a block edge feeds its atoms' onsite features
        self._onsite_range = config.block_cutoff if config.smooth_cutoffs else config.edge_radial_range
        basis = config.orbital_basis()
        self.basis = basis
        self.species = list(config.species)
        n_species = len(self.species)
        check_config(config, basis)
        self.coupling = BlockCoupling(basis, self.species)
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)
        self.mp_radial = BesselBasis(config.mp_cutoff, config.n_radial)
        self.block_radial = BesselBasis(config.edge_radial_range, config.n_radial)
        scalars = o3.Irreps([(config.channels, (0, 1))])
        self.embedding = o3.Linear(o3.Irreps([(n_species, (0, 1))]), scalars)
        layers, irreps = [], scalars
        for _ in range(config.n_layers):
            layer = AttentionInteraction(irreps, self.irreps_sh, config.channels, config.lmax, config.heads,
                                         config.n_radial, config.radial_hidden, smooth=config.smooth_cutoffs)
            layers.append(layer)
            irreps = layer.irreps_out
        self.layers = nn.ModuleList(layers)
        needed = {(ir.l, ir.p) for _, ir in self.coupling.all_irreps()}
        self.irreps_edge = o3.Irreps([(config.channels, lp) for lp in sorted(needed)])
        if config.electrostatics:
            self.charge_head = o3.Linear(irreps, o3.Irreps("1x0e"))
            with torch.no_grad():  # no charges at the start: a local model plus a channel it can open
                self.charge_head.weight.zero_()
        self.edge_source = o3.Linear(irreps, irreps)
        self.edge_target = o3.Linear(irreps, irreps)
        if config.edge_convolution == "so2":
            self.edge_so2 = SO2Convolution(irreps, self.irreps_edge, config.mmax)
            radial_outputs = self.edge_so2.weight_numel
        else:
            self.edge_tp, irreps_edge_mid = channelwise_tensor_product(irreps, self.irreps_sh, needed)
            self.edge_linear = o3.Linear(irreps_edge_mid, self.irreps_edge)
            self.edge_product = ProductThenLinear(self.edge_tp, self.edge_linear)
            radial_outputs = self.edge_tp.weight_numel
        self.edge_radial = FullyConnectedNet([config.n_radial, config.radial_hidden, config.radial_hidden,
                                              radial_outputs], torch.nn.functional.silu)
        self.onsite_node = o3.Linear(irreps, self.irreps_edge)
        self.onsite_edges = o3.Linear(self.irreps_edge, self.irreps_edge)
        self.edge_heads = nn.ModuleDict({
            f"{a}_{b}": o3.Linear(self.irreps_edge, self.coupling.pair_irreps[(a, b)])
            for a in range(n_species) for b in range(n_species)
        })
        self.onsite_heads = nn.ModuleDict({
            f"{a}": o3.Linear(self.irreps_edge, self.coupling.pair_irreps[(a, a)]) for a in range(n_species)
        })
        # data statistics (fitted by the trainer): one scale per slot irrep and a shift of the
        # invariant (0e) slots of onsite blocks; stored per irrep so any value keeps equivariance
        for a in range(n_species):
            for b in range(n_species):
                irreps = self.coupling.pair_irreps[(a, b)]
                expand = torch.tensor([k for k, (_, ir) in enumerate(irreps) for _ in range(ir.dim)])
                self.register_buffer(f"expand_{a}_{b}", expand)
                self.register_buffer(f"edge_scale_{a}_{b}", torch.ones(irreps.num_irreps))
            irreps = self.coupling.pair_irreps[(a, a)]
            invariant = torch.tensor([ir.l == 0 and ir.p == 1 for _, ir in irreps])
            self.register_buffer(f"invariant_{a}", invariant.to(torch.get_default_dtype()))
            self.register_buffer(f"onsite_shift_{a}", torch.zeros(irreps.num_irreps))
            self.register_buffer(f"onsite_scale_{a}", torch.ones(irreps.num_irreps))

    # -- pieces ---------------------------------------------------------------------------
    def _edge_geometry(self, inputs: ModelInputs, index: torch.Tensor, shift: torch.Tensor):
        receivers, senders = index
        vectors = inputs.edge_vectors(index, shift)
        distance = vectors.norm(dim=1)
        sh = o3.spherical_harmonics(self.irreps_sh, vectors, normalize=True, normalization="component")
        return receivers, senders, vectors, distance, sh

    def node_features(self, inputs: ModelInputs) -> torch.Tensor:
        """Node features after the interaction layers, ``(N, irreps.dim)``."""
        onehot = nn.functional.one_hot(inputs.species, len(self.species)).to(inputs.dtype)
        h = self.embedding(onehot)
        receivers, senders, _, distance, sh = self._edge_geometry(inputs, inputs.edge_index, inputs.shifts)
        radial = self.mp_radial(distance)
        envelope = polynomial_envelope(distance, self.config.mp_cutoff)
        for layer in self.layers:
            h = layer(h, receivers, senders, sh, radial, envelope)
        return h

    def edge_features(self, inputs: ModelInputs, source: torch.Tensor, target: torch.Tensor, part: slice = slice(None)
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``(E_part, irreps_edge.dim)`` and lengths ``(E_part,)`` (Å) of the block edges ``part``.

        ``source``, ``target``: ``edge_source(h)``, ``edge_target(h)`` of the node features ``h``.
        """
        index, shift = inputs.block_edge_index[:, part], inputs.block_shifts[part]
        receivers, senders = index
        if self.config.edge_convolution == "so2":
            vectors = inputs.edge_vectors(index, shift)
            distance = vectors.norm(dim=1)
            weights = self.edge_radial(self.block_radial(distance))
            mixed = source[receivers] + target[senders]
            return self.edge_so2(mixed, EdgeFrame(vectors), weights), distance
        receivers, senders, _, distance, sh = self._edge_geometry(inputs, index, shift)
        mixed = source[receivers] + target[senders]
        weights = self.edge_radial(self.block_radial(distance))
        return self.edge_product(mixed, sh, weights, self.edge_linear.weight), distance

    # -- forward --------------------------------------------------------------------------
    def forward(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat onsite ``(Σ n_i²,)`` and edge ``(Σ n_i n_j,)`` blocks of the local H in eV (hermitian)."""
        return self._blocks(inputs, self.node_features(inputs))

    def charges(self, inputs: ModelInputs) -> torch.Tensor:
        """Latent atomic charges ``(N,)`` in e, not neutralised (needs ``electrostatics``)."""
        return self._charges(self.node_features(inputs))

    def forward_with_charges(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Local blocks as :meth:`forward` plus :meth:`charges` (``None`` without electrostatics)."""
        h = self.node_features(inputs)
        onsite, offsite = self._blocks(inputs, h)
        return onsite, offsite, self._charges(h) if self.config.electrostatics else None

    def _charges(self, h: torch.Tensor) -> torch.Tensor:
        if not self.config.electrostatics:
            raise HamtransError("this model has no charges: it was built with electrostatics off")
        return self.charge_head(h)[:, 0]

    def _blocks(self, inputs: ModelInputs, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # edges in chunks of edge_chunk, each turned into its blocks at once: the wide edge
        # features of all edges (2.7 GB for 5,000 atoms at 8 Å) never exist together
        source, target = self.edge_source(h), self.edge_target(h)
        gathered = h.new_zeros((h.shape[0], self.irreps_edge.dim))
        offsite = h.new_zeros(int(inputs.edge_ptr[-1]))
        for start in range(0, inputs.block_edge_index.shape[1], self.edge_chunk):
            part = slice(start, start + self.edge_chunk)
            edges, distance = self.edge_features(inputs, source, target, part)
            weight = polynomial_envelope(distance, self._onsite_range)[:, None]
            # the onsite linear map comes after the sum over a node's edges: N, not E rows
            gathered = gathered.index_add(0, inputs.block_edge_index[0, part], edges * weight)
            self._assemble_edges(inputs, edges, part, offsite)
        onsite = self._assemble_onsite(inputs, self.onsite_node(h) + self.onsite_edges(gathered))
        onsite = 0.5 * (onsite + onsite[inputs.onsite_transpose])
        offsite = 0.5 * (offsite + offsite[inputs.edge_transpose])
        return onsite, offsite

    def _assemble_onsite(self, inputs: ModelInputs, features: torch.Tensor) -> torch.Tensor:
        out = features.new_zeros(int(inputs.onsite_ptr[-1]))
        for a in range(len(self.species)):
            atoms = torch.nonzero(inputs.species == a).flatten()
            if atoms.numel() == 0:
                continue
            expand = getattr(self, f"expand_{a}_{a}")
            shift = getattr(self, f"onsite_shift_{a}") * getattr(self, f"invariant_{a}")
            slots = self.onsite_heads[f"{a}"](features[atoms])
            slots = slots * getattr(self, f"onsite_scale_{a}")[expand] + shift[expand]
            out = _place_blocks(out, inputs.onsite_ptr, atoms, slots @ self.coupling.matrix(a, a).T)
        return out

    def _assemble_edges(self, inputs: ModelInputs, features: torch.Tensor, part: slice, out: torch.Tensor) -> None:
        """Write the blocks of the block edges ``part`` (features ``(E_part, irreps_edge.dim)``) into ``out``."""
        n = len(self.species)
        index = inputs.block_edge_index[:, part]
        pair = inputs.species[index[0]] * n + inputs.species[index[1]]
        first = part.start or 0
        for a in range(n):
            for b in range(n):
                edges = torch.nonzero(pair == a * n + b).flatten()
                if edges.numel() == 0:
                    continue
                scale = getattr(self, f"edge_scale_{a}_{b}")[getattr(self, f"expand_{a}_{b}")]
                slots = self.edge_heads[f"{a}_{b}"](features[edges]) * scale
                _place_blocks(out, inputs.edge_ptr, edges + first, slots @ self.coupling.matrix(a, b).T)


class OverlapModel(nn.Module):
    """Two-centre overlap: ``S_ij(r) = Σ_L c_L(|r|) C^{l1 l2 L} · Y_L(r̂)`` per element and shell pair.

    Onsite S blocks are per-element constants (exact for atom-centred orbitals).
    Same inputs and flat outputs as :class:`HamiltonianModel`.
    """

    def __init__(self, config: HamiltonianModelConfig, radial_functions: int = 16, hidden: int = 64) -> None:
        super().__init__()
        with default_dtype(config.torch_dtype):
            self._build(config, radial_functions, hidden)

    def _build(self, config: HamiltonianModelConfig, radial_functions: int, hidden: int) -> None:
        self.config = config
        basis = config.orbital_basis()
        self.species = list(config.species)
        check_lmax(config, basis)
        self.coupling = BlockCoupling(basis, self.species)
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)
        self.radial = BesselBasis(config.edge_radial_range, radial_functions)
        n = len(self.species)
        self.coefficients = nn.ModuleDict()
        for a in range(n):
            for b in range(n):
                irreps = self.coupling.pair_irreps[(a, b)]
                self.coefficients[f"{a}_{b}"] = FullyConnectedNet(
                    [radial_functions, hidden, hidden, irreps.num_irreps], torch.nn.functional.silu)
                # spherical-harmonic component feeding each slot component (Gaunt: only natural parity)
                natural = torch.tensor([ir.p == (-1) ** ir.l for _, ir in irreps for _ in range(ir.dim)])
                sh_index = torch.tensor([ir.l * ir.l + m for _, ir in irreps for m in range(ir.dim)])
                slot_of = torch.tensor([k for k, (_, ir) in enumerate(irreps) for _ in range(ir.dim)])
                self.register_buffer(f"natural_{a}_{b}", natural.to(torch.get_default_dtype()))
                self.register_buffer(f"sh_index_{a}_{b}", sh_index)
                self.register_buffer(f"slot_of_{a}_{b}", slot_of)
        for a in range(n):
            irreps = self.coupling.pair_irreps[(a, a)]
            invariant = torch.tensor([ir.l == 0 and ir.p == 1 for _, ir in irreps for _ in range(ir.dim)])
            self.register_buffer(f"invariant_{a}", invariant.to(torch.get_default_dtype()))
            self.register_parameter(f"onsite_{a}", nn.Parameter(torch.zeros(irreps.dim)))

    def forward(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat onsite and edge blocks of S (dimensionless)."""
        receivers, senders = inputs.block_edge_index
        vectors = inputs.edge_vectors(inputs.block_edge_index, inputs.block_shifts)
        distance = vectors.norm(dim=1)
        sh = o3.spherical_harmonics(self.irreps_sh, vectors, normalize=True, normalization="component")
        radial = self.radial(distance)
        n = len(self.species)
        edges_out = vectors.new_zeros(int(inputs.edge_ptr[-1]))
        pair = inputs.species[receivers] * n + inputs.species[senders]
        for a in range(n):
            for b in range(n):
                edges = torch.nonzero(pair == a * n + b).flatten()
                if edges.numel() == 0:
                    continue
                coefficient = self.coefficients[f"{a}_{b}"](radial[edges])
                slots = (coefficient[:, getattr(self, f"slot_of_{a}_{b}")] * sh[edges][:, getattr(self, f"sh_index_{a}_{b}")]
                         * getattr(self, f"natural_{a}_{b}"))
                edges_out = _place_blocks(edges_out, inputs.edge_ptr, edges, slots @ self.coupling.matrix(a, b).T)
        onsite_out = vectors.new_zeros(int(inputs.onsite_ptr[-1]))
        for a in range(n):
            atoms = torch.nonzero(inputs.species == a).flatten()
            if atoms.numel() == 0:
                continue
            # only rotation-invariant (0e) slots: the block is the same in every orientation
            block = self.coupling.matrix(a, a) @ (getattr(self, f"onsite_{a}") * getattr(self, f"invariant_{a}"))
            onsite_out = _place_blocks(onsite_out, inputs.onsite_ptr, atoms, block.expand(len(atoms), -1))
        onsite_out = 0.5 * (onsite_out + onsite_out[inputs.onsite_transpose])
        edges_out = 0.5 * (edges_out + edges_out[inputs.edge_transpose])
        return onsite_out, edges_out
