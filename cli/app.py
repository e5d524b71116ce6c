"""The `phalanx` command line: a thin layer that parses arguments, calls the Python API and renders.

Each command group lives in its own module exposing `register(app)`; heavy imports
(torch, docker) happen inside the commands so `phalanx --help` stays fast.
"""

from __future__ import annotations

import typer

from phalanx.cli import (
    apps_cmd,
    audit_cmd,
    audit_log_cmd,
    demo_cmd,
    evolve_cmd,
    hag_cmd,
    longagent_cmd,
    models_cmd,
    policies_cmd,
    regions_cmd,
    sandbox_cmd,
    sentiment_cmd,
    serve_cmd,
    somelvlm_cmd,
    train_cmd,
)

app = typer.Typer(
    name="phalanx",
    help="phalanx: multi-agent LLM systems with sandboxed tools and safety policies.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """phalanx: multi-agent LLM systems with sandboxed tools and safety policies."""


for _module in (
    demo_cmd,
    serve_cmd,
    models_cmd,
    sandbox_cmd,
    audit_log_cmd,
    audit_cmd,
    policies_cmd,
    apps_cmd,
    longagent_cmd,
    evolve_cmd,
    regions_cmd,
    hag_cmd,
    sentiment_cmd,
    somelvlm_cmd,
    train_cmd,
):
    _module.register(app)


@app.command()
def version() -> None:
    """Print the installed phalanx version."""
    from importlib.metadata import version as _v

    typer.echo(_v("phalanx"))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
