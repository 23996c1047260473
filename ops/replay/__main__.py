"""``python -m ops.replay``: see ops/replay/cli.py."""

import sys

from ops.replay.cli import main

sys.exit(main())
