"""The [team] settings: a password never lives in config.toml; the URL is a postgresql one.
(No database needed.)"""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_clinvk


def test_a_password_in_the_config_file_is_refused_without_showing_it() -> None:
    config = Path(os.environ["CLINVK_CONFIG"])
    config.write_text('[team]\nurl = "postgresql://alice:s3cr3t-pw@db.example.com/clinvk"\n')
    ran = run_clinvk("team", "list")
    assert ran.code == 1
    first = ran.err.splitlines()[0]
    assert first.startswith("clinvk: error: ") and "team.url holds a password" in first
    assert "line 2" in first and "~/.pgpass" in first
    assert "s3cr3t-pw" not in ran.err


def test_config_set_refuses_a_password_and_keeps_the_file() -> None:
    config = Path(os.environ["CLINVK_CONFIG"])
    config.write_text("# mine\n")
    ran = run_clinvk("config", "set", "team.url", "postgresql://bob:hunter2@db/clinvk")
    assert ran.code == 1 and "holds a password" in ran.err
    assert config.read_text() == "# mine\n"
    ran = run_clinvk("config", "set", "team.url", "mysql://db/clinvk")
    assert ran.code == 1 and "must be a postgresql:// URL" in ran.err
    assert config.read_text() == "# mine\n"
    assert run_clinvk("config", "set", "team.url", "postgresql://bob@db/clinvk?sslmode=require"
                      ).code == 0
    assert run_clinvk("config", "set", "team.auto_push", "true").code == 0
    text = config.read_text()
    assert 'url = "postgresql://bob@db/clinvk?sslmode=require"' in text
    assert "auto_push = true" in text


def test_the_environment_may_carry_the_whole_url() -> None:
    # CLINVK_TEAM_URL is not the config file: a password there is the user's choice.
    ran = run_clinvk("team", "list", env={
        "CLINVK_TEAM_URL": "postgresql://carol:pw@/clinvk?host=/nonexistent-dir&port=1"})
    assert ran.code == 1
    assert ran.err.splitlines()[0].startswith("clinvk: error: cannot reach the team store")
    assert "hint:" in ran.err


def test_an_environment_url_of_another_kind_is_refused() -> None:
    ran = run_clinvk("team", "list", env={"CLINVK_TEAM_URL": "http://example.com"})
    assert ran.code == 1
    assert "CLINVK_TEAM_URL='http://example.com'" in ran.err
    assert "must be a postgresql:// URL" in ran.err
