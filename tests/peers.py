"""Real peer programs the tests compare against, installed on demand.

``siril_cli()`` finds ``siril-cli``; when it is missing and the tests run as root on a
Debian/Ubuntu machine (CI, a fresh developer machine), it installs Debian's ``siril``
package first, as the issue asks ("the tests install Siril").  Set
``PROCFW_NO_PEER_INSTALL=1`` to never install anything.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess


def _apt_install(package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        subprocess.run(command, env=env, capture_output=True, timeout=900, check=False)


@functools.cache
def siril_cli() -> str | None:
    """The path of ``siril-cli``, installing Debian's ``siril`` if allowed and needed; None if unavailable."""
    found = shutil.which("siril-cli")
    can_install = (
        found is None
        and not os.environ.get("PROCFW_NO_PEER_INSTALL")
        and hasattr(os, "geteuid")
        and os.geteuid() == 0
        and shutil.which("apt-get") is not None
    )
    if can_install:
        _apt_install("siril")
        found = shutil.which("siril-cli")
    return found
