"""`clinvk sessions browse`: the full-screen terminal browser (clinvk.tui), if Textual
is installed."""

from __future__ import annotations

from clinvk.errors import ClinvkError, UsageError

INSTALL = "pip install 'clinvk[tui]'"


def browse() -> int:
    """Browse the sessions full-screen: move with j/k, Enter opens one, / searches.

    f filters (backend, status, tag, range, origin), s cycles the sort (last used,
    created, tokens, cost, duration), 3 shows the stats, q quits. In a session: r
    resumes it, c cancels its turn, p/m pause/complete it, t edits its tags, e exports
    it to Markdown, y copies its id, d deletes it. Needs the tui extra:
    pip install 'clinvk[tui]'.

    Example: clinvk sessions browse
    """
    import sys

    try:
        import textual  # noqa: F401
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "textual":
            raise
        raise ClinvkError(f"the terminal browser needs Textual: {INSTALL}",
                          hint="then: clinvk sessions browse") from None
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("clinvk sessions browse needs a terminal",
                         hint="for scripts: clinvk sessions list --json")
    from clinvk.commands.sessions import open_catalog, open_store
    from clinvk.tui.app import BrowserApp

    store = open_store()
    catalog = open_catalog(store)
    try:
        BrowserApp(store, catalog).run()
    finally:
        catalog.close()
    return 0
