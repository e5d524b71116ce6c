"""CLI commands: `phalanx sandbox run | doctor | build-image | gc`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

sandbox_app = typer.Typer(
    help="Run programs in the sandbox; build its images; check and clean up.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(sandbox_app, name="sandbox")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@sandbox_app.command("run")
def run(
    code: Annotated[str | None, typer.Option("--code", "-c", help="Python source to run.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Python file to run.")] = None,
    stdin: Annotated[
        str | None, typer.Option("--stdin", help="Text for the program's stdin ('-' reads yours).")
    ] = None,
    image: Annotated[
        str, typer.Option("--image", help="Image recipe (default, scientific) or local image.")
    ] = "default",
    sandbox: Annotated[
        str, typer.Option("--sandbox", help="Backend: docker, or local (NOT isolation).")
    ] = "docker",
    timeout: Annotated[float, typer.Option("--timeout", help="Wall-clock limit in seconds.")] = 10.0,
    memory_mb: Annotated[int, typer.Option("--memory-mb", help="Address-space limit in MiB.")] = 512,
    coverage: Annotated[bool, typer.Option("--coverage", help="Report executed line numbers.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole ExecResult as JSON.")] = False,
) -> None:
    """Run python code in a fresh sandboxed process and print its output (exit status passes through)."""
    import asyncio
    import warnings

    from pydantic import ValidationError

    from phalanx.sandbox import ExecRequest, Limits, SandboxError, open_sandbox

    if (code is None) == (file is None):
        _fail("give exactly one of --code or --file")
    if file is not None:
        try:
            code = file.read_text()
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror}")
    stdin_text = sys.stdin.read() if stdin == "-" else (stdin or "")
    try:
        request = ExecRequest(
            code=code,
            stdin=stdin_text,
            coverage=coverage,
            limits=Limits(timeout_s=timeout, memory_mb=memory_mb),
        )
    except ValidationError as exc:
        _fail("bad limits: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    options: dict = {"pool_size": 1}
    if sandbox == "local":
        options["insecure"] = True
    else:
        options["image"] = image

    async def go():
        sb = open_sandbox(sandbox, **options)
        try:
            return await sb.execute(request)
        finally:
            await sb.aclose()

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if sandbox == "local":
                typer.echo("warning: --sandbox local is NOT isolation (rlimits only)", err=True)
            result = asyncio.run(go())
    except SandboxError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.limit_hit:
            typer.echo(f"[limit hit: {', '.join(result.limits_hit) or 'yes'}]", err=True)
        if coverage and result.coverage is not None:
            typer.echo(f"[coverage: {json.dumps(result.coverage)}]", err=True)
    raise typer.Exit(result.exit_code if result.exit_code is not None else 128 + (result.signal or 9))
