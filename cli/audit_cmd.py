"""CLI commands: `phalanx audit toolsword` (replay ToolSword against an agent under policies)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phalanx.cli.errors import fail

audit_app = typer.Typer(help="Safety audits of tool-using agents.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(audit_app, name="audit")


@audit_app.command("toolsword")
def toolsword(
    model: Annotated[
        str, typer.Option("--model", help="Model under test: scripted:comply, hf:DIR, openai:URL#NAME.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output folder (results.jsonl, summary.json, report.html).")
    ],
    policies: Annotated[
        str, typer.Option("--policies", help="default, strict, none, or a policy YAML file.")
    ] = "default",
    judge: Annotated[
        str, typer.Option("--judge", help="rules, or a model spec judging the answers.")
    ] = "rules",
    scenarios: Annotated[
        str | None, typer.Option("--scenarios", help="Comma-separated subset of MQ,JA,NM,RC,HF,EC,confict.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Folder with ToolSword's data_*.json files (default: the copy shipped with phalanx).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the first N records per scenario.")
    ] = None,
    guard_judge: Annotated[
        str | None, typer.Option("--guard-judge", help="Model spec for guards set to `judge: default`.")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="agent: phalanx's multi-step agent loop (default); paper: ToolSword's setting "
            "(the data's prompt template, one model turn, no invented tool results).",
        ),
    ] = "agent",
    no_baseline: Annotated[
        bool, typer.Option("--no-baseline", help="Skip the run without policies.")
    ] = False,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", min=1, help="Reply budget of every model turn (default 1536).")
    ] = 1536,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", min=1, help="Records replayed at once (an hf: model decodes them together)."
        ),
    ] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json to stdout.")] = False,
) -> None:
    """Replay ToolSword scenarios through the tool-calling agent with and without policies; judge and report."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from phalanx.agents import audit_toolsword
    from phalanx.models import ModelError
    from phalanx.policies import PolicyError

    names = [s.strip() for s in scenarios.split(",") if s.strip()] if scenarios else None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("audit", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        try:
            summary = asyncio.run(
                audit_toolsword(
                    model,
                    policies,
                    judge,
                    names,
                    data,
                    out,
                    limit=limit,
                    guard_judge=guard_judge,
                    mode=mode,
                    baseline=not no_baseline,
                    progress=progress,
                    concurrency=concurrency,
                    max_new_tokens=max_new_tokens,
                )
            )
        except (PolicyError, ModelError) as exc:
            fail(str(exc))
    if as_json:
        typer.echo(summary.to_json())
        return
    typer.echo(summary.text())
    typer.echo(f"wrote {out / 'results.jsonl'}, {out / 'summary.json'}, {out / 'report.html'}")
