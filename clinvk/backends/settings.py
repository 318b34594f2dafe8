"""How one backend is configured: a `[backends.NAME]` table of the config file.

It lives with the backends, which read it; the config layer (clinvk.config) decodes
the file into it and checks it against the backend registry.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class BackendConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # claude | codex | gemini | command; empty means the backend's own name.
    adapter: str = ""
    command: str = ""
    model: str = ""
    args: list[str] = msgspec.field(default_factory=list)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    timeout: float = 0
    # adapter = "command" only: argv templates with {prompt}, {model}, {session}.
    argv: list[str] = msgspec.field(default_factory=list)
    resume_argv: list[str] = msgspec.field(default_factory=list)
    # How to read a command backend's stdout: plain text, or one JSON object.
    output: Literal["text", "json"] = "text"
    text_field: str = "result"
    session_field: str = ""
    # Send the prompt on stdin instead of through {prompt}.
    prompt_stdin: bool = False
