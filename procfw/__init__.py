"""procfw: PixInsight's process model as an open Python library and scriptable console.

Importing this package is kept light: heavy modules (scipy, astropy) load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
