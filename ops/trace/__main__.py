"""``python -m ops.trace``: see ops/trace/cli.py."""

import sys

from ops.trace.cli import main

sys.exit(main())
