"""Run a script (``path.py ARGS``) or a module (``-m module ARGS``) up to its argument parsing only.

``argparse.ArgumentParser.parse_args`` is wrapped so that the program stops right after it
accepted its command line: exit status 0 when every option name and value parses, argparse's
own error (status 2, message on stderr) otherwise. Nothing after the parsing runs.
Usage: ``python tests/parse_only.py examples/vcm/validate_transport.py --bias 0.2``.
"""

import argparse
import os
import runpy
import sys

parse_args = argparse.ArgumentParser.parse_args


def parse_then_stop(self, args=None, namespace=None):
    parse_args(self, args, namespace)
    raise SystemExit(0)


if __name__ == "__main__":
    argparse.ArgumentParser.parse_args = parse_then_stop
    if sys.argv[1] == "-m":  # as `python -m`: the working directory first on the path
        sys.argv = [sys.argv[2], *sys.argv[3:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:  # as `python script.py`: the script's folder first on the path
        sys.argv = sys.argv[1:]
        sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
        runpy.run_path(sys.argv[0], run_name="__main__")
    raise SystemExit(f"{sys.argv[0]} finished without parsing a command line")
