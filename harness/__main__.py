"""``python -m harness`` = the ``harness`` command."""

import sys

from .cli import main

sys.exit(main())
