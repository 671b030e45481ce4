"""``python -m herald.operator``: the same as the ``herald`` command."""

import sys

from herald.operator.cli import main

sys.exit(main())
