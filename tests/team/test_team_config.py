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


def test_a_password_in_the_environment_url_is_never_shown() -> None:
    # A bad URL is named in the error of every command, with its password hidden.
    ran = run_clinvk("sessions", "list", env={"CLINVK_TEAM_URL": "postgresql://alice:pw-9x@[bad"})
    assert ran.code == 1
    assert "CLINVK_TEAM_URL='postgresql://alice:***@[bad'" in ran.err
    assert "pw-9x" not in ran.err
    # A conninfo string is not a URL: refused, its password= hidden too.
    ran = run_clinvk("team", "list", env={
        "CLINVK_TEAM_URL": "host=db password='se cret' dbname=clinvk"})
    assert ran.code == 1 and "must be a postgresql:// URL" in ran.err
    assert "se cret" not in ran.err and "password=***" in ran.err
    # Nor in what the database says, nor in `config show`.
    url = "postgresql://carol:pw-7y@/clinvk?host=/nonexistent-dir&port=1&password=pw-8z"
    ran = run_clinvk("team", "list", env={"CLINVK_TEAM_URL": url})
    assert ran.code == 1 and "cannot reach the team store" in ran.err
    shown = run_clinvk("config", "show", env={"CLINVK_TEAM_URL": url})
    assert shown.code == 0
    assert "postgresql://carol:***@/clinvk?host=/nonexistent-dir&port=1&password=***" in shown.out
    for said in (ran.out + ran.err, shown.out + shown.err):
        assert "pw-7y" not in said and "pw-8z" not in said


def test_redact_hides_url_and_conninfo_passwords() -> None:
    from clinvk.passwords import redact, url_secrets

    assert redact("postgresql://a:p@ss@host/db") == "postgresql://a:***@host/db"
    assert redact("postgres://:x@h") == "postgres://:***@h"
    assert redact("postgresql://a@host/db?sslmode=require") == "postgresql://a@host/db?sslmode=require"
    assert redact("host=h PASSWORD = 'a b' user=u") == "host=h PASSWORD = *** user=u"
    assert redact(r"password='a\' b' x") == "password=*** x"
    assert redact("failed: bad pw: hunter2", url_secrets("postgresql://u:hunter2@h/d")) == \
        "failed: bad pw: ***"
    assert url_secrets("postgresql://u:a%40b@h/d?password=q") == ("a%40b", "a@b", "q")
