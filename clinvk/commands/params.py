"""Arguments several commands share, each with what TAB offers for it (clinvk.completion)."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from clinvk import completion

SessionId = Annotated[str, Parameter(name="ID", completer=completion.session_ids)]
# A backend to run, or to filter by.
BackendName = Annotated[str | None,
                        Parameter(name=["--backend", "-b"], completer=completion.backends)]
Status = Annotated[str | None, Parameter(completer=completion.statuses)]
# Tags to filter by (all of them must be there).
TagFilter = Annotated[list[str] | None,
                      Parameter(name=["--tag", "-t"], completer=completion.tags)]
# Tags to give the sessions a command starts.
NewTags = Annotated[list[str] | None, Parameter(name="--tag", completer=completion.tags)]
