"""``python -m promote``: the same as the ``promote`` command."""

from promote.cli import run

run()
