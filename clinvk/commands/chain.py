"""`clinvk chain`: steps one after another, each prompt able to quote the answers before it.

``{{previous}}`` is the previous step's answer, ``{{step.NAME}}`` the answer of the
earlier step named NAME. Substitution is one pass over the step's own prompt, so an
answer that itself holds ``{{…}}`` is sent as it is; the prompt reaches the vendor on
stdin, never in its argv, whatever the answers contain.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from clinvk.commands.params import NewTags
from clinvk.commands.unitreport import UnitFormat
from clinvk.errors import UsageError

if TYPE_CHECKING:
    from clinvk.commands.tasks import Task, TaskFile
    from clinvk.commands.units import UnitResult

__all__ = ["chain"]

PLACEHOLDER = re.compile(r"\{\{\s*(previous|step\.([A-Za-z0-9][A-Za-z0-9_.-]*))\s*\}\}")


def check_references(task_file: TaskFile) -> None:
    """{{previous}} needs a step before; {{step.NAME}} an earlier step of that name."""
    from clinvk.commands.tasks import TaskFileError

    earlier: set[str] = set()
    for task in task_file.tasks:
        for found in PLACEHOLDER.finditer(task.prompt):
            if found[1] == "previous" and task.number == 1:
                raise TaskFileError(f"{task_file.origin}: {task.label}: field 'prompt' uses "
                                    "{{previous}} but is the first step")
            if found[2] is not None and found[2] not in earlier:
                raise TaskFileError(
                    f"{task_file.origin}: {task.label}: field 'prompt' uses "
                    f"{{{{step.{found[2]}}}}} but no earlier step is named {found[2]}")
        if task.name:
            earlier.add(task.name)


def substitute(task: Task, answers: dict[str, str], previous: str) -> str:
    def value(found: re.Match[str]) -> str:
        return previous if found[1] == "previous" else answers.get(found[2], "")

    return PLACEHOLDER.sub(value, task.prompt)


def chain(
    *,
    file: Annotated[str, Parameter(name=["--file", "-f"], allow_leading_hyphen=True)],
    workdir: Annotated[str | None, Parameter(name=["--workdir", "-w"])] = None,
    continue_on_error: Annotated[bool, Parameter(negative="")] = False,
    timeout: float | None = None,
    output_format: Annotated[UnitFormat, Parameter(name=["--output-format", "-o"])] = "text",
    tag: NewTags = None,
    ephemeral: Annotated[bool, Parameter(negative="")] = False,
    ignore_budget: Annotated[bool, Parameter(negative="")] = False,
) -> int:
    """Run the steps of a file one after another; a step's prompt may quote earlier answers.

    {{previous}} is the previous step's answer and {{step.NAME}} the answer of the
    step named NAME. Stops at the first step that fails, with its exit code.

    Example: clinvk chain -f steps.toml -o json

    Parameters
    ----------
    file
        The step file (TOML [[steps]], JSON or JSON Lines), or - for stdin. Steps have
        the fields of a `parallel` task.
    workdir
        Directory the steps work in, unless a step names its own (default: the current
        directory).
    continue_on_error
        Run the remaining steps after one fails (the exit code is still the first failure's).
    timeout
        Seconds each step may run (a step's own timeout wins); 0 means none.
    output_format
        text, json (every step that ran, in order, with its prompt after substitution)
        or jsonl (one object per step as it ends).
    tag
        Tag every new session (repeatable).
    ephemeral
        Store nothing: no session is recorded.
    ignore_budget
        Run even when a [budget] cap is reached.
    """
    import signal

    from clinvk.commands.checks import check_tags, check_timeout, check_workdir
    from clinvk.commands.run import open_store
    from clinvk.commands.tasks import load_tasks, to_unit
    from clinvk.commands.unitreport import Reporter
    from clinvk.commands.units import run_unit
    from clinvk.config import load

    check_timeout(timeout)
    tags = check_tags(tag)
    where = check_workdir(workdir)
    config = load().config
    task_file = load_tasks(file, key="steps")
    if task_file.max_parallel is not None:
        raise UsageError(f"{task_file.origin}: max_parallel has no meaning for a chain")
    check_references(task_file)
    store = None if ephemeral else open_store()
    units = [to_unit(task, task_file.origin, config=config, store=store,
                     default_backend=config.defaults.backend, default_workdir=where,
                     timeout=timeout, extra_tags=tags, ignore_budget=ignore_budget,
                     check_prompt_stdin=True)
             for task in task_file.tasks]
    reporter = Reporter(output_format, len(units), command="chain", with_prompt=True)
    results: list[UnitResult] = []
    answers: dict[str, str] = {}
    previous = ""
    first_failure: int | None = None
    interrupted = False
    try:
        for index, (task, unit) in enumerate(zip(task_file.tasks, units, strict=True)):
            unit.prompt = substitute(task, answers, previous)
            result = run_unit(index, unit)
            results.append(result)
            reporter.add(result)
            previous = result.text or ""
            if task.name:
                answers[task.name] = previous
            if result.status != "ok":
                if first_failure is None:
                    first_failure = result.exit_code or 1
                if result.status == "interrupted" or not continue_on_error:
                    break
    except KeyboardInterrupt:
        interrupted = True  # between two steps: nothing was running
    reporter.finish(results)
    if interrupted:
        return 128 + signal.SIGINT
    return first_failure or 0
