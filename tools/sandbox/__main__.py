"""`python -m tools.sandbox start|stop|status`: see `tools.sandbox`."""

import sys

from tools.sandbox import main

sys.exit(main())
