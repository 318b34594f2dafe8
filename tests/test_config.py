"""`clinvk config path|show|get|set|unset`, precedence, and config errors, in-process
(plus one real process for the exit-code contract)."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinvk.app import main
from clinvk.config import (
    SCALAR_KEYS,
    BackendConfig,
    Config,
    PriceConfig,
    format_key,
    load,
    split_key,
)
from clinvk.config.schema import key_info
from tests.conftest import REPO, run_clinvk


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cfg(clinvk_home: Path) -> Path:
    """The config file every command in the test reads and writes (not created yet)."""
    path = Path(os.environ["CLINVK_CONFIG"])
    assert path.parent == clinvk_home
    return path


def show_json(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    code, out, _ = run(capsys, "config", "show", "--json")
    assert code == 0
    return {row["key"]: row for row in json.loads(out)["settings"]}


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("clinvk: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


COMMENTED = """\
# my clinvk settings
[defaults]
backend = "codex"  # work uses codex

# how long to keep things
[session]
retention_days = 30  # a month
# rows in the list
list_limit = 20

[backends.codex]
model = "o3"
env = {A = "1"}

[pricing."gpt-4.1"]
input = 2.0
output = 8.0
"""


# --- path -----------------------------------------------------------------------------


def test_path_prints_the_config_file(cfg: Path, capsys) -> None:
    assert run(capsys, "config", "path") == (0, f"{cfg}\n", "")


def test_path_defaults_to_config_toml_in_clinvk_home(clinvk_home: Path, monkeypatch,
                                                    capsys) -> None:
    monkeypatch.delenv("CLINVK_CONFIG")
    assert run(capsys, "config", "path")[1] == f"{clinvk_home / 'config.toml'}\n"


def test_path_answers_even_when_the_file_is_broken(cfg: Path, capsys) -> None:
    cfg.write_text("[session\n")
    assert run(capsys, "config", "path") == (0, f"{cfg}\n", "")


# --- show -----------------------------------------------------------------------------


def test_show_without_a_file_lists_every_default(cfg: Path, capsys) -> None:
    code, out, err = run(capsys, "config", "show")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["KEY", "VALUE", "SOURCE"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert list(rows) == list(SCALAR_KEYS)
    assert rows["defaults.backend"] == ['"claude"', "default"]
    assert rows["session.retention_days"] == ["30", "default"]
    code, out, _ = run(capsys, "config", "show", "--json")
    data = json.loads(out)
    assert data["path"] == str(cfg) and data["exists"] is False
    assert data["settings"][0] == {"key": "defaults.backend", "value": "claude",
                                   "source": "default", "origin": None}


def test_show_names_the_file_and_lists_backend_and_pricing_keys(cfg: Path, capsys) -> None:
    cfg.write_text(COMMENTED)
    code, out, _ = run(capsys, "config", "show")
    assert code == 0
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in out.splitlines()[1:]}
    assert rows["defaults.backend"] == ['"codex"', f"file {cfg}"]
    assert rows["defaults.timeout"] == ["0", "default"]
    assert rows["backends.codex.model"] == ['"o3"', f"file {cfg}"]
    assert rows["backends.codex.env.A"] == ['"1"', f"file {cfg}"]
    assert rows['pricing."gpt-4.1".output'] == ["8.0", f"file {cfg}"]
    settings = show_json(capsys)
    assert settings["backends.codex.env.A"] == {"key": "backends.codex.env.A", "value": "1",
                                               "source": "file", "origin": str(cfg)}


# --- get / set / unset ------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "expected", "printed"), [
    ("session.retention_days", "7", 7, "7"),
    ("session.list_limit", "0", 0, "0"),
    ("defaults.timeout", "2.5", 2.5, "2.5"),
    ("defaults.output_format", "stream-json", "stream-json", "stream-json"),
    ("defaults.backend", "gemini", "gemini", "gemini"),
    ("backends.codex.model", "gpt-5-codex", "gpt-5-codex", "gpt-5-codex"),
    ("backends.codex.args", '["--x", "y"]', ["--x", "y"], '["--x", "y"]'),
    ("backends.codex.args", "['-c', 'a=b']", ["-c", "a=b"], '["-c", "a=b"]'),
    ("backends.codex.prompt_stdin", "true", True, "true"),
    ("backends.codex.env.OPENAI_BASE_URL", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1",
     "http://127.0.0.1:9/v1"),
    ("backends.codex.env.FLAGS", "--verbose", "--verbose", "--verbose"),
    ("pricing.my-model.cache_read", "0.25", 0.25, "0.25"),
])
def test_set_then_get_round_trips(cfg: Path, capsys, key: str, value: str, expected: Any,
                                  printed: str) -> None:
    if key.startswith("pricing."):
        assert run(capsys, "config", "set", "pricing.my-model", "{input = 1, output = 2}")[0] == 0
    code, out, err = run(capsys, "config", "set", key, value)
    assert code == 0 and out == "" and key in err
    assert run(capsys, "config", "get", key) == (0, printed + "\n", "")
    code, out, _ = run(capsys, "config", "get", key, "--json")
    assert json.loads(out) == expected
    load()  # the written file is valid for everyone else too


def test_set_a_whole_table_and_dotted_model_ids(cfg: Path, capsys) -> None:
    assert run(capsys, "config", "set", "pricing.gpt-4.1", "{input = 2, output = 8}")[0] == 0
    assert run(capsys, "config", "set", "backends.codex.env", '{"A": "1", "B": "2"}')[0] == 0
    data = tomllib.loads(cfg.read_text())
    assert data == {"pricing": {"gpt-4.1": {"input": 2, "output": 8}},
                    "backends": {"codex": {"env": {"A": "1", "B": "2"}}}}
    # A dotted model id can be named bare or quoted.
    assert run(capsys, "config", "get", "pricing.gpt-4.1.output")[1] == "8.0\n"
    assert run(capsys, "config", "get", 'pricing."gpt-4.1".input')[1] == "2.0\n"
    assert json.loads(run(capsys, "config", "get", "pricing.gpt-4.1")[1]) == {
        "input": 2.0, "output": 8.0, "cache_read": None, "cache_write": None}


def test_get_reports_defaults_for_backends_the_file_does_not_define(cfg: Path, capsys) -> None:
    assert run(capsys, "config", "get", "backends.claude.text_field") == (0, "result\n", "")
    assert run(capsys, "config", "get", "backends.claude.timeout", "--json")[1] == "0\n"
    code, _, err = run(capsys, "config", "get", "pricing.nope.input")
    assert code == 1
    assert_one_line_error(err, "pricing.nope.input is not set")
    code, _, err = run(capsys, "config", "get", "backends.codex.env.NOPE")
    assert code == 1
    assert_one_line_error(err, "backends.codex.env.NOPE is not set")


def test_set_creates_a_private_file_and_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "new" / "dir" / "config.toml"
    monkeypatch.setenv("CLINVK_CONFIG", str(path))
    assert run(capsys, "config", "set", "session.retention_days", "90")[0] == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert tomllib.loads(path.read_text()) == {"session": {"retention_days": 90}}
    assert path.read_text().startswith("# clinvk settings.")
    # Only the file itself: no temp files left behind.
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_set_keeps_comments_and_ordering(cfg: Path, capsys) -> None:
    cfg.write_text(COMMENTED)
    assert run(capsys, "config", "set", "session.retention_days", "90")[0] == 0
    assert run(capsys, "config", "set", "defaults.timeout", "600")[0] == 0
    assert run(capsys, "config", "set", "backends.codex.env.B", "2")[0] == 0
    assert cfg.read_text() == """\
# my clinvk settings
[defaults]
backend = "codex"  # work uses codex
timeout = 600.0

# how long to keep things
[session]
retention_days = 90  # a month
# rows in the list
list_limit = 20

[backends.codex]
model = "o3"
env = {A = "1", B = "2"}

[pricing."gpt-4.1"]
input = 2.0
output = 8.0
"""


def test_set_adds_new_tables_next_to_their_kind(cfg: Path, capsys) -> None:
    cfg.write_text(COMMENTED)
    assert run(capsys, "config", "set", "backends.gemini.model", "gemini-2.5-pro")[0] == 0
    assert run(capsys, "config", "set", "pricing.other", "{input = 1, output = 2}")[0] == 0
    text = cfg.read_text()
    assert text.startswith(COMMENTED.split("[pricing")[0])
    assert """\
env = {A = "1"}

[backends.gemini]
model = "gemini-2.5-pro"

[pricing."gpt-4.1"]
input = 2.0
output = 8.0

[pricing.other]
input = 1
output = 2
""" in text
    assert text.endswith("output = 2\n")


def test_set_keeps_crlf_line_endings(cfg: Path, capsys) -> None:
    cfg.write_bytes(b"[session]\r\nlist_limit = 2\r\n")
    assert run(capsys, "config", "set", "backends.codex.model", "m")[0] == 0
    raw = cfg.read_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert tomllib.loads(raw.decode()) == {"session": {"list_limit": 2},
                                           "backends": {"codex": {"model": "m"}}}


def test_set_writes_through_a_symlink(tmp_path: Path, cfg: Path, capsys) -> None:
    real = tmp_path / "dotfiles" / "clinvk.toml"
    real.parent.mkdir()
    real.write_text("[session]\nlist_limit = 5\n")
    cfg.symlink_to(real)
    assert run(capsys, "config", "set", "session.list_limit", "6")[0] == 0
    assert cfg.is_symlink()
    assert real.read_text() == "[session]\nlist_limit = 6\n"


def test_setting_the_same_value_does_not_rewrite(cfg: Path, capsys) -> None:
    cfg.write_text("[session]\nlist_limit = 5\n")
    before = cfg.stat().st_ino
    code, _, err = run(capsys, "config", "set", "session.list_limit", "5")
    assert code == 0 and "already" in err
    assert cfg.stat().st_ino == before


def test_unset_removes_the_key_and_the_default_applies(cfg: Path, capsys) -> None:
    cfg.write_text(COMMENTED)
    code, _, err = run(capsys, "config", "unset", "session.retention_days")
    assert code == 0 and "removed session.retention_days" in err
    assert run(capsys, "config", "get", "session.retention_days")[1] == "30\n"
    assert cfg.read_text() == COMMENTED.replace("retention_days = 30  # a month\n", "")
    assert show_json(capsys)["session.retention_days"]["source"] == "default"


def test_unset_a_whole_table_and_a_key_that_is_not_set(cfg: Path, capsys) -> None:
    cfg.write_text(COMMENTED)
    assert run(capsys, "config", "unset", "pricing.gpt-4.1")[0] == 0
    assert run(capsys, "config", "unset", "backends.codex")[0] == 0
    assert tomllib.loads(cfg.read_text()) == {"defaults": {"backend": "codex"},
                                              "session": {"retention_days": 30, "list_limit": 20}}
    before = cfg.read_bytes()
    code, out, err = run(capsys, "config", "unset", "backends.codex.model")
    assert (code, out) == (0, "") and "nothing to do" in err
    assert cfg.read_bytes() == before


def test_unset_of_a_tables_last_key_leaves_no_empty_table(cfg: Path, capsys) -> None:
    cfg.write_text('[defaults]\nbackend = "codex"\n\n[session]\nretention_days = 14\n\n'
                   '[backends.codex]\nmodel = "o3"\n\n[budget]\n# my cap, later\n'
                   'daily_usd = 5.0\n')
    for key in ("session.retention_days", "backends.codex.model", "budget.daily_usd"):
        assert run(capsys, "config", "unset", key)[0] == 0
    text = cfg.read_text()
    assert "[session]" not in text and "[backends" not in text, text
    assert "[budget]\n# my cap, later\n" in text  # a table holding a comment stays
    assert tomllib.loads(text) == {"defaults": {"backend": "codex"}, "budget": {}}
    assert run(capsys, "config", "set", "session.retention_days", "7")[0] == 0
    assert tomllib.loads(cfg.read_text())["session"] == {"retention_days": 7}


def test_unset_can_remove_a_stray_key_that_breaks_the_file(cfg: Path, capsys) -> None:
    cfg.write_text("[defaults]\ncolour = \"red\"\nbackend = \"codex\"\n")
    code, _, err = run(capsys, "config", "show")
    assert code == 1
    assert_one_line_error(err, str(cfg), "line 2", "defaults.colour", "unknown key")
    assert run(capsys, "config", "unset", "defaults.colour")[0] == 0
    assert cfg.read_text() == "[defaults]\nbackend = \"codex\"\n"
    assert run(capsys, "config", "show")[0] == 0


# --- precedence -----------------------------------------------------------------------


def test_precedence_flag_over_env_over_file_over_default(cfg: Path, monkeypatch,
                                                         capsys) -> None:
    def limit(*flags: str) -> int:
        code, out, _ = run(capsys, "sessions", "list", "--json", *flags)
        assert code == 0
        return int(json.loads(out)["limit"])

    def source() -> str:
        row = show_json(capsys)["session.list_limit"]
        return f"{row['source']} {row['origin']}" if row["origin"] else row["source"]

    assert (limit(), source()) == (20, "default")
    assert run(capsys, "config", "set", "session.list_limit", "5")[0] == 0
    assert (limit(), source()) == (5, f"file {cfg}")
    monkeypatch.setenv("CLINVK_SESSION_LIST_LIMIT", "7")
    assert (limit(), source()) == (7, "env CLINVK_SESSION_LIST_LIMIT")
    assert limit("-n", "3") == 3
    code, out, _ = run(capsys, "config", "show")
    assert code == 0
    assert any(line.split() == ["session.list_limit", "7", "env", "CLINVK_SESSION_LIST_LIMIT"]
               for line in out.splitlines())


def test_env_override_is_visible_in_get(cfg: Path, monkeypatch, capsys) -> None:
    cfg.write_text("[session]\nretention_days = 90\n")
    monkeypatch.setenv("CLINVK_SESSION_RETENTION_DAYS", "7")
    assert run(capsys, "config", "get", "session.retention_days") == (0, "7\n", "")
    # Setting the file while the variable wins says so.
    code, _, err = run(capsys, "config", "set", "session.retention_days", "60")
    assert code == 0 and "CLINVK_SESSION_RETENTION_DAYS is set and overrides the file" in err
    assert run(capsys, "config", "get", "session.retention_days")[1] == "7\n"


@pytest.mark.parametrize(("var", "value", "needle"), [
    ("CLINVK_SESSION_RETENTION_DAYS", "abc", "whole number"),
    ("CLINVK_SESSION_RETENTION_DAYS", "-3", "≥ 0"),
    ("CLINVK_DEFAULTS_OUTPUT_FORMAT", "xml", "text, json, stream-json"),
    ("CLINVK_DEFAULTS_TIMEOUT", "soon", "seconds"),
])
def test_a_bad_env_value_names_the_variable(cfg: Path, monkeypatch, capsys, var: str,
                                            value: str, needle: str) -> None:
    monkeypatch.setenv(var, value)
    for args in (["config", "get", "session.retention_days"], ["config", "show"],
                 ["sessions", "list"]):
        code, out, err = run(capsys, *args)
        assert code == 1 and out == ""
        assert_one_line_error(err, f"{var}={value!r}", needle)


# --- refused edits leave the file alone ---------------------------------------------------


@pytest.mark.parametrize(("args", "needles"), [
    (["set", "nope.x", "1"], ["unknown config key 'nope.x'"]),
    (["set", "session.retention_day", "1"], ["did you mean session.retention_days?"]),
    (["set", "backends.codex.modle", "x"], ["did you mean backends.codex.model?"]),
    (["set", "backends.codex.env.A.B", "x"], ["unknown config key"]),
    (["unset", "session.nope"], ["unknown config key 'session.nope'"]),
    (["get", "sessions.list_limit"], ["unknown config key"]),
    (["set", "session", "x"], ["session is a section"]),
])
def test_an_unknown_key_is_refused(cfg: Path, capsys, args: list[str],
                                   needles: list[str]) -> None:
    cfg.write_text(COMMENTED)
    before = cfg.read_bytes()
    code, out, err = run(capsys, "config", *args)
    assert code == 1 and out == ""
    assert_one_line_error(err, *needles)
    assert cfg.read_bytes() == before


@pytest.mark.parametrize(("key", "value", "needles"), [
    ("session.retention_days", "abc", ["session.retention_days", "'abc'", "whole number"]),
    ("session.retention_days", "-3", ["session.retention_days", "≥ 0"]),
    ("session.retention_days", "1.5", ["session.retention_days", "whole number"]),
    ("session.list_limit", "-1", ["session.list_limit", "≥ 0"]),
    ("defaults.timeout", "nan", ["defaults.timeout", "a number ≥ 0"]),
    ("defaults.output_format", "xml", ["defaults.output_format", "text, json, stream-json"]),
    ("backends.codex.args", "--x", ["backends.codex.args", "list of strings"]),
    ("backends.codex.args", "[1, 2]", ["backends.codex.args", "list of strings"]),
    ("backends.codex.timeout", "-5", ["backends.codex.timeout", "≥ 0"]),
    ("backends.codex.prompt_stdin", "maybe", ["backends.codex.prompt_stdin", "true or false"]),
    ("backends.codex.output", "xml", ["backends.codex.output", "json, text"]),
    ("backends.codex.adapter", "nope", ["backends.codex.adapter", "claude, codex, gemini"]),
    ("backends.mine.adapter", "command", ["backends.mine.argv", "command backend"]),
    ("backends.codex.env", "[1]", ["backends.codex.env", "table of strings"]),
    ("backends.codex.env", "{A = 1}", ["backends.codex.env.A", "expected `str`"]),
    ("pricing.new-model.input", "3", ["pricing.new-model", "missing required key 'output'"]),
    ("pricing.gpt-4.1.input", "-2", ['pricing."gpt-4.1".input', "≥ 0"]),
    ("pricing.gpt-4.1", "{input = 1, outputs = 2}", ["pricing", "outputs", "unknown key"]),
])
def test_a_bad_value_is_refused_and_the_file_is_unchanged(cfg: Path, capsys, key: str,
                                                          value: str,
                                                          needles: list[str]) -> None:
    cfg.write_text(COMMENTED)
    before = cfg.read_bytes()
    code, out, err = run(capsys, "config", "set", key, value)
    assert code == 1 and out == ""
    assert err.startswith("clinvk: error: ") and "Traceback" not in err
    first = err.splitlines()[0]
    for needle in needles:
        assert needle in first, (needle, first)
    assert cfg.read_bytes() == before


def test_a_refused_set_creates_neither_file_nor_directory(tmp_path: Path, monkeypatch,
                                                          capsys) -> None:
    path = tmp_path / "new" / "config.toml"
    monkeypatch.setenv("CLINVK_CONFIG", str(path))
    assert run(capsys, "config", "set", "session.retention_days", "abc")[0] == 1
    assert not path.parent.exists()


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_dotted_keys_round_trip(parts: list[str]) -> None:
    assert split_key(format_key(parts)) == parts


def test_a_pricing_table_needs_both_rates_and_the_hint_says_how(cfg: Path, capsys) -> None:
    code, _, err = run(capsys, "config", "set", "pricing.m.input", "3")
    assert code == 1
    assert err.splitlines()[1] == ("hint: set the whole table at once, e.g. clinvk config set "
                                   "pricing.m '{input = 3, output = 15}'")


# --- a broken file ----------------------------------------------------------------------


BROKEN = "[defaults]\nbackend = \"claude\"\nretention_days = \n"


@pytest.mark.parametrize("args", [
    ["config", "show"],
    ["config", "get", "session.retention_days"],
    ["config", "set", "session.list_limit", "3"],
    ["config", "unset", "defaults.backend"],
    ["sessions", "list"],
    ["sessions", "clean", "--dry-run"],
])
def test_broken_toml_is_one_line_naming_file_and_position(cfg: Path, capsys,
                                                          args: list[str]) -> None:
    cfg.write_text(BROKEN)
    code, out, err = run(capsys, *args)
    assert code == 1 and out == ""
    assert_one_line_error(err, f"config file {cfg}, line 3, column 18: invalid TOML")
    assert cfg.read_text() == BROKEN


@pytest.mark.parametrize(("text", "needles"), [
    ("# settings\n[session]\n\nretention_days = \"x\"\n",
     ["line 4", "session.retention_days", "expected `int`, got `str`"]),
    ("[session]\nretention_days = -1\n", ["line 2", "session.retention_days must be ≥ 0"]),
    ("[backends.x]\nadapter = \"command\"\n", ["line 1", "backends.x.argv"]),
    ("[pricing.\"a.b\"]\ninput = 1\n", ["line 1", "pricing.\"a.b\"", "'output'"]),
    ("[backends.x]\nargs = \"--fast\"\n", ["line 2", "backends.x.args", "list of strings"]),
    ("x = 1\n\xff", ["line 2", "not UTF-8"]),
    ("a = \"unterminated", ["line 1", "end of file", "Unterminated string"]),
])
def test_a_bad_file_is_one_line_naming_file_line_and_key(cfg: Path, capsys, text: str,
                                                         needles: list[str]) -> None:
    cfg.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    code, _, err = run(capsys, "config", "show")
    assert code == 1
    assert_one_line_error(err, f"config file {cfg}", *needles)


# --- config.example.toml ------------------------------------------------------------------


EXAMPLE = REPO / "config.example.toml"


def test_the_example_config_loads_and_documents_every_key(monkeypatch, capsys) -> None:
    monkeypatch.setenv("CLINVK_CONFIG", str(EXAMPLE))
    code, out, err = run(capsys, "config", "show")
    assert code == 0 and err == ""
    assert ["backends.opencode.adapter", '"command"', "file", str(EXAMPLE)] in [
        line.split() for line in out.splitlines()]
    loaded = load()
    # Every scalar key is written out, at its default; a key unset by default (a budget
    # cap) is shown commented out, since TOML has no way to write "unset".
    text = EXAMPLE.read_text()
    for key, source in loaded.sources.items():
        if key_info(key).default is None:
            assert f"\n# {key.split('.')[1]} = " in text, key
        else:
            assert source == f"file {EXAMPLE}", key
    defaults = Config()
    for section in ("defaults", "session", "budget", "parallel"):
        assert msgspec.to_builtins(getattr(loaded.config, section)) == \
            msgspec.to_builtins(getattr(defaults, section))
    raw = tomllib.loads(EXAMPLE.read_text())
    backend_fields = set(BackendConfig.__struct_fields__)
    assert set().union(*(set(t) for t in raw["backends"].values())) == backend_fields
    assert {"claude", "codex", "gemini", "opencode"} <= set(raw["backends"])
    assert loaded.config.backends["opencode"].adapter == "command"
    assert {"{prompt}", "{model}"} <= set(loaded.config.backends["opencode"].argv)
    for name in ("claude", "codex", "gemini"):
        assert {"command", "model", "args", "env", "timeout"} <= set(raw["backends"][name])
    (price,) = raw["pricing"].values()
    assert set(price) == set(PriceConfig.__struct_fields__)


# --- a real process -----------------------------------------------------------------------


def test_unknown_key_in_a_real_process_is_one_line_and_exit_1() -> None:
    ran = run_clinvk("config", "get", "nope")
    assert ran.code == 1 and ran.out == ""
    lines = ran.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clinvk: error:"), ran.err
    assert "nope" in lines[0] and "Traceback" not in ran.err
