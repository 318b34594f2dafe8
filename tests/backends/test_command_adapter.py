from __future__ import annotations

import pytest

from clinvk.backends import SessionStarted, TextDelta, get_backend
from clinvk.backends.command import CommandBackend, expand, lookup
from clinvk.config import BackendConfig
from clinvk.errors import ConfigError, UsageError
from tests.backends.vendor_samples import BIG_PROMPT, DASH_PROMPT, config, request, run

OPENCODE = config(adapter="command", argv=["run", "--model", "{model}", "{prompt}"])
JSON_TOOL = config(
    adapter="command",
    command="mytool",
    argv=["ask", "--json", "--", "{prompt}"],
    resume_argv=["ask", "--json", "--resume", "{session}", "--", "{prompt}"],
    output="json",
    text_field="answer.text",
    session_field="meta.id",
)
STDIN_TOOL = config(adapter="command", argv=["chat", "--stdin"], prompt_stdin=True)


def backend(cfg: BackendConfig = OPENCODE, name: str = "opencode") -> CommandBackend:
    return CommandBackend(name, cfg)


# --- invocation -------------------------------------------------------------


def test_registry_builds_it_from_config() -> None:
    built = get_backend("opencode", OPENCODE)
    assert isinstance(built, CommandBackend)
    assert built.name == "opencode"
    assert built.invocation(request(model="m1"), OPENCODE).argv == [
        "opencode",
        "run",
        "--model",
        "m1",
        "say hi",
    ]


@pytest.mark.parametrize("prompt", ["say hi", DASH_PROMPT, "{model} and {session}"])
def test_prompt_in_argv(prompt: str) -> None:
    inv = backend().invocation(request(prompt=prompt, model="anthropic/claude"), OPENCODE)
    # Placeholder-like text inside the prompt is never expanded.
    assert inv.argv == ["opencode", "run", "--model", "anthropic/claude", prompt]
    assert inv.stdin is None
    assert inv.cwd == "/home/user/project"


def test_missing_model_drops_the_option_too() -> None:
    assert backend().invocation(request(), OPENCODE).argv == ["opencode", "run", "say hi"]


def test_extra_args_go_before_the_prompt_and_its_double_dash() -> None:
    inv = backend(JSON_TOOL, "mytool").invocation(request(extra_args=["--fast"]), JSON_TOOL)
    assert inv.argv == ["mytool", "ask", "--json", "--fast", "--", "say hi"]
    inv = backend(STDIN_TOOL).invocation(request(extra_args=["-v"]), STDIN_TOOL)
    assert inv.argv == ["opencode", "chat", "--stdin", "-v"]


def test_resume_argv_gets_the_session() -> None:
    inv = backend(JSON_TOOL, "mytool").invocation(
        request(prompt="again", resume_id="abc-1"), JSON_TOOL
    )
    assert inv.argv == ["mytool", "ask", "--json", "--resume", "abc-1", "--", "again"]


def test_resume_without_resume_argv_is_refused() -> None:
    with pytest.raises(UsageError, match="cannot resume") as info:
        backend().invocation(request(resume_id="x"), OPENCODE)
    assert info.value.hint == "set backends.opencode.resume_argv in the config"


@pytest.mark.parametrize("prompt", ["short", BIG_PROMPT])
def test_prompt_on_stdin(prompt: str) -> None:
    inv = backend(STDIN_TOOL).invocation(request(prompt=prompt), STDIN_TOOL)
    assert inv.argv == ["opencode", "chat", "--stdin"]
    assert inv.stdin == prompt.encode("utf-8")


def test_big_prompt_in_argv_is_refused_with_a_hint() -> None:
    with pytest.raises(UsageError, match="longer than") as info:
        backend().invocation(request(prompt=BIG_PROMPT), OPENCODE)
    assert info.value.hint == "set backends.opencode.prompt_stdin = true for long prompts"


def test_template_must_say_where_the_prompt_goes() -> None:
    with pytest.raises(ConfigError, match="no {prompt}"):
        backend(config(argv=["run"])).invocation(request(), config(argv=["run"]))
    both = config(argv=["run", "{prompt}"], prompt_stdin=True)
    with pytest.raises(ConfigError, match="one or the other"):
        backend(both).invocation(request(), both)


@pytest.mark.parametrize(
    ("field", "value"), [("approval", "full-auto"), ("system_prompt", "be terse")]
)
def test_unified_options_are_refused(field: str, value: str) -> None:
    with pytest.raises(UsageError, match="command backend"):
        backend().invocation(request(**{field: value}), OPENCODE)


def test_interactive_is_refused() -> None:
    with pytest.raises(UsageError, match="no interactive mode"):
        backend().interactive_invocation(request(resume_id="x"), OPENCODE)


def test_env_and_command_from_config() -> None:
    cfg = config(argv=["{prompt}"], command="/usr/local/bin/agent", env={"TOKEN": "t"})
    inv = backend(cfg).invocation(request(), cfg)
    assert inv.argv == ["/usr/local/bin/agent", "say hi"]
    assert inv.env == {"TOKEN": "t"}


def test_expand_keeps_other_braces_and_drops_empty_session() -> None:
    values = {"{prompt}": "p", "{model}": "", "{session}": ""}
    assert expand(['{"a": 1}', "--session={session}", "-s", "{session}", "{prompt}"], values) == [
        '{"a": 1}',
        "p",
    ]


# --- parsing ------------------------------------------------------------------


def test_text_output_streams_each_line() -> None:
    events, result = run(backend().parser(request()), "Hello\n\nworld\n")
    assert events == [TextDelta(text="Hello\n"), TextDelta(text="\n"), TextDelta(text="world\n")]
    assert result.status == "ok"
    assert result.text == "Hello\n\nworld"
    assert result.backend_session_id is None
    assert result.usage is None


def test_text_output_failure_uses_stderr() -> None:
    _, result = run(
        backend().parser(request()), "partial", 2, "Error: model not found: x\n  at foo\n"
    )
    assert result.status == "error"
    assert result.error == "model not found: x"
    assert result.text == "partial"
    _, result = run(backend().parser(request()), "", 7, "")
    assert result.error == "opencode exited with code 7"


def test_json_output_single_line() -> None:
    line = '{"answer": {"text": "Hi there"}, "meta": {"id": "sess-42"}}'
    events, result = run(backend(JSON_TOOL, "mytool").parser(request()), "log: starting\n" + line)
    assert events == [SessionStarted(backend_session_id="sess-42"), TextDelta(text="Hi there")]
    assert result.status == "ok"
    assert result.text == "Hi there"
    assert result.backend_session_id == "sess-42"


def test_json_output_pretty_printed() -> None:
    pretty = '{\n  "answer": {\n    "text": "multi\\nline"\n  },\n  "meta": {"id": 7}\n}\n'
    events, result = run(backend(JSON_TOOL, "mytool").parser(request()), pretty)
    assert events == [SessionStarted(backend_session_id="7"), TextDelta(text="multi\nline")]
    assert result.text == "multi\nline"
    assert result.backend_session_id == "7"


def test_json_output_problems() -> None:
    _, result = run(backend(JSON_TOOL, "mytool").parser(request()), "not json at all")
    assert (result.status, result.error) == ("error", "mytool printed no JSON object")
    _, result = run(backend(JSON_TOOL, "mytool").parser(request()), '{"other": 1}')
    assert (result.status, result.error) == (
        "error",
        "mytool printed JSON without a 'answer.text' text field",
    )


def test_lookup_dotted_paths() -> None:
    obj = {"a": {"b": [{"c": "x"}]}, "n": None}
    assert lookup(obj, "a.b.0.c") == "x"
    assert lookup(obj, "a.b.1.c") is None
    assert lookup(obj, "n.x") is None
    assert lookup(obj, "a.missing") is None
