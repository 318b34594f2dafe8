"""`clinvk compare`: one prompt to several backends at once, in the same workdir."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from clinvk import completion
from clinvk.commands.params import NewTags
from clinvk.commands.unitreport import UnitFormat
from clinvk.errors import UsageError

__all__ = ["compare"]


def _models(values: list[str] | None, backends: list[str]) -> dict[str, str]:
    """-m backend=model (repeatable, or comma separated) → {backend: model}."""
    models: dict[str, str] = {}
    for value in values or []:
        for item in value.split(","):
            name, sep, model = item.partition("=")
            name, model = name.strip(), model.strip()
            if not sep or not name or not model:
                raise UsageError(f"-m {item!r} is not valid: expected backend=model",
                                 hint="e.g. -m claude=sonnet,codex=gpt-5")
            if name not in backends:
                raise UsageError(f"-m {item!r} names {name}, which is not in -b")
            models[name] = model
    return models


def compare(
    prompt: Annotated[str | None, Parameter(name="PROMPT", allow_leading_hyphen=True)] = None,
    /,
    *,
    backends: Annotated[str, Parameter(name=["--backends", "-b"],
                                         completer=completion.backend_lists)],
    model: Annotated[list[str] | None, Parameter(name=["--model", "-m"])] = None,
    workdir: Annotated[str | None, Parameter(name=["--workdir", "-w"])] = None,
    timeout: float | None = None,
    output_format: Annotated[UnitFormat, Parameter(name=["--output-format", "-o"])] = "text",
    tag: NewTags = None,
    ephemeral: Annotated[bool, Parameter(negative="")] = False,
    ignore_budget: Annotated[bool, Parameter(negative="")] = False,
    after_options: Annotated[tuple[str, ...], Parameter(parse=False)] = (),
) -> int:
    """Send the same prompt to several backends at once and show the answers side by side.

    Each answer is a session of its own, tagged compare:GROUP so that
    `clinvk sessions list --tag compare:GROUP` finds the set. Exit codes as `parallel`.

    Example: clinvk compare -b claude,codex,gemini "review the last commit"

    Parameters
    ----------
    prompt
        The prompt; `-` (or none, with stdin piped) reads it from stdin.
    backends
        Comma-separated backends, e.g. claude,codex,gemini.
    model
        A backend's model as backend=model (repeatable, or comma separated).
    workdir
        Directory every agent works in (default: the current directory).
    timeout
        Seconds each backend may run; 0 means none.
    output_format
        text (each answer, then a summary table), json or jsonl (as `parallel`).
    tag
        Also tag every session with this (repeatable).
    ephemeral
        Store nothing: no session is recorded.
    ignore_budget
        Run even when a [budget] cap is reached.
    """
    from clinvk.commands.checks import (
        check_not_an_option,
        check_tags,
        check_text,
        check_timeout,
        check_workdir,
        read_prompt,
    )
    from clinvk.commands.run import open_store
    from clinvk.commands.tasks import Task, to_unit
    from clinvk.commands.unitreport import Reporter, exit_code
    from clinvk.commands.units import Pool
    from clinvk.config import load
    from clinvk.config.schema import MAX_WORKERS
    from clinvk.ids import new_id

    names = [b.strip() for b in backends.split(",") if b.strip()]
    if not names:
        raise UsageError("-b names no backend", hint="e.g. -b claude,codex,gemini")
    if len(set(names)) != len(names):
        raise UsageError("-b names a backend twice")
    if len(names) > MAX_WORKERS:
        raise UsageError(f"-b names {len(names)} backends; at most {MAX_WORKERS}")
    check_not_an_option(prompt, after_options)
    text = check_text(read_prompt(prompt), "the prompt")
    check_timeout(timeout)
    models = _models(model, names)
    where = check_workdir(workdir)
    group = new_id()
    tags = [f"compare:{group}", *check_tags(tag)]
    config = load().config
    store = None if ephemeral else open_store()
    units = [to_unit(Task(number=n, prompt=text, backend=name, model=models.get(name),
                          name=name), "-b", config=config, store=store,
                     default_backend=name, default_workdir=where, timeout=timeout,
                     extra_tags=tags, ignore_budget=ignore_budget)
             for n, name in enumerate(names, 1)]
    reporter = Reporter(output_format, len(units), command="compare")
    pool = Pool(units, workers=len(units), fail_fast=False, on_result=reporter.add)
    results = pool.run()
    if output_format == "text":
        from clinvk.commands.unitreport import usage_total
        from clinvk.output import money, out, table, tokens

        out(table(["BACKEND", "STATUS", "TOKENS", "COST", "TIME", "SESSION"],
                  [[r.backend, r.status, tokens(usage_total(r.usage)), money(r.cost_usd),
                    "-" if r.duration_s is None else f"{r.duration_s:.1f}s", r.id or "-"]
                   for r in results]))
    reporter.finish(results, extra={"group": group if not ephemeral else None})
    return exit_code(results, pool.signum)
