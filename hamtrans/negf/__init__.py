"""NEGF quantum transport: open boundaries, batched recursive Green's function, Landauer current.

Input: H, S (eV) of a two-terminal device plus orbital positions; see
:class:`Device`. Energies in eV, current in A. Modules:

``backend``    numpy/cupy array-module switch
``leads``      lead principal layers, surface Green's functions (eigenmode, Sancho–Rubio), checks
``lead_cache`` surface Green's functions kept across devices that share their electrodes
``partition``  block-tridiagonal slabs from the sparsity pattern
``lead_detection`` input checks and the repeating principal layers of a device end
``device``     the device: its leads (detected or given), partition, potentials
``electrodes`` leads computed apart (bulk electrode, alignment) or continuing a periodic cell
``rgf``        batched recursive Green's function sweeps (transmission, DOS, spectral functions)
``sweep``      batching, MPI over energies, progress, BLAS threads
``grids``      uniform and adaptive (batched Simpson) energy grids
``landauer``   Fermi functions, bias window, Landauer current
``bias``       potential profiles under bias
``transport``  the public API: transmission, green_function, current
``kpoints``    transverse k-point meshes, one device per k, k-averaged transmission and current
``bond_currents`` atom-pair-resolved flux and current, conserved at every atom
``density_of_states`` DOS per atom (Mulliken), at Γ or k-averaged
``report``     files and plots of the ``hamtrans transport`` command
"""

from hamtrans.negf.backend import cupy_available, get_backend
from hamtrans.negf.bias import biased_device, linear_drop_potential
from hamtrans.negf.device import Device
from hamtrans.negf.electrodes import Electrode, periodic_electrodes
from hamtrans.negf.grids import adaptive_simpson, uniform_grid, window_nodes
from hamtrans.negf.landauer import CONDUCTANCE_QUANTUM, fermi, landauer_current
from hamtrans.negf.lead_cache import SurfaceCache
from hamtrans.negf.leads import Lead, LeadWarning, self_energy, surface_green_function
from hamtrans.negf.transport import (
    CurrentResult,
    GreenFunctionResult,
    SweepOptions,
    current,
    green_function,
    lead_self_energies,
    transmission,
)

__all__ = [
    "CONDUCTANCE_QUANTUM", "CurrentResult", "Device", "Electrode", "GreenFunctionResult", "Lead", "LeadWarning", "SurfaceCache", "SweepOptions",
    "adaptive_simpson", "biased_device", "cupy_available", "current", "fermi", "get_backend", "green_function",
    "landauer_current", "lead_self_energies", "linear_drop_potential", "periodic_electrodes", "self_energy", "surface_green_function",
    "transmission", "uniform_grid", "window_nodes",
]
