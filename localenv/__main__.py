"""`python -m localenv`: see localenv/cli.py."""

import sys

from localenv.cli import main

sys.exit(main())
