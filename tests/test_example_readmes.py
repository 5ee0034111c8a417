"""examples/vcm/README.md and README.md: the vcm blocks that need no earlier step's hours run verbatim (steps 1
and 5, small inputs); every command of both READMEs' bash blocks parses.

The other blocks name their prerequisites in the text (reference data: 90 min; training:
hours; CP2K: ~1 h per device); each of their commands is run up to its argument parsing
(``tests/parse_only.py``), so an unknown option name or a bad value fails.
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


PARSE_ONLY = Path(__file__).with_name("parse_only.py")


def parse_only(argv: list[str]) -> list[str]:
    """The README command ``argv`` run by ``tests/parse_only.py``: up to its argument parsing, nothing after."""
    while argv and "=" in argv[0]:  # OMP_NUM_THREADS=1 ...
        argv = argv[1:]
    if argv[0] == "torchrun":  # torchrun [options] -m module ARGS: the module's command line
        argv = argv[argv.index("-m"):]
    program = argv[0].removeprefix(".venv/bin/")
    if program == "hamtrans":
        argv = ["-m", "hamtrans.cli", *argv[1:]]
    elif program == "python":
        argv = argv[1:]
    return [sys.executable, str(PARSE_ONLY), *argv]


@pytest.mark.parametrize("readme, at_least", [(VCM_README, 10), (ROOT / "README.md", 9)])
def test_every_script_a_readme_runs_accepts_its_options(readme, at_least):
    """Each ``python examples/...``, ``hamtrans`` and ``torchrun`` command of a README's bash blocks parses
    its command line (the top-level README's commands too: they need hours of reference data)."""
    checked = 0
    for blocks in code_blocks(readme.read_text(), "bash").values():
        for block in blocks:
            for argv in bash_commands(block):
                if argv[0] in ("make", "apt-get"):
                    continue
                result = subprocess.run(parse_only(argv), cwd=ROOT, capture_output=True, text=True,
                                        env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
                assert result.returncode == 0, (argv, result.stderr[-2000:])
                checked += 1
    assert checked >= at_least


def test_an_unknown_option_fails_the_parse_only_check():
    argv = [".venv/bin/python", "examples/vcm/validate_transport.py", "--bias", "0.2", "--no-such-option"]
    result = subprocess.run(parse_only(argv), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "unrecognized arguments: --no-such-option" in result.stderr
