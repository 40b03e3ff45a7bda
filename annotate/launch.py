"""The ``annotate`` command's entry point.

Converting an MPII ``.mat`` release starts by inflating it (about a tenth of a second for the
full release). When the command line names one, that starts here, in a background thread,
before the command line interface and numpy are imported, so the two overlap; then the CLI
runs as usual (and takes the inflated bytes, or parses the arguments and reports errors itself).
"""
from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the ``annotate`` CLI."""
    _start_reading(sys.argv[1:])
    from annotate.cli import app

    app()


def _start_reading(args: list[str]) -> None:
    if "mpii-to-coco" not in args:
        return
    for arg in args[args.index("mpii-to-coco") + 1:]:
        if arg.lower().endswith(".mat") and os.path.isfile(arg):  # the source (the output is JSON)
            from converters.matfile import prefetch

            prefetch(arg, "RELEASE")
            return
