"""``python -m tilegen``: the same command as ``tilegen`` (see tilegen/cli.py)."""

import sys

from tilegen.cli import main

sys.exit(main())
