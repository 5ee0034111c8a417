"""From nothing to a reference dataset and a transport-ready device matrix.

Builds the demo's TiN | HfO2 | TiN nanowire with a vacancy filament, computes its
GFN1-xTB H and S (~3 min on one core), stores them, reads them back lazily and
assembles the open (transport) Hamiltonian along x.
Run: OMP_NUM_THREADS=1 .venv/bin/python examples/reference_dataset.py
"""

from hamtrans.data.formats import Dataset, DatasetWriter, Record
from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import build_vcm_device

atoms = build_vcm_device(cross_section=(8.48, 8.48), vacuum=9.0, electrode_length=8.48, ti_length=0.0,
                         vacancies="filament", seed=2)
reference = TBLiteReference(cutoff=4.5, image_range=12.0)
result = reference.compute(atoms)
with DatasetWriter("example_reference.h5", reference.basis, reference.describe()) as writer:
    writer.append(Record.from_reference(result, name="wire-filament"))

with Dataset("example_reference.h5") as data:
    record = data[0]
    h_device = record.hamiltonian.to_sparse(axis=0, shift=0)   # open along x (no wrap-around), eV
    h_coupling = record.hamiltonian.to_sparse(axis=0, shift=1)  # coupling to the next cell along x
    print(record.atoms.get_chemical_formula(), h_device.shape, "device nnz", h_device.nnz,
          "wrap-around nnz", h_coupling.nnz, "E_F", round(record.fermi_level, 3), "eV")
