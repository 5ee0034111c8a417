"""Bond currents: the atom-pair-resolved current between the atoms of a device.

The states injected from the left lead at energy E have the spectral function
``A_L = G Γ_L Gᴴ`` (``G = (z S − H − Σ)⁻¹``). Their probability current from orbital α
to orbital β is (ħ = 1, per unit energy, the normalisation of the Caroli transmission)

    j_αβ(E) = −2 Im[(H − E S)_αβ A_L,βα(E)] / 2π · 2π = 2 Im[M_αβ A_L,βα],   M = E S − H,

and summed over the orbitals of two atoms it is the bond transmission ``T_ab(E)``: the
flux from atom a to atom b (TBtrans' orbital currents, as in arXiv 2212.14090's
conductive paths). Every interior atom conserves it, ``Σ_b T_ab = 0``, and the bonds that
cross any plane between the leads carry ``T(E)`` (both tested). The bond current under
bias is ``I_ab = G₀ ∫ T_ab(E) (f_L − f_R) dE`` on the biased device; its sum across a plane
is the Landauer current. For real H (every Γ device of this project) the equilibrium
part ``A f`` carries no bond current, so this is the whole current; a complex H (a
transverse k-point) may also hold circulating equilibrium currents, which this leaves out.

Units: bond transmission dimensionless (per eV of energy window), bond current A.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hamtrans.errors import HamtransError
from hamtrans.negf.bias import biased_device
from hamtrans.negf.device import Device
from hamtrans.negf.grids import trapezoid_with_error, uniform_grid
from hamtrans.negf.landauer import CONDUCTANCE_QUANTUM, OPEN_KT, bias_window, fermi, thermal_energy
from hamtrans.negf.leads import broadening
from hamtrans.negf.rgf import forward_sweep
from hamtrans.negf.sweep import map_energies
from hamtrans.negf.transport import SweepOptions, _energies, _energy_batches, _grid_points, _options, _real_number


@dataclass(frozen=True)
class BondPairs:
    """The coupled atom pairs of a device and, per slab block, the orbital entries that feed them.

    Attributes
    ----------
    atoms
        ``(n_pairs, 2)`` input atom indices ``a < b`` of every pair coupled by H or S.
    diagonal, upper
        Per slab ``i``: ``(rows, cols, pair, sign)`` of the entries of the diagonal block ``i``
        and of the coupling block ``(i, i+1)`` (orbital indices local to the blocks; ``sign``
        +1 when the entry's row orbital belongs to ``atoms[pair, 0]``).
    """

    atoms: np.ndarray
    diagonal: list
    upper: list

    @classmethod
    def of(cls, device: Device) -> "BondPairs":
        blocks, bounds, owner = device.blocks(), device.bounds, device.orbital_atoms
        entries, keys = [], {}
        for kind, count in (("diagonal", device.n_blocks), ("upper", device.n_blocks - 1)):
            for i in range(count):
                h = (blocks.h_diagonal if kind == "diagonal" else blocks.h_upper)[i]
                s = (blocks.s_diagonal if kind == "diagonal" else blocks.s_upper)[i]
                rows, cols = np.nonzero((h != 0) | (s != 0))
                a = owner[bounds[i] + rows]
                b = owner[bounds[i + (kind == "upper")] + cols]
                # a diagonal block holds both (α, β) and (β, α), whose fluxes are opposite: count each once
                keep = a < b if kind == "diagonal" else a != b
                rows, cols, a, b = rows[keep], cols[keep], a[keep], b[keep]
                pair = [keys.setdefault((min(x, y), max(x, y)), len(keys)) for x, y in zip(a.tolist(), b.tolist())]
                entries.append((kind, rows, cols, np.asarray(pair, dtype=np.int64), np.where(a < b, 1.0, -1.0)))
        atoms = np.array(list(keys), dtype=np.int64).reshape(-1, 2)
        return cls(atoms, [e[1:] for e in entries if e[0] == "diagonal"], [e[1:] for e in entries if e[0] == "upper"])


def _injected_columns(m, sigma_left, sigma_right, xp) -> list:
    """``G_i,0`` of every slab ``i`` (the first block column of G), forward and backward sweep."""
    n = m.n_slabs
    left_connected, first_column = forward_sweep(m, sigma_left, sigma_right, xp)
    columns = [None] * n
    g_diag, columns[-1] = left_connected[-1], first_column[-1]
    for i in range(n - 2, -1, -1):
        gl = left_connected[i]
        g_lower = -(g_diag @ m.lower(i) @ gl)         # G_i+1,i
        g_diag = gl - gl @ m.upper(i) @ g_lower        # G_ii
        columns[i] = g_diag if i == 0 else -(g_diag @ (m.lower(i - 1) @ first_column[i - 1]))
    return columns


def bond_sweep(m, sigma_left, sigma_right, pairs: BondPairs, xp) -> dict:
    """``{"bond": (n_E, n_pairs)}``: the bond transmission ``T_ab(E)`` of a batch (flux a → b, ``a < b``)."""
    gamma = broadening(sigma_left)
    columns = _injected_columns(m, sigma_left, sigma_right, xp)
    n_energies = gamma.shape[0]
    bond = np.zeros((n_energies, len(pairs.atoms)))
    to_host = lambda a: a.get() if hasattr(a, "get") else np.asarray(a)

    def accumulate(coupling, spectral_transposed, rows, cols, pair, sign):
        values = 2 * (coupling[:, rows, cols] * spectral_transposed[:, rows, cols]).imag
        np.add.at(bond, (slice(None), pair), to_host(values) * sign)

    injected = [column @ gamma for column in columns]                  # G_i,0 Γ_L, once per slab
    for i in range(m.n_slabs):
        adjoint = columns[i].conj().swapaxes(-1, -2)
        a_ii = injected[i] @ adjoint                                       # A_L,ii
        accumulate(m.diagonal(i), a_ii.swapaxes(-1, -2), *pairs.diagonal[i])
        if i + 1 < m.n_slabs:
            a_next = injected[i + 1] @ adjoint                             # A_L,i+1,i
            accumulate(m.upper(i), a_next.swapaxes(-1, -2), *pairs.upper[i])
    return {"bond": bond}


@dataclass(frozen=True)
class BondTransmission:
    """Energy-resolved bond transmission.

    Attributes
    ----------
    energies
        ``(n_E,)`` eV.
    atoms
        ``(n_pairs, 2)`` input atom indices ``a < b``.
    transmission
        ``(n_E, n_pairs)`` flux from ``atoms[:, 0]`` to ``atoms[:, 1]`` of the left-injected states.
    positions
        ``(n_atoms, 3)`` Å, the position of every atom (input numbering).
    axis
        Transport axis.
    """

    energies: np.ndarray
    atoms: np.ndarray
    transmission: np.ndarray
    positions: np.ndarray
    axis: int

    def through_plane(self, position: float) -> np.ndarray:
        """``(n_E,)`` flux across the plane at ``position`` Å along the axis (left → right)."""
        return self.transmission @ _crossing(self.atoms, self.positions, self.axis, position)

    def atom_balance(self) -> np.ndarray:
        """``(n_E, n_atoms)`` net flux out of every atom (0 inside the device: conservation)."""
        return _balance(self.atoms, self.transmission, len(self.positions))


@dataclass(frozen=True)
class BondCurrents:
    """Bond currents of a biased device.

    Attributes
    ----------
    atoms
        ``(n_pairs, 2)`` input atom indices ``a < b``.
    current
        ``(n_pairs,)`` A from ``atoms[:, 0]`` to ``atoms[:, 1]`` (electron flux for μ_L > μ_R
        is left → right, as the Landauer current's sign).
    error
        ``(n_pairs,)`` A, trapezoid error estimate per bond.
    positions
        ``(n_atoms, 3)`` Å.
    axis
        Transport axis.
    bias, temperature
        V and K of the currents.
    energies
        ``(n_E,)`` eV, the uniform integration grid.
    """

    atoms: np.ndarray
    current: np.ndarray
    error: np.ndarray
    positions: np.ndarray
    axis: int
    bias: float
    temperature: float
    energies: np.ndarray

    def through_plane(self, position: float) -> float:
        """A across the plane at ``position`` Å along the axis (left → right)."""
        return float(self.current @ _crossing(self.atoms, self.positions, self.axis, position))

    def atom_balance(self) -> np.ndarray:
        """``(n_atoms,)`` A: net current out of every atom (0 inside the device)."""
        return _balance(self.atoms, self.current[None], len(self.positions))[0]


def _crossing(atoms: np.ndarray, positions: np.ndarray, axis: int, position: float) -> np.ndarray:
    """+1 for a pair whose first atom is left of ``position`` and second right of it, −1 reversed, else 0."""
    x = positions[atoms, axis]
    rightward = (x[:, 0] < position) & (x[:, 1] >= position)
    leftward = (x[:, 1] < position) & (x[:, 0] >= position)
    return rightward.astype(float) - leftward.astype(float)


def _balance(atoms: np.ndarray, flux: np.ndarray, n_atoms: int) -> np.ndarray:
    out = np.zeros((flux.shape[0], n_atoms))
    np.add.at(out, (slice(None), atoms[:, 0]), flux)
    np.add.at(out, (slice(None), atoms[:, 1]), -flux)
    return out


def _atom_positions(device: Device) -> np.ndarray:
    n_atoms = int(device.orbital_atoms.max()) + 1
    positions = np.full((n_atoms, 3), np.nan)
    positions[device.orbital_atoms] = device.orbital_positions
    return positions


def bond_transmission(device: Device, energies, options: SweepOptions | None = None,
                      **overrides) -> BondTransmission:
    """Bond transmission ``T_ab(E)`` of the states injected from the left lead (module docstring)."""
    opts = _options(options, overrides)
    pairs = BondPairs.of(device)
    kernel = lambda slabs, sl, sr, blocks, xp: bond_sweep(slabs, sl, sr, pairs, xp)
    batch = _energy_batches(device, opts, kernel, compact=False)
    energies = _energies(energies)
    out = map_energies(batch, energies, opts.batch_size, opts.comm, opts.progress, opts.blas_threads, "bond currents")
    return BondTransmission(energies, pairs.atoms, out["bond"], _atom_positions(device), device.axis)


def bond_currents(device: Device, bias: float, temperature: float = 300.0, fermi_level: float = 0.0,
                  points: int = 201, options: SweepOptions | None = None, **overrides) -> BondCurrents:
    """Bond currents (A) at ``bias`` V: ``G₀ ∫ T_ab(E) (f_L − f_R) dE`` on ``points`` uniform energies.

    The device is biased as :func:`hamtrans.negf.current` biases it (``μ_L,R = E_F ± V/2``,
    linear drop); the grid spans the open window (10 kT beyond the chemical potentials).
    """
    bias = _real_number("bias", bias, "V")
    if bias == 0:
        raise HamtransError("bias = 0 V carries no current: give a nonzero bias (V) for bond currents, or use "
                            "bond_transmission for the energy-resolved flux")
    fermi_level = _real_number("fermi_level", fermi_level, "eV")
    kt = thermal_energy(temperature)
    points = _grid_points(points)
    mu_left, mu_right = fermi_level + bias / 2, fermi_level - bias / 2
    energies = uniform_grid(*bias_window(mu_left, mu_right, kt, OPEN_KT), points)
    resolved = bond_transmission(biased_device(device, bias), energies, options, **overrides)
    window = fermi(energies, mu_left, kt) - fermi(energies, mu_right, kt)
    values, errors = trapezoid_with_error(energies, resolved.transmission * window[:, None])
    return BondCurrents(resolved.atoms, CONDUCTANCE_QUANTUM * values, CONDUCTANCE_QUANTUM * errors,
                        resolved.positions, device.axis, bias, float(temperature), energies)
