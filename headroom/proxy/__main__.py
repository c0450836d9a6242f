"""``python -m headroom.proxy``."""

import sys

from .server import main

sys.exit(main())
