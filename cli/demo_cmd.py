"""CLI: `phalanx demo` (the runtime's demo graph, live view, durable resume) and `phalanx graph ...`."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import typer

from phalanx.cli.errors import fail

graph_app = typer.Typer(help="Inspect graphs: Mermaid export and static validation.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `demo` and the `graph` group to the root app."""
    app.command("demo")(demo)
    app.add_typer(graph_app, name="graph")


def demo(
    topic: str = typer.Option(None, help="What the demo team researches (default: a built-in topic)."),
    model: str = typer.Option(
        None, help="Model spec for every node (default: the offline scripted demo model)."
    ),
    db: Path = typer.Option(
        None, help="SQLite checkpoint file (default: ~/.cache/phalanx/checkpoints.sqlite)."
    ),
    memory: bool = typer.Option(False, "--memory", help="Keep checkpoints in memory only (no resume later)."),
    resume: str = typer.Option(
        None, "--resume", metavar="THREAD", help="Continue an interrupted run by thread id."
    ),
    thread: str = typer.Option(None, help="Thread id for a new run (default: a fresh one)."),
    concurrency: int = typer.Option(4, min=1, help="Most workers running at once."),
    latency: float = typer.Option(0.4, min=0.0, help="Simulated latency (s) of the scripted model."),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON event per line instead of the live view."
    ),
    mermaid: bool = typer.Option(False, "--mermaid", help="Print the demo graph as Mermaid text and exit."),
) -> None:
    """Run the demo graph (plan -> parallel workers -> merge) with a live view of its events.

    Progress is checkpointed to SQLite after every step: stop it (Ctrl-C, or even kill -9)
    and `phalanx demo --resume THREAD` continues without redoing finished nodes.
    """
    import uuid

    from phalanx.agents import GraphError, build_demo_graph, default_checkpoint_path

    chat_model = None
    if model:
        from phalanx.models import ModelSpecError, ModelUnavailable, load_model

        try:
            chat_model = load_model(model)
        except (ModelSpecError, ModelUnavailable) as exc:
            raise typer.BadParameter(str(exc), param_hint="--model") from exc
    builder = build_demo_graph(chat_model, latency_s=latency)
    if mermaid:
        typer.echo(builder.mermaid(), nl=False)
        return
    if memory and resume:
        raise typer.BadParameter(
            "--resume needs the SQLite checkpoints; drop --memory", param_hint="--resume"
        )
    checkpointer = "memory" if memory else f"sqlite:{db or default_checkpoint_path()}"
    runtime = builder.compile(checkpointer=checkpointer, max_concurrency=concurrency)
    thread_id = resume or thread or f"demo-{uuid.uuid4().hex[:8]}"
    inputs: dict[str, Any] = {"topic": topic} if topic else {}
    events = runtime.stream(None if resume else inputs, thread_id=thread_id, resume=bool(resume))
    err = _stderr_console()
    if not json_out:
        err.print(f"[bold]phalanx demo[/] thread [cyan]{thread_id}[/] checkpoints [dim]{checkpointer}[/]")
    try:
        done = asyncio.run(_consume(events, json_out, f"demo graph - thread {thread_id}"))
    except KeyboardInterrupt:
        err.print(f"\n[yellow]stopped.[/] Continue with: [bold]phalanx demo --resume {thread_id}[/]")
        raise typer.Exit(130) from None
    except GraphError as exc:
        hint = "" if memory else f"\nFix the cause, then continue with: phalanx demo --resume {thread_id}"
        fail(f"{exc}{hint}", 1)
    finally:
        if chat_model is not None:
            asyncio.run(chat_model.aclose())
    if done is not None and not json_out:
        state = done.data["state"]
        from rich.panel import Panel

        _stdout_console().print(Panel(state.report or "(no report)", title=f"report: {state.topic}"))
        if not memory:
            err.print(
                f"[dim]thread {thread_id} is saved; `phalanx demo --resume {thread_id}` replays its result[/]"
            )


async def _consume(events: Any, json_out: bool, title: str) -> Any:
    from contextlib import aclosing

    if json_out:
        done = None
        async with aclosing(events):  # close the run cleanly even if the reader goes away
            try:
                async for event in events:
                    sys.stdout.write(event.to_json() + "\n")
                    sys.stdout.flush()
                    if event.kind == "done":
                        done = event
            except BrokenPipeError:  # e.g. `phalanx demo --json | head`
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's final flush
        return done
    from phalanx.agents import render_live

    async with aclosing(events):
        return await render_live(events, title=title, console=_stderr_console())


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _stdout_console() -> Any:
    from rich.console import Console

    return Console()


def _load_graph(target: str) -> Any:
    from phalanx.agents import GraphLoadError, load_graph

    try:
        return load_graph(target)
    except GraphLoadError as exc:
        fail(str(exc))


@graph_app.command("mermaid")
def graph_mermaid(
    target: str = typer.Argument(..., help="MODULE:ATTRIBUTE of a GraphBuilder or GraphRuntime."),
) -> None:
    """Print a graph as Mermaid flowchart text."""
    typer.echo(_load_graph(target).mermaid(), nl=False)


@graph_app.command("validate")
def graph_validate(
    target: str = typer.Argument(..., help="MODULE:ATTRIBUTE of a GraphBuilder or GraphRuntime."),
    step_limit: int = typer.Option(None, help="Step limit the graph will run with (allows cycles)."),
) -> None:
    """Check a graph's shape (unknown nodes, unreachable nodes, dead ends, unbounded cycles)."""
    from phalanx.agents import GraphValidationError, check_graph

    try:
        builder = check_graph(_load_graph(target), step_limit=step_limit)
    except GraphValidationError as exc:
        fail(str(exc), 1)
    typer.echo(f"graph {builder.name!r}: {len(builder.spec.nodes)} nodes, no problems found")
