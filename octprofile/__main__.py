"""`python -m octprofile`: the command line."""

from octprofile.cli import main

main()
