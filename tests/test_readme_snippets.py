"""README code that a user copies must run verbatim: the self-contained Python blocks are executed."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: Headings whose Python block needs nothing defined before it.
SELF_CONTAINED = ("Hamiltonian model", "Quantum transport", "ML-Hamiltonian transport of VCM devices")


def python_blocks(text: str) -> dict[str, str]:
    """``{heading: code}`` of every fenced Python block, keyed by the nearest Markdown heading above it."""
    blocks, heading, fence, lines = {}, "", None, []
    for line in text.splitlines():
        if fence is None and line.startswith("```"):
            fence, lines = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            if fence == "python":
                blocks[heading] = "\n".join(lines) + "\n"
            fence = None
        elif fence is not None:
            lines.append(line)
        elif re.match(r"#+ ", line):
            heading = line.lstrip("#").strip()
    return blocks


def test_the_readme_names_the_blocks_this_test_runs():
    assert set(SELF_CONTAINED) <= set(python_blocks(README.read_text()))


@pytest.mark.parametrize("heading", SELF_CONTAINED)
def test_readme_python_block_runs_verbatim(heading, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_blocks(README.read_text())[heading], f"README.md ({heading})", "exec"), namespace)
    if heading == "Hamiltonian model":
        assert 0 <= float(np.asarray(namespace["t"])[0]) < 10
    elif heading == "Quantum transport":
        assert namespace["i"].current > 0 and np.all(namespace["t"] >= 0)
    else:  # a formed filament at 0.2 V: µA-scale, and the leads came from the cell's periodic continuation
        assert 1e-7 < namespace["result"].current < 1e-3
