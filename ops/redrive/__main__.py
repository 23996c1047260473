"""``python -m ops.redrive``: see ops/redrive/cli.py."""

import sys

from ops.redrive.cli import main

sys.exit(main())
