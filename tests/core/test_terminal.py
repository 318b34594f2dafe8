"""What reaches a terminal: control characters made visible, tables fitted to the width.

Every check runs a real `clinvk` process and looks at the BYTES it wrote. Text from
users, models and files (titles, prompts, answers, tags, workdirs, file names, config
values) must never reach the terminal as an escape sequence; JSON stays exact. A real
80-column terminal (a pty sized with TIOCSWINSZ) gets rows of at most 80 columns, wide
characters counted as 2; piped output keeps its full width.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, add_session, run_clinvk

ESC = b"\x1b"
NASTY = "T\x1b[2J\x1b]0;pwned\x07\x9b31m\x7fend"
# What a person sees instead: every control character as \xNN.
SHOWN = r"T\x1b[2J\x1b]0;pwned\x07\x9b31m\x7fend"


def raw(*args: str, env: dict[str, str] | None = None,
        cwd: str | Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """clinvk as a real process, stdout and stderr kept as bytes."""
    full = dict(os.environ)
    full["PYTHONPATH"] = str(REPO) + os.pathsep + full.get("PYTHONPATH", "")
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "clinvk", *args], capture_output=True,
                          env=full, cwd=cwd, stdin=subprocess.DEVNULL, timeout=60, check=False)


def no_control(data: bytes) -> None:
    """No ESC, C1 (as UTF-8), BEL, CR or DEL byte: nothing a terminal would act on."""
    text = data.decode("utf-8")
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]
    assert not bad, f"control characters reached the terminal: {bad!r} in {text[:400]!r}"


@dataclass
class Term:
    code: int
    out: bytes
    err: bytes

    def lines(self) -> list[str]:
        return self.out.decode("utf-8").splitlines()


def in_terminal(*args: str, columns: int = 80, env: dict[str, str] | None = None) -> Term:
    """clinvk with stdout on a pseudo-terminal of ``columns`` columns (stderr piped)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR  # keep "\n" as written, not "\r\n"
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    full = dict(os.environ)
    full["PYTHONPATH"] = str(REPO) + os.pathsep + full.get("PYTHONPATH", "")
    for name in ("COLUMNS", "LINES"):  # the terminal itself must decide the width
        full.pop(name, None)
    full.update(env or {})
    proc = subprocess.Popen([sys.executable, "-m", "clinvk", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=subprocess.PIPE, env=full)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        _, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Term(proc.returncode, b"".join(chunks), err)


def columns(line: str) -> int:
    """Display columns, computed independently of clinvk: wide characters count 2."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", line)  # our own colour codes take no room
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in plain)


# --------------------------------------------------------------------------- escapes
@pytest.fixture
def hostile(store, tmp_path):  # type: ignore[no-untyped-def]
    workdir = tmp_path / "w\x1b[2Jd"
    workdir.mkdir()
    session = add_session(store, title=NASTY, prompt="ask\x1b[2J\x1b]0;x\x07", age_days=1,
                          response="line one\n\tindented\x1b[31m red\x9b\x07\nline three",
                          workdir=str(workdir))
    return session, workdir


@pytest.mark.parametrize("args", [
    ("sessions", "list"),
    ("sessions", "show", "{id}", "--turns"),
    ("sessions", "history", "{id}"),
    ("sessions", "recap"),
    ("sessions", "storage"),
    ("sessions", "stats", "--by", "workdir"),
    ("sessions", "clean", "--older-than", "1h", "--dry-run"),
])
def test_human_output_shows_control_characters_as_visible_escapes(hostile, args) -> None:  # type: ignore[no-untyped-def]
    session, _ = hostile
    r = raw(*(a.format(id=session.id) for a in args))
    assert r.returncode == 0, r.stderr
    no_control(r.stdout)
    no_control(r.stderr)
    shown = r.stdout.decode()
    if args[1] == "stats":
        assert r"w\x1b[2Jd" in shown  # the workdir group key
    elif args[1] == "history":
        assert r"> ask\x1b[2J\x1b]0;x\x07" in shown
    else:
        assert SHOWN in shown  # the title, visible


def test_history_keeps_the_answers_lines_and_tabs(hostile) -> None:  # type: ignore[no-untyped-def]
    session, _ = hostile
    r = raw("sessions", "history", session.id)
    assert r.returncode == 0, r.stderr
    assert b"> ask\\x1b[2J\\x1b]0;x\\x07\n" in r.stdout
    assert b"line one\n\tindented\\x1b[31m red\\x9b\\x07\nline three\n" in r.stdout


def test_current_shows_the_title_escaped(hostile) -> None:  # type: ignore[no-untyped-def]
    _, workdir = hostile
    r = raw("sessions", "current", cwd=workdir)
    assert r.returncode == 0, r.stderr
    no_control(r.stdout)
    assert SHOWN in r.stdout.decode()


def test_json_output_stays_exact(hostile) -> None:  # type: ignore[no-untyped-def]
    session, workdir = hostile
    listed = raw("sessions", "list", "--json")
    assert json.loads(listed.stdout)["items"][0]["title"] == NASTY
    shown = json.loads(raw("sessions", "show", session.id, "--json").stdout)
    assert shown["turns"][0]["response"] == "line one\n\tindented\x1b[31m red\x9b\x07\nline three"
    assert shown["workdir"] == str(workdir)


def test_error_lines_show_control_characters_escaped(hostile) -> None:  # type: ignore[no-untyped-def]
    # A clinvk error naming text from the record: the session's (gone) workdir.
    session, workdir = hostile
    workdir.rmdir()
    r = raw("resume", session.id, "go on")
    assert r.returncode == 4, r.stderr
    no_control(r.stderr)
    assert r.stderr.startswith(b"clinvk: error: session ")
    assert b"w\\x1b[2Jd" in r.stderr
    # An argument error from the parser, naming what was typed.
    r = raw("sessions", "list", "--bog\x1b]0;pwned\x07")
    assert r.returncode == 1
    no_control(r.stderr)
    assert b"--bog\\x1b]0;pwned\\x07" in r.stderr


def test_warning_lines_show_control_characters_escaped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A file the list cannot read is named in a warning: its path is text from disk.
    from clinvk.store import SessionStore

    home = tmp_path / "h\x1b]0;pwned\x07"
    home.mkdir()
    store = SessionStore(home)
    broken = add_session(store, title="soon broken")
    (store.sessions_dir / broken.id[:2] / f"{broken.id}.json").write_text("{broken")
    env = {"CLINVK_HOME": str(home)}
    r = raw("sessions", "list", env=env)
    assert r.returncode == 0, r.stderr
    no_control(r.stderr)
    assert r.stderr.startswith(b"clinvk: warning: skipped ")
    assert b"h\\x1b]0;pwned\\x07" in r.stderr
    r = raw("sessions", "storage", env=env)
    no_control(r.stdout)
    assert b"h\\x1b]0;pwned\\x07" in r.stdout


def test_doctor_shows_a_file_name_escaped(store) -> None:  # type: ignore[no-untyped-def]
    add_session(store, title="fine")
    shard = store.sessions_dir / "zz"
    shard.mkdir()
    (shard / "zz\x1b[2Jxxxxx.json").write_text("{}")
    r = raw("sessions", "doctor")
    assert r.returncode == 4
    no_control(r.stdout)
    no_control(r.stderr)
    assert b"zz\\x1b[2Jxxxxx.json" in r.stdout


def test_undecodable_file_names_are_shown_not_crashed_on(store) -> None:  # type: ignore[no-untyped-def]
    shard = os.fsencode(store.sessions_dir / "zz")
    os.makedirs(shard)
    with open(os.path.join(shard, b"bad\xff\x1bname.json"), "w") as f:
        f.write("{}")
    r = raw("sessions", "doctor")
    assert r.returncode == 4, r.stderr
    no_control(r.stdout)
    assert b"bad\\xff\\x1bname.json" in r.stdout
    assert b"internal error" not in r.stderr


def test_config_show_and_path_escape_the_file_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    where = tmp_path / "c\x1b]0;pwned\x07"
    where.mkdir()
    cfg = where / "config.toml"
    cfg.write_text('[backends.claude]\nmodel = "m1"\n')
    env = {"CLINVK_CONFIG": str(cfg)}
    for args in (("config", "show"), ("config", "path")):
        r = raw(*args, env=env)
        assert r.returncode == 0, r.stderr
        no_control(r.stdout)
        assert b"c\\x1b]0;pwned\\x07" in r.stdout
    listed = json.loads(raw("config", "show", "--json", env=env).stdout)
    assert listed["path"] == str(cfg)


def test_our_own_colours_still_paint_a_terminal(hostile) -> None:  # type: ignore[no-untyped-def]
    r = in_terminal("sessions", "list", env={"NO_COLOR": "", "TERM": "xterm"})
    assert r.code == 0, r.err
    assert b"\x1b[1mID" in r.out  # the bold header
    assert b"\x1b[32mactive" in r.out  # the status colour
    assert b"\x1b[2J" not in r.out and b"\x1b]0;" not in r.out and b"\x07" not in r.out
    assert b"T\\x1b[2J" in r.out


# --------------------------------------------------------------------------- widths
LONG = "a long title that keeps going " * 6
CJK = "日本語のタイトルはとても長いです" * 4


@pytest.fixture
def wide_titles(store):  # type: ignore[no-untyped-def]
    add_session(store, title=LONG, backend="codex")
    add_session(store, title=CJK, backend="claude")
    return store


def test_list_fits_an_80_column_terminal(wide_titles) -> None:  # type: ignore[no-untyped-def]
    r = in_terminal("sessions", "list", columns=80)
    assert r.code == 0, r.err
    lines = r.lines()
    assert len(lines) == 3, lines
    assert max(columns(line) for line in lines) <= 80, lines
    assert all(line.endswith("…") for line in lines[1:]), lines  # the titles were cut
    assert "TOKENS" in lines[0] and "LAST USED" in lines[0]  # 80 columns need no dropping
    # Cut to the width that remains, not shorter: each row uses (nearly) all of it.
    assert min(columns(line) for line in lines[1:]) >= 78, lines


def test_list_on_a_narrow_terminal_drops_columns_before_the_title(wide_titles) -> None:  # type: ignore[no-untyped-def]
    r = in_terminal("sessions", "list", columns=50)
    assert r.code == 0, r.err
    lines = r.lines()
    assert max(columns(line) for line in lines) <= 50, lines
    assert "TOKENS" not in lines[0] and "TITLE/PROMPT" in lines[0]


def test_columns_variable_sets_the_width_on_a_terminal(wide_titles) -> None:  # type: ignore[no-untyped-def]
    r = in_terminal("sessions", "list", columns=80, env={"COLUMNS": "100"})
    lines = r.lines()
    assert max(columns(line) for line in lines) <= 100
    assert max(columns(line) for line in lines) > 80


def test_piped_list_keeps_full_width(wide_titles) -> None:  # type: ignore[no-untyped-def]
    r = run_clinvk("sessions", "list", env={"COLUMNS": "80"})
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert max(columns(line) for line in lines) > 80
    assert LONG.strip()[:59] in r.out  # the usual 60-column title


def test_cjk_cells_align_by_display_width(store) -> None:  # type: ignore[no-untyped-def]
    add_session(store, title="x", tags=["日本語タグ"])
    add_session(store, title="y", tags=["ascii-tag"])
    r = run_clinvk("sessions", "stats", "--by", "tag")
    assert r.code == 0, r.err
    table = r.out[r.out.index("TAG"):].splitlines()
    assert len(table) == 3, table
    # The second column (SESSIONS) starts at the same display column on every line.
    starts = [columns(re.match(r"^(\S+\s+)", line).group(1)) for line in table]  # type: ignore[union-attr]
    assert len(set(starts)) == 1, (starts, table)


def test_stats_by_tag_fits_an_80_column_terminal(store) -> None:  # type: ignore[no-untyped-def]
    add_session(store, title="x", tags=["日本語のとても長いタグの名前です"], tokens=(1234567, 89012, 3456789, 12345, 678))
    add_session(store, title="y", tags=["a-rather-long-ascii-tag-name-for-a-project"])
    r = in_terminal("sessions", "stats", "--by", "tag", columns=80)
    assert r.code == 0, r.err
    lines = r.lines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("TAG")):]
    assert len(table) == 3, lines
    assert max(columns(line) for line in table) <= 80, table
    assert "SESSIONS" in table[0] and "COST" in table[0] and "INPUT" in table[0]
    piped = run_clinvk("sessions", "stats", "--by", "tag")
    assert "CACHE WRITE" in piped.out and "日本語のとても長いタグの名前です" in piped.out


# --------------------------------------------------------------------------- doctor
def test_doctor_caps_each_kind_at_20_lines_and_json_lists_all(store) -> None:  # type: ignore[no-untyped-def]
    add_session(store, title="fine")
    shard = store.sessions_dir / "zz"
    shard.mkdir()
    for n in range(2500):
        (shard / f"junk-{n:04}.txt").write_text("x")
    for n in range(25):
        (shard / f"zz{n:06}.json").write_text("{not json")
    r = raw("sessions", "doctor")
    assert r.returncode == 4
    text = r.stdout.decode()
    stray = [line for line in text.splitlines() if line.startswith("  - unexpected file")]
    corrupt = [line for line in text.splitlines() if line.startswith("  - unreadable session")]
    assert len(stray) == 20 and len(corrupt) == 20, text
    assert "… and 2,480 more of kind stray (unexpected file); --json lists all" in text
    assert "… and 5 more of kind corrupt (unreadable session file); --json lists all" in text
    assert "Found 2,525 problem(s):" in text
    assert len(text.splitlines()) < 60
    listed = json.loads(raw("sessions", "doctor", "--json").stdout)
    kinds = [p["kind"] for p in listed["problems"]]
    assert kinds.count("stray") == 2500 and kinds.count("corrupt") == 25


def test_doctor_fix_caps_what_it_did_too(store) -> None:  # type: ignore[no-untyped-def]
    shard = store.sessions_dir / "zz"
    shard.mkdir(parents=True)
    for n in range(30):
        (shard / f"junk-{n:04}.txt").write_text("x")
    r = raw("sessions", "doctor", "--fix")
    assert r.returncode == 0, r.stderr
    moved = [line for line in r.stdout.decode().splitlines() if line.startswith("  - moved ")]
    assert len(moved) == 20
    assert "… and 10 more of kind stray" in r.stdout.decode()
    assert "Healthy now." in r.stdout.decode()


def test_backends_table_escapes_a_configured_command(clinvk_home) -> None:  # type: ignore[no-untyped-def]
    (clinvk_home / "config.toml").write_text(
        '[backends.mine]\nadapter = "command"\ncommand = "/nowhere/agent\\u001b[2J\\u0007"\nargv = ["{prompt}"]\n')
    r = raw("backends")
    assert r.returncode == 0, r.stderr
    no_control(r.stdout)
    assert b"/nowhere/agent\\x1b[2J\\x07" in r.stdout
    listed = json.loads(raw("backends", "--json").stdout)["backends"]
    assert {b["name"]: b["command"] for b in listed}["mine"] == "/nowhere/agent\x1b[2J\x07"


@pytest.mark.parametrize(("ident", "shown"), [
    (os.fsdecode(b"ab\xffcd"), b"'ab\\xffcd'"),   # an undecodable byte, as the byte
    ("ab\x1b[2Jcd", b"'ab\\x1b[2Jcd'"),            # one backslash, not two
    ("ab\ncd", b"'ab\\x0acd'"),
    ("ab\u202ecd", b"'ab\\u202ecd'"),               # RIGHT-TO-LEFT OVERRIDE
])
def test_an_invalid_ids_error_escapes_it_once(store, ident: str, shown: bytes) -> None:  # type: ignore[no-untyped-def]
    r = raw("sessions", "show", ident)
    assert r.returncode == 1
    no_control(r.stderr)
    assert r.stderr.splitlines()[0] == b"clinvk: error: invalid session id: " + shown


BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_bidi_controls_are_escaped_like_c1_controls(store) -> None:  # type: ignore[no-untyped-def]
    session = add_session(store, title="safe\u202eexe.txt " + BIDI_CONTROLS)
    listed = raw("sessions", "list").stdout.decode("utf-8")
    assert "safe\\u202eexe.txt" in listed and "\u202e" not in listed
    r = raw("sessions", "show", session.id)
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode("utf-8")
    assert not set(text) & set(BIDI_CONTROLS), text
    for c in BIDI_CONTROLS:
        assert f"\\u{ord(c):04x}" in text


@pytest.mark.parametrize("args", [
    ("sessions", "list", "--status", "{bad}"),
    ("sessions", "list", "--since", "{bad}"),
    ("sessions", "stats", "--by", "{bad}"),
    ("config", "get", "{bad}"),
    ("sessions", "show", "{bad}"),
])
def test_an_undecodable_byte_in_an_argument_shows_as_the_byte(store, args) -> None:  # type: ignore[no-untyped-def]
    bad = os.fsdecode(b"x\xffy")
    r = raw(*(a.replace("{bad}", bad) for a in args))
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert b"x\\xffy" in first and b"udc" not in first, first
