"""``python -m bank_scoring.cli``: the same as the ``bank-scoring`` command."""

import sys

from bank_scoring.cli import main

sys.exit(main())
