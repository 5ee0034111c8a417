"""Equivariant models: the Hamiltonian/overlap model and the interatomic potential.

Their training is :mod:`hamtrans.training`.

Modules:

``radial``                Bessel radial basis with a smooth polynomial envelope (strict locality)
``equivariant``           shared e3nn pieces (channel-wise tensor product, build-in-dtype context)
``block_head``            Clebsch–Gordan map between irreps and orbital blocks per element pair
``inputs``                structure + block graph -> model input tensors
``hamiltonian``           HamiltonianModel (attention message passing) and OverlapModel (two-centre)
``partitioning``          augmented partitioning: slabs with halos, ownership of blocks
``distributed``           inference over MPI ranks: each rank predicts the blocks of its slabs
``potential``             InteratomicPotential (NequIP-style), energy/forces/virial from edge gradients
``staged``                stage-by-stage potential evaluation over local + ghost atoms (spatial decomposition)
``model_file``            the ``.pt`` model formats, HamiltonianPredictor, load_potential
``evaluation``            ``hamtrans evaluate`` for Hamiltonian models
``predict_io``            writers for predicted matrices (CSR folders)
"""

from hamtrans.models.hamiltonian import HamiltonianModel, HamiltonianModelConfig, OverlapModel
from hamtrans.models.model_file import HamiltonianPredictor, load_model, load_potential, save_model, save_potential
from hamtrans.models.partitioning import Slab, slice_structure
from hamtrans.models.potential import InteratomicPotential, PotentialConfig

__all__ = ["HamiltonianModel", "HamiltonianModelConfig", "HamiltonianPredictor", "InteratomicPotential",
           "OverlapModel", "PotentialConfig", "Slab", "load_model", "load_potential", "save_model",
           "save_potential", "slice_structure"]
