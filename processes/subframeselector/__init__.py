"""SubframeSelector: measure subframes, approve and weight them by expressions, output the approved ones.

Modules: ``process`` (the SubframeSelector process), ``measure`` (one frame's
measurements), ``properties`` (the measured properties, their aggregates and the variables
of the expressions), ``expressions`` and ``expression.lark`` (the JavaScript subset of the
approval and weighting expressions, parsed with Lark and evaluated as a tree).
"""
