"""`clinvk sessions doctor`: find what is wrong in a session store, and repair it.

Problems it names:

* ``corrupt``: a session file that cannot be read as a session (bad JSON, wrong schema,
  a newer schema version, an id that differs from its file name, a directory);
* ``temp``: a temp file left by a writer that died between writing and renaming
  (``.<name>.<pid>.<hex>.tmp``, in a shard);
* ``stray``: anything else under sessions/ that is not a shard of session files;
* ``stale-running``: a record still marked ``running`` whose clinvk process is gone;
* ``out-of-range``: a session file with a number beyond the record's bounds
  (clinvk.model), e.g. 10^20 input tokens written by an older clinvk;
* ``index``: the catalog (clinvk.catalog) disagrees with the files (sessions missing
  from it, listed but gone, or read from an older version of the file), or it cannot be
  used. (The kind keeps the name it had when the catalog was called the index.)
* ``cost``: a turn whose computed cost is not what its recorded API requests give, each
  at its own long-context tier, at the prices of the turn's start and the config's
  ``[pricing]`` (a record priced before costs were computed per request, or prices
  that changed since). Reported costs are the vendor's and are never recomputed.

The repair moves corrupt, temp and stray files into ``<store>/quarantine/`` (never
deletes them), drops out-of-range numbers from their records (as a turn does when a
vendor reports one), marks stale running sessions as interrupted, recomputes the
computed costs found out of date, and rebuilds the catalog.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk import ids

if TYPE_CHECKING:
    from clinvk.config import PriceConfig
    from clinvk.model import Session
    from clinvk.store import SessionStore

# A writer keeps its temp file for milliseconds; one older than this is torn even if a
# process with its pid happens to exist.
TEMP_GRACE_S = 600

# A msgspec validation message about a number beyond a bound (clinvk.model), not a
# wrong type or a missing field: only those does --fix repair in place.
_BOUNDS = re.compile(r"Expected `(int|float)` [<>]=|Number out of range")


LABELS = {"corrupt": "unreadable session file", "temp": "leftover temp file",
          "stray": "unexpected file", "stale-running": "stale running session",
          "out-of-range": "number out of range in", "index": "session catalog",
          "cost": "computed cost out of date in"}


@dataclass
class Problem:
    kind: str  # corrupt | out-of-range | temp | stray | stale-running | index | cost
    detail: str
    path: Path | None = None
    ident: str | None = None

    def text(self) -> str:
        where = f" {self.path}" if self.path is not None else ""
        return f"{LABELS.get(self.kind, self.kind)}{where}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path) if self.path else None,
                "id": self.ident, "detail": self.detail}


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    sessions: int = 0


def _temp_problem(path: Path, now: float) -> Problem | None:
    """A leftover temp file, or None while its writer may still be writing it."""
    from clinvk.liveness import pid_alive

    parts = path.name[1:-4].rsplit(".", 2)
    pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
    try:
        age = now - path.lstat().st_mtime
    except OSError:
        return None
    if pid is not None and pid_alive(pid, None) and age < TEMP_GRACE_S:
        return None
    why = f"its writer (pid {pid}) is gone" if pid is not None and not pid_alive(pid, None) \
        else f"left {int(age)}s ago"
    return Problem("temp", f"a write that never completed ({why})", path)


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def check(store: SessionStore, progress: Any = None,
          pricing: dict[str, PriceConfig] | None = None) -> Findings:
    """Read every file of the store and compare the catalog with them (``pricing``: the
    config's price overrides; None reads them from the config)."""
    from clinvk.errors import ClinvkError, NotFoundError
    from clinvk.liveness import pid_alive
    from clinvk.pricing import stale_cost

    if pricing is None:
        pricing = _pricing()

    found = Findings()
    now = time.time()
    truth: dict[str, tuple[int, int, int]] = {}
    try:
        top = sorted(os.scandir(store.sessions_dir), key=lambda e: e.name)
    except FileNotFoundError:
        top = []
    for shard in top:
        if not (shard.is_dir(follow_symlinks=False) and len(shard.name) == 2):
            kind = "temp" if _is_temp(shard.name) else "stray"
            found.problems.append(Problem(kind, "not a shard directory of session files",
                                          Path(shard.path)))
            continue
        for entry in sorted(os.scandir(shard.path), key=lambda e: e.name):
            path = Path(entry.path)
            name = entry.name
            if _is_temp(name):
                problem = _temp_problem(path, now)
                if problem is not None:
                    found.problems.append(problem)
                continue
            stem = name[:-5] if name.endswith(".json") else None
            if stem is None or not ids.is_valid_id(stem) or stem[:2] != shard.name:
                found.problems.append(Problem("stray", "not a session file (a session file is "
                                              "<shard>/<8-char id>.json)", path))
                continue
            found.files += 1
            if progress:
                progress(found.files)
            try:
                session = store.read_file(path)
                st = path.stat()
            except NotFoundError:
                continue
            except ClinvkError as exc:
                fixed = _bounded(path)
                if fixed is not None and fixed[1]:
                    found.problems.append(Problem("out-of-range", "; ".join(fixed[1]), path, stem))
                else:
                    found.problems.append(Problem("corrupt", _reason(exc.message, path), path,
                                                  stem))
                continue
            found.sessions += 1
            truth[stem] = (st.st_size, st.st_mtime_ns, st.st_ino)
            if session.status == "running" and not pid_alive(session.pid, session.pid_start):
                found.problems.append(Problem(
                    "stale-running",
                    f"marked running, but its clinvk process (pid {session.pid}) is gone",
                    path, stem))
            stale = [why for t in session.turns if (why := stale_cost(t, pricing))]
            if stale:
                found.problems.append(Problem("cost", _some(stale), path, stem))
    corrupt = {p.ident for p in found.problems if p.kind in ("corrupt", "out-of-range") and p.ident}
    found.problems.extend(_catalog_problems(store, truth, corrupt))
    return found


def _reason(message: str, path: Path) -> str:
    # "session file /x/y.json is corrupt: …" → "corrupt: …" (the path is shown once).
    return message.replace(f"session file {path} ", "").replace(f"{path} ", "")


def _catalog_problems(store: SessionStore, truth: dict[str, tuple[int, int, int]],
                      corrupt: set[str]) -> list[Problem]:
    from clinvk.catalog import Catalog, catalog_path, inspect

    path = catalog_path(store.root)
    unusable = inspect(path)
    if unusable is not None:
        # Nothing more to compare; --fix rebuilds it from the files.
        return [Problem("index", f"cannot be used: {unusable}", path)]
    if not path.exists():
        return []  # not built yet: the next command builds it
    catalog = Catalog.open(store)
    try:
        differs = catalog.check(truth, corrupt)
    finally:
        catalog.close()
    parts = []
    if differs.missing:
        parts.append(f"{len(differs.missing)} session(s) missing from it "
                     f"({_some(differs.missing)})")
    if differs.gone:
        parts.append(f"{len(differs.gone)} listed that are gone or unreadable "
                     f"({_some(differs.gone)})")
    if differs.stale:
        parts.append(f"{len(differs.stale)} read from an older version of the file "
                     f"({_some(differs.stale)})")
    if not parts:
        return []
    return [Problem("index", "out of date: " + "; ".join(parts), path)]


def _some(idents: list[str]) -> str:
    return ", ".join(idents[:5]) + (f" and {len(idents) - 5} more" if len(idents) > 5 else "")


def repair(store: SessionStore, found: Findings,
           pricing: dict[str, PriceConfig] | None = None) -> list[dict[str, Any]]:
    """Fix what check() found; returns what was done, one entry per action."""
    if pricing is None:
        pricing = _pricing()
    done: list[dict[str, Any]] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for problem in found.problems:
        if problem.kind in ("corrupt", "temp", "stray") and problem.path is not None:
            target = _quarantine(store, problem.path, stamp)
            if target is not None:
                done.append({"kind": problem.kind, "path": str(problem.path),
                             "action": f"moved {problem.path} to {target}"})
        elif problem.kind == "out-of-range" and problem.ident is not None:
            done.append({"kind": problem.kind, "id": problem.ident,
                         "action": _repair_bounds(store, problem.ident)})
        elif problem.kind == "stale-running" and problem.ident is not None:
            outcome = _mark_interrupted(store, problem.ident)
            done.append({"kind": problem.kind, "id": problem.ident, "action": outcome})
        elif problem.kind == "cost" and problem.ident is not None:
            done.append({"kind": problem.kind, "id": problem.ident,
                         "action": _reprice(store, problem.ident, pricing)})
    from clinvk.catalog import Catalog

    catalog = Catalog(store, None)
    try:
        catalog.rebuild()
    finally:
        catalog.close()
    done.append({"kind": "index", "action": "rebuilt the session catalog from the session files"})
    return done


def _quarantine(store: SessionStore, path: Path, stamp: str) -> Path | None:
    quarantine = store.quarantine_dir
    quarantine.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        relative = path.relative_to(store.root)
    except ValueError:
        relative = Path(path.name)
    base = f"{stamp}-" + "-".join(relative.parts)
    target = quarantine / base
    n = 1
    while target.exists() or target.is_symlink():
        n += 1
        target = quarantine / f"{base}.{n}"
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    return target


def _pricing() -> dict[str, PriceConfig]:
    """The config's price overrides; none when the config cannot be read (the config
    command names its problem)."""
    from clinvk.config import load
    from clinvk.errors import ClinvkError

    try:
        return load().config.pricing
    except ClinvkError:
        return {}


def _reprice(store: SessionStore, ident: str, pricing: dict[str, PriceConfig]) -> str:
    from clinvk.errors import SessionBusyError
    from clinvk.pricing import price_turn, stale_cost

    turns: list[int] = []

    def change(session: Session) -> None:
        for turn in session.turns:
            if stale_cost(turn, pricing):
                price_turn(turn, pricing, turn.started_at)
                turns.append(turn.index)

    try:
        store.update(ident, change)
    except SessionBusyError:
        return f"left {ident} alone: another clinvk process holds it"
    return (f"recomputed the cost of {len(turns)} turn(s) of {ident} from their requests")


def _mark_interrupted(store: SessionStore, ident: str) -> str:
    from clinvk.errors import SessionBusyError
    from clinvk.recovery import settle_dead_turn

    def change(session: Session) -> None:
        # Also stops the vendor that clinvk left behind, if it is still running.
        settle_dead_turn(session, "marked by `clinvk sessions doctor --fix`")

    try:
        store.update(ident, change)
    except SessionBusyError:
        return f"left {ident} alone: another clinvk process holds it"
    return f"marked {ident} as interrupted (status error)"


def _bounded(path: Path) -> tuple[Session, list[str]] | None:
    """The record in ``path`` with every out-of-range number dropped (what was dropped),
    or None when something other than a number keeps it from being read."""
    import msgspec

    from clinvk.model import SCHEMA_VERSION, Session, Turn

    try:
        record = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("version", 1), int) \
            or record.get("version", 1) > SCHEMA_VERSION:
        return None
    dropped: list[str] = []
    optional_turn = {f.name for f in msgspec.structs.fields(Turn) if f.default is None}
    optional_session = {f.name for f in msgspec.structs.fields(Session) if f.default is None}
    for _ in range(64):
        try:
            session = msgspec.json.decode(msgspec.json.encode(record), type=Session)
        except msgspec.ValidationError as exc:
            where = _path_of(str(exc))
            if not _BOUNDS.match(str(exc)) or not _drop(record, where, optional_turn,
                                                        optional_session):
                return None
            dropped.append(f"{'.'.join(map(str, where))}: {str(exc).split(' - at ')[0]}")
            continue
        except msgspec.DecodeError:
            return None
        if session.id != path.stem:
            return None
        return session, dropped
    return None


def _path_of(message: str) -> list[str | int]:
    """`$.turns[0].usage.input_tokens` at the end of a msgspec error → ["turns", 0, ...]."""
    found = re.search(r" - at `\$(.*)`$", message)
    if found is None:
        return []
    return [int(p[1:-1]) if p.startswith("[") else p[1:]
            for p in re.findall(r"\.[A-Za-z_]\w*|\[\d+\]", found.group(1))]


def _drop(record: dict[str, Any], where: list[str | int], optional_turn: set[str],
          optional_session: set[str]) -> bool:
    """Null the field ``where`` points into, if it is one a record may leave unknown;
    a turn's dropped figures get the same warning a turn gets for a vendor's."""
    if len(where) >= 3 and where[0] == "turns" and isinstance(where[1], int):
        turns = record.get("turns")
        field = where[2]
        if not isinstance(turns, list) or where[1] >= len(turns) or not isinstance(
                turns[where[1]], dict):
            return False
        turn = turns[where[1]]
        if field == "index":
            turn["index"] = where[1] + 1
        elif field in ("usage", "usage_total", "usage_by_model"):
            turn["usage"] = turn["usage_total"] = turn["usage_by_model"] = None
        elif field == "cost_usd":
            turn.update(cost_usd=None, cost_source="unpriced", price_source=None)
        elif field in optional_turn and field != "warning":
            turn[field] = None
        else:
            return False
        note = f"{field} was out of range and was dropped by `clinvk sessions doctor --fix`"
        turn["warning"] = "; ".join(w for w in (turn.get("warning"), note)
                                    if isinstance(w, str) and w)
        return True
    if len(where) >= 1 and isinstance(where[0], str) and where[0] in optional_session \
            and where[0] != "parent_id":
        record[where[0]] = None
        return True
    return False


def _repair_bounds(store: SessionStore, ident: str) -> str:
    from clinvk.errors import ClinvkError, SessionBusyError

    try:
        with store.lock(ident):
            fixed = _bounded(store.path_for(ident))
            if fixed is None:
                return f"left {ident} alone: it changed and can no longer be repaired"
            store.save(fixed[0])
    except SessionBusyError:
        return f"left {ident} alone: another clinvk process holds it"
    except ClinvkError as exc:
        return f"left {ident} alone: {exc.message}"
    return f"dropped {len(fixed[1])} out-of-range number(s) from {ident}"
