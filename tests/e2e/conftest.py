"""Fixtures for end-to-end tests against the real vendor CLIs and the mock model API.

    vendor_bin  -> Path of the dir holding claude, codex and gemini
    mock_api    -> MockAPI client for scripts/mockapi.py (one server per session,
                   reset before every test that uses it)
    vendor_env  -> dict[str, str]: a full environment with a fresh sandbox HOME
                   aimed at the mock, and vendor_bin first on PATH

Nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
MOCKAPI = SCRIPTS / "mockapi.py"
INSTALL_SCRIPT = SCRIPTS / "install-vendor-clis.sh"
VENDOR_CLIS = ("claude", "codex", "gemini")

# Read at import: tests/conftest.py's autouse fixture strips CLINVK_* from the
# environment of every test, and a fixture could run after that.
VENDOR_BIN_ENV = os.environ.get("CLINVK_VENDOR_BIN")
VENDOR_DIR_ENV = os.environ.get("CLINVK_VENDOR_DIR")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: runs the real vendor CLIs against the mock model API on loopback"
    )


def load_script(name: str) -> ModuleType:
    """Import scripts/<name>.py; scripts/ is not a package, so go by path."""
    path = SCRIPTS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"clinvk_scripts_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    # Registered before exec so dataclasses etc. can resolve the module.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


vendor_sandbox = load_script("vendor_sandbox")


# --------------------------------------------------------------------------
# vendor_bin
# --------------------------------------------------------------------------


def default_vendor_bin() -> Path:
    # Ask the install script, so the pin list and its hash live in one place.
    env = dict(os.environ)
    if VENDOR_DIR_ENV:
        env["CLINVK_VENDOR_DIR"] = VENDOR_DIR_ENV
    out = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "--print-bin-dir"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    ).stdout
    return Path(out.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def vendor_bin() -> Path:
    """Directory with the pinned claude/codex/gemini; skips (fails on CI) when absent."""
    where = Path(VENDOR_BIN_ENV) if VENDOR_BIN_ENV else default_vendor_bin()
    missing = [name for name in VENDOR_CLIS if not os.access(where / name, os.X_OK)]
    if missing:
        message = (
            f"vendor CLIs {missing} not found in {where}; run scripts/install-vendor-clis.sh "
            "or set CLINVK_VENDOR_BIN"
        )
        # On CI a missing install is a broken pipeline, not an optional extra.
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return where


# --------------------------------------------------------------------------
# mock_api
# --------------------------------------------------------------------------


class MockAPI:
    """Thin client for a running scripts/mockapi.py."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        # The server's one-line-per-request stderr log, handy when a test fails.
        self.log_path = log_path

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def requests(
        self, provider: str | None = None, *, bodies: bool = False
    ) -> list[dict[str, Any]]:
        """Model requests seen since the last reset, oldest first.

        Each: provider, path, kind ("generate"|"count_tokens"), model, stream,
        user_turns, last_user_text, client, time, status; plus body and
        headers when ``bodies`` is true.
        """
        query = []
        if provider:
            query.append(f"provider={provider}")
        if bodies:
            query.append("bodies=1")
        suffix = "?" + "&".join(query) if query else ""
        result: list[dict[str, Any]] = self._call("GET", "/_mock/requests" + suffix)
        return result

    def fail(
        self,
        status: int = 500,
        message: str | None = None,
        *,
        count: int = 1,
        provider: str = "any",
        match: str = "",
    ) -> None:
        """Answer the next ``count`` matching model requests with HTTP ``status``."""
        payload: dict[str, Any] = {"status": status, "count": count, "provider": provider}
        if message is not None:
            payload["message"] = message
        if match:
            payload["match"] = match
        self._call("POST", "/_mock/fail", payload)

    def delay(
        self, seconds: float, *, count: int = 1, provider: str = "any", match: str = ""
    ) -> None:
        """Hold the next ``count`` matching model requests for ``seconds`` before answering."""
        payload: dict[str, Any] = {"seconds": seconds, "count": count, "provider": provider}
        if match:
            payload["match"] = match
        self._call("POST", "/_mock/delay", payload)

    def tool(
        self,
        calls: list[dict[str, Any]],
        *,
        provider: str = "any",
        text: str = "",
        final: str | None = None,
        count: int = 1,
        match: str = "",
        undeclared: bool = False,
    ) -> None:
        """Answer the next ``count`` requests that declare these tools with tool calls.

        ``calls`` is a list of {"name", "input"}; ``text`` is chatter sent before them;
        ``final`` answers the request that brings the tool results back.
        """
        payload: dict[str, Any] = {
            "calls": calls, "provider": provider, "text": text, "count": count,
            "match": match, "undeclared": undeclared,
        }
        if final is not None:
            payload["final"] = final
        self._call("POST", "/_mock/tool", payload)

    def reset(self) -> None:
        """Drop fail/delay rules and the request log; release delayed requests."""
        self._call("POST", "/_mock/reset", {})


@pytest.fixture(scope="session")
def mock_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockAPI]:
    """One mock server for the whole session (startup is cheap, but not free)."""
    work = tmp_path_factory.mktemp("mockapi")
    port_file = work / "port"
    log_path = work / "mockapi.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(MOCKAPI), "--port", "0", "--port-file", str(port_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 15
        while not port_file.exists():
            if proc.poll() is not None:
                pytest.fail(f"mockapi exited with {proc.returncode}: {log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"mockapi did not start: {log_path.read_text()}")
            time.sleep(0.02)
        api = MockAPI(int(port_file.read_text().strip()), log_path)
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def mock_api(mock_api_server: MockAPI) -> MockAPI:
    """The session's mock, reset so each test starts with no rules and an empty log."""
    try:
        mock_api_server.reset()
    except urllib.error.URLError as exc:
        pytest.fail(f"mockapi is not answering: {exc}; log: {mock_api_server.log_path.read_text()}")
    return mock_api_server


# --------------------------------------------------------------------------
# vendor_env
# --------------------------------------------------------------------------


@pytest.fixture
def vendor_env(tmp_path: Path, vendor_bin: Path, mock_api: MockAPI) -> dict[str, str]:
    """Full environment for running a vendor CLI (or clinvk) against the mock.

    A fresh sandbox per test (HOME, CLAUDE_CONFIG_DIR, CODEX_HOME,
    GEMINI_CLI_HOME, TMPDIR under tmp_path/"sandbox"), vendor credentials and
    proxies from the outer environment removed, vendor_bin first on PATH.
    """
    sandbox = vendor_sandbox.make_sandbox(tmp_path / "sandbox", mock_api.port)
    env: dict[str, str] = vendor_sandbox.sandbox_environ(sandbox)
    env["PATH"] = os.pathsep.join([str(vendor_bin), env.get("PATH", os.defpath)])
    return env
