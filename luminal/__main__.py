"""``python -m luminal``: the ``luminal`` command."""

import sys

from luminal.cli import main

sys.exit(main())
