"""`python -m zoo.bench`: see `zoo.bench.cli`."""

import sys

from zoo.bench.cli import main

sys.exit(main())
