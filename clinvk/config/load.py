"""Reading the config file and the environment into a checked Config.

Loading uses tomllib (edits are clinvk.config.edit's); every error names the file, the
line and the key, or the environment variable that set the bad value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from clinvk.config.keys import format_key, split_key
from clinvk.config.paths import config_path
from clinvk.config.schema import (
    SCALAR_KEYS,
    Config,
    SettingError,
    check_semantics,
    env_var_for,
    key_info,
    team_url_problem,
)
from clinvk.errors import ConfigError


class LoadedConfig(msgspec.Struct):
    config: Config
    path: Path
    # dotted key → "default" | "file" | "env CLINVK_…"
    sources: dict[str, str]


def read_text(path: Path) -> str | None:
    """The config file's text, or None if there is no file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        # utf-8-sig: Windows editors like to start the file with a byte-order mark.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path}, line {line}: not UTF-8 text") from None


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def parse_toml(text: str, path: Path) -> dict[str, Any]:
    """tomllib.loads, with a one-line error that puts the file and position first."""
    import tomllib  # only when a config file exists

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        if found:
            where = f", line {found[1]}, column {found[2]}"
            message = message[: found.start()]
        elif message.endswith("(at end of document)"):
            lines = text.splitlines() or [""]
            where = f", line {len(lines)}, column {len(lines[-1]) + 1} (end of file)"
            message = message.removesuffix("(at end of document)").rstrip()
        else:
            where = ""
        raise ConfigError(f"config file {path}{where}: invalid TOML: {message}") from None


def read_file(path: Path) -> dict[str, Any]:
    """The config file as plain data ({} if there is none), unchecked against the schema."""
    text = read_text(path)
    return {} if text is None else parse_toml(text, path)


def locate(text: str, parts: Sequence[str]) -> int | None:
    """Best-effort line number of a key (or of its table header) in TOML text."""
    target = list(parts)
    table: list[str] = []
    # A missing key has no line of its own: fall back to its nearest enclosing header.
    enclosing: tuple[int, int] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            if stripped.startswith("["):
                inner = stripped.strip("[").split("]")[0]
                table = split_key(inner)
                if table == target:
                    return number
                if table == target[: len(table)] and (not enclosing or len(table) > enclosing[0]):
                    enclosing = (len(table), number)
                continue
            if "=" not in stripped:
                continue
            full = table + split_key(stripped.split("=", 1)[0])
        except ValueError:
            continue
        common = min(len(full), len(target))
        if full[:common] == target[:common] and common > len(table):
            return number
    return enclosing[1] if enclosing else None


def _error_parts(path: str, data: Any) -> list[str]:
    """Turn msgspec's `$.pricing[...].input` into real keys, finding which entry failed."""
    import copy

    root = copy.deepcopy(data)
    node: Any = root
    parts: list[str] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[([^\]]*)\]", path.removeprefix("$")):
        if name:
            parts.append(name)
            node = node.get(name) if isinstance(node, dict) else None
        elif index == "..." and isinstance(node, dict):
            # msgspec does not say which dict entry failed: keep one entry at a time.
            entries = dict(node)
            for key, value in entries.items():
                node.clear()
                node[key] = value
                try:
                    msgspec.convert(root, Config)
                except msgspec.ValidationError:
                    break
            else:
                node.update(entries)
                return parts
            parts.append(key)
            node = value
        else:
            # A list element ([0]): the setting is the list itself.
            break
    return parts


def _explain(exc: msgspec.ValidationError, data: Any) -> tuple[list[str], str]:
    """(key parts, what is wrong) from a msgspec error such as
    "Object contains unknown field `colour` - at `$.defaults`"."""
    text = str(exc)
    message, _, where = text.partition(" - at `")
    parts = _error_parts(where.rstrip("`"), data) if where else []
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", message)
    if unknown:
        parts.append(unknown[1])
        known: list[str] = []
        try:
            info = key_info(parts[:-1]) if parts[:-1] else None
            from msgspec import inspect as mi

            struct = info.type if info else mi.type_info(Config)
            if isinstance(struct, mi.StructType):
                known = [f.name for f in struct.fields]
        except ConfigError:
            pass
        return parts, "unknown key" + (f" (expected one of {', '.join(known)})" if known else "")
    missing = re.fullmatch(r"Object missing required field `(.*)`", message)
    if missing:
        return parts, f"missing required key {missing[1]!r}"
    message = message[:1].lower() + message[1:]
    try:
        accepts = key_info(parts).accepts if parts else ""
    except ConfigError:
        accepts = ""
    return parts, message + (f"; accepts {accepts}" if accepts else "")


def validate(data: dict[str, Any], origin: str, *, text: str | None = None) -> Config:
    """Decode settings; errors name the key (and its line when ``text`` is the file)."""
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        parts, problem = _explain(exc, data)
        line = locate(text, parts) if text is not None and parts else None
        where = f"{origin}, line {line}" if line else origin
        key = format_key(parts)
        raise ConfigError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}") from None
    if config.team.url:
        url_problem = team_url_problem(config.team.url, in_file=True)
        if url_problem:
            line = locate(text, ["team", "url"]) if text is not None else None
            where = f"{origin}, line {line}" if line else origin
            raise ConfigError(f"{where}: team.url {url_problem}")
    return config


def _coerce_env(key: str, value: str) -> Any:
    kind, accepts = SCALAR_KEYS[key]
    if kind is str:
        return value
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(
            f"{env_var_for(key)}={value!r} is not valid for {key}: expected {accepts}"
        ) from None


def load(path: Path | None = None) -> LoadedConfig:
    path = path or config_path()
    text = read_text(path)
    data = {} if text is None else parse_toml(text, path)
    origin = f"config file {path}"
    sources: dict[str, str] = {}
    for key in SCALAR_KEYS:
        section, name = key.split(".")
        if isinstance(data.get(section), dict) and name in data[section]:
            sources[key] = f"file {path}"
        else:
            sources[key] = "default"
    validate(data, origin, text=text)
    for key in SCALAR_KEYS:
        var = env_var_for(key)
        value = os.environ.get(var)
        if value is None or value == "":
            continue
        section, name = key.split(".")
        data.setdefault(section, {})[name] = _coerce_env(key, value)
        sources[key] = f"env {var}"

    def blame(key: str) -> str:
        source = sources.get(key, "")
        if source.startswith("env "):
            var = source.removeprefix("env ")
            from clinvk.passwords import redact

            return f"{var}={redact(os.environ.get(var, ''))!r}"
        line = locate(text, split_key(key)) if text is not None else None
        return f"{origin}, line {line}" if line else origin

    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        # The file alone was valid, so the value that broke it came from the environment.
        parts, problem = _explain(exc, data)
        raise ConfigError(f"{blame(format_key(parts))}: {format_key(parts)}: {problem}") from None
    try:
        check_semantics(config)
    except SettingError as exc:
        raise ConfigError(f"{blame(exc.key)}: {exc.message}") from None
    return LoadedConfig(config=config, path=path, sources=sources)
