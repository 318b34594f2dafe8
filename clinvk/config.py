"""Where clinvk keeps its state, and its settings.

Paths: the platform user data dir (``CLINVK_HOME`` relocates all state) and the
platform user config dir (``CLINVK_CONFIG`` names the file). Settings come from, in
order of precedence: a command-line flag > ``CLINVK_<SECTION>_<KEY>`` > the config
file > the default. Loading uses tomllib; edits (``clinvk config set``) use tomlkit
so comments and ordering survive.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import msgspec

from clinvk.errors import ConfigError


def data_dir() -> Path:
    home = os.environ.get("CLINVK_HOME")
    if home:
        path = Path(home).expanduser().absolute()
        # The nearest part that exists must be a directory, or nothing can be created there.
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            what = "" if probe == path else f" ({probe} is a file)"
            raise ConfigError(f"CLINVK_HOME is not a directory: {path}{what}",
                              hint="point CLINVK_HOME at a directory (it is created if missing)")
        return path
    import platformdirs

    return Path(platformdirs.user_data_dir("clinvk", appauthor=False))


def config_path() -> Path:
    explicit = os.environ.get("CLINVK_CONFIG")
    if explicit:
        return Path(explicit).expanduser().absolute()
    if os.environ.get("CLINVK_HOME"):
        return data_dir() / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir("clinvk", appauthor=False)) / "config.toml"


class DefaultsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    backend: str = "claude"
    output_format: Literal["text", "json", "stream-json"] = "text"
    # Seconds a turn may run; 0 means no limit.
    timeout: float = 0


class SessionConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Sessions unused for longer than this are removed by `clinvk sessions clean`; 0 keeps forever.
    retention_days: int = 30
    # Rows `clinvk sessions list` shows without -n; 0 shows all.
    list_limit: int = 20


class BackendConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # claude | codex | gemini | command; empty means the backend's own name.
    adapter: str = ""
    command: str = ""
    model: str = ""
    args: list[str] = msgspec.field(default_factory=list)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    timeout: float = 0
    # adapter = "command" only: argv templates with {prompt}, {model}, {session}.
    argv: list[str] = msgspec.field(default_factory=list)
    resume_argv: list[str] = msgspec.field(default_factory=list)
    # How to read a command backend's stdout: plain text, or one JSON object.
    output: Literal["text", "json"] = "text"
    text_field: str = "result"
    session_field: str = ""
    # Send the prompt on stdin instead of through {prompt}.
    prompt_stdin: bool = False


class PriceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    defaults: DefaultsConfig = msgspec.field(default_factory=DefaultsConfig)
    session: SessionConfig = msgspec.field(default_factory=SessionConfig)
    backends: dict[str, BackendConfig] = msgspec.field(default_factory=dict)
    pricing: dict[str, PriceConfig] = msgspec.field(default_factory=dict)

    def backend(self, name: str) -> BackendConfig:
        return self.backends.get(name) or BackendConfig()


# Upper bounds: beyond them a value is a typo, and date or timer arithmetic overflows.
MAX_RETENTION_DAYS = 36500
MAX_LIST_LIMIT = 1_000_000
MAX_TIMEOUT = 365 * 86400

# Scalar settings that can come from the environment, keyed by dotted name.
SCALAR_KEYS: dict[str, tuple[type, str]] = {
    "defaults.backend": (str, "a backend name, e.g. claude"),
    "defaults.output_format": (str, "one of text, json, stream-json"),
    "defaults.timeout": (float, f"seconds (a number ≥ 0 and ≤ {MAX_TIMEOUT}; 0 means no limit)"),
    "session.retention_days": (int, (f"a whole number of days ≥ 0 and ≤ {MAX_RETENTION_DAYS} "
                                    "(0 keeps forever)")),
    "session.list_limit": (int, f"a whole number ≥ 0 and ≤ {MAX_LIST_LIMIT} (0 shows all)"),
}


def env_var_for(key: str) -> str:
    return "CLINVK_" + key.replace(".", "_").upper()


class LoadedConfig(msgspec.Struct):
    config: Config
    path: Path
    # dotted key → "default" | "file" | "env CLINVK_…"
    sources: dict[str, str]


# ---------------------------------------------------------------------------------------
# Keys: dotted names as TOML writes them; a part that holds a dot is quoted
# (pricing."gpt-4.1".input).

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def split_key(key: str) -> list[str]:
    """``pricing."gpt-4.1".input`` → ``["pricing", "gpt-4.1", "input"]``; ValueError if malformed."""
    import json

    parts: list[str] = []
    i, n = 0, len(key)
    while True:
        while i < n and key[i] in " \t":
            i += 1
        if i < n and key[i] in "\"'":
            quote = key[i]
            j = i + 1
            while j < n and key[j] != quote:
                j += 2 if quote == '"' and key[j] == "\\" else 1
            if j >= n:
                raise ValueError(f"unterminated quote in {key!r}")
            raw = key[i + 1 : j]
            try:
                parts.append(json.loads(f'"{raw}"') if quote == '"' else raw)
            except ValueError:
                raise ValueError(f"bad escape in {key!r}") from None
            i = j + 1
        else:
            j = i
            while j < n and key[j] not in ". \t\"'":
                j += 1
            if j == i:
                raise ValueError(f"empty part in {key!r}")
            parts.append(key[i:j])
            i = j
        while i < n and key[i] in " \t":
            i += 1
        if i == n:
            return parts
        if key[i] != ".":
            raise ValueError(f"unexpected {key[i]!r} in {key!r}")
        i += 1


def format_key(parts: Sequence[str]) -> str:
    import json

    return ".".join(p if _BARE_KEY.fullmatch(p) else json.dumps(p, ensure_ascii=False)
                    for p in parts)


class KeyInfo(NamedTuple):
    """What the schema says about one dotted key."""

    parts: tuple[str, ...]
    # A msgspec.inspect type: StrType, IntType, ListType, StructType, DictType, …
    type: Any
    # msgspec.NODEFAULT when the key has no default (pricing input/output, a backend's table).
    default: Any
    accepts: str

    @property
    def name(self) -> str:
        return format_key(self.parts)


# Model ids contain dots (gpt-4.1), so under these tables the field is the last part
# and the name is everything between; backend names are single parts (quote otherwise).
_DOTTED_TABLES = {("pricing",)}

_FIELD_ACCEPTS: dict[tuple[type, str], str] = {
    (BackendConfig, "adapter"): "the name of an adapter, e.g. claude or command "
                                "(empty: the backend's name)",
    (BackendConfig, "timeout"): f"seconds (a number ≥ 0 and ≤ {MAX_TIMEOUT}; 0 means no limit)",
    (BackendConfig, "command"): "a program name or path (empty: the backend's usual command)",
    (BackendConfig, "argv"): 'a list of strings with {prompt}, {model}, {session}, '
                             'e.g. ["run", "{prompt}"]',
    (BackendConfig, "resume_argv"): 'a list of strings with {prompt}, {model}, {session}',
    (PriceConfig, "input"): "USD per million tokens (a number ≥ 0)",
    (PriceConfig, "output"): "USD per million tokens (a number ≥ 0)",
    (PriceConfig, "cache_read"): "USD per million tokens (a number ≥ 0)",
    (PriceConfig, "cache_write"): "USD per million tokens (a number ≥ 0)",
}


def _describe(info: Any) -> str:
    from msgspec import inspect as mi

    if isinstance(info, mi.UnionType):
        rest = [t for t in info.types if not isinstance(t, mi.NoneType)]
        return _describe(rest[0]) if len(rest) == 1 else "a value"
    if isinstance(info, mi.StrType):
        return "a string"
    if isinstance(info, mi.BoolType):
        return "true or false"
    if isinstance(info, mi.IntType):
        return "a whole number"
    if isinstance(info, mi.FloatType):
        return "a number"
    if isinstance(info, mi.LiteralType):
        return "one of " + ", ".join(str(v) for v in info.values)
    if isinstance(info, mi.ListType):
        return 'a list of strings, e.g. ["--flag", "value"]'
    if isinstance(info, mi.DictType) and isinstance(info.value_type, mi.StrType):
        return 'a table of strings, e.g. {NAME = "value"}'
    if isinstance(info, mi.StructType):
        return "a table with keys " + ", ".join(f.name for f in info.fields)
    return "a table of tables"


class UnknownKeyError(ConfigError):
    """A dotted key the schema does not have."""

    def __init__(self, key: str, near: str = "", known: Sequence[str] = ()):
        import difflib

        guess = difflib.get_close_matches(near, known, n=1) if near else []
        if guess:
            tail = f" (did you mean {guess[0]}?)"
        elif known:
            tail = " (known here: " + ", ".join(known) + ")"
        else:
            tail = ""
        super().__init__(f"unknown config key {key!r}{tail}")
        self.key = key


def key_info(key: str | Sequence[str]) -> KeyInfo:
    """Resolve a dotted key against the Config structs; UnknownKeyError if it has no place."""
    from msgspec import inspect as mi

    text = key if isinstance(key, str) else format_key(key)
    try:
        parts = split_key(key) if isinstance(key, str) else list(key)
    except ValueError as exc:
        raise ConfigError(f"bad config key {text!r}: {exc}") from None
    info: Any = mi.type_info(Config)
    owner: type | None = None
    default: Any = msgspec.NODEFAULT
    path: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        if isinstance(info, mi.StructType):
            names = [f.name for f in info.fields]
            field = next((f for f in info.fields if f.name == part), None)
            if field is None:
                raise UnknownKeyError(text, format_key([*path, part]),
                                      [format_key([*path, n]) for n in names])
            owner, info = info.cls, field.type
            default = (field.default_factory() if field.default_factory is not msgspec.NODEFAULT
                       else field.default)
            path.append(part)
            i += 1
        elif isinstance(info, mi.DictType):
            rest = parts[i:]
            value = info.value_type
            fields = {f.name for f in value.fields} if isinstance(value, mi.StructType) else set()
            taken = 1
            if tuple(path) in _DOTTED_TABLES and len(rest) > 1:
                taken = len(rest) - 1 if rest[-1] in fields else len(rest)
            path.append(".".join(rest[:taken]))
            i += taken
            info, owner = value, None
            default = msgspec.NODEFAULT
            if isinstance(value, mi.StructType) and not any(f.required for f in value.fields):
                default = value.cls()
        else:
            raise UnknownKeyError(text, "", ())
    dotted = format_key(path)
    if dotted in SCALAR_KEYS:
        accepts = SCALAR_KEYS[dotted][1]
    elif owner is not None and (owner, path[-1]) in _FIELD_ACCEPTS:
        accepts = _FIELD_ACCEPTS[(owner, path[-1])]
    else:
        accepts = _describe(info)
    if isinstance(default, msgspec.Struct):
        default = msgspec.to_builtins(default)
    return KeyInfo(tuple(path), info, default, accepts)


# ---------------------------------------------------------------------------------------
# Reading and checking the file.


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
        return msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        parts, problem = _explain(exc, data)
        line = locate(text, parts) if text is not None and parts else None
        where = f"{origin}, line {line}" if line else origin
        key = format_key(parts)
        raise ConfigError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}") from None


class SettingError(ConfigError):
    """A value of the right type that is still wrong; ``key`` says which setting."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key} {problem}")
        self.key = key


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
            return f"{var}={os.environ.get(var, '')!r}"
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


def _in_range(value: float, high: float) -> bool:
    return math.isfinite(value) and 0 <= value <= high


def check_semantics(config: Config) -> None:
    """Checks a type alone cannot express."""
    from clinvk.backends import ADAPTERS

    if not 0 <= config.session.retention_days <= MAX_RETENTION_DAYS:
        raise SettingError("session.retention_days",
                           f"must be ≥ 0 and ≤ {MAX_RETENTION_DAYS} (0 keeps sessions forever)")
    if not 0 <= config.session.list_limit <= MAX_LIST_LIMIT:
        raise SettingError("session.list_limit", f"must be ≥ 0 and ≤ {MAX_LIST_LIMIT} (0 shows all)")
    timeout_rule = f"must be a number ≥ 0 and ≤ {MAX_TIMEOUT} (0 means no limit)"
    if not _in_range(config.defaults.timeout, MAX_TIMEOUT):
        raise SettingError("defaults.timeout", timeout_rule)
    for name, backend in config.backends.items():
        if not _in_range(backend.timeout, MAX_TIMEOUT):
            raise SettingError(format_key(["backends", name, "timeout"]), timeout_rule)
        if backend.adapter and backend.adapter not in ADAPTERS:
            raise SettingError(
                format_key(["backends", name, "adapter"]),
                f"is an unknown adapter {backend.adapter!r}; expected one of "
                + ", ".join(ADAPTERS),
            )
        if backend.adapter == "command" and not backend.argv:
            raise SettingError(
                format_key(["backends", name, "argv"]),
                'is required for a command backend, e.g. argv = ["run", "{prompt}"]',
            )
    for model, price in config.pricing.items():
        for field in ("input", "output", "cache_read", "cache_write"):
            value = getattr(price, field)
            if value is not None and not _in_range(value, math.inf):
                raise SettingError(format_key(["pricing", model, field]),
                                   "must be a number ≥ 0 (USD per million tokens)")


def check_backend_name(config: Config) -> None:
    """defaults.backend names a backend: a built-in one or a table under [backends]."""
    from clinvk.backends import BUILTIN_BACKENDS

    name = config.defaults.backend
    if name not in BUILTIN_BACKENDS and name not in config.backends:
        raise SettingError(
            "defaults.backend",
            f"is an unknown backend {name!r}; expected one of "
            + ", ".join([*BUILTIN_BACKENDS, *(n for n in config.backends
                                                if n not in BUILTIN_BACKENDS)])
            + " (define others under [backends.NAME])",
        )
