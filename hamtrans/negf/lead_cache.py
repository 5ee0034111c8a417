"""Surface Green's functions kept across devices that share their electrodes.

Along a KMC or MD trajectory the electrodes do not change: every snapshot's leads
have the same blocks, and a bias only moves them rigidly, so a lead's surface
Green's function depends on the energy measured from its own shift,
``g(z; shift) = g₀(z − shift)``. The lead solves are most of the cost of a current
(83 % for the 320-orbital TiN leads of the demo wire with Sancho–Rubio), and this
cache makes every solve after the first free.

Leads are the same when their four blocks agree to ``tolerance`` (default 1e-5 eV
for H and 1e-5 for S: the round-off of a float32 model, whose electrode blocks
differ by ~1e-6 eV between snapshots because its neighbour sums run in another
order). Entries are keyed by that lead, the side, the lead method and its options,
and ``z − shift`` rounded to 1e-9 eV (real) and 1e-12 eV (imaginary part). Least
recently used entries are dropped beyond ``max_bytes``.

A model whose electrode blocks see the oxide (a principal layer within its
receptive field of a vacancy) gives other leads for every snapshot: then every
energy is a miss and the cache only costs memory. :attr:`SurfaceCache.hits` tells.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import numpy as np

from hamtrans.errors import HamtransError


class SurfaceCache:
    """LRU cache of lead surface Green's functions (host arrays).

    Parameters
    ----------
    max_bytes
        Memory budget of the stored surfaces (default 1 GiB: about 650 surfaces of a 320-orbital lead).
    """

    def __init__(self, max_bytes: int = 2**30, tolerance: float = 1e-5) -> None:
        if not max_bytes > 0:
            raise HamtransError(f"the lead cache needs a positive memory budget in bytes, not {max_bytes}")
        if not tolerance >= 0:
            raise HamtransError(f"the lead cache tolerance must be ≥ 0 (eV), not {tolerance}")
        self.max_bytes, self.tolerance = int(max_bytes), float(tolerance)
        self._leads: list[tuple] = []
        self._lock = threading.Lock()
        self._store: OrderedDict = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def surfaces(self, lead, z: np.ndarray, side: str, options: tuple,
                 solve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``(n_E, n, n)`` surface Green's functions of ``lead`` on ``side`` at ``z`` (eV).

        ``solve(z_missing)`` computes the missing ones (with the lead's shift applied
        as usual); ``options`` is a hashable summary of the lead method and its settings.
        """
        self.fill(lead, z, side, options, solve)
        return self.stored(lead, z, side, options, solve)

    def fill(self, lead, z: np.ndarray, side: str, options: tuple, solve: Callable[[np.ndarray], np.ndarray]) -> None:
        """Solve and store the energies of ``z`` not cached yet, counting hits and misses.

        Two sides may be filled on two threads at once (the solves run outside the lock).
        """
        z = np.atleast_1d(np.asarray(z, dtype=complex))
        with self._lock:
            keys = self._keys(lead, z, side, options)
            todo = [k for k, key in enumerate(keys) if key not in self._store]
            self.hits += len(keys) - len(todo)
            self.misses += len(todo)
        if todo:
            computed = np.asarray(solve(z[todo]))
            with self._lock:
                for k, g in zip(todo, computed):
                    self._put(keys[k], np.array(g))

    def stored(self, lead, z: np.ndarray, side: str, options: tuple,
               solve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The cached surfaces at ``z`` (any dropped by the memory budget meanwhile are solved again)."""
        z = np.atleast_1d(np.asarray(z, dtype=complex))
        with self._lock:  # one look-up: another thread's _put cannot drop an entry in between
            keys = self._keys(lead, z, side, options)
            out = [self._store.get(key) for key in keys]
            for key, value in zip(keys, out):
                if value is not None:
                    self._store.move_to_end(key)
        lost = [k for k, value in enumerate(out) if value is None]
        if lost:
            for k, g in zip(lost, np.asarray(solve(z[lost]))):
                out[k] = np.array(g)
        return np.stack(out)

    def _keys(self, lead, z: np.ndarray, side: str, options: tuple) -> list[tuple]:
        z = np.atleast_1d(np.asarray(z, dtype=complex))
        base = (self._lead_id(lead), side, options)
        return [base + (round(float(e.real - lead.shift), 9), round(float(e.imag), 12)) for e in z]

    def _lead_id(self, lead) -> int:
        """Index of a stored lead whose blocks match ``lead`` to :attr:`tolerance` (a new one otherwise)."""
        blocks = tuple(np.asarray(getattr(lead, name)) for name in ("h00", "s00", "h01", "s01"))
        for index, stored in enumerate(self._leads):
            if all(a.shape == b.shape and np.abs(a - b).max(initial=0.0) <= self.tolerance
                   for a, b in zip(blocks, stored)):
                return index
        self._leads.append(tuple(np.array(b) for b in blocks))
        return len(self._leads) - 1

    def _put(self, key, value: np.ndarray) -> None:
        self._store[key] = value
        self._bytes += value.nbytes
        while self._bytes > self.max_bytes and len(self._store) > 1:
            _, dropped = self._store.popitem(last=False)
            self._bytes -= dropped.nbytes
