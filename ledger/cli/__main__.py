"""``python -m ledger.cli`` is the ``ledger`` command."""

import sys

from . import main

sys.exit(main())
