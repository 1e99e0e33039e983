"""
``python -m dhmad_async`` and the ``dhmad`` script: one argparse tree.

Each area registers its own sub-command with a ``register(subparsers)``
function in its package (``webhooks``, ``testing`` for ``emulator``/``demo``,
``batch``), so this module stays a dispatcher. Sub-commands set a
``handler(args) -> int`` default; the return value is the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# Modules that contribute sub-commands; imported lazily so `--help` stays cheap
# and a missing optional extra only breaks its own command.
_COMMAND_MODULES = (
    "dhmad_async._demo",
    "dhmad_async.testing._cli",
    "dhmad_async.webhooks._cli",
    "dhmad_async.batch._cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser."""
    parser = argparse.ArgumentParser(prog="dhmad", description="DHMAD escrow API tools.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that area has no CLI (yet)
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
