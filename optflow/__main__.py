"""`python -m optflow` is the `optflow` command."""

import sys

from optflow.cli import main

sys.exit(main())
