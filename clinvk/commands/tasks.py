"""Task files for `clinvk parallel` and `clinvk chain`: read, check every task, and
turn each into a Unit, all before anything runs.

A file is TOML (``[[tasks]]`` tables, or ``[[steps]]`` for a chain), JSON (a list of
objects, or an object with that list under "tasks"/"steps") or JSON Lines (one task
object a line). Each task has ``prompt`` and optionally ``backend``, ``model``,
``workdir``, ``title``, ``tags``, ``timeout``, ``resume`` (a session id to continue)
and ``name``. Every error names the task and the field, and exits 1.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clinvk.errors import ClinvkError, UsageError

if TYPE_CHECKING:
    from clinvk.commands.units import Unit
    from clinvk.config import Config
    from clinvk.store import SessionStore

FIELDS = ("prompt", "backend", "model", "workdir", "title", "tags", "timeout", "resume", "name")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Far more than any CI batch; a file beyond it is a mistake, not a workload.
MAX_TASKS = 10_000


class TaskFileError(UsageError):
    """The task file, or one of its tasks, is wrong: nothing has run."""


@dataclass
class Task:
    number: int  # 1-based position in the file
    prompt: str
    backend: str | None = None
    model: str | None = None
    workdir: str | None = None
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    timeout: float | None = None
    resume: str | None = None
    name: str | None = None
    noun: str = "task"  # what errors call it: "step" in a chain's file

    @property
    def label(self) -> str:
        return f"{self.noun} {self.number}" + (f" ({self.name})" if self.name else "")


@dataclass
class TaskFile:
    origin: str
    tasks: list[Task]
    # The file's own concurrency (top-level `max_parallel`), if it sets one.
    max_parallel: int | None = None


# --------------------------------------------------------------------------- reading
def _read(path: str) -> tuple[str, str]:
    """(text, name for messages); `-` is stdin."""
    from clinvk.inputfile import read_input

    raw, name = read_input(path, "task file", TaskFileError)
    try:
        return raw.decode("utf-8-sig"), name
    except UnicodeDecodeError:
        raise TaskFileError(f"the task file {name} is not UTF-8 text") from None


def _kind(path: str, text: str) -> str:
    lowered = path.lower()
    for suffix, kind in ((".toml", "toml"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                         (".json", "json")):
        if lowered.endswith(suffix):
            return kind
    start = text.lstrip()[:1]
    if start == "[" and not text.lstrip().startswith("[["):
        return "json"
    if start == "{":
        lines = [line for line in text.splitlines() if line.strip()]
        return "json" if len(lines) == 1 or _is_json(text) else "jsonl"
    return "toml"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _parse(text: str, origin: str, kind: str, key: str) -> tuple[list[Any], dict[str, Any]]:
    """(the raw task list, the file's top-level settings)."""
    if kind == "toml":
        import tomllib

        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TaskFileError(f"{origin}: invalid TOML: {exc}") from None
    elif kind == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise TaskFileError(f"{origin}: invalid JSON: {exc}") from None
    else:
        data = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except ValueError as exc:
                raise TaskFileError(f"{origin}, line {number}: invalid JSON: {exc}") from None
    if isinstance(data, list):
        return data, {}
    if not isinstance(data, dict):
        raise TaskFileError(f"{origin}: expected a list of {key}")
    extra = sorted(set(data) - {key, "max_parallel"})
    if extra:
        raise TaskFileError(f"{origin}: unknown top-level key {extra[0]!r} "
                            f"(expected {key} and optionally max_parallel)")
    items = data.get(key)
    if not isinstance(items, list):
        raise TaskFileError(f"{origin}: no {key} found",
                            hint=f"list them as [[{key}]] tables (TOML) or a JSON list")
    return items, data


def _field_error(origin: str, label: str, name: str, problem: str) -> TaskFileError:
    return TaskFileError(f"{origin}: {label}: field {name!r} {problem}")


def _check_task(raw: Any, number: int, origin: str, noun: str = "task") -> Task:
    from clinvk.commands.checks import check_tags, check_text, check_title

    label = f"{noun} {number}"
    if not isinstance(raw, dict):
        raise TaskFileError(f"{origin}: {label}: expected a table of fields, "
                            f"got {type(raw).__name__}")
    name = raw.get("name")
    if name is not None:
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise _field_error(origin, label, "name", "must be letters, digits, _ . - "
                               "(at most 64, starting with a letter or digit)")
        label = f"{label} ({name})"
    unknown = [k for k in raw if k not in FIELDS]
    if unknown:
        raise _field_error(origin, label, str(unknown[0]),
                           f"is not a {noun} field (expected one of " + ", ".join(FIELDS) + ")")
    prompt = raw.get("prompt")
    if prompt is None:
        raise _field_error(origin, label, "prompt", "is required")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _field_error(origin, label, "prompt", "must be a non-empty string")
    task = Task(number=number, prompt=prompt, name=name, noun=noun)
    for key in ("backend", "model", "workdir", "resume", "title"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise _field_error(origin, label, key, "must be a non-empty string")
        setattr(task, key, value)
    checks: list[tuple[str, Any]] = [("prompt", lambda: check_text(prompt, "the prompt"))]
    if task.title is not None:
        checks.append(("title", lambda: setattr(task, "title", check_title(str(task.title)))))
    tags = raw.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise _field_error(origin, label, "tags", "must be a list of strings")
        checks.append(("tags", lambda: setattr(task, "tags", check_tags(tags))))
    for key, check in checks:
        try:
            check()
        except ClinvkError as exc:
            raise _field_error(origin, label, key, exc.message) from None
    timeout = raw.get("timeout")
    if timeout is not None:
        if (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                or not math.isfinite(timeout) or timeout < 0):
            raise _field_error(origin, label, "timeout",
                               "must be a number of seconds ≥ 0 (0 means no limit)")
        task.timeout = float(timeout)
    return task


def load_tasks(path: str, *, key: str = "tasks") -> TaskFile:
    """Read and check every task of the file (fields and types; not yet the backends)."""
    text, origin = _read(path)
    items, settings = _parse(text, origin, _kind(path, text), key)
    if not items:
        raise TaskFileError(f"{origin}: no {key} in the file")
    if len(items) > MAX_TASKS:
        raise TaskFileError(f"{origin}: {len(items)} {key}; at most {MAX_TASKS} per file")
    noun = key.removesuffix("s")  # "task", or a chain's "step"
    tasks = [_check_task(raw, number, origin, noun) for number, raw in enumerate(items, 1)]
    seen: dict[str, int] = {}
    for task in tasks:
        if task.name is not None:
            if task.name in seen:
                raise _field_error(origin, task.label, "name",
                                   f"repeats the name of {noun} {seen[task.name]}")
            seen[task.name] = task.number
    max_parallel = settings.get("max_parallel")
    if max_parallel is not None and (isinstance(max_parallel, bool)
                                     or not isinstance(max_parallel, int) or max_parallel < 1):
        raise TaskFileError(f"{origin}: max_parallel must be a whole number ≥ 1")
    return TaskFile(origin=origin, tasks=tasks, max_parallel=max_parallel)


# --------------------------------------------------------------------------- units
def backend_known(name: str, config: Config) -> bool:
    from clinvk.backends import BUILTIN_BACKENDS

    return name in BUILTIN_BACKENDS or name in config.backends


def to_unit(task: Task, origin: str, *, config: Config, store: SessionStore | None,
            default_backend: str, default_workdir: str | None, timeout: float | None,
            extra_tags: list[str], ignore_budget: bool, prompt: str | None = None,
            check_prompt_stdin: bool = False) -> Unit:
    """The Unit that runs ``task``, with everything checked that can be before it runs:
    the backend exists and is installed, the workdir exists, a resumed session is
    resumable. ``prompt``: the text to send instead of task.prompt (a chain's, after
    substitution)."""
    from clinvk.commands.checks import check_workdir
    from clinvk.commands.units import Unit

    def fail(name: str, problem: str) -> TaskFileError:
        return _field_error(origin, task.label, name, problem)

    backend = task.backend or default_backend
    if task.resume is not None and task.backend is not None:
        raise fail("backend", "cannot be combined with resume (a session keeps its backend)")
    if not backend_known(backend, config):
        raise fail("backend", f"names an unknown backend {backend!r}")
    workdir = task.workdir or default_workdir
    try:
        where = check_workdir(os.path.expanduser(workdir) if workdir else None)
    except ClinvkError as exc:
        raise fail("workdir", exc.message) from None
    limit = task.timeout if task.timeout is not None else timeout
    limit = task.timeout if task.timeout is not None else timeout
    unit = Unit(name=task.name or str(task.number), backend=backend,
                prompt=task.prompt if prompt is None else prompt, title=task.title,
                tags=[*task.tags, *(t for t in extra_tags if t not in task.tags)],
                model=task.model, timeout=limit, config=config, ignore_budget=ignore_budget,
                ephemeral=store is None)
    session = None
    if task.resume is not None:
        if store is None:
            raise fail("resume", "cannot be used with --ephemeral")
        if task.tags or task.title or task.workdir:
            raise fail("resume", "cannot be combined with title, tags or workdir "
                       "(they belong to a new session)")
        unit.resume = _resumable(store, task.resume, fail)
        session = store.read(unit.resume)
        unit.backend = session.backend
    else:
        unit.workdir = where
    try:
        plan = unit.check(session)
    except ClinvkError as exc:
        raise fail("resume" if task.resume else "backend", exc.message) from None
    if check_prompt_stdin and plan.invocation.stdin is None:
        raise fail("backend", f"{unit.backend} takes the prompt in argv; a chain sends "
                   f"prompts on stdin only (set backends.{unit.backend}.prompt_stdin = true)")
    return unit


def _resumable(store: SessionStore, ident: str, fail: Any) -> str:
    from clinvk.commands.checks import check_resumable

    try:
        full = store.resolve(ident, not_found_exit=1)
        check_resumable(store.read(full))
    except ClinvkError as exc:
        raise fail("resume", exc.message) from None
    return full
