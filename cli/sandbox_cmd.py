"""CLI commands: `phalanx sandbox run | doctor | build-image | gc`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from phalanx.cli.errors import fail

sandbox_app = typer.Typer(
    help="Run programs in the sandbox; build its images; check and clean up.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(sandbox_app, name="sandbox")


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
        fail("give exactly one of --code or --file")
    if file is not None:
        try:
            code = file.read_text()
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
    stdin_text = sys.stdin.read() if stdin == "-" else (stdin or "")
    try:
        request = ExecRequest(
            code=code,
            stdin=stdin_text,
            coverage=coverage,
            limits=Limits(timeout_s=timeout, memory_mb=memory_mb),
        )
    except ValidationError as exc:
        fail("bad limits: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
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
        fail(str(exc))
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


@sandbox_app.command("build-image")
def build_image_cmd(
    name: Annotated[
        list[str] | None, typer.Option("--name", "-n", help="Recipe to build (repeatable).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Build every recipe (default, scientific).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when the image is current.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tags as JSON.")] = False,
) -> None:
    """Build sandbox images offline (debootstrap + docker import); a no-op when they are current."""
    from rich.console import Console

    from phalanx.sandbox import SandboxError
    from phalanx.sandbox.docker import RECIPES, build_image, connect

    names = list(RECIPES) if all_ else (name or ["default"])
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        fail(f"unknown image recipe(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    console = Console(stderr=True)
    tags = {}
    try:
        client = connect()
        for n in names:
            with console.status(f"building sandbox image {n!r}") as status:
                tags[n] = build_image(client, n, force=force, log=status.update)
            console.print(f"[green]✓[/] {n}: {tags[n]}")
    except SandboxError as exc:
        fail(str(exc), 1)
    if as_json:
        typer.echo(json.dumps(tags))


@sandbox_app.command("gc")
def gc_cmd(
    all_: Annotated[
        bool, typer.Option("--all", help="Also remove containers of running phalanx processes.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print removed ids as JSON.")] = False,
) -> None:
    """Remove sandbox containers left behind by crashed phalanx processes (selected by label)."""
    from phalanx.sandbox import SandboxError, reap_orphans

    try:
        ids = reap_orphans(everything=all_, dry_run=dry_run)
    except SandboxError as exc:
        fail(str(exc), 1)
    if as_json:
        typer.echo(json.dumps({"removed" if not dry_run else "would_remove": ids}))
    else:
        verb = "would remove" if dry_run else "removed"
        typer.echo(f"{verb} {len(ids)} sandbox container(s)" + "".join(f"\n  {i[:12]}" for i in ids))


@sandbox_app.command("doctor")
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check what the sandbox needs (daemon, images, tools) and say how to fix what is missing."""
    from phalanx.sandbox import run_checks

    checks = run_checks()
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in checks]))
    else:
        from rich.console import Console

        console = Console()
        for c in checks:
            mark = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}[c.status]
            console.print(f"{mark} {c.name}: {c.detail}")
            if c.fix and c.status != "ok":
                console.print(f"    fix: {c.fix}", style="dim", highlight=False)
    raise typer.Exit(1 if any(c.status == "fail" for c in checks) else 0)
