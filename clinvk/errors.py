"""Errors that carry their exit code.

Library code raises these; only ``clinvk.app.main`` turns them into a message on
stderr and a process exit code.
"""

from __future__ import annotations

EXIT_ERROR = 1
EXIT_SESSION = 4
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130


class ClinvkError(Exception):
    """A failure the user can act on: one line of message, an optional hint, an exit code."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(ClinvkError):
    """Bad flags or arguments."""


class ConfigError(ClinvkError):
    """The config file or a config value is wrong."""


class NotFoundError(ClinvkError):
    """A named thing (session, backend) does not exist (exit 1 in `sessions` commands)."""


class BackendError(ClinvkError):
    """The vendor CLI failed or is missing."""


class SessionError(ClinvkError):
    """The named session cannot be used (busy, corrupt, not resumable, not found on resume)."""

    exit_code = EXIT_SESSION


class SessionBusyError(SessionError):
    """Another clinvk process holds the session's lock."""


class TimedOutError(ClinvkError):
    exit_code = EXIT_TIMEOUT


class InterruptedError_(ClinvkError):
    """Ctrl-C or `clinvk cancel` stopped the turn."""

    exit_code = EXIT_INTERRUPTED
