"""``python -m investai`` runs the command line."""

from investai.cli import main

main()
