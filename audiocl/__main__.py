"""``python -m audiocl`` (and ``torchrun -m audiocl``) runs the CLI."""

import sys

from audiocl.cli import main

sys.exit(main())
