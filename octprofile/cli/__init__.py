"""The command line: each command parses its options into a study request, calls the study, renders.

``import octprofile.cli`` imports no torch: each command imports what it needs when it runs. A command is a module
``cli/commands/NAME.py`` defining the function ``NAME``, listed once in ``COMMANDS``.
"""

import importlib

from octprofile.cli.base import app, main

# in the order --help lists them
COMMANDS = ("models", "compare", "sweep", "ablate", "layers", "blocks", "explain", "check", "coverage", "counters",
            "train", "report")


def _register(name: str) -> None:
    app.command()(getattr(importlib.import_module(f"octprofile.cli.commands.{name}"), name))


for _name in COMMANDS:
    _register(_name)

__all__ = ["COMMANDS", "app", "main"]
