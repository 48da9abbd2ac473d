"""``python -m flexopt`` runs the command line."""

import sys

from flexopt.cli import main

sys.exit(main())
