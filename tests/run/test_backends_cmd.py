"""`clinvk backends`: found and missing vendor CLIs, versions, configured backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.run.conftest import Fakes


def test_lists_found_and_missing_with_install_command(fake: Fakes, run,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake.bin))
    fake.remove("gemini")
    r = run("backends")
    assert r.code == 0, r.err
    rows = {line.split()[0]: line for line in r.out.splitlines()[1:4]}
    assert "found" in rows["claude"] and "2.1.197 (Claude Code)" in rows["claude"]
    assert str(fake.bin / "codex") in rows["codex"] and "codex-cli 0.169.0" in rows["codex"]
    assert "missing" in rows["gemini"]
    assert "gemini is missing: npm install -g @google/gemini-cli" in r.out
    assert "claude (default)" in r.out


def test_json_includes_configured_backends(fake: Fakes, run, clinvk_home: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (clinvk_home / "config.toml").write_text(
        '[defaults]\nbackend = "codex"\n'
        '[backends.codex]\nmodel = "gpt-5.5"\n'
        '[backends.mine]\nadapter = "command"\ncommand = "no-such-tool-xyz"\nargv = ["{prompt}"]\n')
    data = run("backends", "--json").json()["backends"]
    by_name = {b["name"]: b for b in data}
    assert list(by_name) == ["claude", "codex", "gemini", "mine"]
    assert by_name["codex"]["model"] == "gpt-5.5" and by_name["codex"]["default"] is True
    assert by_name["claude"]["model"] == "vendor default"
    assert by_name["gemini"]["found"] is True and by_name["gemini"]["version"] == "0.61.0"
    mine = by_name["mine"]
    assert (mine["found"], mine["path"], mine["version"], mine["adapter"]) == (False, None, None, "command")
    assert "backends.mine.command" in mine["install_hint"]
