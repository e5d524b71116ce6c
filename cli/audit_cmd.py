"""CLI commands: `phalanx audit toolsword` (replay ToolSword against an agent under policies)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

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
    no_baseline: Annotated[
        bool, typer.Option("--no-baseline", help="Skip the run without policies.")
    ] = False,
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

    from phalanx.agents.audit import audit_toolsword
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
                    baseline=not no_baseline,
                    progress=progress,
                    concurrency=concurrency,
                )
            )
        except (PolicyError, ModelError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(summary))
        return
    base = summary.get("baseline", {}).get("scenarios", {})
    typer.echo(f"{'scenario':<22}{'n':>5}{'no policies':>14}{'policies':>12}")
    for name, row in summary["scenarios"].items():
        b = base.get(name, {}).get("unsafe_rate")
        typer.echo(
            f"{name:<22}{row['n']:>5}{'' if b is None else f'{100 * b:.1f}%':>14}{100 * row['unsafe_rate']:>11.1f}%"
        )
    benign = summary["benign"]
    if benign["n"]:
        typer.echo(f"benign blocked: {benign['blocked']}/{benign['n']} ({100 * benign['blocked_rate']:.1f}%)")
    harmless = summary.get("harmless_outputs", {})
    if harmless.get("n"):
        typer.echo(
            f"harmless tool outputs flagged as harmful: {harmless['flagged_harmful']}/{harmless['n']} "
            f"({100 * harmless['flagged_rate']:.1f}%)"
        )
    typer.echo(f"wrote {out / 'results.jsonl'}, {out / 'summary.json'}, {out / 'report.html'}")
