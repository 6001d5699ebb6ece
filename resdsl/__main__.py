"""``python -m resdsl``: the same as the ``resdsl`` command."""

import sys

try:
    from resdsl.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python starts: no traceback either
    sys.exit(130)

main()
