"""`clinvk backends`: which vendor CLIs clinvk can drive on this machine."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

# `--version` of a healthy CLI takes well under 2 s (gemini is the slowest); one that
# hangs must not hang this listing.
VERSION_TIMEOUT = 10.0


@dataclass
class BackendInfo:
    name: str
    adapter: str
    command: str
    found: bool
    path: str | None
    version: str | None
    model: str
    default: bool
    install_hint: str


def _version(path: str, env: dict[str, str]) -> str | None:
    from clinvk.programs import capture

    try:
        got = capture([path, "--version"], timeout=VERSION_TIMEOUT, env=env)
    except OSError:
        return None
    if got.exit_code is None:
        return f"unknown (--version took over {VERSION_TIMEOUT:g}s)"
    for text in (got.stdout, got.stderr) if got.exit_code == 0 else ():
        for line in text.splitlines():
            if line.strip():
                return line.strip()[:80]
    return None


def collect() -> list[BackendInfo]:
    """Built-in backends first, then the configured ones, each probed (versions in parallel)."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    from clinvk.backends import backend_names, get_backend
    from clinvk.backends.argv import command as command_of
    from clinvk.config import load

    config = load().config
    names = backend_names(config.backends)
    infos: list[BackendInfo] = []
    envs: list[dict[str, str]] = []
    for name in names:
        backend_config = config.backend(name)
        backend = get_backend(name, backend_config)
        command = command_of(backend_config, name)
        search = backend_config.env.get("PATH", os.environ.get("PATH", os.defpath))
        path = shutil.which(command, path=search)
        infos.append(BackendInfo(
            name=name, adapter=backend_config.adapter or name, command=command,
            found=path is not None, path=path, version=None,
            model=backend_config.model or "vendor default",
            default=name == config.defaults.backend, install_hint=backend.install_hint))
        envs.append(dict(backend_config.env))
    probes = [(info, env) for info, env in zip(infos, envs, strict=True) if info.path]
    if probes:
        with ThreadPoolExecutor(max_workers=len(probes)) as pool:
            versions = list(pool.map(lambda p: _version(p[0].path or "", p[1]), probes))
        for (info, _env), version in zip(probes, versions, strict=True):
            info.version = version
    return infos


def backends(*, json: bool = False) -> int:
    """List the backends: built-in and configured, found or missing, version, default model.

    A missing backend shows the command that installs it. Exit 0 even when some are
    missing.

    Example: clinvk backends --json

    Parameters
    ----------
    json
        Print {"backends": [{name, adapter, command, found, path, version, model,
        default, install_hint}, ...]}.
    """
    from clinvk.output import out, print_json, table, use_color

    infos = collect()
    if json:
        print_json({"backends": [asdict(info) for info in infos]})
        return 0
    rows = [[info.name + (" (default)" if info.default else ""),
             "found" if info.found else "missing",
             info.version or "-",
             info.model,
             info.path or info.command] for info in infos]
    out(table(["BACKEND", "STATUS", "VERSION", "MODEL", "PATH"], rows, color=use_color()))
    missing = [info for info in infos if not info.found]
    if missing:
        out()
        for info in missing:
            out(f"{info.name} is missing: {info.install_hint}")
    return 0
