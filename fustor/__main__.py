"""``python -m fustor``: the ``fustor`` command."""

from fustor.cli import main

if __name__ == "__main__":
    main()
