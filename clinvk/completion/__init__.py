"""Shell completion: the values a shell offers when TAB is pressed.

`clinvk completion SHELL` prints a script cyclopts makes from the command tree
(clinvk.completion.scripts). The script completes command and option names itself;
for the arguments whose values live in the store or the settings, it runs
``clinvk __complete WORDS…``, which finds the argument under the cursor
(clinvk.completion.table, else cyclopts) and calls its completer here. Every value is
looked up at that moment, none is baked into the script:

* session ids, most recently used first, with their titles as descriptions (shells
  that show descriptions: zsh, fish): from the catalog (``Catalog.peek``: brought up
  to date when only a few shard directories changed, else taken as it stands; built
  at TAB time only for a small store). Without a usable catalog (a large store whose
  catalog is missing or damaged), from the session file names: newest file first,
  without titles; the next `clinvk sessions list` builds the catalog;
* tags, most used first: from the catalog (none without one);
* backends: the built-in ones and those the config file defines;
* statuses, `--by` groups and config keys: from the model, the stats and the config
  schema.

Whatever fails offers nothing (`clinvk __complete` drops every error, and so does
cyclopts); no session file is ever written. This module is imported by the command
modules for their annotations, so it imports nothing heavy at load time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cyclopts.completion import CompletionContext

    from clinvk.config import Config
    from clinvk.store import SessionStore

Choices = list[tuple[str, str]]

# At most this many session ids per TAB press (newest first): typing more of an id
# narrows the list, so any session is reachable.
MAX_IDS = 100
TITLE_WIDTH = 60


# ----------------------------------------------------------------- completers
# What the arguments offer, by completer name: (the word being typed, the values already
# given to the argument) → (value, description) pairs. The completers below, which the
# commands' arguments name, are these as cyclopts calls them; clinvk.completion.table
# calls these directly.
def _session_ids(typed: str, given: set[str]) -> Choices:
    """Ids of sessions, newest first; ids already given for the argument are left out."""
    return [c for c in session_choices(typed) if c[0] not in given]


def _backend_lists(typed: str, given: set[str]) -> Choices:
    """Comma-separated backend lists (`compare -b claude,codex`): the next name."""
    return _comma_list(typed, backend_choices())


def _vendor_lists(typed: str, given: set[str]) -> Choices:
    """Comma-separated vendor lists (`sessions sync --from claude,codex`)."""
    from clinvk.native.discover import BACKENDS

    return _comma_list(typed, [(name, "") for name in BACKENDS])


def _statuses(typed: str, given: set[str]) -> Choices:
    from clinvk.model import STATUSES

    return [(status, "") for status in STATUSES]


def _tag_changes(typed: str, given: set[str]) -> Choices:
    """`sessions tag ID +name -name`: known tags, with the sign already typed."""
    sign = typed[:1] if typed[:1] in ("+", "-") else ""
    return [(sign + name, about) for name, about in tag_choices()]


def _stats_groups(typed: str, given: set[str]) -> Choices:
    from clinvk.stats import GROUPS, TOOL_GROUP

    return [(group, "") for group in (*GROUPS, TOOL_GROUP)]


VALUES: dict[str, Callable[[str, set[str]], Choices]] = {
    "session_ids": _session_ids,
    "backends": lambda typed, given: backend_choices(),
    "backend_lists": _backend_lists,
    "vendor_lists": _vendor_lists,
    "statuses": _statuses,
    "tags": lambda typed, given: tag_choices(),
    "tag_changes": _tag_changes,
    "stats_groups": _stats_groups,
    "config_keys": lambda typed, given: config_key_choices(),
}


def _completer(name: str) -> Callable[[CompletionContext], Choices]:
    values = VALUES[name]

    def complete(context: CompletionContext) -> Choices:
        return values(context.incomplete, {token.value for token in context.argument.tokens})

    complete.__name__ = complete.__qualname__ = name
    return complete


session_ids = _completer("session_ids")
backends = _completer("backends")
backend_lists = _completer("backend_lists")
vendor_lists = _completer("vendor_lists")
statuses = _completer("statuses")
tags = _completer("tags")
tag_changes = _completer("tag_changes")
stats_groups = _completer("stats_groups")
config_keys = _completer("config_keys")


# ----------------------------------------------------------------- the values
def session_choices(prefix: str, limit: int = MAX_IDS) -> Choices:
    """(id, title) of the sessions whose id starts with ``prefix``, newest first."""
    import sqlite3

    from clinvk import ids

    prefix = prefix.lower()
    if len(prefix) > ids.ID_LENGTH or prefix.strip(ids.ALPHABET):
        return []  # no id looks like that
    store = _store()
    if store is None:
        return []
    from clinvk.catalog import Catalog
    from clinvk.catalog.lookup import recent_ids
    from clinvk.errors import ClinvkError

    try:
        catalog = Catalog.peek(store)
    except ClinvkError:
        catalog = None
    if catalog is not None and catalog.conn is not None:
        from clinvk.output import one_line

        try:
            return [(ident, one_line(title, TITLE_WIDTH))
                    for ident, title in recent_ids(catalog.conn, prefix, limit)]
        except sqlite3.Error:
            pass  # damaged under our feet: the files still answer
        finally:
            catalog.close()
    return _ids_from_files(store, prefix, limit)


def _ids_from_files(store: SessionStore, prefix: str, limit: int) -> Choices:
    """Ids from the session file names, newest file first (no catalog to ask): only the
    shard directories the prefix allows are listed."""
    import heapq
    import os

    from clinvk import ids

    if len(prefix) >= 2:
        shards = [prefix[:2]]
    else:
        try:
            with os.scandir(store.sessions_dir) as entries:
                shards = [e.name for e in entries
                          if len(e.name) == 2 and e.name.startswith(prefix)]
        except OSError:
            return []
    found: list[tuple[float, str]] = []
    for shard in shards:
        try:
            with os.scandir(store.sessions_dir / shard) as entries:
                for entry in entries:
                    ident = ids.file_id(entry.name, shard)
                    if ident is None or not ident.startswith(prefix):
                        continue
                    try:
                        found.append((entry.stat().st_mtime, ident))
                    except OSError:
                        continue  # deleted meanwhile
        except OSError:
            continue
    return [(ident, "") for _mtime, ident in heapq.nlargest(limit, found)]


def backend_choices() -> Choices:
    """The built-in backends, then those the config file defines."""
    from clinvk.backends import BUILTIN_BACKENDS, backend_names

    configured = _config_backends()
    return [(name, "built-in" if name in BUILTIN_BACKENDS
             else f"config: adapter {configured[name] or name}")
            for name in backend_names(configured)]


def tag_choices() -> Choices:
    """The tags in the catalog, most used first."""
    import sqlite3

    store = _store()
    if store is None:
        return []
    from clinvk.catalog import Catalog
    from clinvk.catalog.lookup import tag_counts
    from clinvk.errors import ClinvkError

    try:
        catalog = Catalog.peek(store)
    except ClinvkError:
        return []
    if catalog is None or catalog.conn is None:
        return []
    try:
        return [(tag, f"{n} session{'s' if n != 1 else ''}")
                for tag, n in tag_counts(catalog.conn)]
    except sqlite3.Error:
        return []
    finally:
        catalog.close()


def config_key_choices() -> Choices:
    """Every key `clinvk config get/set/unset` takes, with what it accepts: the sections'
    keys, and the keys of each backend (built-in or configured) and of each priced model
    the file names."""
    from msgspec import inspect as mi

    from clinvk.config import Config, format_key, key_info
    from clinvk.errors import ClinvkError

    loaded = _config()
    names = {
        "backends": _backend_names_of(loaded),
        "pricing": list(loaded.pricing) if loaded is not None else [],
    }
    keys: list[tuple[str, ...]] = []
    schema = mi.type_info(Config)
    assert isinstance(schema, mi.StructType)
    for section in schema.fields:
        kind = section.type
        if isinstance(kind, mi.StructType):
            keys += [(section.name, f.name) for f in kind.fields]
        elif isinstance(kind, mi.DictType) and isinstance(kind.value_type, mi.StructType):
            keys += [(section.name, name, f.name) for name in names.get(section.name, [])
                     for f in kind.value_type.fields]
    choices: Choices = []
    for parts in keys:
        try:
            about = key_info(parts).accepts
        except ClinvkError:
            continue
        choices.append((format_key(parts), about))
    return choices


# ----------------------------------------------------------------- helpers
def _comma_list(typed: str, names: Choices) -> Choices:
    done, _, _last = typed.rpartition(",")
    head = f"{done}," if done else ""
    used = set(done.split(",")) if done else set()
    return [(head + name, about) for name, about in names if name not in used]


def _store() -> SessionStore | None:
    from clinvk.errors import ClinvkError
    from clinvk.store import SessionStore

    try:
        return SessionStore()
    except ClinvkError:
        return None  # CLINVK_HOME unusable: nothing to offer


def _config() -> Config | None:
    from clinvk.config import load
    from clinvk.errors import ClinvkError

    try:
        return load().config
    except ClinvkError:
        return None  # a config file that does not load offers only the built-ins


def _config_backends() -> dict[str, str]:
    """Configured backend name → its adapter ("" when it is the name itself)."""
    config = _config()
    return {} if config is None else {name: b.adapter for name, b in config.backends.items()}


def _backend_names_of(config: Config | None) -> list[str]:
    from clinvk.backends import backend_names

    return backend_names({} if config is None else config.backends)
