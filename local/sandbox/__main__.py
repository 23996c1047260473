"""``python -m local.sandbox``: run the sandbox until SIGINT/SIGTERM."""

import sys

from local.sandbox.server import main

sys.exit(main())
