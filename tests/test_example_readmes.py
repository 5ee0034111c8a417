"""examples/vcm/README.md: the blocks that need no earlier step's hours run verbatim (steps 1 and 5, small inputs).

The other blocks name their prerequisites in the text (reference data: 90 min; training:
hours; CP2K: ~1 h per device); their scripts' options are checked through ``--help``.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.markdown_blocks import code_blocks, python_blocks

ROOT = Path(__file__).resolve().parents[1]
VCM_README = ROOT / "examples" / "vcm" / "README.md"
BIN = Path(sys.executable).parent


def bash_commands(block: str) -> list[list[str]]:
    """Each command of a bash block as argv (continuations joined, comments dropped)."""
    joined = block.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


def localised(argv: list[str]) -> list[str]:
    """``argv`` with the README's ``.venv/bin/`` (relative to the repository root) pointed at this interpreter's."""
    return [str(BIN / word.removeprefix(".venv/bin/")) if word.startswith(".venv/bin/") else word for word in argv]


#: Appended to step 1's command (argparse keeps the last value): a 4.24 Å cross-section, 1/4 of the
#: README's 234-atom device, whose current at 0.2 V took 13.5 min here with another job on the second core.
SMALL_DEVICE = ["--cross-section", "4.24", "4.24"]


@pytest.mark.slow
def test_vcm_walkthrough_builds_a_device_and_computes_its_current(tmp_path, monkeypatch):
    text = VCM_README.read_text()
    (build,) = code_blocks(text, "bash")["1. Build a device (2 s)"]
    for argv in bash_commands(build):
        subprocess.run(localised(argv) + SMALL_DEVICE, cwd=tmp_path, check=True, capture_output=True, text=True)
    assert (tmp_path / "device.extxyz").exists()
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_blocks(text)["5. Transport"], "examples/vcm/README.md (5. Transport)", "exec"), namespace)
    assert 1e-9 < namespace["current"] < 1e-3  # A: a formed filament at 0.2 V
    assert namespace["t"].min() > -1e-6 and abs(namespace["e_f"]) < 20


def test_every_script_the_vcm_walkthrough_runs_accepts_its_options():
    """Each ``python examples/...`` and ``hamtrans`` command of the README parses its options (``--help`` after them)."""
    checked = 0
    for blocks in code_blocks(VCM_README.read_text(), "bash").values():
        for block in blocks:
            for argv in bash_commands(block):
                while argv and "=" in argv[0]:  # OMP_NUM_THREADS=1 ...
                    argv = argv[1:]
                if not argv or argv[0] in ("make", "apt-get", "torchrun"):
                    continue
                result = subprocess.run(localised(argv) + ["--help"], cwd=ROOT, capture_output=True, text=True,
                                        env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
                assert result.returncode == 0, (argv, result.stderr[-2000:])
                checked += 1
    assert checked >= 10
