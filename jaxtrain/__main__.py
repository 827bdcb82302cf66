"""``python -m jaxtrain``: the same command line as the ``jaxtrain`` console script."""

from jaxtrain.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
