"""``python -m benchmarks``: see :mod:`benchmarks.run`."""

import sys

from benchmarks.run import main

raise SystemExit(main(sys.argv[1:]))
