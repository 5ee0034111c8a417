"""SO(2) convolution in the edge-aligned frame (eSCN, arXiv 2302.03655; EquiformerV2, arXiv 2306.12059).

An equivariant edge operation ``x ⊗ Y(r̂)`` followed by a linear map couples every input
component ``(l_in, m_in)`` to every output ``(l_out, m_out)``: O(L⁶) per channel pair for
features up to ``L``. Rotated into the frame where the edge lies along e3nn's polar axis
ŷ, ``Y_l(ŷ)`` keeps only its ``m = 0`` component, and the Clebsch–Gordan coefficients that
remain couple ``(l_in, ±m)`` to ``(l_out, ±m)`` only: per ``|m|`` a linear map between all
input and output channels of that ``|m|``, O(L³). The operation is then

1. ``x_local = D(R)ᵀ x`` with ``R ŷ = r̂`` (per edge and l, :class:`EdgeFrame`);
2. per ``|m| ≤ mmax``: ``x_local`` modulated by per-edge radial weights (one per input
   irrep, ``|m|`` and channel), then mixed into every output irrep by learned matrices;
3. ``y = D(R) y_local``.

Which ``(l_in, p_in) → (l_out, p_out)`` couplings exist at each ``|m|``, and with which
2 × 2 sign pattern on ``(+m, −m)``, is read off the Clebsch–Gordan coefficients of the
tensor products ``l_in ⊗ l_f → l_out`` that parity allows (``(−1)^{l_f} = p_in p_out``),
so parity (inversion) equivariance is inherited from them. With every ``l_f`` allowed and
``mmax = L`` the maps span exactly the edge-frame form of a full tensor product with
``Y`` up to ``2L`` followed by a linear map (tested).

A rotation about the edge (any ``R' = R R_y(θ)``) commutes with the ``|m|`` maps, so the
frame's free angle does not matter; edges along ±ŷ are fine.
"""

from __future__ import annotations

import functools
import math

import torch
from e3nn import o3
from torch import nn

from hamtrans.errors import ConfigError
from hamtrans.models.equivariant import default_dtype


class EdgeFrame:
    """Per-edge Wigner matrices ``D_l(R)`` of the rotation ``R = R_y(α) R_x(β)`` that takes ŷ to r̂.

    Built as ``D_y(α) J D_y(β) Jᵀ``: ``J`` is the constant Wigner matrix of the 90° turn
    that takes ŷ to x̂ (so ``D_x(β) = J D_y(β) Jᵀ``), and a rotation about ŷ is
    ``cos(mθ)`` on the diagonal plus ``sin(mθ)`` on the ``(l, ±m)`` pairs. Three
    ``(2l+1)³`` products per edge, instead of the three matrix exponentials of
    ``o3.wigner_D``. Features turn into the edge frame as ``x @ D`` (row vectors,
    ``Dᵀx``) and back as ``y @ Dᵀ``.

    Parameters
    ----------
    vectors
        Edge vectors ``(E, 3)`` (any length > 0).
    """

    def __init__(self, vectors: torch.Tensor) -> None:
        x, y, z = vectors.unbind(-1)
        # the angles of e3nn's xyz_to_angles (α = atan2(x, z), β = acos(ŷ·r̂)), with β from atan2:
        # acos loses digits for edges close to ±ŷ
        self._angles = (torch.atan2(x, z), torch.atan2(torch.sqrt(x * x + z * z), y))
        self._matrices: dict[int, torch.Tensor] = {}

    def _rotation_about_y(self, angle: torch.Tensor, l: int) -> torch.Tensor:
        """``D_y(θ)`` per edge, ``(E, 2l+1, 2l+1)``."""
        swap = _pair_swap(l, angle.dtype, angle.device)
        m = torch.arange(-l, l + 1, dtype=angle.dtype, device=angle.device).abs()
        phase = angle[:, None] * m
        return torch.diag_embed(torch.cos(phase)) + torch.sin(phase)[:, None, :] * swap

    def wigner(self, l: int) -> torch.Tensor:
        """``D_l(R)`` per edge, ``(E, 2l+1, 2l+1)`` (e3nn's component order)."""
        if l not in self._matrices:
            alpha, beta = self._angles
            if l == 0:
                self._matrices[l] = alpha.new_ones((len(alpha), 1, 1))
            else:
                turn = _turn(l, alpha.dtype, alpha.device)
                self._matrices[l] = self._rotation_about_y(alpha, l) @ turn @ self._rotation_about_y(beta, l) @ turn.T
        return self._matrices[l]


@functools.lru_cache(maxsize=None)
def _turn(l: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Wigner matrix ``J`` (``(2l+1)²``) of the rotation by −90° about z (ŷ → x̂): ``D_x(β) = J D_y(β) Jᵀ``."""
    with default_dtype(torch.float64):
        turn = o3.matrix_z(torch.tensor(-math.pi / 2))
        matrix = o3.wigner_D(l, *o3.matrix_to_angles(turn))
    return matrix.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=None)
def _pair_swap(l: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``X/|m|`` (``(2l+1)²``): e3nn's generator of rotations about ŷ at degree l, each column divided
    by its ``|m|`` (1 for m = 0, whose column is 0), so that ``D_y(θ) = cos(mθ) + sin(mθ) X/|m|``."""
    with default_dtype(torch.float64):
        generator = o3.so3_generators(l)[1]
    m = torch.arange(-l, l + 1).abs().clamp(min=1).to(torch.float64)
    return (generator / m[None, :]).to(dtype=dtype, device=device)


def _m_major(l: int) -> list[int]:
    """e3nn component indices of degree l in the order m = 0, +1, −1, +2, −2, …"""
    return [l] + [l + s * m for m in range(1, l + 1) for s in (1, -1)]


def _coupling_patterns(l_in: int, p_in: int, l_out: int, p_out: int, m: int, tolerance: float = 1e-9
                       ) -> list[torch.Tensor]:
    """Independent sign patterns ``S`` (``(2, 2)`` for ``m > 0``: rows ``(+m, −m)`` out, columns in;
    ``(1, 1)`` for ``m = 0``) with which ``l_in`` couples to ``l_out`` at ``|m|`` in the edge frame."""
    blocks = []
    signs = (m, -m) if m else (0,)
    for l_f in range(abs(l_in - l_out), l_in + l_out + 1):
        if (-1) ** l_f != p_in * p_out:
            continue
        cg = o3.wigner_3j(l_in, l_f, l_out, dtype=torch.float64)[:, l_f, :]  # Y_lf(ŷ): its m = 0 only
        blocks.append(torch.tensor([[float(cg[l_in + mi, l_out + mo]) for mi in signs] for mo in signs],
                                   dtype=torch.float64))
    if not blocks:
        return []
    stacked = torch.stack(blocks).flatten(1)
    _, singular, vh = torch.linalg.svd(stacked, full_matrices=False)
    rank = int((singular > tolerance * max(float(singular[0]), 1.0)).sum())
    return [vh[k].reshape(len(signs), len(signs)) * math.sqrt(len(signs)) for k in range(rank)]


class SO2Convolution(nn.Module):
    """Equivariant edge map ``irreps_in → irreps_out`` through the edge frame (module docstring).

    Inside, features are grouped by degree l (all irreps of one l side by side), so each
    degree is rotated once and each ``|m|`` is one matrix product over every input and
    output channel that carries it.

    Parameters
    ----------
    irreps_in, irreps_out
        e3nn irreps of the edge's input features and of its outputs.
    mmax
        Largest ``|m|`` mixed (``None``: all, ``min(l_in, l_out)``); components of higher
        ``|m|`` reach no output.

    Attributes
    ----------
    weight_numel
        Radial weights per edge: one per input channel of degree ``l ≥ m`` and ``|m| ≤ mmax``.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, mmax: int | None = None) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.lmax = max(ir.l for _, ir in self.irreps_in + self.irreps_out)
        self.mmax = self.lmax if mmax is None else int(mmax)
        if self.mmax < 0:
            raise ConfigError(f"mmax must be at least 0, not {mmax}")
        self._offsets_in = _irrep_offsets(self.irreps_in)
        self._offsets_out = _irrep_offsets(self.irreps_out)
        # channels grouped by degree: irrep -> (l, first channel within its degree), channels per degree
        self._in_place, self._in_width = _by_degree(self.irreps_in)
        self._out_place, self._out_width = _by_degree(self.irreps_out)
        self.weights = nn.ParameterDict()
        self._paths: list[list[tuple[int, int, str]]] = []  # per |m|: (input irrep, output irrep, weight name)
        self._rows, self._columns = [], []  # per |m|: degree -> first row (column) of its channels
        for m in range(self.mmax + 1):
            self._rows.append(_starts({l: w for l, w in self._in_width.items() if l >= m}))
            self._columns.append(_starts({l: w for l, w in self._out_width.items() if l >= m}))
            paths = []
            for i, (mul_i, ir_i) in enumerate(self.irreps_in):
                for o, (mul_o, ir_o) in enumerate(self.irreps_out):
                    if min(ir_i.l, ir_o.l) < m:
                        continue
                    for k, pattern in enumerate(_coupling_patterns(ir_i.l, ir_i.p, ir_o.l, ir_o.p, m)):
                        name = f"m{m}_{i}_{o}_{k}"
                        self.weights[name] = nn.Parameter(torch.randn(mul_i, mul_o))
                        self.register_buffer(f"pattern_{name}", pattern.to(torch.get_default_dtype()),
                                             persistent=False)
                        paths.append((i, o, name))
            self._paths.append(paths)
        self._radial_sizes = [sum(w for l, w in self._in_width.items() if l >= m) for m in range(self.mmax + 1)]
        self.weight_numel = sum(self._radial_sizes)
        # fan-in of each (output irrep, |m|): the input channels of all its paths, for unit-variance outputs
        self._fan_in = [{o: sum(self.irreps_in[i].mul * (2 if m else 1) for i, oo, _ in self._paths[m] if oo == o)
                         for o in range(len(self.irreps_out))} for m in range(self.mmax + 1)]

    def _mixing_matrix(self, m: int, like: torch.Tensor) -> torch.Tensor:
        """All channel maps at ``|m|``: ``(S·rows, S·columns)`` for row vectors ``(sign, channel)``, S = 1 or 2."""
        signs = 2 if m else 1
        rows, columns = self._rows[m], self._columns[m]
        matrix = like.new_zeros((signs, sum(self._in_width[l] for l in rows), signs,
                                 sum(self._out_width[l] for l in columns)))
        for i, o, name in self._paths[m]:
            (l_i, c_i), (l_o, c_o) = self._in_place[i], self._out_place[o]
            r, c = rows[l_i] + c_i, columns[l_o] + c_o
            block = torch.einsum("ts,uv->sutv", getattr(self, f"pattern_{name}"), self.weights[name])
            matrix[:, r:r + block.shape[1], :, c:c + block.shape[3]] += block / math.sqrt(self._fan_in[m][o])
        return matrix.reshape(signs * matrix.shape[1], -1)

    def forward(self, x: torch.Tensor, frame: EdgeFrame, radial: torch.Tensor) -> torch.Tensor:
        """``x (E, irreps_in.dim)``, the edges' :class:`EdgeFrame`, ``radial (E, weight_numel)`` →
        ``(E, irreps_out.dim)``."""
        n = x.shape[0]
        # per degree, the rotation into the edge frame with its components ordered m = 0, +1, −1, …:
        # then every |m| is a slice
        rotations = {l: frame.wigner(l)[:, :, _m_major(l)] for l in sorted({*self._in_width, *self._out_width})}
        pieces: dict[int, list[torch.Tensor]] = {}
        for (mul, ir), (a, b) in zip(self.irreps_in, self._offsets_in):
            pieces.setdefault(ir.l, []).append(x[:, a:b].reshape(n, mul, ir.dim))
        local = {l: torch.cat(parts, dim=1) @ rotations[l] for l, parts in pieces.items()}  # (E, C_l, 2l+1)
        out_parts: dict[int, list[torch.Tensor]] = {l: [] for l in self._out_width}
        for m, radial_m in enumerate(torch.split(radial, self._radial_sizes, dim=1)):
            components = slice(0, 1) if m == 0 else slice(2 * m - 1, 2 * m + 1)
            signs = components.stop - components.start
            if self._paths[m]:
                gathered = torch.cat([local[l][:, :, components] for l in self._rows[m]], dim=1)
                gathered = gathered.transpose(1, 2) * radial_m[:, None, :]  # (E, S, rows)
                mixed = (gathered.reshape(n, -1) @ self._mixing_matrix(m, x)).view(n, signs, -1)
            for l, start in self._columns[m].items():
                out_parts[l].append(mixed[:, :, start:start + self._out_width[l]].transpose(1, 2) if self._paths[m]
                                    else x.new_zeros((n, self._out_width[l], signs)))
        rotated = {}
        for l, parts in out_parts.items():
            missing = 2 * l + 1 - sum(part.shape[2] for part in parts)  # |m| above mmax: zero
            if missing:
                parts.append(x.new_zeros((n, self._out_width[l], missing)))
            rotated[l] = torch.cat(parts, dim=2) @ rotations[l].transpose(1, 2)
        return torch.cat([rotated[ir.l][:, c:c + mul].reshape(n, -1)
                          for (mul, ir), (_, c) in zip(self.irreps_out, self._out_place)], dim=1)


def _irrep_offsets(irreps: o3.Irreps) -> list[tuple[int, int]]:
    ends = torch.tensor([0, *[mul * ir.dim for mul, ir in irreps]]).cumsum(0).tolist()
    return list(zip(ends[:-1], ends[1:]))


def _by_degree(irreps: o3.Irreps) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """Per irrep ``(l, first channel among the irreps of degree l)``, and the channels of each degree."""
    place, width = [], {}
    for mul, ir in irreps:
        place.append((ir.l, width.get(ir.l, 0)))
        width[ir.l] = width.get(ir.l, 0) + mul
    return place, dict(sorted(width.items()))


def _starts(widths: dict[int, int]) -> dict[int, int]:
    """First position of each degree's channels when the degrees are laid side by side in increasing l."""
    starts, position = {}, 0
    for l, width in sorted(widths.items()):
        starts[l], position = position, position + width
    return starts
