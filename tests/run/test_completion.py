"""Shell completion: the script `clinvk completion SHELL` prints, run in a real shell
against a store made by real clinvk commands, and `clinvk --install-completion`.

The bash tests source the script in a real `bash`, set COMP_WORDS/COMP_CWORD as bash
does on a TAB press, call the completion function and read COMPREPLY: the candidates
come from a real `clinvk __complete` process, so what is asserted is what a user sees.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clinvk.app import build_app
from clinvk.model import STATUSES
from clinvk.stats import GROUPS, TOOL_GROUP
from clinvk.store import SessionStore
from tests.conftest import add_session, iter_sessions
from tests.run.conftest import REPO, Fakes, run_proc

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


@pytest.fixture
def launcher(tmp_path: Path) -> Path:
    """A directory holding a `clinvk` executable that runs this checkout, as the
    script finds clinvk on PATH."""
    bin_dir = tmp_path / "clinvk-bin"
    bin_dir.mkdir()
    exe = bin_dir / "clinvk"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m clinvk "$@"\n')
    exe.chmod(0o755)
    return bin_dir


@pytest.fixture
def bash_script(tmp_path: Path) -> Path:
    result = run_proc("completion", "bash")
    assert result.code == 0, result.err
    path = tmp_path / "clinvk.bash"
    path.write_text(result.out)
    return path


def tab(script: Path, launcher: Path, *words: str) -> list[str]:
    """COMPREPLY after TAB at the end of `clinvk WORDS…` (the last word is the one
    being completed, "" after a space), in a real bash."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in ("clinvk", *words))
    program = (f'source "{script}"\n'
               f"COMP_WORDS=({quoted})\n"
               f"COMP_CWORD={len(words)}\n"
               f'COMP_LINE="${{COMP_WORDS[*]}}"\n'
               f"COMP_POINT=${{#COMP_LINE}}\n"
               "_clinvk\n"
               "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = dict(os.environ)
    env["PATH"] = f"{launcher}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([BASH or "bash", "--norc", "--noprofile", "-c", program],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr  # a TAB press never prints anything else
    # Candidates are shell-quoted as bash inserts them (claude\,codex): compare the
    # words the command line then holds.
    return [shlex.split(line)[0] for line in proc.stdout.splitlines() if line]


def make_sessions(fake: Fakes, store: SessionStore) -> list[str]:
    """Three sessions made by `clinvk prompt` (fake vendors), then the oldest resumed:
    their ids, most recently used first."""
    for title, tag in (("alpha task", "review"), ("beta task", "draft"), ("gamma task", "review")):
        result = run_proc("prompt", "-b", "claude", "--title", title, "--tag", tag, "say hi")
        assert result.code == 0, result.err
        time.sleep(0.02)  # distinct last-use times
    by_title = {s.title: s.id for _p, s, _e in iter_sessions(store) if s is not None}
    result = run_proc("resume", by_title["alpha task"], "once more")
    assert result.code == 0, result.err
    return [by_title["alpha task"], by_title["gamma task"], by_title["beta task"]]


# ----------------------------------------------------------------- bash, for real
@needs_bash
def test_bash_completes_session_ids_newest_first_from_the_catalog(
        fake: Fakes, workdir: Path, store: SessionStore, launcher: Path,
        bash_script: Path) -> None:
    newest_first = make_sessions(fake, store)
    assert run_proc("sessions", "list").code == 0  # the catalog exists, as it usually does
    assert tab(bash_script, launcher, "sessions", "show", "") == newest_first
    # What was typed narrows the ids; a prefix that matches nothing offers nothing.
    gamma = newest_first[1]
    assert tab(bash_script, launcher, "sessions", "show", gamma[:3]) == [
        i for i in newest_first if i.startswith(gamma[:3])]
    assert tab(bash_script, launcher, "sessions", "show", "zzzzzzzz") == []
    # Every command that takes an id completes it the same way.
    assert tab(bash_script, launcher, "resume", "") == newest_first
    assert tab(bash_script, launcher, "sessions", "history", "") == newest_first
    # An id already given to `delete` is not offered again.
    assert tab(bash_script, launcher, "sessions", "delete", newest_first[0], "") == \
        newest_first[1:]


@needs_bash
def test_bash_builds_the_missing_catalog_of_a_small_store(
        fake: Fakes, workdir: Path, store: SessionStore, launcher: Path,
        bash_script: Path) -> None:
    newest_first = make_sessions(fake, store)  # `prompt` alone makes no catalog
    catalog = store.root / "catalog.db"
    assert not catalog.exists()
    assert tab(bash_script, launcher, "sessions", "show", "") == newest_first
    assert catalog.exists()
    assert tab(bash_script, launcher, "sessions", "list", "--tag", "") == ["review", "draft"]


@needs_bash
def test_bash_completes_statuses_and_fixed_words(launcher: Path, bash_script: Path) -> None:
    assert tab(bash_script, launcher, "sessions", "list", "--status", "") == list(STATUSES)
    assert tab(bash_script, launcher, "sessions", "list", "--status", "c") == ["completed"]
    # --status=c<TAB>: bash splits the word at "=" (COMP_WORDBREAKS).
    assert tab(bash_script, launcher, "sessions", "list", "--status", "=", "c") == ["completed"]
    assert tab(bash_script, launcher, "sessions", "stats", "--by", "") == [*GROUPS, TOOL_GROUP]
    assert tab(bash_script, launcher, "sessions", "sh") == ["show"]
    assert tab(bash_script, launcher, "sessions", "list", "--sta") == ["--status"]
    assert "completion" in tab(bash_script, launcher, "co")


@needs_bash
def test_bash_completes_tags_backends_and_config_keys(
        fake: Fakes, workdir: Path, store: SessionStore, launcher: Path,
        bash_script: Path, clinvk_home: Path) -> None:
    make_sessions(fake, store)
    # review is on two sessions, draft on one: the most used first.
    assert tab(bash_script, launcher, "sessions", "list", "--tag", "") == ["review", "draft"]
    (clinvk_home / "config.toml").write_text(
        '[backends.local]\nadapter = "command"\ncommand = "echo"\nargv = ["{prompt}"]\n')
    assert tab(bash_script, launcher, "prompt", "--backend", "") == [
        "claude", "codex", "gemini", "local"]
    assert tab(bash_script, launcher, "compare", "-b", "claude,") == [
        "claude,codex", "claude,gemini", "claude,local"]
    keys = tab(bash_script, launcher, "config", "set", "")
    assert {"session.retention_days", "defaults.backend", "backends.local.command",
            "backends.codex.model"} <= set(keys)
    assert tab(bash_script, launcher, "config", "get", "session.") == [
        "session.retention_days", "session.list_limit"]


# ----------------------------------------------------------------- the protocol
def test_ids_carry_their_titles_for_shells_that_show_descriptions(
        fake: Fakes, workdir: Path, store: SessionStore) -> None:
    newest_first = make_sessions(fake, store)
    assert run_proc("sessions", "list").code == 0
    result = run_proc("__complete", "sessions", "show", "")
    assert result.code == 0 and result.err == ""
    records = result.out.split("\x1fbegin\n", 1)[1].splitlines()
    assert records == [f"{i}\t{t}" for i, t in
                       zip(newest_first, ("alpha task", "gamma task", "beta task"), strict=True)]


def test_completion_sees_a_session_written_behind_the_catalogs_back(
        store: SessionStore) -> None:
    first = add_session(store, title="known")
    assert run_proc("sessions", "list").code == 0
    second = add_session(store, title="added later")  # no catalog update from here
    os.utime(store.path_for(second.id), (time.time() + 5, time.time() + 5))
    result = run_proc("__complete", "sessions", "show", "")
    ids = [line.split("\t")[0] for line in result.out.split("\x1fbegin\n", 1)[1].splitlines()]
    assert set(ids) == {first.id, second.id}


def test_a_broken_store_offers_nothing_and_says_nothing(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run_proc("__complete", "sessions", "show", "", env={"CLINVK_HOME": str(not_a_dir)})
    assert (result.code, result.err) == (0, "")
    assert result.out.split("\x1fbegin\n", 1)[1] == ""


def test_a_damaged_catalog_of_a_small_store_is_rebuilt(store: SessionStore) -> None:
    session = add_session(store, title="one")
    assert run_proc("sessions", "list").code == 0
    catalog = store.root / "catalog.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    catalog.write_bytes(b"not a database" * 100)
    result = run_proc("__complete", "sessions", "show", "")
    assert result.code == 0
    assert result.out.split("\x1fbegin\n", 1)[1] == f"{session.id}\tone\n"
    assert not catalog.read_bytes().startswith(b"not a database")


@pytest.mark.parametrize("state", ["missing", "damaged"])
def test_a_large_store_without_a_usable_catalog_answers_from_the_file_names(
        state: str, store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import clinvk.catalog
    from clinvk.completion import session_choices, tag_choices

    older = add_session(store, title="older", tags=["x"])
    newer = add_session(store, title="newer")
    os.utime(store.path_for(older.id), (time.time() - 60, time.time() - 60))
    catalog = store.root / "catalog.db"
    if state == "damaged":
        catalog.write_bytes(b"not a database" * 100)
    monkeypatch.setattr(clinvk.catalog, "PEEK_BUILD_UP_TO", 1)  # "large" is more than 1
    assert session_choices("") == [(newer.id, ""), (older.id, "")]
    assert session_choices(older.id[:3]) == [(older.id, "")] + (
        [(newer.id, "")] if newer.id.startswith(older.id[:3]) else [])
    assert tag_choices() == []  # tags need the catalog
    # Nothing was built or repaired at TAB time.
    if state == "missing":
        assert not catalog.exists()
    else:
        assert catalog.read_bytes() == b"not a database" * 100


def test_peek_leaves_a_catalog_many_shards_behind_as_it_is(store: SessionStore) -> None:
    from clinvk.catalog import PEEK_MAX_STALE_SHARDS, Catalog
    from clinvk.catalog.lookup import recent_ids

    known = add_session(store, title="known")
    Catalog.open(store).close()
    shards: set[str] = set()
    while len(shards) <= PEEK_MAX_STALE_SHARDS:
        shards.add(add_session(store, title="new").id[:2])
    catalog = Catalog.peek(store)
    assert catalog is not None and catalog.conn is not None
    try:
        assert [i for i, _t in recent_ids(catalog.conn, "", 100)] == [known.id]
    finally:
        catalog.close()
    # A full open brings it up to date as ever.
    opened = Catalog.open(store)
    assert opened.conn is not None
    assert len(recent_ids(opened.conn, "", 100)) == 1 + sum(1 for _ in iter_sessions(store)) - 1
    opened.close()


# ----------------------------------------------------------------- the scripts
def _every_command() -> list[tuple[tuple[str, ...], list[str]]]:
    """Each command path with its option names, walked from the app itself."""
    from cyclopts import App

    found: list[tuple[tuple[str, ...], list[str]]] = []

    def walk(app: App, path: tuple[str, ...]) -> None:
        for name in list(app):
            if name.startswith("-") or name == "__complete":
                continue
            sub = app[name]
            if sub is app:
                continue
            options = [] if sub.default_command is None else [
                n for arg in sub.assemble_argument_collection()
                if arg.show for n in arg.parameter.name or () if n.startswith("-")]
            found.append(((*path, name), options))
            walk(sub, (*path, name))

    walk(build_app(), ())
    return found


def test_the_bash_script_covers_every_command_and_option() -> None:
    result = run_proc("completion", "bash")
    assert result.code == 0, result.err
    script = result.out
    commands = _every_command()
    assert {("sessions", "show"), ("config", "set"), ("completion",), ("sessions", "sync"),
            ("sessions", "export")} <= {path for path, _ in commands}
    for path, options in commands:
        label = f'"{" ".join(path)}")' if len(path) > 1 else f'"{path[0]}")'
        assert label in script, path
        block = script.split(label, 1)[1].split(";;", 1)[0]
        for option in options:
            assert f'"{option}"' in block, (path, option)


@pytest.mark.parametrize("shell,check", [("zsh", ["zsh", "-n"]),
                                         ("fish", ["fish", "--no-execute"]),
                                         ("bash", ["bash", "-n"])])
def test_each_script_is_valid_for_its_shell(shell: str, check: list[str],
                                            tmp_path: Path) -> None:
    result = run_proc("completion", shell)
    assert result.code == 0, result.err
    assert "__complete" in result.out and "sessions" in result.out
    if shutil.which(check[0]) is None:
        pytest.skip(f"{check[0]} is not installed")
    path = tmp_path / f"clinvk.{shell}"
    path.write_text(result.out)
    proc = subprocess.run([*check, str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def test_an_unknown_shell_is_a_clear_error() -> None:
    result = run_proc("completion", "tcsh")
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("clinvk: error: ") and "tcsh" in result.err
    assert "Traceback" not in result.err


# ----------------------------------------------------------------- installing
def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("shell,script,startup", [
    ("bash", ".local/share/bash-completion/completions/clinvk", ".bashrc"),
    ("zsh", ".zsh/completions/_cyclopts_clinvk", ".zshrc"),
    ("fish", ".config/fish/completions/clinvk.fish", None),
])
def test_install_writes_the_script_and_one_startup_line_under_home(
        shell: str, script: str, startup: str | None, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "ZSH": "", "ZSH_CUSTOM": ""}
    printed = run_proc("completion", shell).out
    for attempt in range(2):
        result = run_proc("--install-completion", shell, env=env)
        assert result.code == 0, result.err
        assert str(home / script) in result.out
    assert (home / script).read_text() == printed
    assert _files(home) == {script} | ({startup} if startup else set())
    if startup:
        lines = (home / startup).read_text().splitlines()
        loading = [line for line in lines if str((home / script).parent) in line]
        assert len(loading) == 1, lines  # once, however often it is installed
        assert "already loads it" in result.out


@needs_bash
def test_install_quotes_a_hostile_home_in_what_it_writes_and_prints(tmp_path: Path) -> None:
    """A home directory holding `$(…)`, a space and a quote is a name in ~/.bashrc and
    ~/.zshrc (never run at shell start), and in what is printed to paste."""
    home = tmp_path / "h $(touch PWNED) it's"
    home.mkdir()
    env = {"HOME": str(home), "ZSH": "", "ZSH_CUSTOM": ""}
    printed = {shell: run_proc("--install-completion", shell, env=env) for shell in ("bash", "zsh")}
    assert all(r.code == 0 for r in printed.values()), printed

    def sh(program: str) -> subprocess.CompletedProcess[str]:
        assert BASH is not None
        return subprocess.run([BASH, "-c", program], cwd=tmp_path, check=False, timeout=30,
                              env={**os.environ, "HOME": str(home)}, capture_output=True,
                              text=True)

    loaded = sh('. "$HOME/.bashrc" && complete -p clinvk')
    assert loaded.returncode == 0 and "clinvk" in loaded.stdout, loaded.stderr
    zsh_line = next(line for line in (home / ".zshrc").read_text().splitlines()
                    if line.startswith("fpath="))
    fpath = sh(f'{zsh_line}\nprintf "%s" "${{fpath[0]}}"')
    assert fpath.stdout == str(home / ".zsh" / "completions")
    source = next(line for line in printed["bash"].out.splitlines() if "run: source" in line)
    command = source.split("run: ", 1)[1].removesuffix(") to use it.")
    pasted = sh(f"{command} && complete -p clinvk")
    assert pasted.returncode == 0, pasted.stderr
    assert not list(tmp_path.rglob("PWNED"))


def test_install_to_a_chosen_file_without_touching_startup_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    target = tmp_path / "out" / "clinvk.bash"
    result = run_proc("--install-completion", "bash", "--output", str(target), "--no-startup",
                      env={"HOME": str(home)})
    assert result.code == 0, result.err
    assert target.read_text().startswith("# Bash completion for clinvk")
    assert _files(home) == set()


def test_install_without_a_shell_it_can_tell_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "SHELL": "/bin/false"}
    for name in ("ZSH_VERSION", "BASH_VERSION", "FISH_VERSION"):
        env[name] = ""
    result = run_proc("--install-completion", env=env)
    assert result.code == 1
    assert result.err.splitlines()[0] == "clinvk: error: cannot tell which shell you use"
    assert "hint: name it: clinvk --install-completion bash" in result.err
    assert _files(home) == set()


def test_install_into_an_unwritable_place_fails_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory is needed")
    result = run_proc("--install-completion", "fish", "--output", str(blocker / "x.fish"),
                      env={"HOME": str(tmp_path)})
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.startswith("clinvk: error: cannot install the fish completion script")
    assert "hint: print it instead" in result.err


def test_install_completion_help_has_an_example() -> None:
    result = run_proc("--install-completion", "--help")
    assert result.code == 0, result.err
    assert result.out.startswith("Usage: clinvk --install-completion")
    assert "Example: clinvk --install-completion bash" in result.out


# ----------------------------------------------------------------- the quick path
WORDS = [
    ["sessions", "show", ""], ["sessions", "show", "a"], ["resume", ""], ["resume", "x", ""],
    ["sessions", "delete", "KNOWN", ""], ["wait", "KNOWN", ""],
    ["wait", "KNOWN", "--timeout", "5", ""], ["sessions", "delete", "KNOWN", "--force", ""],
    ["sessions", "list", "--status", ""], ["sessions", "list", "-n", "5", "--tag", "r"],
    ["sessions", "list", "--json", "--backend", ""], ["sessions", "stats", "--by", ""],
    ["sessions", "tag", "KNOWN", "+"], ["sessions", "tag", "KNOWN", "+a", ""],
    ["config", "set", ""], ["config", "get", "session."], ["compare", "-b", "claude,"],
    ["sessions", "sync", "--from", "codex,"], ["prompt", "--tag", ""], ["cancel", ""],
    ["sessions", "export", "KNOWN", ""], ["sessions", "rename", "KNOWN", ""],
    ["sessions", "history", "--json", ""], ["sessions", "list", "--status=c"],
    ["sessions", "show", "--", ""], ["config", "set", "--key", ""], ["sessions", "list", ""],
    ["prompt", "hello", ""], ["sessions", "bogus", ""], [""],
    ["sessions", "tag", "KNOWN", "--wait", "=", ""], ["sessions", "list", "--status", "=", "c"],
]


def test_the_table_answers_as_cyclopts_does(store: SessionStore) -> None:
    """For every word list it answers, clinvk.completion.table gives exactly what
    cyclopts' own resolution gives; it answers the everyday cases itself."""
    from cyclopts.completion._engine import compute_completions

    from clinvk.catalog import Catalog
    from clinvk.completion import VALUES, table

    known = add_session(store, title="known", tags=["review"])
    add_session(store, title="other", tags=["alpha", "review"])
    Catalog.open(store).close()
    app = build_app()
    built = table.build(app)
    answered = set()
    for words in WORDS:
        words = [w.replace("KNOWN", known.id) for w in words]
        slot = table.slot(built, words)
        if slot is None:
            continue
        answered.add(" ".join(words[:2]))
        kind, given = slot
        quick = VALUES[kind](words[-1], set(given))
        slow = [(c.value, c.help) for c in compute_completions(app, list(words))]
        assert quick == slow, words
    assert {"sessions show", "resume ", "sessions delete", "wait " + known.id,
            "sessions list", "sessions stats", "sessions tag", "config set", "config get",
            "compare -b", "sessions sync", "prompt --tag", "cancel ", "sessions export"
            } <= answered
    # What it leaves to cyclopts: `--`, an --opt=value word, an option that is also a
    # positional, a bare prompt, an unknown command, a list after an option.
    for words in (["sessions", "show", "--", ""], ["sessions", "list", "--status=c"],
                  ["config", "set", "--key", ""], ["prompt", "hello", ""],
                  ["sessions", "bogus", ""], ["wait", "abcd", "--timeout", "5", ""],
                  ["sessions", "tag", "abcd", "--wait", "=", ""],
                  ["sessions", "list", "--status", "=", "c"]):
        assert table.slot(built, words) is None, words


def test_a_table_of_other_code_is_not_trusted(tmp_path: Path) -> None:
    from clinvk.completion import table

    built = table.build(build_app())
    table.save(tmp_path, built)
    assert table.load(tmp_path) == built
    table.save(tmp_path, {**built, "fingerprint": "made-by-another-clinvk"})
    assert table.load(tmp_path) is None
    assert table.answer(tmp_path, ["sessions", "list", "--status", ""]) is None


@needs_bash
def test_bash_answers_the_same_with_or_without_the_table(
        store: SessionStore, launcher: Path, bash_script: Path, clinvk_home: Path) -> None:
    from clinvk.completion import table

    sessions = [add_session(store, title=f"s{i}", age_days=i) for i in range(3)]
    cached = clinvk_home / "cache" / "clinvk" / table.FILE_NAME
    assert cached.is_file()  # `clinvk completion bash` wrote it
    with_table = tab(bash_script, launcher, "sessions", "show", "")
    cached.unlink()
    without = tab(bash_script, launcher, "sessions", "show", "")
    assert with_table == without == [s.id for s in sessions]
    assert cached.is_file()  # written again by the press that needed cyclopts


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_ids_with_their_titles_newest_first(
        fake: Fakes, workdir: Path, store: SessionStore, launcher: Path,
        tmp_path: Path) -> None:
    newest_first = make_sessions(fake, store)
    result = run_proc("completion", "fish")
    assert result.code == 0, result.err
    script = tmp_path / "clinvk.fish"
    script.write_text(result.out)
    env = dict(os.environ)
    env["PATH"] = f"{launcher}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        ["fish", "--no-config", "-c",
         (f"source {script}; complete -C 'clinvk sessions show '; echo ==; "
          "complete -C 'clinvk sessions list --status c'")],
        capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    ids, statuses = proc.stdout.split("==\n")
    assert ids.splitlines() == [f"{i}\t{t}" for i, t in
                                zip(newest_first, ("alpha task", "gamma task", "beta task"),
                                    strict=True)]
    assert [line.split("\t")[0] for line in statuses.splitlines()] == ["completed"]
