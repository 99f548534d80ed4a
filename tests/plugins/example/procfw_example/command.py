"""The ``greet`` console command: a plain function whose signature is its command line."""

from __future__ import annotations


def greet(name: str = "world", *, times: int = 1, shout: bool = False) -> str:
    """Greet NAME (TIMES times); -shout+ greets in capitals."""
    text = " ".join([f"hello, {name}"] * times)
    return text.upper() if shout else text
