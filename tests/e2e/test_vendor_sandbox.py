"""Checks of scripts/vendor_sandbox.py and the install script's path logic (no vendor CLI needed)."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
INSTALL_SCRIPT = SCRIPTS / "install-vendor-clis.sh"

# scripts/ is not a package; tests load it by path exactly as documented.
_spec = importlib.util.spec_from_file_location(
    "vendor_sandbox_under_test", SCRIPTS / "vendor_sandbox.py"
)
assert _spec is not None and _spec.loader is not None
vendor_sandbox = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vendor_sandbox)

REQUIRED_ENV = {
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:4321",
    "ANTHROPIC_API_KEY": "test",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    "DISABLE_UPDATES": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",
    "MOCK_API_KEY": "test",
    "GEMINI_API_KEY": "test",
    "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:4321",
    "GEMINI_TELEMETRY_ENABLED": "false",
    "GEMINI_CLI_TRUST_WORKSPACE": "true",
}


def test_make_sandbox(tmp_path: Path) -> None:
    env = vendor_sandbox.make_sandbox(tmp_path / "sb", 4321)
    for key, value in REQUIRED_ENV.items():
        assert env[key] == value, key
    home = Path(env["HOME"])
    assert home == (tmp_path / "sb" / "home").resolve()
    assert Path(env["TMPDIR"]) == (tmp_path / "sb" / "tmp").resolve()
    assert Path(env["CLAUDE_CONFIG_DIR"]) == home / ".claude"
    assert Path(env["CODEX_HOME"]) == home / ".codex"
    assert Path(env["GEMINI_CLI_HOME"]) == home
    for key in ("HOME", "TMPDIR", "CLAUDE_CONFIG_DIR", "CODEX_HOME"):
        assert Path(env[key]).is_dir(), key

    codex = tomllib.loads((home / ".codex" / "config.toml").read_text())
    assert codex["model"] == "gpt-5.5"
    assert codex["model_provider"] == "mock"
    assert codex["check_for_update_on_startup"] is False
    assert codex["model_providers"]["mock"] == {
        "name": "Mock",
        "base_url": "http://127.0.0.1:4321/v1",
        "env_key": "MOCK_API_KEY",
        "wire_api": "responses",
        "request_max_retries": 0,
        "stream_max_retries": 0,
    }
    assert codex["features"]["plugins"] is False
    assert codex["analytics"]["enabled"] is False
    assert codex["feedback"]["enabled"] is False

    gemini = json.loads((home / ".gemini" / "settings.json").read_text())
    assert gemini["privacy"]["usageStatisticsEnabled"] is False
    assert gemini["telemetry"]["enabled"] is False
    assert gemini["security"]["auth"]["selectedType"] == "gemini-api-key"


def test_every_url_is_loopback(tmp_path: Path) -> None:
    env = vendor_sandbox.make_sandbox(tmp_path, 4321)
    urls = [v for v in env.values() if "://" in v]
    assert urls and all(u.startswith("http://127.0.0.1:4321") for u in urls)


def test_sandbox_environ_drops_outer_credentials(tmp_path: Path) -> None:
    outer = {
        "PATH": "/bin",
        "OPENAI_API_KEY": "real",
        "HTTPS_PROXY": "http://127.0.0.1:1",
        "HOME": "/home/me",
    }
    env = vendor_sandbox.sandbox_environ(vendor_sandbox.make_sandbox(tmp_path, 4321), outer)
    assert "OPENAI_API_KEY" not in env and "HTTPS_PROXY" not in env
    assert env["PATH"] == "/bin"
    assert env["HOME"] != "/home/me"


@pytest.mark.parametrize("fmt", ["json", "sh"])
def test_cli_output(tmp_path: Path, fmt: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "vendor_sandbox.py"),
            str(tmp_path),
            "--port",
            "4321",
            "--format",
            fmt,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if fmt == "json":
        env = json.loads(out)
    else:
        env = {}
        for line in out.splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export ") :].partition("=")
                env[key] = shlex.split(value)[0] if value else ""
    assert env == vendor_sandbox.make_sandbox(tmp_path, 4321)


def test_install_script_bin_dir(tmp_path: Path) -> None:
    def bin_dir(**extra: str) -> str:
        env = {
            k: v for k, v in os.environ.items() if k not in ("CLINVK_VENDOR_DIR", "XDG_CACHE_HOME")
        }
        env.update(extra)
        return subprocess.run(
            ["bash", str(INSTALL_SCRIPT), "--print-bin-dir"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.strip()

    assert bin_dir(CLINVK_VENDOR_DIR=str(tmp_path / "v")) == str(
        tmp_path / "v" / "node_modules" / ".bin"
    )
    cached = Path(bin_dir(XDG_CACHE_HOME=str(tmp_path / "cache")))
    # Outside the clone, keyed by the pin list.
    assert cached.parent.parent.parent == tmp_path / "cache" / "clinvk"
    assert cached.parent.parent.name.startswith("vendor-")
    assert cached.parts[-2:] == ("node_modules", ".bin")
