"""Entry point: `python -m crm_cli <command> ...` (the Makefile and README call it `crm`)."""

from __future__ import annotations

import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
