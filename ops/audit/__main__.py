"""``python -m ops.audit``: see ops/audit/cli.py."""

import sys

from ops.audit.cli import main

sys.exit(main())
