"""The size rules and helpers of a recorded tool call (clinvk.toolcalls)."""

from __future__ import annotations

import msgspec

from clinvk import toolcalls


def size(value: object) -> int:
    return len(msgspec.json.encode(value))


def test_small_input_is_kept_whole() -> None:
    args = {"file_path": "/w/a.py", "old_string": "x" * 3000, "new_string": "y" * 3000}
    assert toolcalls.cut_input(args) == args


def test_big_input_keeps_its_shape_and_fits() -> None:
    big = "é" * 200_000
    args = {"file_path": "/w/big.txt", "content": big}
    cut = toolcalls.cut_input(args)
    assert size(cut) <= toolcalls.INPUT_MAX
    assert cut["file_path"] == "/w/big.txt"  # short values survive whole
    assert cut["content"].startswith("éééé")
    assert cut["content"].endswith(f"…[cut: {len(big.encode())} bytes]")
    assert len(cut["content"]) > 1000  # as much as fits is kept, not a stub


def test_input_of_many_small_items_becomes_its_cut_json() -> None:
    args = {"items": list(range(5000))}
    cut = toolcalls.cut_input(args)
    assert isinstance(cut, str) and cut.startswith('{"items":[0,1,2')
    assert len(cut.encode()) <= toolcalls.INPUT_MAX + toolcalls.MARKER_ROOM


def test_clip_cuts_bytes_on_a_character_boundary() -> None:
    assert toolcalls.clip("short") == "short"
    text = "ü" * 3000  # 6000 bytes
    cut = toolcalls.clip(text)
    head = cut.split("…[cut:")[0]
    assert head == "ü" * 1024 and cut.endswith("…[cut: 6000 bytes]")


def test_shell_command_unwraps_bash_lc() -> None:
    assert toolcalls.shell_command("/bin/bash -lc 'npm test -- --grep \"a b\"'") == \
        'npm test -- --grep "a b"'
    assert toolcalls.shell_command("/bin/bash -lc ls") == "ls"
    assert toolcalls.shell_command(["bash", "-lc", "ls"]) == "bash -lc ls"
    assert toolcalls.shell_command("git status") == "git status"
    assert toolcalls.shell_command("/bin/bash -lc 'unterminated") == "/bin/bash -lc 'unterminated"


def test_summary_and_paths() -> None:
    assert toolcalls.summary("search", {"pattern": "TODO", "path": "/w/src"}, "/w") == "TODO in src"
    assert toolcalls.summary("read", {"file_path": "/elsewhere/x"}, "/w") == "/elsewhere/x"
    assert toolcalls.summary("shell", {"command": "a\n  b"}, "/w") == "a b"
    assert toolcalls.call_paths("search", {"path": "/w/src"}, "/w") == []
    assert toolcalls.call_paths("edit", {"file_path": "../up.txt"}, "/w/sub") == ["/w/up.txt"]
    assert toolcalls.call_paths("read", {"file_path": "a\0b"}, "/w") == []
    assert len(toolcalls.summary("other", {"query": "q" * 1000}, "/w")) == toolcalls.SUMMARY_MAX


def test_exit_code_in() -> None:
    assert toolcalls.exit_code_in("Exit code 2\nboom") == 2
    assert toolcalls.exit_code_in("Output: x\nExit Code: 127") == 127
    assert toolcalls.exit_code_in("all good") is None
