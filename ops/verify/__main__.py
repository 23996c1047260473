"""``python -m ops.verify``: see ops/verify/cli.py."""

import sys

from ops.verify.cli import main

sys.exit(main())
