"""The front door: what a mistyped or malformed command line gets, through real processes.

A bare word that names a command is refused instead of being sent to a paid model;
inputs clinvk cannot record, a store it cannot write, and out-of-range settings are
clear one-line errors with the documented exit code, and nothing runs or changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.run.conftest import Fakes, run_proc

SAMPLE_TEXT = "MOCK anthropic reply #1: say hi"


def sessions_in(home: Path) -> list[Path]:
    return sorted((home / "sessions").rglob("*.json")) if (home / "sessions").exists() else []


def assert_refused(r, *needles: str, code: int = 1) -> None:
    assert r.code == code, (r.code, r.err)
    assert r.out == ""
    lines = r.err.splitlines()
    assert lines and lines[0].startswith("clinvk: error: "), r.err
    assert len(lines) <= 2 and all(not line.startswith("hint") for line in lines[:1]), r.err
    assert "internal error" not in r.err and "Traceback" not in r.err
    for needle in needles:
        assert needle in lines[0], (needle, r.err)


# --- 5. a bare word that names a command is not a prompt ---------------------------------


@pytest.mark.parametrize(("word", "meant"), [
    ("list", "clinvk sessions list"),
    ("stats", "clinvk sessions stats"),
    ("doctor", "clinvk sessions doctor"),
    ("storage", "clinvk sessions storage"),
    ("sesions", "clinvk sessions"),
    ("unset", "clinvk config unset"),
])
def test_a_bare_command_word_is_refused_and_runs_nothing(word: str, meant: str, fake: Fakes,
                                                         workdir: Path,
                                                         clinvk_home: Path) -> None:
    r = run_proc(word)
    assert_refused(r, f"'{word}'", f"did you mean '{meant}'")
    assert f"hint: to send it as a prompt: clinvk prompt {word}" in r.err
    assert fake.starts() == [] and sessions_in(clinvk_home) == []


@pytest.mark.parametrize(("word", "meant"), [
    ("ls", "clinvk sessions list"),
    ("version", "clinvk --version"),
    ("statusline", "clinvk sessions current"),
    ("rm", "clinvk sessions delete"),
    ("login", "clinvk backends"),
    ("commit", "clinvk --help"),
    ("update", "clinvk --help"),
    ("Status", "clinvk sessions current"),
    ("/compact", "clinvk --help"),
    ("terminal-setup", "clinvk --help"),
    ("help-me", None),
])
def test_a_bare_verb_of_other_clis_is_refused_and_runs_nothing(
        word: str, meant: str | None, fake: Fakes, workdir: Path, clinvk_home: Path) -> None:
    r = run_proc(word)
    if meant is None:  # not a verb of any CLI: a prompt like any other
        assert r.code == 0 and fake.last()["stdin"] == word, r.err
        return
    assert_refused(r, f"'{word}' is not a clinvk command", f"did you mean '{meant}'")
    assert f"hint: to send it as a prompt: clinvk prompt {word}" in r.err
    assert fake.starts() == [] and sessions_in(clinvk_home) == []


@pytest.mark.parametrize("word", ["ls", "version", "help"])
def test_prompt_command_always_sends_the_word(word: str, fake: Fakes, workdir: Path) -> None:
    r = run_proc("prompt", word)
    assert r.code == 0, r.err
    assert fake.last()["stdin"] == word


def test_help_alone_prints_the_help_and_runs_nothing(fake: Fakes, workdir: Path) -> None:
    r = run_proc("help")
    assert r.code == 0, r.err
    assert r.out.startswith("Usage: clinvk COMMAND") and fake.starts() == []


def test_a_root_typo_with_arguments_gets_the_suggestion(fake: Fakes, workdir: Path) -> None:
    r = run_proc("sesions", "list")
    assert_refused(r, "did you mean 'clinvk sessions'")
    assert fake.starts() == []


def test_a_subcommand_named_word_reads_as_a_command_of_its_group(fake: Fakes,
                                                                 workdir: Path) -> None:
    r = run_proc("list")
    assert r.err.splitlines()[0] == ("clinvk: error: 'list' is a command of 'clinvk sessions': "
                                     "did you mean 'clinvk sessions list'?")


@pytest.mark.parametrize("prompt", ["hello", "list the files", "ls -la explained"])
def test_other_words_and_multi_word_prompts_still_run(prompt: str, fake: Fakes, workdir: Path,
                                                      clinvk_home: Path) -> None:
    r = run_proc(prompt)
    assert r.code == 0, r.err
    assert r.out == SAMPLE_TEXT + "\n"
    assert fake.last()["stdin"] == prompt
    assert len(sessions_in(clinvk_home)) == 1


def test_prompt_command_sends_a_command_word_as_a_prompt(fake: Fakes, workdir: Path) -> None:
    r = run_proc("prompt", "list")
    assert r.code == 0, r.err
    assert fake.last()["stdin"] == "list"


def test_a_prompt_that_looks_like_a_flag_needs_double_dash(fake: Fakes, workdir: Path) -> None:
    r = run_proc("-rf is a prompt")
    assert_refused(r, "unknown option: -rf")
    assert fake.starts() == []
    r = run_proc("--", "-rf is a prompt")
    assert r.code == 0, r.err
    assert fake.last()["stdin"] == "-rf is a prompt"


@pytest.mark.parametrize("argv", [("sessions", "--help"), ("sessions",), ("help", "sessions")])
def test_group_help_still_lists_lazy_commands_with_summaries(argv: tuple[str, ...],
                                                             workdir: Path) -> None:
    r = run_proc(*argv)
    assert r.code == 0, r.err
    rows = [line.split() for line in r.out.splitlines()
            if line.startswith("│ ") and line[2] != " "]  # a command's first line
    names = [row[1] for row in rows]
    blank = [row[1] for row in rows if len(row) == 3]  # "│ name │": no summary
    assert {"doctor", "history", "stats", "sync", "browse", "list", "tag"} <= set(names), r.out
    assert blank == [], r.out


# --- 6. inputs clinvk cannot record ------------------------------------------------------

NOT_UTF8 = "caf\udce9"  # the bytes b"caf\xe9" as Python sees a non-UTF-8 argument


@pytest.mark.parametrize(("args", "needle"), [
    ((NOT_UTF8,), "the prompt is not valid UTF-8"),
    (("prompt", NOT_UTF8), "the prompt is not valid UTF-8"),
    (("--title", NOT_UTF8, "say hi"), "the title is not valid UTF-8"),
])
def test_non_utf8_text_is_refused_before_anything_runs(args: tuple[str, ...], needle: str,
                                                       fake: Fakes, workdir: Path,
                                                       clinvk_home: Path) -> None:
    r = run_proc(*args)
    assert_refused(r, needle)
    assert fake.starts() == [] and sessions_in(clinvk_home) == []


def test_a_non_utf8_workdir_is_refused(fake: Fakes, workdir: Path, clinvk_home: Path) -> None:
    odd = workdir / NOT_UTF8
    odd.mkdir()
    r = run_proc("-w", str(odd), "say hi")
    assert_refused(r, "working directory", "not valid UTF-8")
    assert fake.starts() == [] and sessions_in(clinvk_home) == []


def test_an_ephemeral_non_utf8_prompt_reaches_the_vendor_byte_for_byte(fake: Fakes,
                                                                        workdir: Path) -> None:
    r = run_proc("--ephemeral", NOT_UTF8)
    assert r.code == 0, r.err
    # Nothing is recorded, so the bytes go to the vendor's stdin exactly as given.
    assert fake.last()["stdin"] == NOT_UTF8


def test_rename_to_a_non_utf8_title_is_refused(fake: Fakes, workdir: Path,
                                               clinvk_home: Path) -> None:
    assert run_proc("say hi").code == 0
    [path] = sessions_in(clinvk_home)
    before = path.read_bytes()
    r = run_proc("sessions", "rename", path.stem, NOT_UTF8)
    assert_refused(r, "the title is not valid UTF-8")
    assert path.read_bytes() == before


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_bad_timeout_is_refused(value: str, fake: Fakes, workdir: Path,
                                  clinvk_home: Path) -> None:
    r = run_proc("--timeout", value, "say hi")
    assert_refused(r, "--timeout", "≥ 0")
    assert fake.starts() == [] and sessions_in(clinvk_home) == []


# --- 6. a store clinvk cannot write -------------------------------------------------------


def test_clinvk_home_that_is_a_file(fake: Fakes, workdir: Path, tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("keep me")
    for home in (afile, afile / "below"):
        env = {"CLINVK_HOME": str(home), "CLINVK_CONFIG": ""}
        r = run_proc("say hi", env=env)
        assert_refused(r, "CLINVK_HOME is not a directory", str(home))
        r = run_proc("sessions", "list", env=env)
        assert_refused(r, "CLINVK_HOME is not a directory")
    assert afile.read_text() == "keep me"
    assert fake.starts() == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_an_unwritable_store_is_a_clear_error_before_the_turn(fake: Fakes,
                                                              workdir: Path) -> None:
    # /proc refuses new directories even to root, like a read-only mount.
    r = run_proc("say hi", env={"CLINVK_HOME": "/proc/self", "CLINVK_CONFIG": ""})
    assert_refused(r, "cannot write to the session store at /proc/self")
    assert "hint: " in r.err
    assert fake.starts() == []


# --- 6. settings refused at `config set` --------------------------------------------------


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("session.retention_days", "99999999999", "≤ 36500"),
    ("session.list_limit", "99999999999", "≤ 1000000"),
    ("defaults.timeout", "1e300", "≤ 31536000"),
    ("defaults.backend", "nope", "unknown backend 'nope'"),
])
def test_config_set_refuses_out_of_range_and_unknown(key: str, value: str, needle: str,
                                                    clinvk_home: Path) -> None:
    r = run_proc("config", "set", key, value)
    assert_refused(r, key, needle)
    assert not (clinvk_home / "config.toml").exists()


def test_config_set_accepts_a_configured_backend_as_default(clinvk_home: Path) -> None:
    assert run_proc("config", "set", "backends.mine.adapter", "claude").code == 0
    r = run_proc("config", "set", "defaults.backend", "mine")
    assert r.code == 0, r.err
    assert 'backend = "mine"' in (clinvk_home / "config.toml").read_text()


# --- 7. messages that read oddly ----------------------------------------------------------


def test_a_negative_duration_is_a_duration_error(clinvk_home: Path) -> None:
    r = run_proc("sessions", "clean", "--older-than", "-3d")
    assert_refused(r, "invalid duration: '-3d'", "more than zero")


def test_ended_without_a_result_names_the_vendor_once(fake: Fakes, workdir: Path,
                                                      tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = run_proc("say hi", env={"FAKE_SAMPLE_CLAUDE": str(empty)})
    assert r.code == 1
    assert "clinvk: error: claude ended without a result" in r.err
    assert "claude: claude" not in r.err


@pytest.mark.parametrize(("backend", "args", "flag"), [
    ("gemini", ["--backend-arg=--output-format", "--backend-arg=json"], "--output-format"),
    ("gemini", ["--backend-arg=-o", "--backend-arg=json"], "-o"),
    ("claude", ["--backend-arg=--output-format=json"], "--output-format"),
    ("codex", ["--backend-arg=--json"], "--json"),
])
def test_backend_args_that_change_the_machine_mode_are_refused(
        backend: str, args: list[str], flag: str, fake: Fakes, workdir: Path,
        clinvk_home: Path) -> None:
    r = run_proc("prompt", "-b", backend, *args, "say hi")
    assert_refused(r, f"{flag} is set by clinvk for {backend}")
    assert fake.starts() == [] and sessions_in(clinvk_home) == []


@pytest.mark.parametrize("args", [("-n", str(10**30)), ("--offset", str(10**30)),
                                  ("--limit", str(2**63))])
def test_a_count_past_sqlites_range_is_a_usage_error_naming_the_bound(
        args: tuple[str, ...], fake: Fakes, workdir: Path) -> None:
    assert run_proc("prompt", "hello").code == 0  # a store with a session in it
    r = run_proc("sessions", "list", *args)
    assert_refused(r, f"must be at most {2**63 - 1}")
    r = run_proc("sessions", "recap", "--limit", str(10**30))
    assert_refused(r, f"--limit must be at most {2**63 - 1}")


def test_an_unknown_sessions_command_offers_the_most_used_first(workdir: Path) -> None:
    r = run_proc("sessions", "lsit")
    assert r.code == 1
    first = r.err.splitlines()[0]
    assert 'Did you mean "list"?' in first
    offered = first.split("Available commands: ", 1)[1].removesuffix(", ...").split(", ")
    assert offered[:4] == ["list", "show", "history", "stats"], first
