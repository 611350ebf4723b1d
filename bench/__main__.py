"""``python -m bench``: the command line of ``bench.cli``."""

import sys

from bench.cli import run

sys.exit(run())
