"""The command line: each command parses its options into a study request, calls the study, renders.

``import octprofile.cli`` imports no torch: each command imports what it needs when it runs.
"""

from octprofile.cli.base import app, main
from octprofile.cli.commands.ablate import ablate
from octprofile.cli.commands.blocks import blocks
from octprofile.cli.commands.check import check
from octprofile.cli.commands.compare import compare
from octprofile.cli.commands.counters import counters
from octprofile.cli.commands.coverage import coverage
from octprofile.cli.commands.explain import explain
from octprofile.cli.commands.layers import layers
from octprofile.cli.commands.models import models
from octprofile.cli.commands.report import report
from octprofile.cli.commands.sweep import sweep
from octprofile.cli.commands.train import train

# in the order --help lists them
COMMANDS = (models, compare, sweep, ablate, layers, blocks, explain, check, coverage, counters, train, report)
for command in COMMANDS:
    app.command()(command)

__all__ = ["COMMANDS", "app", "main"]
