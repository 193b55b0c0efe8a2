"""`python -m cmoe STAGE ...`: the form the workflow rules use (works in any environment)."""

import sys

from .cli import main

sys.exit(main())
