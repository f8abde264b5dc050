"""The ``qvl`` command's entry point: start what can start early, then the command line.

``qvl render``'s render workers are started here, before :mod:`qvl_cli.cli` (typer and the
settings) is imported, so that their start-up overlaps it (:func:`qvl_cli.pages.spawn.prestart`).
"""

from __future__ import annotations

import sys


def main() -> None:
    from qvl_cli.pages.spawn import prestart

    prestart(sys.argv[1:])
    from qvl_cli.cli import main as command_line

    command_line()
