"""``python -m procfw``: the same as the ``procfw`` command."""

import sys

from procfw.cli import console_main

sys.exit(console_main())
