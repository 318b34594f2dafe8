"""`python -m clinvk` and the `clinvk` console script."""

import sys

from clinvk.app import main

# The youngest generation's threshold for the cyclic collector (Python's default: 700
# allocations). Start-up allocates tens of thousands of long-lived objects (modules,
# classes, the command tables), and with the default the collector walks them again and
# again while they are made, finding next to nothing: a short command then spends ~2 % of
# its instructions there.
GC_THRESHOLD = 20_000


def run() -> None:
    """Run clinvk on sys.argv and exit with its code.

    The cyclic collector runs less often (GC_THRESHOLD) from the start.
    Before the interpreter's own teardown, every object alive is moved out of the cyclic
    garbage collector's reach (``gc.freeze``): the collections Python runs at exit would
    otherwise walk every module, function and class that was imported, only to find
    nothing to free (about 6 % of the instructions of a whole `sessions list` or turn).
    Exit handlers run as before, and so do the finalizers of what the teardown frees;
    the memory goes back to the system with the process.
    """
    import gc

    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
