"""`clinvk sessions browse`: a full-screen terminal browser over the session catalog.

Needs Textual (the optional `clinvk[tui]` extra), which only clinvk.commands.browse
imports, inside the command. The parts:

* ``source``: the sessions the browser shows — a filter, a sort, pages of rows fetched
  from the catalog as they scroll into view (never all of them), the header's sums, and
  the poll that keeps it live. No Textual here.
* ``table``: the sessions table, a Line API widget that draws only the visible rows.
* ``screens``: the filter panel and the small dialogs; ``detail``: one session with
  its turns and tool calls; ``statsview``: the stats figures and their bar charts.
* ``browser``: what the detail and stats views may ask of the app (a Protocol).
* ``app``: the Textual App that puts them together. Its actions (resume, cancel, pause,
  complete, tag, export, delete) are child `clinvk` processes (clinvk.childcli): the
  CLI's own code, messages and exit codes.
"""
