"""`python -m tools.sandbox start|stop|status`: see `tools.sandbox.cli`."""

import sys

from tools.sandbox.cli import main

sys.exit(main())
