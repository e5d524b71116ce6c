"""CLI commands: `phalanx policies screen | show` (ToolSword safety policies)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

policies_app = typer.Typer(
    help="ToolSword safety policies: screen prompt sets, show a policy.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(policies_app, name="policies")


@policies_app.command("screen")
def screen(
    file: Annotated[Path, typer.Argument(help="One query per line, or JSONL with a 'query' field.")],
    stage: Annotated[
        str, typer.Option("--stage", help="input (user turns) or output (answers / tool outputs).")
    ] = "input",
    policy: Annotated[
        str, typer.Option("--policy", help="default, none, or a policy YAML file.")
    ] = "default",
) -> None:
    """Print one JSON line per query: {"query", "blocked", "action", "guard", "reason"}."""
    import asyncio

    from phalanx.policies import PolicyError
    from phalanx.policies.screen import read_queries, screen_queries

    async def go() -> None:
        async for row in screen_queries(read_queries(file), policy, stage):
            typer.echo(json.dumps(row, ensure_ascii=False))

    try:
        asyncio.run(go())
    except PolicyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@policies_app.command("show")
def show(
    policy: Annotated[str, typer.Argument(help="default, none, or a policy YAML file.")] = "default",
) -> None:
    """Print a policy's resolved configuration as JSON (every guard, action and threshold)."""
    from phalanx.policies import PolicyError, load_policy

    try:
        typer.echo(load_policy(policy).model_dump_json(indent=1))
    except PolicyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
