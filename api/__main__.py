"""``python -m makespan.api`` runs the ``makespan`` command."""

from makespan.api.cli import main

main()
