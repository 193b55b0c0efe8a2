"""`python -m cmoe STAGE ...`: the form the workflow rules use (works in any environment)."""

import sys

from .cli.warm import run

# CMOE_WARM=1 (the workflow's `startup.warm`): the command runs in a process forked from a warm
# server that has imported torch & co. once; otherwise, or where it cannot, it runs here.
code = run(sys.argv[1:])
if code is None:
    from .cli import main

    code = main()
sys.exit(code)
