"""`python -m app`: start the desktop program."""

import sys

from app.main import main

sys.exit(main())
