"""``python -m flexopt`` runs the command line."""

import sys

from flexopt.cli import entry

sys.exit(entry())
