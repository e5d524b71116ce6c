"""CLI commands: `phalanx evolve DATA ...` (alias `phalanx evolve run`) and `phalanx evolve eval`.

Thin layer over `phalanx.agents.selfevolve`: parse, call, render.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from typer.core import TyperGroup

from phalanx.cli.errors import fail


class _EvolveGroup(TyperGroup):
    """`phalanx evolve DATA ...` runs `evolve run DATA ...`; `evolve eval` stays a subcommand."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


evolve_app = typer.Typer(
    cls=_EvolveGroup,
    no_args_is_help=True,
    help="Self-evolving benchmarks: `phalanx evolve DATA --ops ... --out DIR`, then `phalanx evolve eval`.",
)


@evolve_app.command("run")
def run(
    data: str = typer.Argument(..., help="A JSONL file, or embedded:kinship / embedded:arithmetic."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (evolved.jsonl, checkpoints)."),
    ops: str = typer.Option(
        "all",
        "--ops",
        help="Comma-separated modes: alternative, complex, paraphrase, "
        "noise, polarity, planning, knowledge, retrieval, or all.",
    ),  # fmt: skip
    generator: str = typer.Option("scripted:evolve-generator", "--generator", help="Generator model spec."),
    verifier: str = typer.Option("scripted:evolve-verifier", "--verifier", help="Verifier model spec."),
    concurrency: int = typer.Option(
        8, "--concurrency", "-c", min=1, help="Instances / model calls in flight."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use only the first N instances."),
    layout: str = typer.Option(
        "auto", "--layout", help="JSONL layout: auto, phalanx, gsm8k, strategyqa, clutrr, boolq."
    ),
    prompt_dir: Path | None = typer.Option(
        None, "--prompt-dir", help="Folder of template overrides (NAME.j2)."
    ),
    max_reasks: int = typer.Option(2, "--max-reasks", min=0, help="Re-asks after an invalid agent reply."),
    max_new_tokens: int = typer.Option(512, "--max-new-tokens", min=1, help="Token budget per agent reply."),
    no_prefilter: bool = typer.Option(
        False, "--no-prefilter", help="Evolve every original (skip the pre-filter)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Evolve DATA with generator/verifier agents into OUT/evolved.jsonl (re-run to resume)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from phalanx.agents.selfevolve import (
        DatasetError,
        EvolveSettings,
        evolve_dataset,
        load_instances,
        parse_modes,
    )
    from phalanx.models import ModelError

    try:
        modes = parse_modes(ops)
        instances = load_instances(data, layout=layout, limit=limit)  # type: ignore[arg-type]
        settings = EvolveSettings(
            max_reasks=max_reasks, prefilter=not no_prefilter, max_new_tokens=max_new_tokens
        )
    except (DatasetError, ValueError) as exc:
        fail(str(exc))
    console = Console(stderr=True)
    total = len(instances) * len(modes)
    progress = Progress(
        TextColumn("evolving"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        disable=as_json,
    )  # fmt: skip
    with progress:
        task = progress.add_task("evolve", total=total)
        try:
            summary = asyncio.run(
                evolve_dataset(
                    instances,
                    modes,
                    generator,
                    verifier,
                    out,
                    concurrency=concurrency,
                    settings=settings,
                    prompt_dir=prompt_dir,
                    on_record=lambda _r: progress.advance(task),
                    source=data,
                )  # fmt: skip
            )
        except (ModelError, ValueError) as exc:
            fail(str(exc))
        progress.update(task, completed=total)
    if as_json:
        typer.echo(summary.model_dump_json())
    else:
        table = Table(title=f"evolved {summary.instances} instances -> {out / 'evolved.jsonl'}")
        for col in ("mode", "pass", "fail"):
            table.add_column(col)
        for mode, passed, failed in summary.mode_counts():
            table.add_row(mode, str(passed), str(failed))
        Console().print(table)
        for cause, n in summary.top_causes():
            typer.echo(f"  {n:5d}  {cause}")
        typer.echo(f"written {summary.written}, already done {summary.skipped}, {summary.seconds:.1f}s")
    if summary.errors:
        for err in summary.errors[:10]:
            typer.echo(f"  {err}", err=True)
        fail(f"{len(summary.errors)} instances failed; re-run the same command to continue them", 1)


@evolve_app.command("eval")
def eval_(
    models: str = typer.Option(..., "--models", "-m", help="Comma-separated model specs to evaluate."),
    data: Path = typer.Option(..., "--data", "-d", help="An evolve output folder."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Where to write report.html (default: --data)."
    ),
    concurrency: int = typer.Option(8, "--concurrency", "-c", min=1, help="Model calls in flight per model."),
    seed: int = typer.Option(0, "--seed", help="Seed of the A/B option positions."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Token budget per reply."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Evaluate models on the originals and every evolved mode; write a table and report.html."""
    from rich.console import Console
    from rich.table import Table

    from phalanx.agents.selfevolve import evaluate_models, write_report
    from phalanx.models import ModelError

    specs = [m.strip() for m in models.split(",") if m.strip()]
    if not specs:
        fail("--models needs at least one model spec")
    try:
        result = asyncio.run(
            evaluate_models(specs, data, concurrency=concurrency, seed=seed, max_new_tokens=max_new_tokens)
        )
    except (ModelError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    report = write_report(result, out or data)
    if as_json:
        typer.echo(json.dumps({**result.model_dump(), "report": str(report)}))
        return
    table = Table(title="accuracy per mode (change from original, points)")
    table.add_column("mode")
    for model in result.models:
        table.add_column(model)
    for mode, scores in result.table():
        table.add_row(mode, *["-" if s is None else s.label() for s in scores])
    Console().print(table)
    typer.echo(f"report: {report}")


def register(app: typer.Typer) -> None:
    """Add `phalanx evolve` to the root app."""
    app.add_typer(evolve_app, name="evolve")
