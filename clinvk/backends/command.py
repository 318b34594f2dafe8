"""A backend defined in config: any CLI that prints its answer as text or as JSON.

Example (docs/backends.md has more)::

    [backends.opencode]
    adapter = "command"
    argv = ["run", "--model", "{model}", "{prompt}"]
    output = "text"

The program is ``command`` (default: the backend's name); ``argv`` and
``resume_argv`` are its arguments, with ``{prompt}``, ``{model}`` and ``{session}``
replaced. Only those three placeholders are recognised, so other braces (JSON in an
argument, say) pass through untouched.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from clinvk.backends import Event, Invocation, Request, SessionStarted, TextDelta, TurnResult
from clinvk.backends import argv as argv_rules
from clinvk.backends.diagnostics import exit_message, one_line, stderr_message
from clinvk.backends.jsonlines import decode_object
from clinvk.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from clinvk.backends.settings import BackendConfig

PLACEHOLDERS = ("{prompt}", "{model}", "{session}")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))


class CommandBackend:
    """The adapter for ``[backends.NAME]`` with ``adapter = "command"``.

    ``config`` is the backend's config; the parser needs it (``output``,
    ``text_field``, ``session_field``) and ``Backend.parser`` is not given one.
    """

    # The program's own flags are the user's to choose: clinvk reads whatever it prints.
    owned_flags: tuple[str, ...] = ()

    def __init__(self, name: str, config: BackendConfig | None = None) -> None:
        self.name = name
        self.install_hint = (
            f"install the program for backend {name!r}, or set backends.{name}.command "
            "in the config to its path"
        )
        self._config = config

    def invocation(self, request: Request, config: BackendConfig) -> Invocation:
        self._config = config
        if request.approval and request.approval != "default":
            raise UsageError(f"backend {self.name!r} is a command backend; it takes no --approval")
        if request.system_prompt:
            raise UsageError(
                f"backend {self.name!r} is a command backend; it takes no --system-prompt"
            )
        if request.resume_id is not None:
            if not config.resume_argv:
                raise UsageError(
                    f"backend {self.name!r} cannot resume a conversation",
                    hint=f"set backends.{self.name}.resume_argv in the config",
                )
            template = config.resume_argv
        else:
            template = config.argv
        uses_prompt = any("{prompt}" in arg for arg in template)
        if config.prompt_stdin and uses_prompt:
            raise ConfigError(
                f"backends.{self.name}: argv uses {{prompt}} but prompt_stdin is true; use one or the other"
            )
        if not config.prompt_stdin and not uses_prompt:
            raise ConfigError(
                f"backends.{self.name}: argv has no {{prompt}}; add it, or set prompt_stdin = true"
            )
        model = argv_rules.model(request, config) or ""
        values = {
            "{prompt}": request.prompt,
            "{model}": model,
            "{session}": request.resume_id or "",
        }
        args = expand(template, values, request.extra_args)
        argv = [argv_rules.command(config, self.name), *args]
        try:
            argv_rules.check_argv(argv)
        except UsageError as exc:
            raise UsageError(
                exc.message, hint=f"set backends.{self.name}.prompt_stdin = true for long prompts"
            ) from None
        return Invocation(
            argv=argv,
            cwd=request.workdir,
            stdin=argv_rules.prompt_bytes(request.prompt) if config.prompt_stdin else None,
            env=dict(config.env),
        )

    def parser(self, request: Request) -> CommandParser:
        from clinvk.backends.settings import BackendConfig

        # Without a config (constructed by name only), read stdout as plain text.
        config = self._config or BackendConfig(adapter="command")
        return CommandParser(self.name, config)

    def interactive_invocation(self, request: Request, config: BackendConfig) -> Invocation:
        raise UsageError(f"backend {self.name!r} is a command backend; it has no interactive mode")


def expand(
    template: list[str], values: dict[str, str], extra: list[str] | tuple[str, ...] = ()
) -> list[str]:
    """``template`` with placeholders replaced and ``extra`` args inserted.

    An argument whose ``{model}`` or ``{session}`` has no value (no model set, no
    session on a new conversation) is dropped, and so is the literal option right
    before it when the argument is just the placeholder: ``["--model", "{model}"]``
    vanishes whole rather than becoming ``--model ""``. ``extra`` goes before the
    prompt argument (options before positionals), and before a ``--`` that precedes
    it; at the end when the prompt is not in argv.
    """
    out: list[str] = []
    extra_pending = bool(extra)
    # True while out[-1] is a literal option taken straight from the template.
    last_is_option = False
    for arg in template:
        if extra_pending and "{prompt}" in arg:
            pos = len(out) - 1 if out and out[-1] == "--" else len(out)
            out[pos:pos] = extra
            extra_pending = False
            last_is_option = False
        if any(p in arg and not values.get(p) for p in PLACEHOLDERS if p != "{prompt}"):
            if arg in PLACEHOLDERS and last_is_option:
                out.pop()
            last_is_option = False
            continue
        # One pass, so placeholder-like text inside the prompt is never expanded.
        expanded = _PLACEHOLDER.sub(lambda m: values.get(m.group(0), ""), arg)
        last_is_option = expanded == arg and arg.startswith("-") and arg != "--"
        out.append(expanded)
    if extra_pending:
        out += extra
    return out


class CommandParser:
    """Reads a command backend's stdout: plain text, or one JSON object."""

    def __init__(self, name: str, config: BackendConfig) -> None:
        self._name = name
        self._config = config
        self._lines: list[str] = []
        self._size = 0
        self._decoded: dict[str, Any] | None = None

    def feed(self, line: str) -> list[Event]:
        try:
            if self._config.output == "text":
                self._lines.append(line)
                return [TextDelta(text=line + "\n")]
            return self._feed_json(line)
        except Exception:  # noqa: BLE001 - Parser.feed must never raise on vendor output
            return []

    def _feed_json(self, line: str) -> list[Event]:
        if self._decoded is not None:
            return []
        self._lines.append(line)
        self._size += len(line)
        # Try only where a top-level object can end: a one-line object, or a "}" in
        # column 0 closing a pretty-printed one (finish() reads anything else).
        stripped = line.rstrip()
        one_line_object = stripped.startswith("{") and stripped.endswith("}")
        if not (one_line_object or stripped == "}") or self._size > 16_000_000:
            return []
        obj = _find_object(self._lines)
        if obj is None:
            return []
        self._decoded = obj
        events: list[Event] = []
        session = self._session(obj)
        if session:
            events.append(SessionStarted(backend_session_id=session))
        text = lookup(obj, self._config.text_field)
        if isinstance(text, str) and text:
            events.append(TextDelta(text=text))
        return events

    def _session(self, obj: dict[str, Any]) -> str | None:
        if not self._config.session_field:
            return None
        value = lookup(obj, self._config.session_field)
        return str(value) if isinstance(value, (str, int)) and str(value) else None

    def finish(self, exit_code: int, stderr: str) -> TurnResult:
        error: str | None = None
        text = ""
        session: str | None = None
        if self._config.output == "text":
            text = "\n".join(self._lines).rstrip("\n")
        else:
            obj = self._decoded or _find_object(self._lines)
            if obj is not None:
                session = self._session(obj)
                value = lookup(obj, self._config.text_field)
                if isinstance(value, str):
                    text = value
                elif exit_code == 0:
                    error = f"{self._name} printed JSON without a {self._config.text_field!r} text field"
            elif exit_code == 0:
                error = f"{self._name} printed no JSON object"
        if exit_code != 0:
            error = stderr_message(stderr) or exit_message(self._name, exit_code)
        return TurnResult(
            status="error" if error else "ok",
            text=text,
            error=one_line(error) if error else None,
            backend_session_id=session,
        )


def _find_object(lines: list[str]) -> dict[str, Any] | None:
    # The whole output first; else the last line alone (tools that log before the JSON).
    whole = decode_object("\n".join(lines))
    if whole is not None:
        return whole
    return decode_object(lines[-1]) if lines else None


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path (``result.text``, ``choices.0.text``), or None."""
    value = obj
    for part in path.split(".") if path else []:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
