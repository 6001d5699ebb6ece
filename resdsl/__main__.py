"""``python -m resdsl``: the same as the ``resdsl`` command."""

from resdsl.cli import main

main()
