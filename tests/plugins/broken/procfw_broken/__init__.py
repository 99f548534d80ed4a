"""A plugin whose entry points are wrong: a missing module, a missing function, a clashing id."""

from procfw.process import Process


class Invert(Process):
    """Claims the built-in id Invert: the registry must keep procfw's own and warn."""

    process_id = "Invert"
