"""`python -m app`, and the entry script of the PyInstaller bundle (build.spec): start the
desktop program, its self-test or a `stmanet` subcommand (see app.launch)."""

import sys

from app.launch import main

if __name__ == "__main__":
    sys.exit(main())
