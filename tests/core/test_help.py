"""Every command's --help has a one-line summary and an example; no command is left out."""

from __future__ import annotations

import pytest

from clinvk.app import COMMANDS, main

SESSIONS = ["list", "show", "delete", "clean", "pause", "complete", "tag", "rename", "history",
            "stats", "export", "import", "storage", "current", "recap", "doctor"]
CONFIG = ["path", "show", "get", "set", "unset"]
EVERY = ([[c] for c in COMMANDS if c not in ("sessions", "config")]
         + [["sessions", c] for c in SESSIONS] + [["config", c] for c in CONFIG])


@pytest.mark.parametrize("command", EVERY, ids=" ".join)
def test_help_has_summary_and_example(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: clinvk " + " ".join(command))
    summary = out.splitlines()[2].strip()
    assert summary and summary[0].isupper(), out
    assert "Example: clinvk " + " ".join(command) in out, out


@pytest.mark.parametrize("group,names", [("sessions", SESSIONS), ("config", CONFIG)])
def test_group_help_lists_every_command_with_its_summary(
        group: str, names: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([group, "--help"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[1]: line for line in out.splitlines()
              if line.startswith("│ ") and len(line.split()) > 2 and not line.split()[1].startswith("-")}
    for name in names:
        assert name in listed, (name, out)
        assert len(listed[name].split()) > 3, listed[name]  # a summary beside the name


def test_root_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert 'Example: clinvk "explain this repository"' in out
    for name in COMMANDS:
        assert f"│ {name} " in out


@pytest.mark.parametrize("argv,usage", [(["help"], "Usage: clinvk COMMAND"),
                                        (["help", "sessions"], "Usage: clinvk sessions COMMAND")])
def test_help_word_prints_the_help(argv: list[str], usage: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(usage) and captured.err == ""
