"""Lead detection: the principal layers at a device end that repeat, and the checks behind them.

Works on whole-structure matrices sorted along the transport axis (CSR, internal order)
with each orbital's position and atom. :func:`principal_layers` finds the thinnest layer,
a multiple of the lead period, whose positions and H/S blocks repeat into the next layer
with a coupling that something in the structure confirms (a third layer, or translation
symmetry inside a layer of several periods); :func:`lead_from_cells` makes the
:class:`~hamtrans.negf.leads.Lead` of that end. :class:`~hamtrans.negf.device.Device` uses it
for both ends, :class:`~hamtrans.negf.electrodes.Electrode` for one cell of a bulk electrode.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hamtrans.errors import LeadError, MatrixError
from hamtrans.negf.leads import Lead


def validated_matrices(hamiltonian, overlap, positions, tolerance: float, threshold: float):
    h, s = sp.csr_matrix(hamiltonian), sp.csr_matrix(overlap)
    n = h.shape[0]
    if h.shape != (n, n) or s.shape != (n, n):
        raise MatrixError(f"H {h.shape} and S {s.shape} must be square and of the same shape")
    if np.shape(positions) != (n, 3):
        raise MatrixError(f"orbital_positions must have shape ({n}, 3), got {np.shape(positions)}")
    if not np.isfinite(np.asarray(positions)).all():
        raise MatrixError("orbital_positions contain NaN or infinity")
    for name, m in (("H", h), ("S", s)):
        if not np.isfinite(m.data).all():
            raise MatrixError(f"{name} contains NaN or infinity")
        error = abs(m - m.conj().T).max() if m.nnz else 0.0
        if error > tolerance * max(1.0, abs(m).max()):
            raise MatrixError(f"{name} is not Hermitian: max |{name} − {name}ᴴ| = {error:.3e}")
    if threshold > 0:
        keep = (abs(h) > threshold) + (abs(s) > threshold)
        h, s = h.multiply(keep).tocsr(), s.multiply(keep).tocsr()
    if np.any(s.diagonal().real <= 0):
        raise MatrixError("overlap S has a non-positive diagonal element: S is not positive definite")
    return h, s


def sorted_along_axis(hamiltonian, overlap, orbital_positions, axis: int, orbital_atoms, hermitian_tolerance: float,
                      threshold: float):
    """Validated H, S with orbitals sorted along ``axis`` (stable: an atom's orbitals stay together).

    Returns ``(h, s, positions, atoms, order)``: CSR matrices, ``(N, 3)`` positions (Å) and atom
    labels in the sorted order, and ``order[k]`` = input index of sorted orbital ``k``.
    """
    h, s = validated_matrices(hamiltonian, overlap, orbital_positions, hermitian_tolerance, threshold)
    positions = np.asarray(orbital_positions, float)
    atoms = orbital_atoms_of(positions) if orbital_atoms is None else np.asarray(orbital_atoms)
    order = np.argsort(positions[:, axis], kind="stable")
    return h[order][:, order].tocsr(), s[order][:, order].tocsr(), positions[order], atoms[order], order


def orbital_atoms_of(positions: np.ndarray) -> np.ndarray:
    """Atom index per orbital from runs of identical positions (input order)."""
    new_atom = np.ones(len(positions), bool)
    new_atom[1:] = np.any(positions[1:] != positions[:-1], axis=1)
    return np.cumsum(new_atom) - 1


def _atom_groups(atoms, members):
    """Atoms among orbital indices ``members`` in order of appearance: ``(atom ids, orbital positions in members)``."""
    ids, first = np.unique(atoms[members], return_index=True)
    ids = ids[np.argsort(first)]
    return ids, [np.flatnonzero(atoms[members] == a) for a in ids]


def translation_map(positions, atoms, cell_a, cell_b, translation, tolerance):
    """Orbitals of ``cell_b`` matching ``cell_a`` orbital by orbital after translating by ``translation``.

    Returns an index array aligned with ``cell_a`` (so ``H[cell_b_mapped]`` is in
    ``cell_a``'s order whatever the input atom order), or ``None`` if the cells do
    not map onto each other.
    """
    ids_a, where_a = _atom_groups(atoms, cell_a)
    ids_b, where_b = _atom_groups(atoms, cell_b)
    if len(ids_a) != len(ids_b):
        return None
    pos_a = np.array([positions[cell_a[w[0]]] for w in where_a]) + translation
    pos_b = np.array([positions[cell_b[w[0]]] for w in where_b])
    distance = np.linalg.norm(pos_a[:, None, :] - pos_b[None, :, :], axis=-1)
    mapped = np.empty(len(cell_a), dtype=np.int64)
    for k, where in enumerate(where_a):
        j = int(np.argmin(distance[k]))
        if distance[k, j] > tolerance or len(where_b[j]) != len(where):
            return None
        mapped[where] = cell_b[where_b[j]]
    return mapped


def principal_layers(h, s, depth, positions, atoms, pattern, axis, lead_cell, position_tolerance,
                      lead_tolerance, side):
    """Outer principal layer of one end and the matching inner one: ``(outer, inner_mapped, thickness)``.

    ``depth`` is each orbital's distance from this end along the axis (Å). A
    candidate period is accepted when the cells map onto each other by the pure
    translation, no coupling reaches past the neighbouring layer, the onsite blocks
    of the two outer layers repeat, and their coupling is confirmed: by a third layer
    that repeats it, or, for a layer of several periods, by translation symmetry by
    one period (:func:`_period_symmetry_mismatch`, also required whenever it applies).
    A candidate that repeats but whose coupling nothing confirms is refused.
    """
    step = np.zeros(3)
    step[axis] = 1.0 if side == "left" else -1.0
    periods = [lead_cell] if lead_cell is not None else _candidate_periods(depth, positions, atoms, axis,
                                                                            position_tolerance)
    total = depth.max()
    best_mismatch, unchecked = None, None
    for period in periods:
        for multiple in range(1, int(total // period) + 1):
            thickness = multiple * period
            if 2 * thickness > total + position_tolerance:
                break
            cells = np.floor((depth + position_tolerance) / thickness).astype(int)
            outer, inner = np.flatnonzero(cells == 0), np.flatnonzero(cells == 1)
            inner_mapped = translation_map(positions, atoms, outer, inner, step * thickness, position_tolerance)
            if inner_mapped is None:
                break  # positions do not repeat with this period: next candidate
            if not np.all(cells[pattern[outer].tocoo().col] <= 1):
                continue  # couplings reach further: thicker layer
            mismatch, confirmed = _repetition_mismatch(h, s, outer, inner_mapped, cells, positions, atoms,
                                                       step * thickness, position_tolerance)
            if multiple > 1:
                mismatch = max(mismatch, _period_symmetry_mismatch(h, s, outer, inner_mapped, depth, period, multiple,
                                                                   positions, atoms, step, position_tolerance))
                confirmed = True
            if mismatch <= lead_tolerance and confirmed:
                return outer, inner_mapped, thickness
            if mismatch <= lead_tolerance:
                unchecked = thickness if unchecked is None else min(unchecked, thickness)
            else:
                best_mismatch = mismatch if best_mismatch is None else min(best_mismatch, mismatch)
            break  # the blocks do not repeat (or cannot be confirmed) with this period: next candidate
    hint = "" if lead_cell is None else f" with lead_cell={lead_cell} Å"
    detail = (f"; the closest candidate's cells differ by {best_mismatch:.2e} eV (lead_tolerance {lead_tolerance:g})"
              if best_mismatch is not None else "")
    if unchecked is not None:
        raise LeadError(
            f"{side} electrode: a principal layer of {unchecked:.3f} Å{hint} repeats twice at the {side} end, but "
            "nothing in the device repeats the coupling between those two layers (no third layer, and the layer is "
            "one period thick), so the lead's h01/s01 cannot be checked: a long-range bond of the outermost cell would "
            f"be taken for the coupling of every lead cell{detail}. Lengthen the {side} electrode segment to at least "
            f"three principal layers ({3 * unchecked:.3f} Å), or compute the electrodes apart "
            "(electrodes=, e.g. periodic_electrodes or Electrode.from_matrices)"
        )
    raise LeadError(
        f"{side} electrode cells do not repeat{hint}: no principal layer found whose positions and H/S blocks repeat "
        f"twice at the {side} end{detail}; use unperturbed electrode cells, lengthen the electrode or pass lead_cell="
    )


def _repetition_mismatch(h, s, outer, inner, cells, positions, atoms, translation,
                         tolerance) -> tuple[float, bool]:
    """``(mismatch, third)``: largest difference (eV) between the outer and next layer's onsite blocks, and their
    couplings if a third layer exists (``third``: whether it does, i.e. whether the coupling was compared)."""
    block = lambda m, rows, cols: m[rows][:, cols].toarray()
    mismatch = max(np.abs(block(h, inner, inner) - block(h, outer, outer)).max(),
                   np.abs(block(s, inner, inner) - block(s, outer, outer)).max())
    third = translation_map(positions, atoms, inner, np.flatnonzero(cells == 2), translation, tolerance)
    if third is not None:
        mismatch = max(mismatch, np.abs(block(h, inner, third) - block(h, outer, inner)).max(),
                       np.abs(block(s, inner, third) - block(s, outer, inner)).max())
    return float(mismatch), third is not None


def _period_symmetry_mismatch(h, s, outer, inner, depth, period, multiple, positions, atoms, step,
                              tolerance) -> float:
    """Largest deviation (eV) of two principal layers of ``multiple`` periods from translation symmetry by one period.

    Sub-cell ``a`` (0 … multiple−1 in the outer layer, multiple … 2·multiple−1 in the
    inner one, ``inner`` aligned with ``outer``) is mapped onto sub-cell 0 by ``a``
    periods along ``step``. In a lead of that period the H and S blocks between
    sub-cells ``a`` and ``b`` depend on ``b − a`` only, and vanish for
    ``b − a > multiple`` (the layer's last sub-cell would couple two layers out).
    ``inf`` when the sub-cells' positions do not repeat.
    """
    sub_cell = np.floor((depth[outer] + tolerance) / period).astype(int)
    first = outer[sub_cell == 0]
    layers, index = np.concatenate([outer, inner]), np.concatenate([sub_cell, sub_cell + multiple])
    cells = []
    for a in range(2 * multiple):
        mapped = translation_map(positions, atoms, first, layers[index == a], step * period * a, tolerance)
        if mapped is None:
            return np.inf
        cells.append(mapped)
    mismatch, reference = 0.0, {}
    for a in range(multiple):
        for b in range(2 * multiple):
            blocks = np.concatenate([h[cells[a]][:, cells[b]].toarray(), s[cells[a]][:, cells[b]].toarray()])
            distance = b - a
            if distance > multiple:
                mismatch = max(mismatch, np.abs(blocks).max(initial=0.0))
            elif distance in reference:
                mismatch = max(mismatch, np.abs(blocks - reference[distance]).max(initial=0.0))
            else:
                reference[distance] = blocks
    return float(mismatch)


def _candidate_periods(depth, positions, atoms, axis, tolerance):
    """Pure translations along the axis that map the outermost atom onto an atom with as many orbitals, ascending."""
    first = np.argmin(depth)
    transverse = [a for a in range(3) if a != axis]
    same_line = np.all(np.abs(positions[:, transverse] - positions[first, transverse]) < tolerance, axis=1)
    n_first = np.sum(atoms == atoms[first])
    candidates = []
    for d in np.unique(np.round(depth[same_line & (depth > 0.1)], 6)):
        j = np.flatnonzero(same_line & (np.abs(depth - d) < 1e-6))[0]
        if np.sum(atoms == atoms[j]) == n_first:
            candidates.append(float(d))
    return candidates


def lead_from_cells(h, s, outer, inner, side) -> Lead:
    """The lead of one end from its outer layer and the matching inner one (cell n → n+1 along +axis)."""
    h00, s00 = h[outer][:, outer].toarray(), s[outer][:, outer].toarray()
    # left: outer cell n, inner cell n + 1 along +axis; right: the other way round
    first, second = (outer, inner) if side == "left" else (inner, outer)
    try:
        return Lead(h00, s00, h[first][:, second].toarray(), s[first][:, second].toarray())
    except LeadError as error:
        raise LeadError(f"{side} electrode: {error}") from None
