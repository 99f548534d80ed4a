"""Real peer programs the tests compare against.

``siril_cli()`` finds ``siril-cli`` on the PATH.  The tests never install anything:
``.ci/run`` installs Debian's ``siril`` package before pytest starts (do the same on a
developer machine: ``apt-get install siril``).  Locally a test that needs a missing peer
skips, naming it; under CI the skip is a failure (see ``tests/conftest.py``).
"""

from __future__ import annotations

import functools
import shutil


@functools.cache
def siril_cli() -> str | None:
    """The path of ``siril-cli``, or None when it is not installed."""
    return shutil.which("siril-cli")
