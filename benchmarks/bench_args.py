"""Argument types the benchmarks share: a bad value is one argparse line and exit 2, never a traceback later."""

from __future__ import annotations

import argparse


def at_least(lowest: int):
    """An argparse type: a whole number no smaller than ``lowest``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"{value} is below {lowest}")
        return value
    return parse
