from __future__ import annotations

import pytest

from clinvk.backends import (
    ErrorEvent,
    Event,
    SessionStarted,
    TextDelta,
    TurnResult,
    UsageEvent,
    get_backend,
)
from clinvk.backends.codex import CodexBackend
from clinvk.errors import UsageError
from clinvk.model import Usage
from tests.backends.vendor_samples import (
    BIG_PROMPT,
    DASH_PROMPT,
    config,
    fixture_text,
    request,
    run,
)

THREAD = "01a20093-0631-7903-acb4-875f3f4ace11"
NEW = ["codex", "exec", "--json", "--skip-git-repo-check"]
RESUME = ["codex", "exec", "resume", "--json", "--skip-git-repo-check"]
# The mock's fixed numbers per API call: input 123 (67 of them cached), output 45.
ONE_CALL = Usage(input_tokens=56, output_tokens=45, cache_read_tokens=67)


def parse(
    name: str, exit_code: int = 0, stderr: str = "", **req: object
) -> tuple[list[Event], TurnResult]:
    return run(
        CodexBackend().parser(request(**req)), fixture_text(name) if name else "", exit_code, stderr
    )


# --- invocation -------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["say hi", DASH_PROMPT, "--help", BIG_PROMPT])
def test_new_turn_reads_prompt_from_stdin(prompt: str) -> None:
    inv = CodexBackend().invocation(request(prompt=prompt), config())
    # "-" = read the prompt from stdin; a positional prompt would get stdin appended.
    assert inv.argv == [*NEW, "-"]
    assert inv.stdin == prompt.encode("utf-8")
    assert inv.cwd == "/home/user/project"


@pytest.mark.parametrize("prompt", ["again", DASH_PROMPT, BIG_PROMPT])
def test_resume_turn(prompt: str) -> None:
    inv = CodexBackend().invocation(request(prompt=prompt, resume_id=THREAD), config())
    assert inv.argv == [*RESUME, THREAD, "-"]
    assert inv.stdin == prompt.encode("utf-8")


def test_options_come_before_the_positionals() -> None:
    cfg = config(command="codex-dev", model="gpt-5.5", env={"CODEX_HOME": "/h"})
    inv = CodexBackend().invocation(
        request(resume_id=THREAD, extra_args=["-c", "features.plugins=false"]), cfg
    )
    assert inv.argv == [
        "codex-dev",
        *RESUME[1:],
        "-m",
        "gpt-5.5",
        "-c",
        "features.plugins=false",
        THREAD,
        "-",
    ]
    assert inv.env == {"CODEX_HOME": "/h"}


@pytest.mark.parametrize(
    ("approval", "flags"),
    [
        ("default", []),
        ("full-auto", ["-c", 'sandbox_mode="workspace-write"']),
        ("read-only", ["-c", 'sandbox_mode="read-only"']),
    ],
)
def test_approval_modes_map_to_the_sandbox(approval: str, flags: list[str]) -> None:
    assert CodexBackend().invocation(request(approval=approval), config()).argv == [
        *NEW,
        *flags,
        "-",
    ]
    resumed = CodexBackend().invocation(request(approval=approval, resume_id=THREAD), config())
    assert resumed.argv == [*RESUME, *flags, THREAD, "-"]


@pytest.mark.parametrize(("approval", "words"), [("auto-edit", "edits"), ("plan", "plan mode")])
def test_approval_modes_codex_cannot_express_are_refused(approval: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        CodexBackend().invocation(request(approval=approval), config())


def test_system_prompt_is_developer_instructions_as_a_toml_string() -> None:
    inv = CodexBackend().invocation(request(system_prompt='Be "terse".\nü'), config())
    assert inv.argv == [*NEW, "-c", 'developer_instructions="Be \\"terse\\".\\nü"', "-"]


def test_system_prompt_on_resume_is_refused() -> None:
    # A resumed codex thread keeps its first instructions and ignores new ones.
    with pytest.raises(UsageError, match="first turn"):
        CodexBackend().invocation(request(system_prompt="x", resume_id=THREAD), config())


def test_interactive_resume() -> None:
    inv = CodexBackend().interactive_invocation(
        request(prompt="", resume_id=THREAD, model="o3"), config()
    )
    assert inv.argv == ["codex", "resume", "-m", "o3", "--", THREAD]
    assert inv.stdin is None
    inv = CodexBackend().interactive_invocation(
        request(prompt=DASH_PROMPT, resume_id=THREAD), config()
    )
    assert inv.argv == ["codex", "resume", "--", THREAD, DASH_PROMPT]
    inv = CodexBackend().interactive_invocation(request(prompt=DASH_PROMPT), config())
    assert inv.argv == ["codex", "--", DASH_PROMPT]


def test_registry_and_install_hint() -> None:
    backend = get_backend("codex", config())
    assert isinstance(backend, CodexBackend)
    assert backend.install_hint == "npm install -g @openai/codex"


# --- parsing: usage per turn --------------------------------------------------


def test_new_thread() -> None:
    events, result = parse("codex-exec-new.jsonl")
    assert events == [
        SessionStarted(backend_session_id=THREAD, model=None),
        TextDelta(text="MOCK openai reply #1: say hi"),
        UsageEvent(usage=ONE_CALL),
    ]
    assert result.status == "ok"
    assert result.text == "MOCK openai reply #1: say hi"
    assert result.backend_session_id == THREAD
    assert result.usage == ONE_CALL
    assert result.usage_total == ONE_CALL
    # Usage.total equals codex's input_tokens + output_tokens: cached not counted twice.
    assert result.usage.total == 123 + 45
    assert result.cost_usd is None
    assert result.cost_source == "unpriced"


def test_resume_usage_is_the_difference_of_thread_totals() -> None:
    # turn.completed says input 246 / cached 134 / output 90 after two calls.
    events, result = parse(
        "codex-exec-resume.jsonl", resume_id=THREAD, previous_usage_total=ONE_CALL
    )
    assert result.usage_total == Usage(input_tokens=112, output_tokens=90, cache_read_tokens=134)
    assert result.usage == ONE_CALL
    assert UsageEvent(usage=ONE_CALL) in events
    assert result.text == "MOCK openai reply #2: again"


def test_third_turn_difference() -> None:
    second_total = Usage(input_tokens=112, output_tokens=90, cache_read_tokens=134)
    events, result = parse(
        "extra/codex-resume2.jsonl",
        resume_id="01a2008e-6055-7d70-b171-4883ba75aaa8",
        previous_usage_total=second_total,
    )
    assert result.usage_total == Usage(input_tokens=168, output_tokens=135, cache_read_tokens=201)
    assert result.usage == ONE_CALL
    assert result.text == "MOCK openai reply #3: third turn"
    # The "Model metadata … not found" warning item is not an error.
    assert result.status == "ok"
    assert not any(isinstance(e, ErrorEvent) for e in events)


def test_resume_without_a_previous_total_has_unknown_usage() -> None:
    events, result = parse("codex-exec-resume.jsonl", resume_id=THREAD)
    assert result.usage is None
    assert result.usage_total == Usage(input_tokens=112, output_tokens=90, cache_read_tokens=134)
    assert not any(isinstance(e, UsageEvent) for e in events)


def test_cache_writes_are_taken_out_of_input() -> None:
    line = (
        '{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":600,'
        '"cache_write_input_tokens":100,"output_tokens":50,"reasoning_output_tokens":20}}'
    )
    _, result = run(CodexBackend().parser(request()), line)
    assert result.usage == Usage(
        input_tokens=300,
        output_tokens=50,
        cache_read_tokens=600,
        cache_write_tokens=100,
        reasoning_tokens=20,
    )
    assert result.usage.total == 1050


def test_warning_item_and_several_agent_messages() -> None:
    events, result = parse("extra/codex-exec.jsonl")
    assert result.status == "ok"
    assert result.backend_session_id == "01a2008e-6055-7d70-b171-4883ba75aaa8"
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta(text="MOCK openai reply #1: say hi")
    ]
    two = (
        '{"type":"item.completed","item":{"id":"a","type":"agent_message","text":"Looking."}}\n'
        + '{"type":"item.completed","item":{"id":"b","type":"command_execution","command":"ls"}}\n'
        + '{"type":"item.completed","item":{"id":"c","type":"agent_message","text":"Done."}}\n'
        + '{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}'
    )
    events, result = run(CodexBackend().parser(request()), two)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Looking.", "\n\nDone."]
    assert result.text == "Done."


def test_garbage_lines_are_skipped() -> None:
    clean = fixture_text("codex-exec-new.jsonl")
    noisy = (
        "Reconnecting...\n{oops\n"
        + clean.replace("\n", '\n{"type":"item.started"}\n\n', 1)
        + "trailing junk\n"
    )
    assert run(CodexBackend().parser(request()), noisy) == parse("codex-exec-new.jsonl")


# --- parsing: errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "thread", "message"),
    [
        (
            "extra/codex-err400.jsonl",
            "01a2008e-aacc-7010-9025-6628337a36f3",
            "API Error: mock injected HTTP 400",
        ),
        (
            "extra/codex-err401.jsonl",
            "01a2008e-ac4a-7e33-9398-fd3410e72914",
            "unexpected status 401 Unauthorized: mock injected HTTP 401, url: http://127.0.0.1:<PORT>/v1/responses",
        ),
        (
            "extra/codex-err500.jsonl",
            "01a2008e-adca-7102-891f-87f8da6f1fe7",
            "We’re currently experiencing high demand, which may cause temporary errors.",
        ),
    ],
)
def test_turn_failed(name: str, thread: str, message: str) -> None:
    events, result = parse(name, exit_code=1)
    assert result.status == "error"
    assert result.error == message
    assert result.backend_session_id == thread
    assert result.usage is None
    assert result.session_not_found is False
    assert events[0] == SessionStarted(backend_session_id=thread)
    # `error` then `turn.failed` carry the same words: reported once.
    assert [e for e in events if isinstance(e, ErrorEvent)] == [ErrorEvent(message=message)]


@pytest.mark.parametrize(
    "name", ["extra/codex-resume-badid.stderr.txt", "live/codex-resume-badid-full.stderr.txt"]
)
def test_unknown_thread_id(name: str) -> None:
    _, result = parse(
        "", exit_code=1, stderr=fixture_text(name), resume_id="00000000-0000-4000-8000-000000000000"
    )
    assert result.status == "error"
    assert result.error == (
        "thread/resume: thread/resume failed: no rollout found for thread id "
        "00000000-0000-4000-8000-000000000000 (code -32600)"
    )
    assert result.session_not_found is True


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "extra/codex-nogit-check.stderr.txt",
            "Not inside a trusted directory and --skip-git-repo-check was not specified.",
        ),
        ("live/codex-badflag.stderr.txt", "unexpected argument '--bogus-flag' found"),
    ],
)
def test_cli_errors_become_one_line(name: str, message: str) -> None:
    _, result = parse("", exit_code=2, stderr=fixture_text(name))
    assert result.status == "error"
    assert result.error == message
    assert result.session_not_found is False


def test_text_mode_output_is_not_a_turn() -> None:
    _, result = parse(
        "extra/codex-text.txt", exit_code=0, stderr=fixture_text("extra/codex-text.stderr.txt")
    )
    assert result.status == "error"
    assert result.error == "codex ended without finishing the turn"


def test_nonzero_exit_with_nothing_parseable() -> None:
    _, result = parse(
        "", exit_code=3, stderr=fixture_text("extra/codex-text.stderr.txt").split("\n")[0]
    )
    assert result.error == "codex exited with code 3"


def test_rust_panic_backtrace_is_stripped() -> None:
    stderr = (
        "thread 'main' panicked at src/main.rs:1:1:\nboom\nstack backtrace:\n"
        "   0: std::panicking::begin_panic\n   1: codex::main\n"
    )
    _, result = parse("", exit_code=101, stderr=stderr)
    assert result.error == "thread 'main' panicked at src/main.rs:1:1: boom"
