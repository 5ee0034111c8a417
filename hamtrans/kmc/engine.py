"""Rejection-free (BKL / Gillespie) kinetic Monte Carlo of oxygen vacancies and ions under a voltage.

Every event moves one oxygen ion O²⁻ from ``a`` to ``b``; in the defect picture it
moves a charge of −2 e (a lattice O leaving its site leaves V_O²⁺ behind). The
*active electrode* (the left one by default: in a TiN | HfO2 | Ti | TiN cell the Ti
side, here the electrode that carries the applied voltage) is an oxygen reservoir:
it takes ions from the oxide and gives them back.

=========================  ====================================================  ==========================
event                      move                                                  barrier (default, eV)
=========================  ====================================================  ==========================
generation                 lattice O → empty neighbouring interstitial           ``generation`` 3.93
recombination              interstitial ion → neighbouring vacancy               ``recombination`` 0.0
vacancy_hop                lattice O → neighbouring vacancy                      ``vacancy_hop`` 1.09
ion_hop                    interstitial ion → empty interstitial                 ``ion_hop`` 0.76
electrode_generation       interface lattice O → active electrode                ``interface_generation`` 1.66
electrode_recombination    electrode ion → interface vacancy                     ``electrode_release`` 2.0
ion_to_electrode           interface interstitial ion → active electrode         ``ion_hop`` 0.76
ion_from_electrode         electrode ion → empty interface interstitial          ``electrode_release`` 2.0
=========================  ====================================================  ==========================

The barriers are those of the same group's device KMC code (DeviceKMC, behind
arXiv 2212.14090 / 2207.01095): bulk-oxide generation 3.93 eV, generation in its
5 Å interface layer at the Ti electrode 1.66 eV, recombination 0 eV, vacancy
diffusion 1.09 eV, ion diffusion 0.76 eV in the oxide and 2.0 eV in the Ti
contact (here the barrier for an ion to leave the reservoir). Lattice O sites
within ``interface_width`` (default 4 Å: the first O plane) of the active
electrode surface form the interface layer: their generation barrier is
``interface_generation`` for both routes.

Rates ``ν exp(−E/kT)`` with ``E = max(0, E_a + ΔU/2)``: ``ΔU = −2 e (φ_b − φ_a)``
is the electrostatic energy change of the moving ion in the potential of the
electrodes and of all OTHER defects (the charges of the defects taking part in
the event are left out: their local interaction is part of the zero-field
barrier). A symmetric barrier tilted by half the energy change keeps detailed
balance for any charge configuration. ``φ`` comes from
:class:`~hamtrans.kmc.electrostatics.SiteElectrostatics` (Poisson with the defect
charges, or the linear drop without them) and is updated exactly after every event.
Detailed balance is exact for the hops (equal barriers both ways) without
screening; the ``max(0, ·)`` floor and the unequal barriers of generation and
recombination (0 eV, DeviceKMC) break it for those pairs whenever a tilted
barrier reaches 0, and screening makes the charges depend on the event itself.
The temperature of an event is the mean of its two sites' (``temperatures``; an
electrode end counts as its site); an ion leaving or entering the electrode is
counted once per ion the electrode holds (``reservoir``).

Each step picks one event with probability ``r_k / R`` and advances the clock by
``−ln(u) / R``; the generator is a seeded ``numpy`` PCG64 whose state is part of
:class:`KMCState`, so a run resumed from a saved state is identical to an
uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase.units import kB

from hamtrans.errors import HamtransError
from hamtrans.kmc.electrostatics import SiteElectrostatics
from hamtrans.kmc.lattice import OxideLattice

EVENTS = ("generation", "recombination", "vacancy_hop", "ion_hop", "electrode_generation",
          "electrode_recombination", "ion_to_electrode", "ion_from_electrode")
ION_CHARGE = -2.0  # e
#: Index of the active electrode in event pairs (a pseudo-site).
ELECTRODE = -1
#: Å and count of the screening rule (DeviceKMC: ``nn_dist`` 3.5 Å, ``nn_cond`` 3).
SCREENING_RADIUS = 3.5
NEUTRAL_VACANCY_NEIGHBOURS = 3


@dataclass(frozen=True)
class Barriers:
    """Activation energies (eV), attempt frequency (Hz) and ambient temperature (K); see the module table."""

    generation: float = 3.93
    interface_generation: float = 1.66
    recombination: float = 0.0
    vacancy_hop: float = 1.09
    ion_hop: float = 0.76
    electrode_release: float = 2.0
    attempt_frequency: float = 1e13
    temperature: float = 300.0

    def __post_init__(self) -> None:
        for name in ("generation", "interface_generation", "recombination", "vacancy_hop", "ion_hop",
                     "electrode_release"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise HamtransError(f"barrier {name} must be a finite energy ≥ 0 eV, not {getattr(self, name)}")
        if not self.attempt_frequency > 0 or not self.temperature > 0:
            raise HamtransError("the attempt frequency (Hz) and the temperature (K) must be positive")


@dataclass
class KMCState:
    """Occupations, reservoir, clock and random generator: everything needed to continue a run.

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
    reservoir
        O ions held by the active electrode.
    """

    occupied: np.ndarray
    ions: np.ndarray
    time: float = 0.0
    events: np.ndarray = field(default_factory=lambda: np.zeros(len(EVENTS), dtype=np.int64))
    rng_state: dict | None = None
    reservoir: int = 0

    @classmethod
    def initial(cls, lattice: OxideLattice, vacancy_fraction: float, seed: int) -> "KMCState":
        """Random vacancies (``vacancy_fraction`` of the O sites), no ions, an empty reservoir.

        The O ions of the initial vacancies are taken to have left the oxide with its
        deposition (a sub-stoichiometric HfOx film), not to sit in the reservoir.
        """
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
    electrostatics
        Site potentials; default: the linear drop between the electrode surfaces (no defect charges).
    interface_width
        Å from the active electrode surface: the interface layer that exchanges ions with it.
    active_electrode
        ``"left"`` (at the applied voltage) or ``"right"`` (grounded).
    screening
        Neutralise defects that conduct (:meth:`charges`); ``False``: every vacancy
        is V_O²⁺ and every ion O²⁻.
    """

    def __init__(self, lattice: OxideLattice, barriers: Barriers = Barriers(),
                 electrostatics: SiteElectrostatics | None = None, interface_width: float = 4.0,
                 active_electrode: str = "left", screening: bool = True) -> None:
        if active_electrode not in ("left", "right"):
            raise HamtransError(f"active_electrode must be 'left' or 'right', not '{active_electrode}'")
        if not interface_width > 0:
            raise HamtransError(f"interface_width must be a positive length (Å), not {interface_width}")
        self.lattice, self.barriers = lattice, barriers
        self.electrostatics = electrostatics or SiteElectrostatics.linear(lattice)
        self.active_electrode = active_electrode
        n = lattice.n_sites
        plane = lattice.electrode_planes[0 if active_electrode == "left" else 1]
        distance = np.abs(lattice.all_positions[:, 0] - plane)
        self.interface = distance < interface_width  # per combined site
        interface_o = np.flatnonzero(self.interface[:n])
        interface_i = np.flatnonzero(self.interface[n:]) + n
        lat = lattice
        to_electrode = np.full_like(interface_o, ELECTRODE)
        ex = lat.exchange_pairs + np.array([[0], [n]])
        moves = {  # (sources, targets) in the combined site order (O sites, then interstitials)
            "generation": ex,
            "recombination": ex[::-1],
            "vacancy_hop": lat.site_hops,
            "ion_hop": lat.interstitial_hops + n,
            "electrode_generation": np.stack([interface_o, to_electrode]),
            "electrode_recombination": np.stack([to_electrode, interface_o]),
            "ion_to_electrode": np.stack([interface_i, np.full_like(interface_i, ELECTRODE)]),
            "ion_from_electrode": np.stack([np.full_like(interface_i, ELECTRODE), interface_i]),
        }
        self._kinds = np.concatenate([np.full(moves[k].shape[1], i) for i, k in enumerate(EVENTS)])
        self._pairs = np.concatenate([moves[k].reshape(2, -1) for k in EVENTS], axis=1).astype(np.int64)
        b = barriers
        base = {"generation": b.generation, "recombination": b.recombination, "vacancy_hop": b.vacancy_hop,
                "ion_hop": b.ion_hop, "electrode_generation": b.interface_generation,
                "electrode_recombination": b.electrode_release, "ion_to_electrode": b.ion_hop,
                "ion_from_electrode": b.electrode_release}
        self._barrier = np.array([base[EVENTS[k]] for k in self._kinds])
        generation = self._kinds == EVENTS.index("generation")
        self._barrier[generation & self.interface[self._pairs[0]]] = b.interface_generation
        self.screening = screening
        self._metal_neighbour = lattice.metal_neighbours(SCREENING_RADIUS)
        self._site_neighbours = lattice.site_neighbours(SCREENING_RADIUS)

    def charges(self, state: KMCState) -> np.ndarray:
        """``(n_sites + n_interstitials,)`` defect charges (e): V_O²⁺ +2, O_i²⁻ −2, conducting ones 0.

        The screening rule of DeviceKMC: a vacancy with a metal atom or at least
        :data:`NEUTRAL_VACANCY_NEIGHBOURS` vacancies within :data:`SCREENING_RADIUS`
        is part of a conducting cluster and neutral; so is an ion next to a metal atom.
        """
        vacant = ~state.occupied
        q = np.concatenate([np.where(vacant, 2.0, 0.0), np.where(state.ions, ION_CHARGE, 0.0)])
        if self.screening:
            crowded = np.zeros(len(vacant), dtype=bool)
            neighbours = self._site_neighbours[vacant] @ vacant.astype(np.int64)
            crowded[vacant] = neighbours >= NEUTRAL_VACANCY_NEIGHBOURS
            q[:len(vacant)][crowded | self._metal_neighbour[:len(vacant)]] = 0.0
            q[len(vacant):][self._metal_neighbour[len(vacant):]] = 0.0
        return q

    def electrode_potential(self, voltage: float) -> float:
        """V of the active electrode."""
        return float(voltage) if self.active_electrode == "left" else 0.0

    def site_potential(self, state: KMCState, voltage: float) -> np.ndarray:
        """``(n_sites + n_interstitials,)`` V: applied voltage plus the defects of ``state``."""
        return self.electrostatics.potential(voltage, self.charges(state))

    def rates(self, state: KMCState, voltage: float, temperatures: np.ndarray | None = None,
              potential: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rates, kinds, pairs)`` of every allowed event in ``state`` (1/s).

        ``pairs`` ``(2, n)`` are combined site indices, :data:`ELECTRODE` (−1) for the
        active electrode: mask it before indexing site arrays.

        ``temperatures``: ``(n_sites + n_interstitials,)`` K (default: the barriers' temperature);
        ``potential``: :meth:`site_potential` of ``state`` when already known.
        """
        return self._rates(state, voltage, temperatures, potential, self.charges(state))

    def _rates(self, state: KMCState, voltage: float, temperatures: np.ndarray | None, potential: np.ndarray | None,
               charges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`rates` with the state's :meth:`charges` already computed."""
        allowed = self._allowed(state)
        kinds, pairs = self._kinds[allowed], self._pairs[:, allowed]
        phi = self.electrostatics.potential(voltage, charges) if potential is None else potential
        delta_u = ION_CHARGE * self._potential_step(phi, voltage, pairs, charges)
        barrier = np.maximum(self._barrier[allowed] + 0.5 * delta_u, 0.0)
        temperature = self._event_temperature(pairs, temperatures)
        rates = self.barriers.attempt_frequency * np.exp(-barrier / (kB * temperature))
        from_electrode = pairs[0] == ELECTRODE
        rates[from_electrode] *= state.reservoir
        return rates, kinds, pairs

    def step(self, state: KMCState, voltage: float, rng: np.random.Generator, until: float = np.inf,
             temperatures: np.ndarray | None = None, potential: np.ndarray | None = None) -> bool:
        """One BKL event; ``False`` when no event happens before ``until`` (s) or none is possible.

        An event whose waiting time would end after ``until`` is not executed and the
        clock stops at ``until`` (exact for a Poisson process: waiting times have no
        memory, so the next step may draw afresh, e.g. at another voltage). A given
        ``potential`` (:meth:`site_potential`) is updated in place with the event.
        """
        charges = self.charges(state)
        rates, kinds, pairs = self._rates(state, voltage, temperatures, potential, charges)
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
        source, target = (int(p) for p in pairs[:, chosen])
        self._move(state, source, target)
        if potential is not None:
            self.electrostatics.update(potential, self.charges(state) - charges)
        state.time += waiting
        state.events[kinds[chosen]] += 1
        return True

    def run(self, state: KMCState, voltage: float, max_events: int, max_time: float = np.inf,
            temperatures: np.ndarray | None = None) -> int:
        """Advance ``state`` in place by up to ``max_events`` events or until ``max_time`` (s); returns events done.

        With a finite ``max_time`` and fewer than ``max_events`` events the clock ends exactly at ``max_time``.
        """
        rng = np.random.default_rng()
        rng.bit_generator.state = state.rng_state
        potential = self.site_potential(state, voltage)
        done = 0
        while done < max_events and self.step(state, voltage, rng, until=max_time, temperatures=temperatures,
                                              potential=potential):
            done += 1
        state.rng_state = rng.bit_generator.state
        return done

    def _allowed(self, state: KMCState) -> np.ndarray:
        """Mask over the candidate moves: the source holds an ion that can move, the target can take it."""
        holds = np.concatenate([state.occupied, state.ions, [state.reservoir > 0]])  # index −1: the electrode
        free = np.concatenate([~state.occupied, ~state.ions, [True]])
        source, target = self._pairs
        return holds[source] & free[target]

    def _potential_step(self, phi: np.ndarray, voltage: float, pairs: np.ndarray, charges: np.ndarray) -> np.ndarray:
        """``φ_b − φ_a`` (V) felt by the moving ion: the potential of all but the defects at ``a`` and ``b``."""
        source, target = pairs
        at_electrode = self.electrode_potential(voltage)
        phi_a = np.where(source == ELECTRODE, at_electrode, phi[source])
        phi_b = np.where(target == ELECTRODE, at_electrode, phi[target])
        step = phi_b - phi_a
        green = self.electrostatics.green
        if green is not None:
            for end in (source, target):  # remove the field of the participants' own charges
                inside = end != ELECTRODE
                q = np.where(inside, charges[end], 0.0)
                g_b = np.where(inside & (target != ELECTRODE), green[np.maximum(target, 0), np.maximum(end, 0)], 0.0)
                g_a = np.where(inside & (source != ELECTRODE), green[np.maximum(source, 0), np.maximum(end, 0)], 0.0)
                step -= q * (g_b - g_a)
        return step

    def _event_temperature(self, pairs: np.ndarray, temperatures: np.ndarray | None) -> np.ndarray:
        if temperatures is None:
            return np.full(pairs.shape[1], self.barriers.temperature)
        t = np.asarray(temperatures, dtype=float)
        source, target = pairs
        t_a = t[np.where(source == ELECTRODE, target, source)]
        t_b = t[np.where(target == ELECTRODE, source, target)]
        return 0.5 * (t_a + t_b)

    def _move(self, state: KMCState, source: int, target: int) -> None:
        n = self.lattice.n_sites
        if source == ELECTRODE:
            state.reservoir -= 1
        elif source < n:
            state.occupied[source] = False
        else:
            state.ions[source - n] = False
        if target == ELECTRODE:
            state.reservoir += 1
        elif target < n:
            state.occupied[target] = True
        else:
            state.ions[target - n] = True
