"""`python -m pytest_modeleval.cli`: the `modeleval` command without its console script."""

import sys

from . import main

sys.exit(main())
