"""Fenced code blocks of a Markdown file, keyed by the heading above them (README tests run them verbatim)."""

import re


def code_blocks(text: str, language: str = "python") -> dict[str, list[str]]:
    """``{heading: [code, ...]}`` of the fenced ``language`` blocks, under the nearest Markdown heading above each."""
    blocks: dict[str, list[str]] = {}
    heading, fence, lines = "", None, []
    for line in text.splitlines():
        if fence is None and line.startswith("```"):
            fence, lines = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            if fence == language:
                blocks.setdefault(heading, []).append("\n".join(lines) + "\n")
            fence = None
        elif fence is not None:
            lines.append(line)
        elif re.match(r"#+ ", line):
            heading = line.lstrip("#").strip()
    return blocks


def python_blocks(text: str) -> dict[str, str]:
    """``{heading: code}`` of the Python blocks of a file with at most one under each heading."""
    blocks = code_blocks(text, "python")
    several = [heading for heading, codes in blocks.items() if len(codes) > 1]
    assert not several, f"more than one Python block under {several}"
    return {heading: codes[0] for heading, codes in blocks.items()}
