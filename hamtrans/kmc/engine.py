"""Rejection-free (BKL / Gillespie) kinetic Monte Carlo of oxygen vacancies and ions under a voltage.

Events, each moving one O²⁻ (charge −2 e) from position ``a`` to ``b``:

===============  ==========================================  ====================
event            move                                         barrier (default)
===============  ==========================================  ====================
generation       lattice O → empty neighbouring interstitial  ``generation`` 2.2 eV
recombination    interstitial ion → neighbouring vacancy      ``recombination`` 0.6 eV
vacancy hop      lattice O → neighbouring vacancy             ``vacancy_hop`` 1.2 eV
ion hop          interstitial ion → empty interstitial        ``ion_hop`` 0.7 eV
===============  ==========================================  ====================

Rates ``ν exp(−E/kT)`` with ``E = max(0, E_a + ΔU/2)``: the electrostatic energy
change ``ΔU = q (φ(x_b) − φ(x_a))`` of the moving ion (q = −2) raises or lowers the
barrier by half (a symmetric barrier tilted by the field), so at zero field every
hop is symmetric and detailed balance holds. ``φ`` drops linearly across the oxide
from the left electrode (at ``voltage``) to the right one (grounded): a uniform
field ``V / L``. The generation barrier describes Frenkel-pair formation; the
defaults follow the ranges of the KMC models of arXiv 2212.14090 / 2207.01095
(vacancy generation 1.5–2.5 eV, vacancy diffusion ~1.2 eV, ion diffusion 0.5–0.8 eV).

Each step picks one event with probability ``r_k / R`` and advances the clock by
``−ln(u) / R`` (Gillespie); the generator is a seeded ``numpy`` PCG64 whose state
is part of :class:`KMCState`, so a run resumed from a saved state is identical to an
uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase.units import kB

from hamtrans.kmc.lattice import OxideLattice

EVENTS = ("generation", "recombination", "vacancy_hop", "ion_hop")
ION_CHARGE = -2.0  # e


@dataclass(frozen=True)
class Barriers:
    """Activation energies (eV), attempt frequency (Hz) and temperature (K)."""

    generation: float = 2.2
    recombination: float = 0.6
    vacancy_hop: float = 1.2
    ion_hop: float = 0.7
    attempt_frequency: float = 1e13
    temperature: float = 300.0


@dataclass
class KMCState:
    """Occupations, clock and random generator: everything needed to continue a run.

    Attributes
    ----------
    occupied
        ``(n_sites,)`` bool: lattice O present.
    ions
        ``(n_interstitials,)`` bool: an O ion sits on the interstitial.
    time
        Simulated time, s.
    events
        Number of events executed, per kind (``EVENTS`` order).
    rng_state
        ``numpy`` bit-generator state (a JSON-able dict).
    """

    occupied: np.ndarray
    ions: np.ndarray
    time: float = 0.0
    events: np.ndarray = field(default_factory=lambda: np.zeros(len(EVENTS), dtype=np.int64))
    rng_state: dict | None = None

    @classmethod
    def initial(cls, lattice: OxideLattice, vacancy_fraction: float, seed: int) -> "KMCState":
        """Random vacancies (``vacancy_fraction`` of the O sites), no ions."""
        rng = np.random.default_rng(seed)
        occupied = np.ones(lattice.n_sites, dtype=bool)
        count = int(round(vacancy_fraction * lattice.n_sites))
        occupied[rng.choice(lattice.n_sites, count, replace=False)] = False
        return cls(occupied, np.zeros(lattice.n_interstitials, dtype=bool), rng_state=rng.bit_generator.state)

    @property
    def n_vacancies(self) -> int:
        return int((~self.occupied).sum())


class KineticMonteCarlo:
    """Event catalogue and BKL steps on an :class:`OxideLattice`.

    Parameters
    ----------
    lattice
        Sites and hops.
    barriers
        :class:`Barriers`.
    """

    def __init__(self, lattice: OxideLattice, barriers: Barriers = Barriers()) -> None:
        self.lattice = lattice
        self.barriers = barriers
        x_left, x_right = lattice.oxide_bounds
        self.width = x_right - x_left
        self.x_left = x_left
        # (from, to) positions of every candidate move, as (kind, source index, target index)
        lat = lattice
        self._moves = {
            "generation": lat.exchange_pairs,
            "recombination": lat.exchange_pairs[::-1],
            "vacancy_hop": lat.site_hops,
            "ion_hop": lat.interstitial_hops,
        }
        positions = {"site": lat.site_positions[:, 0], "interstitial": lat.interstitial_positions[:, 0]}
        ends = {"generation": ("site", "interstitial"), "recombination": ("interstitial", "site"),
                "vacancy_hop": ("site", "site"), "ion_hop": ("interstitial", "interstitial")}
        self._dx = {kind: (positions[ends[kind][0]][pairs[0]], positions[ends[kind][1]][pairs[1]])
                    for kind, pairs in self._moves.items()}

    def potential(self, x: np.ndarray, voltage: float) -> np.ndarray:
        """Electrostatic potential (V) at x (Å): linear from ``voltage`` (left) to 0 (right), clamped outside."""
        t = np.clip((x - self.x_left) / self.width, 0.0, 1.0)
        return voltage * (1.0 - t)

    def rates(self, state: KMCState, voltage: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rates, kinds, pairs)`` of every allowed event in ``state`` (1/s)."""
        b = self.barriers
        kt = kB * b.temperature
        allowed = {
            "generation": state.occupied[self._moves["generation"][0]] & ~state.ions[self._moves["generation"][1]],
            "recombination": state.ions[self._moves["recombination"][0]]
            & ~state.occupied[self._moves["recombination"][1]],
            "vacancy_hop": state.occupied[self._moves["vacancy_hop"][0]] & ~state.occupied[self._moves["vacancy_hop"][1]],
            "ion_hop": state.ions[self._moves["ion_hop"][0]] & ~state.ions[self._moves["ion_hop"][1]],
        }
        rates, kinds, pairs = [], [], []
        for k, kind in enumerate(EVENTS):
            mask = allowed[kind]
            x_from, x_to = (x[mask] for x in self._dx[kind])
            delta_u = ION_CHARGE * (self.potential(x_to, voltage) - self.potential(x_from, voltage))
            barrier = np.maximum(getattr(b, kind) + 0.5 * delta_u, 0.0)
            rates.append(b.attempt_frequency * np.exp(-barrier / kt))
            kinds.append(np.full(mask.sum(), k))
            pairs.append(self._moves[kind][:, mask])
        return np.concatenate(rates), np.concatenate(kinds), np.concatenate(pairs, axis=1)

    def step(self, state: KMCState, voltage: float, rng: np.random.Generator, until: float = np.inf) -> bool:
        """One BKL event; ``False`` when no event happens before ``until`` (s) or none is possible.

        An event whose waiting time would end after ``until`` is not executed and the
        clock stops at ``until`` (exact for a Poisson process: waiting times have no
        memory, so the next step may draw afresh, e.g. at another voltage).
        """
        rates, kinds, pairs = self.rates(state, voltage)
        total = rates.sum()
        if total <= 0.0:
            if np.isfinite(until):
                state.time = max(state.time, until)
            return False
        chosen = int(np.searchsorted(np.cumsum(rates), rng.uniform(0.0, total), side="right"))
        chosen = min(chosen, len(rates) - 1)
        waiting = -np.log(1.0 - rng.uniform()) / total
        if state.time + waiting > until:
            state.time = until
            return False
        kind, (source, target) = EVENTS[kinds[chosen]], pairs[:, chosen]
        if kind == "generation":
            state.occupied[source], state.ions[target] = False, True
        elif kind == "recombination":
            state.ions[source], state.occupied[target] = False, True
        elif kind == "vacancy_hop":
            state.occupied[source], state.occupied[target] = False, True
        else:
            state.ions[source], state.ions[target] = False, True
        state.time += waiting
        state.events[kinds[chosen]] += 1
        return True

    def run(self, state: KMCState, voltage: float, max_events: int, max_time: float = np.inf) -> int:
        """Advance ``state`` in place by up to ``max_events`` events or until ``max_time`` (s); returns events done.

        With a finite ``max_time`` and fewer than ``max_events`` events the clock ends exactly at ``max_time``.
        """
        rng = np.random.default_rng()
        rng.bit_generator.state = state.rng_state
        done = 0
        while done < max_events and self.step(state, voltage, rng, until=max_time):
            done += 1
        state.rng_state = rng.bit_generator.state
        return done
