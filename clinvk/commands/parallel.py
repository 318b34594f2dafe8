"""`clinvk parallel`: run a file of tasks at once, each an ordinary recorded session."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from clinvk.commands.params import NewTags
from clinvk.commands.unitreport import UnitFormat
from clinvk.errors import UsageError

__all__ = ["parallel"]


def parallel(
    *,
    file: Annotated[str, Parameter(name=["--file", "-f"], allow_leading_hyphen=True)],
    max_parallel: int | None = None,
    fail_fast: Annotated[bool, Parameter(negative="")] = False,
    timeout: float | None = None,
    output_format: Annotated[UnitFormat, Parameter(name=["--output-format", "-o"])] = "text",
    tag: NewTags = None,
    ephemeral: Annotated[bool, Parameter(negative="")] = False,
    ignore_budget: Annotated[bool, Parameter(negative="")] = False,
) -> int:
    """Run a file of tasks concurrently; each task is a session of its own.

    The whole file is checked before anything runs. Exit 0 when every task succeeded,
    1 when one failed, 124 when none failed but one timed out, 130 on Ctrl-C (every
    task is stopped and saved).

    Example: clinvk parallel -f tasks.toml --max-parallel 4 -o json

    Parameters
    ----------
    file
        The task file (TOML, JSON or JSON Lines), or - for stdin. Each task has
        prompt and optionally backend, model, workdir, title, tags, timeout, resume, name.
    max_parallel
        Tasks run at once (default: the file's max_parallel, else parallel.max_workers,
        else the number of CPUs, at most 16).
    fail_fast
        After the first task that does not succeed, stop the others and start no more.
    timeout
        Seconds each task may run (a task's own timeout wins); 0 means none.
    output_format
        text (each answer under a header as it ends), json (one object at the end) or
        jsonl (one object per task as it ends).
    tag
        Tag every new session (repeatable).
    ephemeral
        Store nothing: no session is recorded.
    ignore_budget
        Run even when a [budget] cap is reached.
    """
    from clinvk.commands.checks import check_tags, check_timeout
    from clinvk.commands.run import open_store
    from clinvk.commands.tasks import load_tasks, to_unit
    from clinvk.commands.unitreport import Reporter, exit_code
    from clinvk.commands.units import Pool, pick_workers
    from clinvk.config import load
    from clinvk.config.schema import MAX_WORKERS

    if max_parallel is not None and not 1 <= max_parallel <= MAX_WORKERS:
        raise UsageError(f"--max-parallel {max_parallel} is not valid: expected 1 to {MAX_WORKERS}")
    check_timeout(timeout)
    tags = check_tags(tag)
    config = load().config
    task_file = load_tasks(file)
    store = None if ephemeral else open_store()
    units = [to_unit(task, task_file.origin, config=config, store=store,
                     default_backend=config.defaults.backend, default_workdir=None,
                     timeout=timeout, extra_tags=tags, ignore_budget=ignore_budget)
             for task in task_file.tasks]
    if not ephemeral:
        resumed = [u.resume for u in units if u.resume is not None]
        twice = next((ident for ident in resumed if resumed.count(ident) > 1), None)
        if twice is not None:
            raise UsageError(f"{task_file.origin}: two tasks resume session {twice}",
                             hint="a session runs one turn at a time; chain them instead")
    workers = pick_workers(max_parallel, task_file.max_parallel, config)
    reporter = Reporter(output_format, len(units), command="parallel")
    pool = Pool(units, workers=workers, fail_fast=fail_fast, on_result=reporter.add)
    results = pool.run()
    reporter.finish(results)
    return exit_code(results, pool.signum)
