"""``python -m landscape.study``: the command line (see :mod:`landscape.cli`)."""

from __future__ import annotations

import sys

from landscape.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
