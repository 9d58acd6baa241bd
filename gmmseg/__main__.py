"""``python -m gmmseg``: the same as the ``gmmseg`` command."""

from .cli import main

if __name__ == "__main__":
    main()
