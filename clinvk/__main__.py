"""`python -m clinvk` and the `clinvk` console script."""

import sys

from clinvk.app import main


def run() -> None:
    """Run clinvk on sys.argv and exit with its code.

    Before the interpreter's own teardown, every object alive is moved out of the cyclic
    garbage collector's reach (``gc.freeze``): the collections Python runs at exit would
    otherwise walk every module, function and class that was imported, only to find
    nothing to free (about 6 % of the instructions of a whole `sessions list` or turn).
    Exit handlers run as before, and so do the finalizers of what the teardown frees;
    the memory goes back to the system with the process.
    """
    code = main()
    import gc

    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
