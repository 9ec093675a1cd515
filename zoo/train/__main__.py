"""`python -m zoo.train`: see `zoo.train.cli`."""

import sys

from zoo.train.cli import main

sys.exit(main())
