"""A plugin that ends the interpreter at import: procfw must report it and keep working."""

import sys

sys.exit(3)
