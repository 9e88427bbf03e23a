"""``python -m bandlimit.cli``."""

import sys

from bandlimit.cli import main

sys.exit(main())
