"""Run under ``mpiexec -n K``: transmission, DOS and current spread over ranks; rank 0 saves them."""

import sys

import numpy as np

from hamtrans.negf import Device, current, green_function, transmission
from hamtrans.negf.sweep import world_communicator
from tests.negf_systems import random_chain_device

comm = world_communicator()
assert comm is not None and comm.Get_size() > 1, "run me under mpiexec with more than one rank"
if sys.argv[2:] == ["fail-on-one-rank"]:  # E = 0 with tiny η fails Sancho–Rubio on the rank that gets it
    from hamtrans.negf.tight_binding import chain

    chain_device = Device.from_matrices(*chain(10))
    transmission(chain_device, [0.7, 0.0], comm=comm, lead_method="sancho-rubio", eta=1e-12)
    sys.exit(0)
if sys.argv[2:] == ["more-ranks-than-energies"]:
    values = transmission(Device.from_matrices(*random_chain_device(seed=2)), [0.1, 0.5], comm=comm)
    if comm.Get_rank() == 0:
        np.savez(sys.argv[1], transmission=values)
    sys.exit(0)
device = Device.from_matrices(*random_chain_device(seed=21))
energies = np.linspace(-1.5, 2.5, 23)
t = transmission(device, energies, comm=comm, batch_size=4)
dos = green_function(device, energies, comm=comm, batch_size=3).dos
i = current(device, 0.4, fermi_level=0.2, comm=comm).current
if comm.Get_rank() == 0:
    np.savez(sys.argv[1], transmission=t, dos=dos, current=i, ranks=comm.Get_size())
