"""``python -m ledger.cli`` is the ``ledger`` command."""

import sys

from ledger.cli import main

sys.exit(main())
