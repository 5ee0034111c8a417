"""Training of the models of :mod:`hamtrans.models`: ``hamtrans train`` and ``hamtrans finetune``.

Modules:

``config``            the YAML configuration (every key, its default and allowed range)
``trainer``           the task-independent trainer (checkpoints, resume, EMA, DDP) and the task protocol
``losses``            loss terms shared by the tasks
``hamiltonian_task``  the Hamiltonian (and overlap) task: slabs with halos, energy-zero constants
``potential_task``    the interatomic-potential task: energies, forces, stress
``finetuning``        reEWC fine-tuning of potentials (replay + elastic weight consolidation)
``tasks``             the task a configuration names, and a trainer for it
"""
