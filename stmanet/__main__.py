import sys

from stmanet.cli import main

sys.exit(main())
