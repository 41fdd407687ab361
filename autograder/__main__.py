import sys

from autograder.cli import main

# Guarded: worker processes (spawn, forkserver, Dask) import this module and must not run main.
if __name__ == "__main__":
    sys.exit(main())
