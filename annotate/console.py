"""Terminal output shared by the commands: messages, progress bars, the --quiet switch.

No module state: --quiet and --debug are read from the running command's click context (the
command's own option, or the global one before the command name)."""
from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any, Callable, Iterator



def _flag(name: str) -> bool:
    """Whether the running command or any group above it was given ``--<name>``."""
    import click

    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get(name):
            return True
        ctx = ctx.parent
    return False


def quiet() -> bool:
    """--quiet/-q was given (print only errors and the final result line)."""
    return _flag("quiet")


def debug() -> bool:
    """--debug was given (tracebacks for errors)."""
    return _flag("debug")


@functools.cache
def _consoles() -> tuple[Any, Any]:
    """rich's stdout and stderr consoles, made on first use (a --quiet run never imports rich)."""
    from rich.console import Console

    return Console(highlight=False), Console(stderr=True, highlight=False)


def __getattr__(name: str) -> Any:  # ``console.out`` and ``console.err``
    if name in ("out", "err"):
        return _consoles()[name == "err"]
    raise AttributeError(name)


def info(message: str) -> None:
    """A line for the user on stdout, unless --quiet."""
    if not quiet():
        _consoles()[0].print(message, soft_wrap=True, markup=False, highlight=False)


def warning(message: str) -> None:
    """One warning line on stderr (always shown, never wrapped)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def error_line(message: str) -> None:
    """One line on stderr (always shown, never wrapped)."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def progress(description: str, total: int | None, unit: str = "files") -> Iterator[Callable[[int], None]]:
    """A progress bar (rate in ``unit``/s); yields ``advance(n)`` (with ``advance.set_total(n)`` for
    work whose size is known later). Silent under --quiet or when stderr is not a terminal."""
    if quiet() or not sys.stderr.isatty():
        def silent(n: int = 1) -> None:
            return None
        silent.set_total = lambda total: None  # type: ignore[attr-defined]
        yield silent
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=_consoles()[1], transient=True) as bar:
        task = bar.add_task(description, total=total, rate="")

        def advance(n: int = 1) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            if speed:
                bar.update(task, rate=f"{speed:,.1f} {unit}/s")
        advance.set_total = lambda total: bar.update(task, total=total)  # type: ignore[attr-defined]
        yield advance
