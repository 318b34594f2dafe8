"""The settings clinvk understands: the Config structs, their bounds, and what each
dotted key means (its type, default and what it accepts).

Settings come from, in order of precedence: a command-line flag > ``CLINVK_<SECTION>_<KEY>``
> the config file > the default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import msgspec

from clinvk.backends.settings import BackendConfig
from clinvk.config.keys import format_key, split_key
from clinvk.errors import ConfigError


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


class SyncConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Where `clinvk sessions sync` looks for each vendor's own transcripts: the vendor's
    # home dirs (as CLAUDE_CONFIG_DIR, CODEX_HOME, GEMINI_CLI_HOME); empty: the one the
    # vendor itself uses.
    claude: list[str] = msgspec.field(default_factory=list)
    codex: list[str] = msgspec.field(default_factory=list)
    gemini: list[str] = msgspec.field(default_factory=list)
    # Run an incremental sync before `sessions list`, `stats` and `current`, for at most
    # clinvk.native.auto.BUDGET_S; what is left waits for the next command.
    auto: bool = False


class PriceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


class BudgetConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Spending caps in USD; unset means no cap. Checked before every turn."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    session_usd: float | None = None


class ParallelConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Units `clinvk parallel` runs at once; 0 means the number of CPUs (at most 16).
    max_workers: int = 0


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # `clinvk serve`: turns (prompt, resume) running at once; beyond, a 429.
    max_running: int = 4
    # A file holding the bearer token (CLINVK_SERVER_TOKEN wins); empty: a generated one.
    token_file: str = ""


class TeamConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # `clinvk team`: the shared PostgreSQL database (docs/team.md); never a password here.
    url: str = ""
    # Who this machine's sessions belong to on the team store; empty: user@hostname.
    member: str = ""
    # Share prompts, answers and tool outputs too (metadata and usage always are).
    share_text: bool = False
    # Queue each finished turn and push it in the background.
    auto_push: bool = False


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    defaults: DefaultsConfig = msgspec.field(default_factory=DefaultsConfig)
    session: SessionConfig = msgspec.field(default_factory=SessionConfig)
    budget: BudgetConfig = msgspec.field(default_factory=BudgetConfig)
    parallel: ParallelConfig = msgspec.field(default_factory=ParallelConfig)
    backends: dict[str, BackendConfig] = msgspec.field(default_factory=dict)
    pricing: dict[str, PriceConfig] = msgspec.field(default_factory=dict)
    sync: SyncConfig = msgspec.field(default_factory=SyncConfig)
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    team: TeamConfig = msgspec.field(default_factory=TeamConfig)

    def backend(self, name: str) -> BackendConfig:
        return self.backends.get(name) or BackendConfig()


# Upper bounds: beyond them a value is a typo, and date or timer arithmetic overflows.
MAX_RETENTION_DAYS = 36500
MAX_LIST_LIMIT = 1_000_000
MAX_TIMEOUT = 365 * 86400
MAX_WORKERS = 16
MAX_BUDGET_USD = 1e9
MAX_RUNNING = 64

# Scalar settings that can come from the environment, keyed by dotted name.
SCALAR_KEYS: dict[str, tuple[type, str]] = {
    "defaults.backend": (str, "a backend name, e.g. claude"),
    "defaults.output_format": (str, "one of text, json, stream-json"),
    "defaults.timeout": (float, f"seconds (a number ≥ 0 and ≤ {MAX_TIMEOUT}; 0 means no limit)"),
    "session.retention_days": (int, (f"a whole number of days ≥ 0 and ≤ {MAX_RETENTION_DAYS} "
                                    "(0 keeps forever)")),
    "session.list_limit": (int, f"a whole number ≥ 0 and ≤ {MAX_LIST_LIMIT} (0 shows all)"),
    "budget.daily_usd": (float, "USD (a number ≥ 0); unset means no cap"),
    "budget.monthly_usd": (float, "USD (a number ≥ 0); unset means no cap"),
    "budget.session_usd": (float, "USD (a number ≥ 0); unset means no cap"),
    "parallel.max_workers": (int, (f"a whole number ≥ 0 and ≤ {MAX_WORKERS} "
                                   "(0 means the number of CPUs)")),
    "server.max_running": (int, f"a whole number ≥ 1 and ≤ {MAX_RUNNING}"),
    "team.url": (str, "a postgresql:// URL without a password (PGPASSWORD, ~/.pgpass)"),
    "team.member": (str, "a member name, e.g. alice@laptop (empty: user@hostname)"),
}


def env_var_for(key: str) -> str:
    return "CLINVK_" + key.replace(".", "_").upper()


# ---------------------------------------------------------------------------------------
# What each dotted key means.


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
# Checks a type alone cannot express.


class SettingError(ConfigError):
    """A value of the right type that is still wrong; ``key`` says which setting."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key} {problem}")
        self.key = key


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
    for cap in ("daily_usd", "monthly_usd", "session_usd"):
        value = getattr(config.budget, cap)
        if value is not None and not _in_range(value, MAX_BUDGET_USD):
            raise SettingError(f"budget.{cap}", f"must be a number ≥ 0 and ≤ {MAX_BUDGET_USD:g} "
                               "(USD; leave it unset for no cap)")
    if not 0 <= config.parallel.max_workers <= MAX_WORKERS:
        raise SettingError("parallel.max_workers",
                           f"must be ≥ 0 and ≤ {MAX_WORKERS} (0 means the number of CPUs)")
    if not 1 <= config.server.max_running <= MAX_RUNNING:
        raise SettingError("server.max_running", f"must be ≥ 1 and ≤ {MAX_RUNNING}")
    if config.team.url:
        problem = team_url_problem(config.team.url, in_file=False)
        if problem:
            raise SettingError("team.url", problem)
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


def team_url_problem(url: str, *, in_file: bool) -> str | None:
    """What is wrong with a team.url: not a postgresql:// URL, or (in the config file) one
    holding a password, which belongs in PGPASSWORD, ~/.pgpass or CLINVK_TEAM_URL."""
    from urllib.parse import urlsplit

    if not url.startswith(("postgresql://", "postgres://")):
        return "must be a postgresql:// URL, e.g. postgresql://alice@db.example.com/clinvk"
    try:
        password = urlsplit(url).password
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if in_file and password is not None:
        return ("holds a password: keep it out of config.toml (use ~/.pgpass, PGPASSWORD "
                "or the CLINVK_TEAM_URL variable)")
    return None


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
