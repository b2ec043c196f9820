"""``python -m investai`` runs the command line."""

from investai.cli import main

if __name__ == "__main__":
    main()
