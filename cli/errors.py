"""The one way a `phalanx` command reports bad input or a failure it cannot get past."""

from __future__ import annotations

from typing import NoReturn

import typer

BAD_INPUT = 2
"""Exit status of bad input (arguments, files, specs) and of a missing prerequisite."""


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    """Print `error: MESSAGE` on stderr and end the command with exit status `code`.

    The message says what is wrong, where, and what to do; no traceback is shown.
    """
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
