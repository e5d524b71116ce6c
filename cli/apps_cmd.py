"""CLI commands: `phalanx apps verify` and `phalanx apps eval` (StepCoder executor on APPS+)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from phalanx.cli.errors import fail

apps_app = typer.Typer(
    help="APPS+ (StepCoder): verify the dataset, evaluate code models.", no_args_is_help=True
)

_COMPARE_HELP = (
    "call-based results: official (the dataset's own executor: Python ==, so False == 0) "
    "or strict (types must match too)"
)
_DATA_HELP = (
    "APPS+ .jsonl/.json file or an APPS folder (default: the 300-problem sample shipped with phalanx)"
)


def _executor_config(compare: str, **options):
    from phalanx.agents import ExecutorConfig

    if compare not in ("official", "strict"):
        fail(f"--compare must be 'official' or 'strict', got {compare!r}")
    return ExecutorConfig(compare=compare, **options)


@apps_app.command("verify")
def verify(
    data: Path | None = typer.Argument(None, help=_DATA_HELP),
    out: Path | None = typer.Option(
        None, "--out", help="write summary.json, results.jsonl (resumable), report.html"
    ),
    sandbox: str = typer.Option("docker", "--sandbox", help="docker (isolated) or local (development only)"),
    image: str = typer.Option("scientific", "--image", help="sandbox image recipe name"),
    workers: int = typer.Option(4, "--workers", min=1, help="concurrent executions / warm containers"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="only the first N problems"),
    case_timeout: float = typer.Option(4.0, "--case-timeout", help="seconds per test case"),
    compare: str = typer.Option("official", "--compare", help=_COMPARE_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Run every canonical solution against its own tests; report the problems that fail.

    Exit status: 0 all pass, 1 some fail, 3 none fail but some could not run (sandbox faults: rerun
    with the same --out to run just those), 2 bad input or no sandbox.
    """
    from phalanx.agents import verify_apps
    from phalanx.agents.stepcoder import StepCoderError
    from phalanx.sandbox import SandboxError

    try:
        summary = asyncio.run(
            verify_apps(
                data,
                backend=sandbox,
                image=image,
                workers=workers,
                out_dir=out,
                limit=limit,
                config=_executor_config(compare, case_timeout_s=case_timeout),
                progress=not as_json,
            )
        )
    except (StepCoderError, SandboxError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        _render_summary(summary, out)
        if out is not None:
            typer.echo(f"wrote {out / 'summary.json'}, {out / 'results.jsonl'}, {out / 'report.html'}")
    if summary.failed:
        raise typer.Exit(1)
    if summary.not_run:
        raise typer.Exit(3)


def _not_run_note(count: int, what: str, out: Path | None) -> str:
    again = "rerun with the same --out to run just those" if out is not None else "rerun to try again"
    return f"{count} {what} could not run (sandbox infrastructure faults, not verdicts); {again}"


def _render_summary(summary, out: Path | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title=f"APPS verification: {summary.problems} problems, {summary.cases} test cases")
    for col in ("difficulty", "problems", "passed", "failed", "not run"):
        table.add_column(col, justify="left" if col == "difficulty" else "right")
    for level, d in summary.by_difficulty.items():
        table.add_row(level, str(d.problems), str(d.passed), str(d.failed), str(d.not_run))
    table.add_row(
        "[bold]total",
        str(summary.problems),
        str(summary.passed),
        str(summary.failed),
        str(len(summary.not_run)),
    )
    console.print(table)
    for f in summary.failures:
        where = f"case {f.case}" if f.case is not None else "harness"
        console.print(f"[red]FAIL[/] {f.problem_id} ({f.difficulty}) {where}: {f.outcome} — {f.detail}")
        if f.stderr_tail:
            console.print("    " + f.stderr_tail.strip().splitlines()[-1], style="dim", markup=False)
    for n in summary.not_run:
        console.print(f"[yellow]NOT RUN[/] {n.problem_id} ({n.difficulty}): {escape(n.reason)}")
    if summary.not_run:
        console.print(_not_run_note(len(summary.not_run), "problems", out), style="yellow")


@apps_app.command("eval")
def evaluate(
    model: str = typer.Option(..., "--model", help="model spec, e.g. hf:PATH, openai:NAME, scripted:FILE"),
    data: Path | None = typer.Argument(None, help=_DATA_HELP),
    n: int = typer.Option(1, "--n", min=1, help="samples per problem"),
    k: str = typer.Option("1", "--k", help="comma-separated k values for pass@k (each <= n)"),
    temperature: float = typer.Option(0.8, "--temperature", help="sampling temperature (n > 1 needs > 0)"),
    max_tokens: int = typer.Option(1024, "--max-tokens", help="longest completion"),
    out: Path | None = typer.Option(
        None, "--out", help="write samples + results.jsonl (resumable) and summary.json"
    ),
    sandbox: str = typer.Option("docker", "--sandbox", help="docker (isolated) or local (development only)"),
    image: str = typer.Option("scientific", "--image", help="sandbox image recipe name"),
    workers: int = typer.Option(4, "--workers", min=1, help="concurrent executions / warm containers"),
    model_concurrency: int = typer.Option(
        16,
        "--model-concurrency",
        min=1,
        help="samples requested at once (an hf: model decodes them together)",
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="only the first N problems"),
    compare: str = typer.Option("official", "--compare", help=_COMPARE_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Generate N samples per problem with a model, execute them, report pass@k per difficulty.

    Exit status: 0 done, 3 some samples could not run (sandbox faults; their problems are left out
    of pass@k: rerun with the same --out), 2 bad input, no model or no sandbox.
    """
    from phalanx.agents.stepcoder import StepCoderError, evaluate_model
    from phalanx.models import ModelSpecError, ModelUnavailable
    from phalanx.sandbox import SandboxError

    try:
        ks = [int(x) for x in k.split(",") if x.strip()]
    except ValueError:
        fail(f"--k must be comma-separated integers, got {k!r}")
    try:
        summary = asyncio.run(
            evaluate_model(
                model,
                data,
                n=n,
                ks=ks,
                temperature=temperature,
                max_tokens=max_tokens,
                backend=sandbox,
                image=image,
                workers=workers,
                out_dir=out,
                limit=limit,
                config=_executor_config(compare, stop_on_failure=True),
                model_concurrency=model_concurrency,
                progress=not as_json,
            )
        )
    except (StepCoderError, SandboxError, ModelSpecError, ModelUnavailable, ValueError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        _render_pass_at_k(summary, model, n, out)
    if summary.not_run:
        raise typer.Exit(3)


def _render_pass_at_k(summary, model: str, n: int, out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"pass@k of {model} ({summary.problems} problems, n={n})")
    table.add_column("difficulty")
    table.add_column("problems", justify="right")
    for kk in summary.ks:
        table.add_column(f"pass@{kk}", justify="right")
    for level, row in [*summary.by_difficulty.items(), ("all", summary.overall)]:
        table.add_row(level, str(row.problems), *[f"{100 * row.pass_at[str(kk)]:.1f}%" for kk in summary.ks])
    Console().print(table)
    if summary.not_run:
        note = _not_run_note(summary.not_run, "samples", out)
        typer.secho(f"{note}; {summary.incomplete} problems are left out of pass@k", fg=typer.colors.YELLOW)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(apps_app, name="apps")
