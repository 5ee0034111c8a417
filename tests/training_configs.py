"""Small raw training configurations (the dict a YAML file gives) for Hamiltonian and potential runs."""

from pathlib import Path


def hamiltonian_raw_config(data: Path, out: Path, **training) -> dict:
    """A two-epoch Hamiltonian run on ``data`` into ``out`` (slab split); ``training`` overrides that section."""
    return {
        "model": {"basis": "gfn1-xtb", "species": ["N", "O", "Ti", "Hf"], "block_cutoff": 4.5, "mp_cutoff": 3.5,
                  "channels": 8, "heads": 2},
        "data": {"train": [str(data)], "split": "slab", "validation_fraction": 0.25, "slab_width": 4.0},
        "training": {"epochs": 2, "batch_size": 2, "checkpoint_every": 1, "learning_rate": 0.01, **training},
        "output": {"directory": str(out)},
    }


def potential_raw_config(data: Path, out: Path, **training) -> dict:
    """A two-epoch potential run (two layers, eight channels) on ``data`` into ``out``; ``training`` overrides
    that section."""
    return {
        "task": "potential",
        "model": {"species": ["N", "O", "Ti", "Hf"], "cutoff": 3.5, "channels": 8, "lmax": 1, "n_layers": 2,
                  "radial_hidden": 16},
        "data": {"train": [str(data)], "validation_fraction": 0.25},
        "training": {"epochs": 2, "batch_size": 3, "checkpoint_every": 1, "learning_rate": 0.01, **training},
        "output": {"directory": str(out)},
    }


def tiny_potential(data: Path, out: Path, **training) -> dict:
    """A one-layer, four-channel potential: the fastest real training run."""
    raw = potential_raw_config(data, out, **training)
    raw["model"].update(n_layers=1, channels=4, radial_hidden=8)
    return raw
