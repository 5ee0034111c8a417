"""Equivariant Hamiltonian and overlap models (the interatomic potential arrives with issue 5).

Modules:

``radial``         Bessel radial basis with a smooth polynomial envelope (strict locality)
``block_head``     Clebsch–Gordan map between irreps and orbital blocks per element pair
``inputs``         structure + block graph -> model input tensors
``hamiltonian``    HamiltonianModel (attention message passing) and OverlapModel (two-centre)
``partitioning``   augmented partitioning: slabs with halos, ownership of blocks
``train_config``   the YAML configuration of ``hamtrans train``
``training``       the trainer (checkpoints, resume, EMA, DDP)
``model_file``     the ``.pt`` model format and HamiltonianPredictor
``evaluation``     ``hamtrans evaluate``
``predict_io``     writers for predicted matrices (CSR folders)
"""

from hamtrans.models.hamiltonian import HamiltonianModel, HamiltonianModelConfig, OverlapModel
from hamtrans.models.model_file import HamiltonianPredictor, load_model, save_model
from hamtrans.models.partitioning import Slab, slice_structure

__all__ = ["HamiltonianModel", "HamiltonianModelConfig", "HamiltonianPredictor", "OverlapModel", "Slab",
           "load_model", "save_model", "slice_structure"]
