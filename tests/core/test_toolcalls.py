"""The size rules and helpers of a recorded tool call (clinvk.toolcalls)."""

from __future__ import annotations

from pathlib import Path

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


# ----------------------------------------------- the files a shell command reads
def test_read_like_commands_name_the_existing_files_they_read(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    for name in ("notes.txt", "src/app.py", "a b.txt"):
        (tmp_path / name).write_text("x\n")
    w = str(tmp_path)

    def got(command: object) -> list[str]:
        return [p.removeprefix(w + "/") for p in
                toolcalls.call_paths("shell", {"command": command}, w)]

    # codex's wrapper, as a string and as a list; claude's and gemini's plain command
    assert got(f"/bin/bash -lc 'cat {w}/notes.txt'") == ["notes.txt"]
    assert got(["/bin/bash", "-lc", "sed -n '1,20p' src/app.py"]) == ["src/app.py"]
    assert got("head -n 5 notes.txt missing.txt && wc -l 'a b.txt'") == ["notes.txt", "a b.txt"]
    assert got("nl -ba src/app.py | tail -n 3") == ["src/app.py"]
    assert got("rg -n TODO src/app.py notes.txt") == ["src/app.py", "notes.txt"]
    assert got("grep -e notes.txt src/app.py") == ["src/app.py"]  # -e: no pattern operand
    assert got("grep notes.txt src/app.py") == ["src/app.py"]  # the pattern is no file
    assert got("ls src && less notes.txt 2>/dev/null") == ["src", "notes.txt"]
    assert got("cd src && cat app.py") == ["src/app.py"]
    assert got("tail -- -n notes.txt") == ["notes.txt"]


def test_shell_commands_are_never_guessed_at(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x\n")
    w = str(tmp_path)
    for command in ("sed -i s/x/y/ notes.txt",  # an edit, not a read
                    "sed s/x/y/ notes.txt",  # sed's script is its first operand
                    "cat *.txt", "cat $F", "cat `ls`", "python notes.txt", "rm notes.txt",
                    "cat > notes.txt", "cd nowhere && cat notes.txt", "cat 'notes.txt",
                    "grep notes.txt", "echo notes.txt", "cat <<EOF\nnotes.txt\nEOF", "",
                    "ls " + "x" * 20_000):
        assert toolcalls.call_paths("shell", {"command": command}, w) == [], command


def test_apply_patch_names_the_files_it_patches(tmp_path: Path) -> None:
    w = str(tmp_path)
    patch = ("apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: new.txt\n+hi\n"
             "*** Update File: src/app.py\n*** Move to: src/main.py\n@@\n-a\n+b\n"
             "*** Delete File: old.txt\n*** End Patch\nEOF")
    assert toolcalls.call_paths("shell", {"command": patch}, w) == [
        f"{w}/new.txt", f"{w}/src/app.py", f"{w}/src/main.py", f"{w}/old.txt"]
    assert toolcalls.call_paths("shell", {"command": ["apply_patch", patch[17:]]}, w) == \
        toolcalls.call_paths("shell", {"command": patch}, w)


def test_a_shell_call_in_another_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("x\n")
    # gemini's run_shell_command names its directory; a codex rollout its cwd as a URL
    assert toolcalls.call_paths("shell", {"command": "cat notes.txt", "dir_path": "sub"},
                                str(tmp_path)) == [str(tmp_path / "sub" / "notes.txt")]
    assert toolcalls.shell_paths("cat notes.txt", "/elsewhere", f"file://{tmp_path}/sub") == \
        [str(tmp_path / "sub" / "notes.txt")]


def test_option_values_are_no_operands(tmp_path: Path) -> None:
    for name in ("3", "TODO", "app.py"):
        (tmp_path / name).write_text("x\n")
    w = str(tmp_path)
    assert toolcalls.call_paths("shell", {"command": "grep -A 3 TODO app.py"}, w) == [
        f"{w}/app.py"]
    assert toolcalls.call_paths("shell", {"command": "head -n 3 app.py"}, w) == [f"{w}/app.py"]
