"""``python -m procfw``: the same as the ``procfw`` command."""

import sys

from procfw.cli import main

sys.exit(main())
