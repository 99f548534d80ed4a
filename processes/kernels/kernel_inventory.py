"""Which compiled (numba) kernels this process has loaded, and for which type signatures.

:func:`loaded_kernels` lists every module-level numba dispatcher of the already imported
modules whose name starts with a prefix, with the signatures it holds machine code for
(compiled or loaded from numba's on-disk cache).  Kernels compiled *into* their callers
(``inline="always"`` helpers, and the inner functions of a kernel loaded from the cache)
hold no signature of their own and are not listed.

It serves the memory checks of the worker preload (:mod:`processes.workflows.preprocess.worker`):
each loaded signature costs a process resident memory, so a worker should load exactly what
its frames use, once, in the fork server.  It never imports numba itself: a process that has
not imported numba has loaded no kernel.
"""

from __future__ import annotations

import sys

__all__ = ["loaded_kernels"]


def loaded_kernels(prefix: str = "processes.") -> dict[str, list[str]]:
    """``{"module.function": [signature, ...]}`` of the numba kernels loaded in this process.

    Only dispatchers defined in (not merely imported into) a module whose name starts with
    ``prefix``, and only those with at least one signature; signatures are numba's type
    strings, sorted.
    """
    if "numba" not in sys.modules:
        return {}
    from numba.core.registry import CPUDispatcher

    found: dict[str, list[str]] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith(prefix) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, CPUDispatcher) and value.__module__ == name and value.signatures:
                found[f"{name}.{attr}"] = sorted(str(s) for s in value.signatures)
    return dict(sorted(found.items()))
