"""Command line: ``hamtrans <command> ...``.

Commands
--------
reference     structures -> HDF5 dataset with reference H, S, energy, forces (GFN1-xTB or CP2K DFT)
build-device  write a TiN|HfO2|Ti|TiN VCM device structure
import-cp2k   CP2K KS/S matrices (+ structure) -> HDF5 dataset
import-eth    ETH ``structure.xyz``/``H.csr``/``S.csr`` folders -> HDF5 dataset
import-deeph  DeepH processed folders (``hamiltonians.h5``, ``overlaps.h5``, ...) -> HDF5 dataset
info          summary of a dataset
export        one record's H, S as SIESTA/TBtrans TSHS (through sisl) or as a DeepH folder
train         train the Hamiltonian model or the interatomic potential from a YAML configuration
finetune      fine-tune a trained potential on new data without forgetting (reEWC)
predict       H and S of a structure from a trained model (dataset file or CSR folder)
evaluate      errors of a trained model (Hamiltonian or potential) on a dataset
transport     T(E) and Landauer current of a device (dataset or CSR folder) by NEGF
demo          the main job on embedded defaults (see :mod:`hamtrans.demo`)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from hamtrans.atomic_files import atomic_write, check_output_file, check_output_folder
from hamtrans.data.graphs import cutoff_to_json
from hamtrans.errors import HamtransError, OptionError

#: Files written beside a dataset output (:class:`~hamtrans.data.formats.DatasetWriter`).
DATASET_COMPANIONS = (".partial", ".records")


def check_finite_options(args: argparse.Namespace) -> None:
    """Raise :class:`OptionError` for a number option given as NaN or infinity (argparse's float accepts both)."""
    for key, value in vars(args).items():
        values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            shown = " ".join(map(str, values)) if isinstance(value, (list, tuple, dict)) else value
            raise OptionError(f"--{key.replace('_', '-')} {shown}: not a finite number; give a finite value")


def _dataset_output(path: str, inputs: list[tuple[str, str | None]]) -> None:
    """Check a dataset output ``-o`` (and its partial files) against the inputs, before any work."""
    check_output_file(path, inputs, "-o", companions=DATASET_COMPANIONS)


def parse_cutoff(text: str) -> float | dict[tuple[str, str], float]:
    """``'5.0'`` -> 5.0; ``'Hf-O=5.5,O-O=4'`` -> per-pair mapping."""
    if "=" not in text:
        return float(text)
    table = {}
    for item in text.split(","):
        pair, value = item.split("=")
        a, b = pair.strip().split("-")
        table[(a, b)] = float(value)
    return table


def _basis_from_args(args):
    from hamtrans.data.basis import OrbitalBasis

    if args.basis_file:
        return OrbitalBasis.from_cp2k_file(args.basis_file, args.basis)
    return OrbitalBasis.named(args.basis)


def _reference_generator(args):
    """TBLiteReference or Cp2kReference from the ``reference`` options."""
    if args.code == "cp2k":
        from hamtrans.data.reference import Cp2kReference

        given = [f"--{k.replace('_', '-')}" for k in ("temperature", "max_iter", "mixer_damping") if getattr(args, k) is not None]
        if given:
            raise HamtransError(f"{', '.join(given)} set tblite options; for CP2K put them in --cp2k-settings (see docs/cp2k.md)")
        return Cp2kReference(args.cp2k_settings, cutoff=args.cutoff, image_range=args.image_range)
    if args.cp2k_settings is not None:
        raise HamtransError("--cp2k-settings needs --code cp2k")
    from hamtrans.data.reference import TBLiteReference

    return TBLiteReference(
        cutoff=args.cutoff, image_range=args.image_range,
        electronic_temperature=300.0 if args.temperature is None else args.temperature,
        max_iterations=300 if args.max_iter is None else args.max_iter, mixer_damping=args.mixer_damping,
    )


def cmd_reference(args) -> None:
    from tqdm import tqdm

    from hamtrans.data.formats import DatasetWriter, Record, read_structure
    from hamtrans.data.formats.dataset import structure_digest
    from hamtrans.data.reference.cp2k_backend import safe_name

    _dataset_output(args.output, [("structure file", p) for p in args.structures]
                    + [("CP2K settings file", args.cp2k_settings)])
    structures = []
    for path in args.structures:
        frames = read_structure(path, index=args.index)
        frames = frames if isinstance(frames, list) else [frames]
        structures += [(f"{Path(path).stem}:{k}", atoms) for k, atoms in enumerate(frames)]
    generator = _reference_generator(args)
    if not args.no_blocks:  # cutoffs that cannot work fail here, not after hours of earlier structures
        from hamtrans.data.reference.images import check_image_settings

        split = args.code == "tblite" or generator.settings.kpoints is None  # Γ matrices are split into blocks
        for _, atoms in structures:
            check_image_settings(atoms, args.cutoff, args.image_range if split else None)
    if args.code == "cp2k":
        from hamtrans.data.reference.cp2k_backend import find_executable

        find_executable(generator.settings.executable)  # before any file is written
    workdir = Path(args.workdir) if args.workdir else Path(args.output).with_name(Path(args.output).name + ".cp2k")
    if args.code == "cp2k":
        check_output_folder(workdir, (), [], "--workdir")
    partial = Path(args.output).with_name(Path(args.output).name + ".partial")
    if partial.exists() and not args.resume:
        raise OptionError(f"{partial} holds the structures of an interrupted run: add --resume to continue it, or "
                          f"delete it to start afresh")
    writer = DatasetWriter(args.output, generator.basis, generator.describe(), resume=args.resume)
    digests = [structure_digest(atoms) for _, atoms in structures]
    with writer:
        done = writer.check_resume([name for name, _ in structures], digests, generator.describe(),
                                   may_differ=generator.resumable_settings, blocks=not args.no_blocks)
        if done:
            print(f"resuming: {done} of {len(structures)} structures already in {writer.partial}")
        bar = tqdm(range(done, len(structures)), initial=done, total=len(structures), unit="structure")
        for k in bar:
            name, atoms = structures[k]
            if args.code == "cp2k":
                result = generator.compute(atoms, workdir / f"{k:06d}_{safe_name(name)}", blocks=not args.no_blocks)
            else:
                result = generator.compute(atoms, blocks=not args.no_blocks)
            writer.append(Record.from_reference(result, name=name, input_digest=digests[k]))
            bar.set_postfix_str(f"{name}: {result.wall_time:.1f} s")
    print(f"wrote {len(structures)} structures to {args.output}")


def cmd_build_device(args) -> None:
    from ase.io import write

    from hamtrans.data.structures import DeviceSpec, build_vcm_device

    output = check_output_file(args.output, [], "-o")
    overrides = {f.name: getattr(args, f.name) for f in fields(DeviceSpec) if getattr(args, f.name, None) is not None}
    if "cross_section" in overrides:
        overrides["cross_section"] = tuple(overrides["cross_section"])
    atoms = build_vcm_device(**overrides)
    atomic_write(output, lambda path: write(path, atoms, format="extxyz"))
    print(f"{atoms.get_chemical_formula()}: {len(atoms)} atoms, cell {atoms.cell.lengths().round(2)} Å -> {args.output}")


def cmd_import_cp2k(args) -> None:
    from hamtrans.data.formats import DatasetWriter, read_cp2k

    _dataset_output(args.output, [("structure file", args.structure), ("CP2K .out file", args.out_file),
                                  ("basis file", args.basis_file)] + [("KS file", p) for p in args.ks]
                    + [("S file", p) for p in args.s])
    basis = _basis_from_args(args)
    if args.out_file is None:
        if len(args.ks) != 1 or len(args.s) != 1:
            raise HamtransError("several --ks/--s files are per-image files: give --out-file with their image table")
        ks, s = args.ks[0], args.s[0]
    else:
        ks, s = args.ks, args.s
    record = read_cp2k(args.structure, ks, s, basis, args.cutoff, args.image_range, args.out_file)
    settings = {"source": "cp2k", "cutoff": cutoff_to_json(args.cutoff), "image_range": args.image_range}
    with DatasetWriter(args.output, basis, settings) as writer:
        writer.append(record)
    print(f"wrote {args.output}: {record.hamiltonian}")


def cmd_import_eth(args) -> None:
    from hamtrans.data.formats import DatasetWriter, read_eth_directory

    _dataset_output(args.output, [("basis file", args.basis_file)]
                    + [("input file", Path(d) / name) for d in args.directories
                       for name in ("structure.xyz", "H.csr", "S.csr")])
    basis = _basis_from_args(args)
    settings = {"source": "eth", "cutoff": cutoff_to_json(args.cutoff), "image_range": args.image_range}
    with DatasetWriter(args.output, basis, settings) as writer:
        for directory in args.directories:
            writer.append(read_eth_directory(directory, basis, args.cutoff, args.image_range))
    print(f"wrote {len(args.directories)} structures to {args.output}")


def cmd_import_deeph(args) -> None:
    from hamtrans.data.formats import DatasetWriter, Record
    from hamtrans.data.formats.deeph import FILES, read_deeph, read_deeph_basis

    _dataset_output(args.output, [("basis file", args.basis_file)]
                    + [("input file", Path(d) / name) for d in args.directories for name in FILES])
    if args.basis_file and not args.basis:
        raise OptionError("--basis-file needs --basis: the name of the basis to read from it")
    basis = _basis_from_args(args) if args.basis else read_deeph_basis(args.directories, "deeph")
    with DatasetWriter(args.output, basis, {"source": "deeph"}) as writer:
        for directory in args.directories:
            atoms, hamiltonian, overlap, fermi = read_deeph(directory, basis=basis)
            writer.append(Record(atoms, hamiltonian, overlap, fermi_level=fermi, source="deeph",
                                 name=Path(directory).resolve().name))
    print(f"wrote {len(args.directories)} structures to {args.output} (basis '{basis.name}')")


def _export_deeph(args) -> None:
    """``export --format deeph``: one record (or every record, ``--all``) as DeepH processed folders."""
    from hamtrans.data.formats import Dataset
    from hamtrans.data.formats.deeph import FILES, write_deeph

    if str(args.output).endswith(".TSHS"):
        raise OptionError(f"output {args.output!r} ends in .TSHS, but --format deeph writes a folder: give a folder "
                          "name, or drop --format deeph for a TSHS file")
    output = Path(args.output)
    with Dataset(args.dataset) as data:
        indices = list(range(len(data))) if args.all else [args.index]
        folders = {index: output / f"{index:06d}" if args.all else output for index in indices}
        for folder in folders.values():
            check_output_folder(folder, FILES, [("dataset", args.dataset)], "output")
        for index in indices:
            record = data[index]
            if record.hamiltonian is None or record.overlap is None:
                raise HamtransError(f"record {index} of {args.dataset} has no H and S blocks to export")
            if args.fermi_zero and record.fermi_level is None:
                raise OptionError(f"--fermi-zero: record {index} has no Fermi level")
            hamiltonian, fermi = record.hamiltonian, record.fermi_level
            if args.fermi_zero:  # H − E_F S, whose Fermi level is 0
                s = record.overlap
                hamiltonian = hamiltonian.copy_with(hamiltonian.onsite - fermi * s.onsite,
                                                    hamiltonian.edges - fermi * s.edges)
                fermi = 0.0
            write_deeph(folders[index], record.atoms, hamiltonian, record.overlap, fermi)
            if not args.all:
                shift = f", shifted by −E_F = {-record.fermi_level:+.4f} eV" if args.fermi_zero else ""
                print(f"{output}: {record.name or index}, {hamiltonian.n_orbitals} orbitals, "
                      f"{len(hamiltonian.image_matrices())} cell images, DeepH folder{shift}")
    if args.all:
        print(f"{output}: {len(indices)} DeepH folders {indices[0]:06d}..{indices[-1]:06d}" if indices
              else f"{output}: the dataset has no records")


def cmd_export(args) -> None:
    from hamtrans.data.formats import Dataset
    from hamtrans.data.formats.sisl_bridge import write_tshs

    output_format = args.format or ("tshs" if str(args.output).endswith(".TSHS") else None)
    if args.all and output_format != "deeph":
        raise OptionError("--all writes one DeepH folder per record: add --format deeph")
    if output_format == "deeph":
        _export_deeph(args)
        return
    if not str(args.output).endswith(".TSHS"):
        raise OptionError(f"output {args.output!r}: give a file name ending in .TSHS (SIESTA/TBtrans binary H, S), "
                          "or a folder name with --format deeph (DeepH processed folder)")
    check_output_file(args.output, [("dataset", args.dataset)], "output")
    with Dataset(args.dataset) as data:
        record = data[args.index]
    if record.hamiltonian is None or record.overlap is None:
        raise HamtransError(f"record {args.index} of {args.dataset} has no H and S blocks to export")
    if args.fermi_zero and record.fermi_level is None:
        raise OptionError(f"--fermi-zero: record {args.index} has no Fermi level")
    fermi = record.fermi_level if args.fermi_zero else None
    output = Path(args.output)
    # sisl picks the format by the extension: the partial file keeps it
    atomic_write(output, lambda path: write_tshs(path, record.atoms, record.hamiltonian, record.overlap, fermi),
                 partial=output.with_name(f".{output.stem}.partial.TSHS"))
    shift = f", shifted by −E_F = {-fermi:+.4f} eV" if fermi is not None else ""
    print(f"{args.output}: {record.name or args.index}, {record.hamiltonian.n_orbitals} orbitals, "
          f"{len(record.hamiltonian.image_matrices())} cell images{shift}")


def cmd_info(args) -> None:
    from hamtrans.data.formats import Dataset

    with Dataset(args.dataset) as data:
        print(f"{args.dataset}: {len(data)} structures, basis '{data.basis.name}', settings {data.settings}")
        for k, record in enumerate(data):
            blocks = record.hamiltonian
            extra = f", {blocks.n_orbitals} orbitals, {blocks.graph.n_edges} edges" if blocks else ""
            energy = f", E = {record.energy:.4f} eV" if record.energy is not None else ""
            print(f"  [{k}] {record.name or '-'}: {record.atoms.get_chemical_formula()}{extra}{energy}")


def _transport_devices(args):
    """Devices (one per transverse k-point), the k-points (``None``: Γ-folded), the Fermi level (eV or None)
    and a label, from a dataset file or a CSR folder."""
    from hamtrans.negf import Device

    source = Path(args.input)
    if args.model is not None:
        return _model_transport_device(args)
    lead_args = dict(lead_tolerance=args.lead_tolerance, threshold=args.threshold)
    if source.is_dir():
        from ase.units import Hartree

        from hamtrans.data.formats import read_structure
        from hamtrans.data.formats.cp2k import check_matrices
        from hamtrans.data.formats.csr import read_triplet_matrix

        if args.kpoints is not None or args.leads == "periodic":
            raise OptionError("a CSR folder holds Γ-folded matrices without cell shifts: --kpoints and --leads "
                              "periodic need a dataset file (.h5) with real-space blocks")
        args.basis = args.basis or "szv-molopt-sr-gth"  # a CSR folder's default: CP2K's SZV
        basis = _basis_from_args(args)
        atoms = read_structure(source / "structure.xyz")
        n = int(basis.orbital_offsets(atoms.numbers)[-1])
        scale = Hartree if args.energy_unit == "hartree" else 1.0  # T is invariant to the orbital order
        h = read_triplet_matrix(source / "H.csr", n) * scale
        s = read_triplet_matrix(source / "S.csr", n)
        check_matrices({(0, 0, 0): h}, {(0, 0, 0): s}, 1.0,
                       ({(0, 0, 0): str(source / "H.csr")}, {(0, 0, 0): str(source / "S.csr")}))
        device = Device.from_atoms(h, s, atoms, basis, args.axis, lead_cell=args.lead_cell, **lead_args)
        return [device], None, None, source.name
    from hamtrans.data.formats import Dataset
    from hamtrans.negf.kpoints import kpoint_devices, transverse_kpoints

    with Dataset(source) as data:
        record = data[args.index]
    if record.hamiltonian is None:
        raise HamtransError(f"record {args.index} of {source} has no Hamiltonian blocks")
    h, s, fermi_level = record.hamiltonian, record.overlap, record.fermi_level
    if args.basis is not None:  # a transport sub-basis (e.g. gfn1-xtb-compact: the whole GFN1 S can be indefinite)
        basis = _basis_from_args(args)
        h, s = h.restricted(basis), s.restricted(basis)
    kpoints = transverse_kpoints(args.kpoints or (1, 1, 1), args.axis)
    devices = kpoint_devices(h, s, record.atoms, kpoints, leads=args.leads or "own", lead_cell=args.lead_cell,
                             **lead_args)
    if args.basis is not None and args.fermi is None:
        # the record's E_F belongs to its whole basis: charge-neutral lead bands in the sub-basis instead
        fermi_level = _lead_band_fermi_level(devices, kpoints, h.basis.name, record.atoms, args.temperature)
    return devices, (kpoints if args.kpoints is not None else None), fermi_level, record.name or source.stem


def _lead_band_fermi_level(devices, kpoints, basis_name: str, atoms, temperature: float) -> float:
    """E_F (eV) that makes the left lead's principal layer charge neutral over the k-point mesh."""
    from hamtrans.data.electrons import valence_electrons
    from hamtrans.negf.kpoints import kpoint_band_fermi_level

    left = devices[0]
    lead_atoms = np.unique(left.orbital_atoms[:left.block_sizes[0]])
    electrons = valence_electrons(basis_name, atoms.numbers[lead_atoms])
    return kpoint_band_fermi_level(devices, kpoints, electrons, temperature)


def _model_transport_device(args):
    """The device of a structure file whose H and S a model predicts (``--model``), with the leads of
    ``--leads`` (:func:`hamtrans.calculators.transport_setup`)."""
    from hamtrans.calculators import HamiltonianCalculator, TransportSettings, transport_setup
    from hamtrans.data.blocks import lattice_axis
    from hamtrans.data.formats import read_structure
    from hamtrans.negf.sweep import world_communicator

    atoms = read_structure(args.input)
    # under mpiexec the ranks split the prediction into slabs along the axis, then the energies
    hamiltonian = HamiltonianCalculator(model=args.model, basis=args.basis, comm=world_communicator(),
                                        partition_axis=lattice_axis(args.axis))
    label = f"{Path(args.input).stem} ({args.model})"
    if args.kpoints is not None:
        return _model_kpoint_devices(args, atoms, hamiltonian) + (label,)
    settings = TransportSettings(axis=args.axis, leads=args.leads or "auto", lead_cell=args.lead_cell,
                                 lead_tolerance=args.lead_tolerance, fermi_level=args.fermi,
                                 temperature=args.temperature, tolerance=args.tolerance, resolution=args.resolution,
                                 eta=args.eta, lead_method=args.lead_method, backend=args.backend)
    setup = transport_setup(atoms, hamiltonian, settings)
    args.leads = setup.leads  # reported in current.json
    return [setup.device], None, setup.fermi_level, label


def _model_kpoint_devices(args, atoms, hamiltonian):
    """Devices per transverse k-point of a model's real-space blocks (``--model`` with ``--kpoints``), the
    k-points and the lead-band Fermi level; ``--leads auto`` takes the structure's own end cells where they
    repeat and otherwise continues the cell across its boundary (the builder's TiN period without ``--lead-cell``)."""
    from hamtrans.calculators.structure_transport import BUILDER_LEAD_CELL
    from hamtrans.errors import LeadError
    from hamtrans.negf.kpoints import kpoint_devices, transverse_kpoints

    kpoints = transverse_kpoints(args.kpoints, args.axis)
    hamiltonian.get_property("hamiltonian", atoms)
    h, s = hamiltonian.blocks
    lead_cell = args.lead_cell or (BUILDER_LEAD_CELL if "device" in atoms.info else None)
    build = lambda leads: kpoint_devices(h, s, atoms, kpoints, leads=leads, lead_cell=lead_cell,
                                         lead_tolerance=args.lead_tolerance, threshold=args.threshold)
    leads = args.leads or "auto"
    if leads == "auto":
        try:
            devices, leads = build("own"), "own"
        except LeadError:
            if lead_cell is None:
                raise LeadError("the end cells do not repeat, so the leads must continue the structure across its "
                                "cell boundary: give --lead-cell (the electrode's period along the axis, Å)") from None
            devices, leads = build("periodic"), "periodic"
    else:
        if leads == "periodic" and lead_cell is None:
            raise LeadError("--leads periodic needs --lead-cell (the electrode's lattice period along the axis, Å)")
        devices = build(leads)
    args.leads = leads  # reported in current.json
    fermi_level = None if args.fermi is not None else \
        _lead_band_fermi_level(devices, kpoints, h.basis.name, atoms, args.temperature)
    return devices, kpoints, fermi_level


def _check_transport_options(args) -> None:
    """Refuse unusable ``transport`` options and an ``--out`` that would overwrite an input, before any work."""
    source = Path(args.input)
    inputs = [("input", source), ("basis file", args.basis_file)]
    if args.model is None and args.leads == "auto":
        raise OptionError("--leads auto needs --model (a structure file): a dataset or CSR input takes own or periodic")
    if args.model is not None and (source.is_dir() or source.suffix == ".h5"):
        raise OptionError(f"--model predicts H and S of a structure file (extxyz, xyz, cif, ...), not of {source}: "
                          "leave out --model to use the matrices stored there")
    if source.is_dir():
        inputs += [("input file", source / name) for name in ("structure.xyz", "H.csr", "S.csr")]
    check_output_folder(args.out, ("transmission.dat", "current.json", "transmission.png", "bond_currents.dat",
                                   "bond_currents.png", "dos.dat", "dos.png"), inputs, "--out")
    rules = [("points", args.points >= 2, "at least 2 energies"), ("batch-size", args.batch_size >= 1, "at least 1"),
             ("tolerance", args.tolerance > 0, "positive"), ("temperature", args.temperature >= 0, "≥ 0 K"),
             ("eta", args.eta >= 0, "≥ 0 eV"), ("lead-tolerance", args.lead_tolerance > 0, "positive (eV)"),
             ("threshold", args.threshold >= 0, "≥ 0"),
             ("resolution", args.resolution is None or args.resolution > 0, "positive (eV)"),
             ("lead-cell", args.lead_cell is None or args.lead_cell > 0, "a positive length (Å)")]
    for option, valid, requirement in rules:
        if not valid:
            raise OptionError(f"--{option} {getattr(args, option.replace('-', '_'))}: must be {requirement}")
    if args.emin is not None and args.emax is not None and not args.emin < args.emax:
        raise OptionError(f"--emin {args.emin} must be below --emax {args.emax} (eV)")
    if args.bond_currents is not None:
        if args.bias == 0:
            raise OptionError("--bond-currents needs a nonzero --bias (V): at zero bias no current flows")
        if args.kpoints is not None:
            raise OptionError("--bond-currents works at Γ only: leave out --kpoints")
        if args.bond_currents < 3:
            raise OptionError(f"--bond-currents {args.bond_currents}: give at least 3 energies")


def cmd_transport(args) -> None:
    from dataclasses import replace

    from hamtrans.negf import SweepOptions, biased_device, current, transmission
    from hamtrans.negf.kpoints import kpoint_current, kpoint_transmission
    from hamtrans.negf.report import plot_transmission, write_current_json, write_transmission_table
    from hamtrans.negf.sweep import world_communicator

    _check_transport_options(args)
    comm = world_communicator()
    root = comm is None or comm.Get_rank() == 0
    devices, kpoints, record_fermi, label = _transport_devices(args)
    fermi_level = args.fermi if args.fermi is not None else record_fermi
    if fermi_level is None:
        raise HamtransError("the input has no Fermi level: give --fermi (eV)")
    options = SweepOptions(eta=args.eta, lead_method=args.lead_method, backend=args.backend,
                           batch_size=args.batch_size, comm=comm, progress=root and kpoints is None)
    emin = fermi_level - 2.0 if args.emin is None else args.emin
    emax = fermi_level + 2.0 if args.emax is None else args.emax
    energies = np.linspace(emin, emax, args.points)
    device = devices[0]
    if root:
        where = f" at each of {len(kpoints)} transverse k-points (mesh {kpoints.mesh})" if kpoints else ""
        print(f"{label}: {device.n_orbitals} orbitals in {device.n_blocks} slabs (largest {device.block_sizes.max()}), "
              f"leads of {device.left.n_orbitals}/{device.right.n_orbitals} orbitals{where}; E_F = {fermi_level:.4f} eV")
    current_options = dict(options=options, tolerance=args.tolerance, resolution=args.resolution)
    result, resolved = None, None
    if kpoints is None:
        t = transmission(biased_device(device, args.bias), energies, options)
        if args.bias != 0:
            result = current(device, args.bias, args.temperature, fermi_level, **current_options)
    else:
        k_result = kpoint_transmission([biased_device(d, args.bias) for d in devices], kpoints, energies, options)
        t, resolved = k_result.transmission, k_result.resolved
        if args.bias != 0:
            result = kpoint_current(devices, kpoints, args.bias, args.temperature, fermi_level, **current_options)
    if not root:
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_transmission_table(out / "transmission.dat", energies, t, fermi_level, resolved, kpoints)
    settings = {"input": str(args.input), "axis": args.axis, "fermi_level_eV": fermi_level, "eta_eV": args.eta,
                "lead_method": args.lead_method, "leads": args.leads or "own", "n_orbitals": device.n_orbitals,
                "slabs": device.n_blocks, "current_tolerance": args.tolerance, "current_resolution_eV": args.resolution}
    if kpoints is not None:
        settings.update(kpoint_mesh=list(kpoints.mesh), kpoints=kpoints.kpoints.tolist(),
                        kpoint_weights=kpoints.weights.tolist())
    write_current_json(out / "current.json", result, settings)
    window = (fermi_level + args.bias / 2, fermi_level - args.bias / 2) if result else None
    per_cell = ", per transverse cell" if kpoints is not None else ""
    plot_transmission(out / "transmission.png", energies, t, fermi_level, window,
                      f"{label}, bias {args.bias:g} V, {args.temperature:g} K{per_cell}", resolved)
    written = "transmission.dat, transmission.png, current.json"
    rank_options = replace(options, comm=None, progress=False)  # on rank 0 alone: the other ranks have returned
    if args.bond_currents is not None:
        from hamtrans.negf.bond_currents import bond_currents
        from hamtrans.negf.report import plot_bond_currents, write_bond_currents_table

        bonds = bond_currents(device, args.bias, args.temperature, fermi_level, args.bond_currents, rank_options)
        write_bond_currents_table(out / "bond_currents.dat", bonds)
        plot_bond_currents(out / "bond_currents.png", bonds, _transport_symbols(args, device),
                           f"{label}: bond currents at {args.bias:g} V")
        written += ", bond_currents.dat, bond_currents.png"
    if args.dos:
        from hamtrans.negf.density_of_states import atom_dos
        from hamtrans.negf.report import plot_dos, write_dos_table

        weights = None if kpoints is None else kpoints.weights
        biased = [biased_device(d, args.bias) for d in devices]
        dos = atom_dos(biased if kpoints else biased[0], energies, weights, rank_options)
        write_dos_table(out / "dos.dat", dos, fermi_level)
        plot_dos(out / "dos.png", dos, _transport_symbols(args, device), fermi_level,
                 f"{label}: DOS at {args.bias:g} V{per_cell}")
        written += ", dos.dat, dos.png"
    if result:
        print(f"I = {result.current:.6e} A at {args.bias:g} V{per_cell} (estimated error {result.error:.1e} A)")
    print(f"wrote {out}/{written}")


def _transport_symbols(args, device) -> list[str]:
    """Chemical symbol of every atom of the transport input (input numbering)."""
    source = Path(args.input)
    if args.model is not None or source.is_dir():
        from hamtrans.data.formats import read_structure

        return read_structure(source if args.model is not None else source / "structure.xyz").get_chemical_symbols()
    from hamtrans.data.formats import Dataset

    with Dataset(source) as data:
        return data[args.index].atoms.get_chemical_symbols()


def cmd_train(args) -> None:
    from hamtrans.training.config import load_config
    from hamtrans.training.tasks import make_trainer

    config = load_config(args.config)
    _check_run_folder(config, args.config)
    _train(make_trainer(config, resume=args.resume, overwrite=args.overwrite), "best model")


def cmd_finetune(args) -> None:
    from hamtrans.training.finetuning import ReplayEWCTask, load_finetune_config
    from hamtrans.training.trainer import Trainer

    config = load_finetune_config(args.config)
    _check_run_folder(config, args.config)
    _train(Trainer(config, ReplayEWCTask(config), resume=args.resume, overwrite=args.overwrite),
           "fine-tuned model")


def _check_run_folder(config, config_path) -> None:
    """Refuse an unusable ``output.directory`` (a file, a read-only folder) before any data or model is loaded."""
    from hamtrans.training.trainer import RUN_FILES

    check_output_folder(config.output.directory, RUN_FILES, [("configuration file", config_path)],
                        "output.directory")


def _train(trainer, what: str) -> None:
    metrics = trainer.run()
    trainer.close()  # on an exception torchrun stops the other ranks; a barrier here would hang
    if trainer.rank == 0:
        print(f"{what}: {trainer.directory / 'best.pt'}; metrics per epoch: {trainer.directory / 'metrics.csv'}")
        print(json.dumps(metrics, indent=2))


def _exit_distributed_worker() -> None:
    """End a torchrun worker whose results are written, skipping interpreter finalisation.

    Every file is already closed (checkpoints are atomic renames) and the process group is
    destroyed. Python's finalisation of torch's C++ state after gloo has run has aborted a rank
    (SIGABRT) and, on a slower machine, hung one for ten minutes; neither can lose results, but
    both turn a finished run into a failed or stuck one, so the worker leaves with ``os._exit``.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def cmd_predict(args) -> None:
    from hamtrans.data.blocks import lattice_axis
    from hamtrans.data.formats import DatasetWriter, Record, read_structure
    from hamtrans.models.distributed import gather_prediction, not_distributable, predict_owned_blocks
    from hamtrans.models.model_file import load_model
    from hamtrans.models.predict_io import write_csr_folder
    from hamtrans.negf.sweep import world_communicator

    inputs = [("structure file", args.structure)] + ([("model file", args.model)] if Path(args.model).exists() else [])
    if args.format == "csr":
        check_output_folder(args.output, ("structure.xyz", "H.csr", "S.csr"), inputs, "-o")
    else:
        _dataset_output(args.output, inputs)
    predictor = load_model(args.model)
    basis = predictor.basis
    if args.basis is not None:
        from hamtrans.data.basis import OrbitalBasis

        basis = OrbitalBasis.named(args.basis)
        for z in predictor.config.species:
            basis.orbitals_within(predictor.basis, int(z))  # refuses a basis that is not a sub-basis
    atoms = read_structure(args.structure)
    comm, ranks = world_communicator(), ""
    if comm is not None and (reason := not_distributable(predictor, atoms, lattice_axis(args.axis))) is not None:
        if comm.Get_rank() != 0:
            return
        comm, ranks = None, f" (in one process of {world_communicator().Get_size()}: {reason})"
    if comm is None:
        h, s, cost = predictor.timed_predict(atoms, device=args.device)
    else:  # each rank predicts the blocks of its slabs; rank 0 assembles and writes them
        local = predict_owned_blocks(predictor, atoms, comm, axis=lattice_axis(args.axis), device=args.device)
        slowest, peak = max(comm.allgather(local.seconds)), max(comm.allgather(local.peak_memory_MiB))
        gathered = gather_prediction(local, atoms, predictor.basis, comm)
        if comm.Get_rank() != 0:
            return
        (h, s), cost = gathered, {"seconds": slowest, "peak_memory_MiB": peak}
        ranks = f" on {comm.Get_size()} ranks (slabs along axis {args.axis}; time and memory before the gather: the largest rank's)"
    if args.basis is not None:
        h, s = h.restricted(basis), s.restricted(basis)
    out = Path(args.output)
    if args.format == "csr":
        write_csr_folder(out, atoms, h, s)
    else:
        with DatasetWriter(out, basis, {"source": "hamtrans-model", "model": str(args.model)}) as writer:
            writer.append(Record(atoms, h, s, source="hamtrans-model", name=Path(args.structure).stem))
    print(f"{len(atoms)} atoms, {h.n_orbitals} orbitals, {h.graph.n_edges} blocks: {cost['seconds']:.2f} s, "
          f"peak memory {cost['peak_memory_MiB']:.0f} MiB{ranks} -> {out}")


def cmd_evaluate(args) -> None:
    from hamtrans.models.evaluation import evaluate_model
    from hamtrans.models.model_file import POTENTIAL_FORMAT, file_format

    check_output_folder(args.out, ("evaluation.json", "parity.png", "errors_violin.png"),
                        [("model file", args.model), ("dataset", args.dataset)], "--out")
    if file_format(args.model) == POTENTIAL_FORMAT:
        from hamtrans.models.model_file import load_potential
        from hamtrans.training.potential_task import evaluate_potential, read_labels

        summary = evaluate_potential(load_potential(args.model), read_labels(args.dataset))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary, indent=2))
        print(f"wrote {out}/evaluation.json")
        return
    if args.eigen_window <= 0:
        raise OptionError(f"--eigen-window {args.eigen_window}: must be positive (eV)")
    if args.eigen_basis is not None:
        from hamtrans.data.basis import OrbitalBasis

        OrbitalBasis.named(args.eigen_basis)  # an unknown name fails here, before any prediction
    summary = evaluate_model(args.model, args.dataset, Path(args.out), max_eigen_orbitals=args.max_eigen_orbitals,
                             eigen_basis=args.eigen_basis, eigen_window=args.eigen_window)
    print(json.dumps(summary["total"], indent=2))
    print(f"wrote {args.out}/evaluation.json, parity.png, errors_violin.png")


def cmd_iv(args) -> None:
    from hamtrans.kmc.iv_config import load_iv_config
    from hamtrans.kmc.switching import SwitchingSweep

    config = load_iv_config(args.config)
    if args.out:
        from dataclasses import replace

        config = replace(config, output=replace(config.output, directory=args.out))
    inputs = [("configuration file", args.config)]
    if Path(config.transport.hamiltonian).exists():
        inputs.append(("transport.hamiltonian file", config.transport.hamiltonian))
    check_output_folder(config.output.directory, ("trajectory.h5", "iv.dat", "iv.png", "conductance.png",
                                                  "summary.json"), inputs, "--out" if args.out else "output.directory")
    from hamtrans.negf.sweep import world_communicator

    comm = world_communicator()
    sweep = SwitchingSweep(config, progress=not args.quiet, comm=comm)
    frames = sweep.run()
    if sweep.root:
        print(f"{len(frames)} voltage points, simulated time {frames[-1]['time']:.3e} s -> {sweep.directory}/ "
              f"(iv.dat, iv.png, conductance.png, trajectory.h5, summary.json)")


def cmd_demo(args) -> None:
    from hamtrans.demo import run_demo

    run_demo(Path(args.out), atoms=args.atoms, max_voltage=args.max_voltage, step=args.step,
             read_voltage=args.read_voltage, backend="cupy" if args.gpu else "numpy", check=not args.no_check)


def shown_default(value) -> bool:
    """Whether ``--help`` states this default: everything but ``None``, a switch's ``False`` and SUPPRESS
    (identity tests: a default of 0 equals False but is shown)."""
    return value is not None and value is not False and value is not argparse.SUPPRESS


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` that states each option's default where its help text does not already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and shown_default(action.default) and "default" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    from functools import partial

    from hamtrans import __version__

    parser = argparse.ArgumentParser(prog="hamtrans", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"hamtrans {__version__}")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=partial(argparse.ArgumentParser, formatter_class=DefaultsHelpFormatter))

    p = sub.add_parser("reference", help="reference dataset from structure files (GFN1-xTB by tblite, or DFT by CP2K)")
    p.add_argument("structures", nargs="+", help="structure files readable by ASE (extxyz, cif, POSCAR, ...)")
    p.add_argument("-o", "--output", required=True, help="dataset file (.h5)")
    p.add_argument("--index", default=":", help="frames to read from each file (ASE index, default all)")
    p.add_argument("--cutoff", type=parse_cutoff, default=5.0, help="graph cutoff Å, or per pair 'Hf-O=5.5,O-O=4,...'")
    p.add_argument("--image-range", type=float, default=12.0, help="Å beyond which Γ-folded blocks are negligible (12 Å for Hf in GFN1-xTB)")
    p.add_argument("--code", choices=["tblite", "cp2k"], default="tblite",
                   help="tblite: GFN1-xTB (embedded, default); cp2k: PBE DFT with cp2k.psmp (docs/cp2k.md)")
    p.add_argument("--cp2k-settings", default=None, help="YAML file of CP2K settings overriding the defaults (docs/cp2k.md)")
    p.add_argument("--workdir", default=None, help="CP2K work directories (default OUTPUT.cp2k/, one per structure)")
    p.add_argument("--temperature", type=float, default=None, help="tblite: electronic temperature, K (default 300)")
    p.add_argument("--max-iter", type=int, default=None, help="tblite: SCF iteration limit (default 300)")
    p.add_argument("--mixer-damping", type=float, default=None,
                   help="tblite: Broyden damping of the first SCF attempt, dimensionless in (0, 1] (default: the "
                        "attempts of TBLiteReference.SCF_MIXING, 0.2 first)")
    p.add_argument("--no-blocks", action="store_true", help="energies/forces/stress only (small cells allowed)")
    p.add_argument("--resume", action="store_true",
                   help="continue OUTPUT.partial of an interrupted run (same inputs and settings, checked)")
    p.set_defaults(func=cmd_reference)

    p = sub.add_parser("build-device", help="write a TiN|HfO2|Ti|TiN VCM device (extxyz)")
    p.add_argument("-o", "--output", required=True, help="output structure file (extxyz)")
    from hamtrans.data.structures import DeviceSpec

    defaults = DeviceSpec()
    p.add_argument("--cross-section", type=float, nargs=2, metavar=("Y", "Z"),
                   help=f"Å, rounded to TiN cells (4.24 Å); default {defaults.cross_section[0]:g} "
                        f"{defaults.cross_section[1]:g}")
    meaning = {"electrode_length": "Å of TiN at each end, rounded to TiN cells", "oxide_length": "Å of HfO2",
               "ti_length": "Å of the Ti layer (0: TiN | HfO2 | TiN)", "vacancy_fraction": "fraction of O removed "
               "(random vacancies)", "filament_radius": "Å, radius of the filament's vacancy cylinder",
               "gap_length": "Å of the broken filament's gap", "vacuum": "Å added in y and z (a nanowire; 0: periodic)"}
    for name, text in meaning.items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=float,
                       help=f"{text}; default {getattr(defaults, name):g}")
    p.add_argument("--vacancies", choices=["none", "random", "filament", "broken"],
                   help=f"vacancy pattern; default {defaults.vacancies}")
    p.add_argument("--seed", type=int, help=f"random seed of vacancies and amorphisation; default {defaults.seed}")
    p.set_defaults(func=cmd_build_device)

    for name, func, helptext in (("import-cp2k", cmd_import_cp2k, "CP2K KS/S .csr files -> dataset"),
                                 ("import-eth", cmd_import_eth, "ETH structure.xyz/H.csr/S.csr folders -> dataset")):
        p = sub.add_parser(name, help=helptext)
        if name == "import-cp2k":
            p.add_argument("--structure", required=True, help="structure file with the cell")
            p.add_argument("--ks", nargs="+", required=True, help="KS .csr file (Γ) or per-image files")
            p.add_argument("--s", nargs="+", required=True, help="S .csr file (Γ) or per-image files")
            p.add_argument("--out-file", help="CP2K .out with the image table (per-image files)")
        else:
            p.add_argument("directories", nargs="+")
        p.add_argument("-o", "--output", required=True, help="dataset file (.h5)")
        p.add_argument("--basis", default="szv-molopt-sr-gth", help="basis name (shipped or in --basis-file)")
        p.add_argument("--basis-file", help="CP2K basis-set file to read the shells from")
        p.add_argument("--cutoff", type=parse_cutoff, default=5.0,
                       help="graph cutoff Å of the stored blocks, or per pair 'Hf-O=5.5,O-O=4,...'")
        p.add_argument("--image-range", type=float, default=12.0,
                       help="Å beyond which Γ-folded blocks are negligible (the image rule, docs/reference_data.md)")
        p.set_defaults(func=func)

    p = sub.add_parser("info", help="summarise a dataset")
    p.add_argument("dataset")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("export",
                       help="one dataset record's H, S -> SIESTA/TBtrans TSHS (through sisl) or a DeepH folder")
    p.add_argument("dataset", help="dataset file (.h5) with H and S blocks")
    p.add_argument("output", help="output file ending in .TSHS, or a folder with --format deeph")
    p.add_argument("--format", choices=["tshs", "deeph"], default=None,
                   help="tshs: SIESTA/TBtrans binary (default for a name ending in .TSHS); deeph: DeepH processed "
                        "folder (lat.dat, site_positions.dat, ..., hamiltonians.h5, overlaps.h5; "
                        "docs/reference_data.md)")
    p.add_argument("--index", type=int, default=0, help="record index in the dataset (default 0)")
    p.add_argument("--all", action="store_true",
                   help="with --format deeph: every record, as OUTPUT/000000, OUTPUT/000001, ...")
    p.add_argument("--fermi-zero", action="store_true",
                   help="write H − E_F S with the record's Fermi level, so the file's E_F is 0 eV (TBtrans' zero)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import-deeph", help="DeepH processed folders (hamiltonians.h5, overlaps.h5, ...) -> dataset")
    p.add_argument("directories", nargs="+", help="one DeepH folder per structure")
    p.add_argument("-o", "--output", required=True, help="dataset file (.h5)")
    p.add_argument("--basis", default=None,
                   help="basis name (shipped or in --basis-file) the folders' orbital_types.dat must match; default: "
                        "a basis named 'deeph' with the folders' shells")
    p.add_argument("--basis-file", help="CP2K basis-set file to read --basis from")
    p.set_defaults(func=cmd_import_deeph)

    for name, func, helptext in (
            ("train", cmd_train, "train the Hamiltonian model or the potential (YAML config; torchrun for DDP)"),
            ("finetune", cmd_finetune, "fine-tune a trained potential with replay + EWC (YAML config)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("config", help="YAML configuration (keys: hamtrans/training/config.py)")
        p.add_argument("--resume", action="store_true", help="continue from <output.directory>/checkpoint.pt")
        p.add_argument("--overwrite", action="store_true",
                       help="replace the run already in output.directory (its best.pt, checkpoint.pt, metrics.csv)")
        p.set_defaults(func=func)

    p = sub.add_parser("predict", help="H and S of a structure from a trained model")
    p.add_argument("model", help="model file (.pt)")
    p.add_argument("structure", help="structure file readable by ASE")
    p.add_argument("-o", "--output", required=True, help="dataset file (.h5) or folder (--format csr)")
    p.add_argument("--format", default="dataset", choices=["dataset", "csr"],
                   help="csr: structure.xyz + H.csr + S.csr (1-based upper triangle, Hartree, CP2K orbital order)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--basis", default=None,
                   help="write H and S in this sub-basis of the model's (e.g. gfn1-xtb-compact for transport; "
                        "default: the model's basis)")
    p.add_argument("--axis", default="x", choices=["x", "y", "z"],
                   help="under mpiexec -n K: the axis along which the ranks split the structure into slabs "
                        "(the transport axis)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="errors of a trained model on a dataset")
    p.add_argument("model", help="model file (.pt)")
    p.add_argument("dataset", help="dataset (.h5) with reference H and S; for a potential also extxyz with energies/forces")
    p.add_argument("--out", default="evaluation_out", help="output folder")
    p.add_argument("--max-eigen-orbitals", type=int, default=5000, help="skip eigenvalue errors above this size")
    p.add_argument("--eigen-basis", default=None,
                   help="score the eigenvalues in this sub-basis (default: the largest shipped one, the model's own "
                        "first, in which the reference S is positive definite)")
    p.add_argument("--eigen-window", type=float, default=2.0,
                   help="eV around the reference's Fermi level in which eigenvalues are scored after the energy zero")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("transport", help="T(E) and current of a device by NEGF (dataset .h5, CSR folder, or a "
                                         "structure file with --model)")
    p.add_argument("input", help="dataset file (.h5), folder with structure.xyz, H.csr, S.csr, or (with --model) a "
                                 "structure file")
    p.add_argument("--model", default=None,
                   help="Hamiltonian model file or shipped name (e.g. vcm-gfn1-8) that predicts H and S of the "
                        "structure file INPUT (default: none, the input holds the matrices)")
    p.add_argument("--index", type=int, default=0, help="structure index in the dataset")
    p.add_argument("--axis", default="x", choices=["x", "y", "z"], help="transport axis")
    p.add_argument("--bias", type=float, default=0.0, help="bias V: mu_L = E_F + V/2, mu_R = E_F - V/2")
    p.add_argument("--temperature", type=float, default=300.0, help="electrode temperature, K")
    p.add_argument("--fermi", type=float, default=None, help="Fermi level eV (default: the dataset's)")
    p.add_argument("--emin", type=float, default=None, help="lowest energy eV of the T(E) plot (default E_F - 2)")
    p.add_argument("--emax", type=float, default=None, help="highest energy eV of the T(E) plot (default E_F + 2)")
    p.add_argument("--points", type=int, default=201, help="energies of the T(E) grid")
    p.add_argument("--tolerance", type=float, default=1e-3, help="relative tolerance of the adaptive current integral")
    p.add_argument("--resolution", type=float, default=None,
                   help="eV between the adaptive current grid's first energies (default kT at room temperature)")
    p.add_argument("--eta", type=float, default=0.0, help="imaginary energy eV (0 is exact with eigenmode leads)")
    p.add_argument("--lead-method", default="eigenmode", choices=["eigenmode", "sancho-rubio"],
                   help="surface Green's function: eigenmodes of the lead (exact at eta 0) or Sancho–Rubio "
                        "decimation (needs eta > 0)")
    p.add_argument("--lead-cell", type=float, default=None,
                   help="electrode period along the axis, Å (default: detect; needed by --leads periodic)")
    p.add_argument("--leads", default=None, choices=["own", "periodic", "auto"],
                   help="own: the device's end cells repeat; periodic: the leads continue the cell across its "
                        "boundary (dataset or --model input); auto (--model only): own where the end cells repeat, "
                        "else periodic (default: own; with --model auto)")
    p.add_argument("--kpoints", type=int, nargs=3, default=None, metavar=("N1", "N2", "N3"),
                   help="Γ-centred transverse k-point mesh, 1 along the axis (a dataset file, or a structure with --model; "
                        "default: Γ-folded); T(E) and the current are per transverse cell")
    p.add_argument("--bond-currents", type=int, default=None, metavar="POINTS",
                   help="also write the bond currents (A per atom pair) integrated on POINTS uniform energies over the "
                        "open bias window, and their plot (needs --bias; Γ only)")
    p.add_argument("--dos", action="store_true",
                   help="also write the DOS per atom (1/eV, k-averaged with --kpoints) on the T(E) grid (dos.dat) and "
                        "its plot: DOS per element and the DOS along the axis in 1 Å slices (dos.png)")
    p.add_argument("--lead-tolerance", type=float, default=1e-4, help="eV allowed between repeated electrode cells")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="drop entries with |H| (eV) and |S| (dimensionless) below this before partitioning")
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "auto"],
                   help="array library of the NEGF sweeps: numpy (CPU), cupy (GPU, the 'gpu' extra), auto (cupy "
                        "where a GPU is present)")
    p.add_argument("--batch-size", type=int, default=16, help="energies per batched sweep")
    p.add_argument("--basis", default=None, help="basis of a CSR folder (default szv-molopt-sr-gth), or the "
                                                 "transport sub-basis of a dataset record or of --model (e.g. "
                                                 "gfn1-xtb-compact; a record's E_F then comes from its lead bands "
                                                 "unless --fermi; default: the stored or the model's basis)")
    p.add_argument("--basis-file", default=None, help="CP2K basis file for --basis")
    p.add_argument("--energy-unit", default="hartree", choices=["hartree", "ev"], help="unit of H.csr")
    p.add_argument("--out", default="transport_out", help="output folder")
    p.set_defaults(func=cmd_transport)

    p = sub.add_parser("iv", help="I-V sweep 0 -> +V -> 0 -> -V -> 0: KMC of vacancies + ML-Hamiltonian transport")
    p.add_argument("config", help="YAML configuration (keys: hamtrans.kmc.iv_config)")
    p.add_argument("--out", default=None, help="output folder (overrides output.directory)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_iv)

    p = sub.add_parser("demo", help="run the main job on embedded defaults")
    p.add_argument("--out", default="demo_out", help="output folder")
    p.add_argument("--atoms", type=int, default=None, help="scale the sweep's device to about this many atoms")
    p.add_argument("--max-voltage", type=float, default=1.0, help="sweep amplitude, V (default 1.0)")
    p.add_argument("--step", type=float, default=0.2, help="voltage step, V (default 0.2; a multiple of 0.05)")
    p.add_argument("--read-voltage", type=float, default=0.2, help="read voltage, V (default 0.2; a sweep point)")
    p.add_argument("--gpu", action="store_true", help="NEGF sweeps with cupy on the GPU")
    p.add_argument("--no-check", action="store_true", help="skip the read current's denser-lattice check")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        check_finite_options(args)
        args.func(args)
    except HamtransError as exc:
        print(f"hamtrans {args.command}: error: {exc}", file=sys.stderr)
        return 2
    print(f"[{args.command} finished in {time.perf_counter() - start:.1f} s]", file=sys.stderr)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _exit_distributed_worker()
    return 0


if __name__ == "__main__":
    sys.exit(main())
