"""`python -m octprofile`: the command line.

``python -m`` puts the working directory first on ``sys.path``; a ``rich.py`` or ``typing_extensions.py``
lying there would then be imported (and run) in place of the dependency. Drop it before importing anything
else: a custom model (``file.py:callable``, ``package.module:callable``) is still found relative to the working
directory, which ``octprofile.models.custom`` appends to the end of ``sys.path`` when it loads one.
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.curdir, os.getcwd()):
    del sys.path[0]

try:
    from octprofile.cli import main
except KeyboardInterrupt:  # Ctrl-C while the imports run: one line, as at any other moment
    sys.stderr.write("interrupted\n")
    sys.exit(130)

main()
