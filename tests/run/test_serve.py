"""`clinvk serve`: a real `clinvk serve` process (Uvicorn on 127.0.0.1, a free port), httpx
as the client. The store is made by real clinvk commands with the fake vendors; every
endpoint's JSON is compared with what the CLI's `--json` prints for the same question.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, cli_json, run_clinvk
from tests.run.conftest import Fakes

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, *flags: str, env: dict[str, str] | None = None,
                 token: str | None = TOKEN) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = dict(os.environ)
        full["PYTHONPATH"] = str(REPO) + os.pathsep + full.get("PYTHONPATH", "")
        if token is not None:
            full["CLINVK_SERVER_TOKEN"] = token
        full.update(env or {})
        self.log = Path(os.environ["CLINVK_HOME"]) / f"serve-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clinvk", "serve", "--port", str(self.port), *flags],
            env=full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"))
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the server never came up"
            time.sleep(0.1)
        self.client = httpx.Client(base_url=self.url, timeout=60,
                                   headers={"Authorization": f"Bearer {token or ''}"})

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[Server], *flags: str, **kw: Any) -> Server:
    server = Server(*flags, **kw)
    servers.append(server)
    return server


@pytest.fixture
def store(fake: Fakes, workdir: Path) -> dict[str, str]:
    first = cli_json("prompt", "-b", "claude", "-o", "json", "-w", str(workdir),
                     "find the parser bug")
    second = cli_json("prompt", "-b", "codex", "-o", "json", "-w", str(workdir),
                      "write the changelog")
    return {"first": first["id"], "second": second["id"]}


def test_auth_none_wrong_right_and_healthz_needs_none(servers: list[Server],
                                                      store: dict[str, str]) -> None:
    s = serve(servers)
    assert httpx.get(s.url + "/healthz").json()["ok"] is True
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"},
                    {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
        for method, path in (("GET", "/v1/sessions"), ("GET", "/openapi.json"),
                             ("DELETE", f"/v1/sessions/{store['first']}"), ("POST", "/mcp")):
            r = httpx.request(method, s.url + path, headers=headers)
            assert r.status_code == 401, (headers, path)
            assert r.content == b"" and r.headers["www-authenticate"] == "Bearer"
    assert s.client.get("/v1/sessions").json()["total"] == 2  # nothing was deleted


def test_read_endpoints_are_the_cli_json(servers: list[Server], store: dict[str, str],
                                         workdir: Path) -> None:
    s = serve(servers)
    first = store["first"]
    c = s.client
    assert c.get("/v1/sessions").json() == cli_json("sessions", "list", "--json")
    assert c.get("/v1/sessions", params={"backend": "codex"}).json() == \
        cli_json("sessions", "list", "--json", "-b", "codex")
    page = c.get("/v1/sessions", params={"limit": 1, "offset": 1}).json()
    assert page == cli_json("sessions", "list", "--json", "-n", "1", "--offset", "1")
    assert page["total"] == 2 and len(page["items"]) == 1
    assert c.get("/v1/sessions", params={"workdir": str(workdir)}).json()["total"] == 2
    assert c.get(f"/v1/sessions/{first[:6]}").json() == \
        cli_json("sessions", "show", first, "--json")
    assert c.get(f"/v1/sessions/{first}/turns").json() == \
        cli_json("sessions", "history", first, "--json")
    assert c.get(f"/v1/sessions/{first}/turns", params={"tools": 1}).json() == \
        cli_json("sessions", "history", first, "--json", "--tools")
    got = c.get("/v1/stats", params={"by": "backend"}).json()
    want = cli_json("sessions", "stats", "--json", "--by", "backend")
    assert got["totals"] == want["totals"] and got["groups"] == want["groups"]
    found = c.get("/v1/search", params={"q": "changelog"}).json()
    assert found == cli_json("sessions", "list", "--json", "-q", "changelog")
    assert [i["id"] for i in found["items"]] == [store["second"]]


def test_errors_keep_the_cli_message_and_exit_code(servers: list[Server],
                                                   store: dict[str, str]) -> None:
    s = serve(servers)
    c = s.client
    ran = run_clinvk("sessions", "show", "zzzz9999")
    missing = c.get("/v1/sessions/zzzz9999")
    assert missing.status_code == 404
    assert f"clinvk: error: {missing.json()['error']}" == ran.err.splitlines()[0]
    assert missing.json()["exit_code"] == ran.code == 1
    bad = c.get("/v1/sessions", params={"status": "bogus"})
    assert bad.status_code == 400 and "invalid status filter" in bad.json()["error"]
    assert c.get("/v1/sessions", params={"colour": "red"}).status_code == 400
    assert c.get("/v1/search").status_code == 400
    assert c.post("/v1/prompt", json={"prompt": "hi"}).status_code == 404  # not served


def test_delete_follows_the_cli_busy_rules(servers: list[Server], store: dict[str, str],
                                           fake: Fakes) -> None:
    fake.set(SLEEP_BEFORE=30)  # the server's children inherit its environment
    s = serve(servers, "--allow-run")
    gone = s.client.delete(f"/v1/sessions/{store['second']}")
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert run_clinvk("sessions", "show", store["second"]).code == 1
    assert s.client.delete(f"/v1/sessions/{store['second']}").status_code == 404
    running = threading.Thread(target=s.client.post, args=(
        f"/v1/sessions/{store['first']}/resume",), kwargs={"json": {"prompt": "go on"}})
    running.start()
    wait_running(s, store["first"])
    busy = s.client.delete(f"/v1/sessions/{store['first']}")
    assert busy.status_code == 409 and busy.json()["exit_code"] == 4
    assert "is running" in busy.json()["error"]
    stopped = s.client.post(f"/v1/sessions/{store['first']}/cancel")
    assert stopped.status_code == 200 and stopped.json()["cancelled"] is True
    running.join(30)
    assert not running.is_alive()
    assert s.client.get(f"/v1/sessions/{store['first']}").json()["status"] != "running"


def wait_running(s: Server, ident: str) -> None:
    deadline = time.monotonic() + 20
    while s.client.get(f"/v1/sessions/{ident}").json()["status"] != "running":
        assert time.monotonic() < deadline, "the turn never started"
        time.sleep(0.1)


def test_prompt_and_resume_return_the_cli_result(servers: list[Server], store: dict[str, str],
                                                 fake: Fakes, workdir: Path) -> None:
    s = serve(servers, "--allow-run")
    made = s.client.post("/v1/prompt", json={"prompt": "summarize the repo", "backend": "gemini",
                                             "workdir": str(workdir), "tags": ["api"]})
    assert made.status_code == 200, made.text
    sid = made.json()["id"]
    resumed = s.client.post(f"/v1/sessions/{sid}/resume", json={"prompt": "shorter please"})
    assert resumed.status_code == 200 and resumed.json()["id"] == sid
    record = cli_json("sessions", "show", sid, "--json")
    assert record["backend"] == "gemini" and record["tags"] == ["api"]
    assert [t["prompt"] for t in record["turns"]] == ["summarize the repo", "shorter please"]
    assert fake.last()["cwd"] == str(workdir)
    bad = s.client.post("/v1/prompt", json={"prompt": "hi", "backend": 3})
    assert bad.status_code == 400 and "'backend'" in bad.json()["error"]
    assert s.client.post("/v1/prompt", json={"prompt": ""}).status_code == 400
    assert s.client.post("/v1/prompt", json={"prompt": "x", "nope": 1}).status_code == 400
    unknown = s.client.post("/v1/sessions/zzzz9999/resume", json={"prompt": "x"})
    assert unknown.status_code == 404 and unknown.json()["exit_code"] == 4


def test_the_vendor_never_sees_the_token(servers: list[Server], store: dict[str, str],
                                         fake: Fakes, tmp_path: Path) -> None:
    # A backend whose command prints its environment: what the turn's child was given.
    cfg = Path(os.environ["CLINVK_CONFIG"])
    script = tmp_path / "envdump"
    script.write_text("#!/bin/sh\nenv | cut -d= -f1 | tr '\\n' ' '\n")
    script.chmod(0o755)
    cfg.write_text(f'[backends.envdump]\nadapter = "command"\ncommand = "{script}"\n'
                   'argv = ["{prompt}"]\n')
    s = serve(servers, "--allow-run", env={"SECRET_CANARY": "kept"})
    made = s.client.post("/v1/prompt", json={"prompt": "hi", "backend": "envdump"})
    assert made.status_code == 200, made.text
    names = cli_json("sessions", "show", made.json()["id"], "--json")["turns"][0]["response"]
    assert "SECRET_CANARY" in names and "PATH" in names
    assert "CLINVK_SERVER_TOKEN" not in names


def test_resume_streams_server_sent_events(servers: list[Server], store: dict[str, str],
                                           fake: Fakes) -> None:
    fake.set(SLEEP_BETWEEN=0.05)
    s = serve(servers, "--allow-run")
    first = store["first"]
    want = run_clinvk("resume", first, "-o", "stream-json", "one more")
    assert want.code == 0, want.err
    want_types = [json.loads(line)["type"] for line in want.out.splitlines() if line.strip()]
    events: list[tuple[str, Any]] = []
    with s.client.stream("POST", f"/v1/sessions/{first}/resume", params={"stream": 1},
                         json={"prompt": "and another"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    assert events[-1] == ("end", {"exit_code": 0})
    body = [data for name, data in events if name == "clinvk"]
    assert [e["type"] for e in body] == want_types
    assert all(e.get("id", first) == first for e in body)
    turns = cli_json("sessions", "show", first, "--json")["turns"]
    assert turns[-1]["prompt"] == "and another" and turns[-1]["status"] == "ok"
    failed = s.client.post("/v1/sessions/zzzz9999/resume", params={"stream": 1},
                           json={"prompt": "x"})
    name = [ln for ln in failed.text.splitlines() if ln.startswith("event: ")][-1]
    assert name == "event: error"
    data = json.loads([ln for ln in failed.text.splitlines() if ln.startswith("data: ")][-1][6:])
    assert data["status"] == 404 and data["exit_code"] == 4


def test_body_limit_413(servers: list[Server], store: dict[str, str]) -> None:
    s = serve(servers, "--allow-run")
    big = json.dumps({"prompt": "x" * (2 * 1024 * 1024)})
    r = s.client.post("/v1/prompt", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    chunked = s.client.post("/v1/prompt", content=iter([big.encode()[i:i + 65536]
                                                        for i in range(0, len(big), 65536)]))
    assert chunked.status_code == 413
    prompt = s.client.post("/v1/prompt", json={"prompt": "y" * (600 * 1024)})
    assert prompt.status_code == 413 and "prompt" in prompt.json()["error"]
    assert cli_json("sessions", "list", "--json")["total"] == 2  # nothing ran


def test_max_running_429_and_gets_during_a_turn(servers: list[Server], store: dict[str, str],
                                                fake: Fakes) -> None:
    Path(os.environ["CLINVK_CONFIG"]).write_text("[server]\nmax_running = 1\n")
    fake.set(SLEEP_BEFORE=30)
    s = serve(servers, "--allow-run")
    done: list[int] = []
    running = threading.Thread(target=lambda: done.append(s.client.post(
        f"/v1/sessions/{store['first']}/resume", json={"prompt": "slow"}).status_code))
    running.start()
    wait_running(s, store["first"])
    over = s.client.post("/v1/prompt", json={"prompt": "one too many"})
    assert over.status_code == 429 and "max_running" in over.json()["error"]
    # Reads are served while the turn runs, several at once.
    results: list[int] = []

    def read() -> None:
        results.append(s.client.get("/v1/sessions").status_code)
        results.append(s.client.get("/v1/stats").status_code)

    readers = [threading.Thread(target=read) for _ in range(4)]
    began = time.monotonic()
    for t in readers:
        t.start()
    for t in readers:
        t.join(30)
    assert results == [200] * 8 and time.monotonic() - began < 20
    assert running.is_alive()
    s.client.post(f"/v1/sessions/{store['first']}/cancel")
    running.join(30)
    assert done and done[0] == 409  # interrupted (exit 130)


def test_openapi_matches_the_routes(servers: list[Server], store: dict[str, str]) -> None:
    read_only = serve(servers).client.get("/openapi.json").json()
    full = serve(servers, "--allow-run").client.get("/openapi.json").json()
    ops = {(m.upper(), p) for p, item in full["paths"].items() for m in item}
    assert ops == {("GET", "/healthz"), ("GET", "/v1/sessions"), ("GET", "/v1/sessions/{id}"),
                   ("DELETE", "/v1/sessions/{id}"), ("GET", "/v1/sessions/{id}/turns"),
                   ("GET", "/v1/stats"), ("GET", "/v1/search"), ("POST", "/v1/prompt"),
                   ("POST", "/v1/sessions/{id}/resume"), ("POST", "/v1/sessions/{id}/cancel"),
                   ("POST", "/mcp")}
    assert "/v1/prompt" not in read_only["paths"]
    # Every described operation is served (no 404/405), every query parameter accepted.
    server = servers[-1]
    for path, item in full["paths"].items():
        for method, op in item.items():
            if path == "/mcp":
                continue
            url = path.replace("{id}", store["second"] if method == "delete" else store["first"])
            params = {p["name"]: "1" for p in op["parameters"] if p["in"] == "query"
                      and p["name"] in ("limit", "offset", "tools", "force", "q")}
            r = server.client.request(method.upper(), url, params=params,
                                      json={"prompt": "p"} if "requestBody" in op else None)
            assert r.status_code not in (404, 405), (method, path, r.text)
            assert r.status_code != 400 or "unknown" not in r.json()["error"]


def test_mcp_tools_over_http_behind_the_token(servers: list[Server],
                                              store: dict[str, str]) -> None:
    pytest.importorskip("mcp")
    import anyio
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    s = serve(servers)
    got: dict[str, Any] = {}

    async def main() -> None:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                      timeout=60) as http, \
                streamable_http_client(s.url + "/mcp", http_client=http) as (read, write, *_), \
                ClientSession(read, write) as session:
            await session.initialize()
            got["tools"] = {t.name for t in (await session.list_tools()).tools}
            got["list"] = (await session.call_tool("sessions_list", {})).structured_content

    anyio.run(main)
    assert "sessions_list" in got["tools"] and "prompt" not in got["tools"]
    assert got["list"] == cli_json("sessions", "list", "--json")


def test_refuses_a_public_bind_without_a_token_of_its_own(store: dict[str, str],
                                                          clinvk_home: Path) -> None:
    ran = run_clinvk("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert ran.code == 1 and "refusing to serve on 0.0.0.0" in ran.err
    assert not (clinvk_home / "server-token").exists()


def test_generates_a_private_token_file_and_prints_its_path(
        servers: list[Server], store: dict[str, str], clinvk_home: Path) -> None:
    s = serve(servers, token=None)
    path = clinvk_home / "server-token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert f"token in {path}" in s.log.read_text()
    token = path.read_text().strip()
    assert len(token) >= 32
    ok = httpx.get(s.url + "/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["total"] == 2


def test_listings_are_fresh_in_process_answers(servers: list[Server], store: dict[str, str],
                                               workdir: Path) -> None:
    """The listings come from the catalog the server keeps open: a session made, changed or
    deleted by another process shows at once, and so does a catalog rebuilt underneath."""
    s = serve(servers)
    c = s.client
    assert c.get("/v1/sessions").json()["total"] == 2
    third = cli_json("prompt", "-b", "gemini", "-o", "json", "-w", str(workdir),
                     "draft the release notes")["id"]
    assert c.get("/v1/sessions").json() == cli_json("sessions", "list", "--json")
    assert [i["id"] for i in c.get("/v1/search", params={"q": "release"}).json()["items"]] \
        == [third]
    assert run_clinvk("sessions", "tag", third, "+docs").code == 0
    assert c.get("/v1/sessions", params={"tag": "docs"}).json()["total"] == 1
    assert run_clinvk("sessions", "delete", store["first"]).code == 0
    # Another process rebuilds the catalog file (a new inode) while the server holds it.
    catalog = Path(os.environ["CLINVK_HOME"]) / "catalog.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    assert run_clinvk("sessions", "list").code == 0
    got = c.get("/v1/sessions").json()
    assert got == cli_json("sessions", "list", "--json") and got["total"] == 2
    # A session file removed behind clinvk's back shows within the full check's second.
    home = Path(os.environ["CLINVK_HOME"])
    next(home.glob(f"sessions/*/{third}.json")).unlink()
    deadline = time.monotonic() + 5
    while c.get("/v1/sessions").json()["total"] != 1:
        assert time.monotonic() < deadline, "the removed file never showed"
        time.sleep(0.1)


def test_listing_query_errors_are_400_with_the_cli_meaning(servers: list[Server],
                                                           store: dict[str, str],
                                                           tmp_path: Path) -> None:
    s = serve(servers)
    c = s.client
    for params, said in (({"limit": "ten"}, "limit must be a whole number"),
                         ({"offset": "-1"}, "offset must be 0 or more"),
                         ({"origin": "elsewhere"}, "invalid origin"),
                         ({"range": "fortnight"}, "invalid range"),
                         ({"since": "not-a-date"}, ""),
                         ({"workdir": str(tmp_path / "missing")}, "no such directory")):
        r = c.get("/v1/sessions", params=params)
        assert r.status_code == 400, (params, r.text)
        assert said in r.json()["error"] and r.json()["exit_code"] == 1
    assert c.get("/v1/sessions", params={"limit": 0}).json()["total"] == 2
